/// Person ids (residents, visitors, couriers, staff): the registry's keys, printed on cards and used
/// to name files. One character set, checked wherever an id enters: 1–64 characters of ASCII
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit. No `/`, no `..` path, no
/// spaces, no control characters.
public enum PersonID {
    public static let rule = "1–64 characters of A–Z, a–z, 0–9, '.', '_' and '-', starting with a letter or digit"

    public static func isValid(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...64).contains(u.count), isAlnum(u[0]) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
    }
}
