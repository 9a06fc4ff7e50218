/// GB 11643-1999 citizen ID numbers: 17 digits and an ISO 7064 MOD 11-2 check character.
public enum IDNumber {
    static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    static let checks: [Character] = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]

    /// The check character for the first 17 digits, or nil if they are not 17 ASCII digits.
    public static func checkCharacter(for body: some StringProtocol) -> Character? {
        let digits = body.compactMap { $0.isASCII ? $0.wholeNumberValue : nil }
        guard body.count == 17, digits.count == 17 else { return nil }
        let sum = zip(digits, weights).reduce(0) { $0 + $1.0 * $1.1 }
        return checks[sum % 11]
    }

    /// True for an 18-character number whose check character matches (lower-case x accepted).
    public static func isValid(_ s: String) -> Bool {
        guard s.count == 18, let c = checkCharacter(for: s.prefix(17)) else { return false }
        return Character(s.last!.uppercased()) == c
    }

    /// `110101********123X`: keeps the region and the last four, as operator output shows it.
    public static func masked(_ s: String) -> String {
        guard s.count > 10 else { return String(repeating: "*", count: s.count) }
        return String(s.prefix(6)) + String(repeating: "*", count: s.count - 10) + String(s.suffix(4))
    }
}

/// Masks a personal name for operator output: 张三丰 → 张**.
public func maskName(_ s: String) -> String {
    guard let f = s.first else { return s }
    return String(f) + String(repeating: "*", count: max(1, s.count - 1))
}

/// Masks a phone number or other contact for operator output: 13812345678 → 138****5678; short
/// values keep only their last two characters.
public func maskPhone(_ s: String) -> String {
    guard s.count >= 11 else { return String(repeating: "*", count: max(0, s.count - 2)) + String(s.suffix(2)) }
    return String(s.prefix(3)) + String(repeating: "*", count: s.count - 7) + String(s.suffix(4))
}
