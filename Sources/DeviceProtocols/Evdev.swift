/// Keyboard-wedge scanners: Linux input events (EV_KEY) decoded with a fixed US key map and shift
/// tracking into lines ending at Enter.
public struct KeyDecoder: Sendable {
    public static let evKey: UInt16 = 1
    var shift = false
    var capsLock = false
    var line: [Character] = []
    public let maxLength: Int

    public init(maxLength: Int = 4096) { self.maxLength = maxLength }

    static let plain: [UInt16: Character] = {
        var m: [UInt16: Character] = [:]
        for (i, c) in "1234567890-=".enumerated() { m[UInt16(2 + i)] = c }
        for (i, c) in "qwertyuiop[]".enumerated() { m[UInt16(16 + i)] = c }
        for (i, c) in "asdfghjkl;'`".enumerated() { m[UInt16(30 + i)] = c }
        m[43] = "\\"
        for (i, c) in "zxcvbnm,./".enumerated() { m[UInt16(44 + i)] = c }
        m[57] = " "
        return m
    }()
    static let shifted: [Character: Character] = {
        var m: [Character: Character] = [:]
        for (a, b) in zip("1234567890-=[];'`\\,./", "!@#$%^&*()_+{}:\"~|<>?") { m[a] = b }
        return m
    }()

    /// Feeds one event; returns a line at Enter or a fault for an overlong line.
    public mutating func feed(type: UInt16, code: UInt16, value: Int32) -> DecoderOutput? {
        guard type == Self.evKey else { return nil }
        if code == 42 || code == 54 {
            shift = value != 0
            return nil
        }
        guard value == 1 else { return nil }  // key down only; autorepeat (2) and release (0) ignored
        if code == 58 {
            capsLock.toggle()
            return nil
        }
        if code == 28 || code == 96 {
            defer { line = [] }
            if line.count > maxLength { return .fault("evdev: line longer than \(maxLength) discarded") }
            return line.isEmpty ? nil : .line(String(line))
        }
        guard let c = Self.plain[code] else { return nil }
        var out = c
        if c.isLetter {
            if shift != capsLock { out = Character(c.uppercased()) }
        } else if shift, let s = Self.shifted[c] {
            out = s
        }
        if line.count <= maxLength { line.append(out) }
        return nil
    }
}
