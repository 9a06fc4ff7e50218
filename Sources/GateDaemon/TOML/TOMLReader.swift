/// TOML 1.0 (https://toml.io/en/v1.0.0), read from UTF-8 bytes in one pass. Every valid document
/// gives its values, each with its line; every invalid one is a `TOMLError` with the line where the
/// reader stopped. Nesting (arrays, inline tables, tables inside tables) is bounded by `maxDepth`,
/// so hostile input gets an error rather than a stack overflow, and reading is linear in the size
/// of the input. This file is the grammar; TOMLTree.swift holds the rules on defining tables.
public enum TOML {
    /// The deepest nesting accepted: containers (tables, arrays, inline tables) inside each other.
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        try parse(bytes: Array(text.utf8))
    }

    /// Reads raw file bytes; bytes that are not UTF-8 are an error naming their line.
    public static func parse(bytes: [UInt8]) throws(TOMLError) -> TOMLTable {
        var reader = TOMLReader(bytes)
        return try reader.document()
    }

    static func tooDeep(line: Int) -> TOMLError {
        TOMLError(line: line, message: "nesting deeper than \(maxDepth) levels (tables, arrays and inline tables inside each other)")
    }
}

struct TOMLReader {
    private let b: [UInt8]
    private var i = 0
    private var line = 1
    private var tree = TOMLTree()
    /// Inline tables are sections of their own for dotted keys; their ids count down from -1.
    private var inlineTables = 0
    /// Reused buffer for the bytes of the string being read.
    private var scratch: [UInt8] = []

    init(_ bytes: [UInt8]) { b = bytes }

    // MARK: Document and lines

    mutating func document() throws(TOMLError) -> TOMLTable {
        if let bad = Self.firstInvalidUTF8(b) {
            throw TOMLError(
                line: 1 + b[..<bad].count { $0 == .lf },
                message: "the file is not UTF-8 text (byte 0x\(String(b[bad], radix: 16)) cannot start or continue a character here)")
        }
        if b.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw TOMLError(line: 1, message: "the file starts with a byte order mark; save it as UTF-8 without BOM")
        }
        while true {
            skipBlank()
            guard i < b.count else { break }
            switch b[i] {
            case .lf, .cr:
                try newline()
                continue
            case .hash:
                break
            case .lbracket:
                try header()
            default:
                try keyValue()
            }
            try endOfLine()
        }
        return tree.root.finish()
    }

    /// After a statement: blanks, an optional comment, then a new line or the end of the file.
    private mutating func endOfLine() throws(TOMLError) {
        skipBlank()
        if i < b.count && b[i] == .hash { try comment() }
        guard i < b.count else { return }
        guard b[i] == .lf || b[i] == .cr else { throw fail("expected the end of the line, found \(found())") }
        try newline()
    }

    /// LF or CR LF; a CR alone is an error.
    private mutating func newline() throws(TOMLError) {
        if b[i] == .cr {
            guard at(i + 1) == .lf else { throw fail("a carriage return (CR) must be followed by a line feed (LF)") }
            i += 1
        }
        i += 1
        line += 1
    }

    private mutating func comment() throws(TOMLError) {
        i += 1
        while i < b.count {
            let c = b[i]
            if c == .lf || (c == .cr && at(i + 1) == .lf) { return }
            if c == .cr { throw fail("a carriage return (CR) must be followed by a line feed (LF)") }
            if Self.isControl(c) { throw fail("control character \(Self.scalarName(c)) in a comment") }
            i += 1
        }
    }

    private mutating func skipBlank() {
        while i < b.count && (b[i] == .space || b[i] == .tab) { i += 1 }
    }

    /// Inside arrays: blanks, comments and new lines.
    private mutating func skipArrayBlank() throws(TOMLError) {
        while true {
            skipBlank()
            guard i < b.count else { return }
            if b[i] == .hash {
                try comment()
            } else if b[i] == .lf || b[i] == .cr {
                try newline()
            } else {
                return
            }
        }
    }

    // MARK: Headers and keys

    private mutating func header() throws(TOMLError) {
        let start = line
        i += 1
        let isArray = at(i) == .lbracket
        if isArray { i += 1 }
        skipBlank()
        let path = try key()
        if isArray {
            guard at(i) == .rbracket && at(i + 1) == .rbracket else {
                throw fail("expected `]]` to close the header [[\(TOMLTree.name(path))]], found \(found())")
            }
            i += 2
            try tree.appendTable(path, line: start)
        } else {
            guard at(i) == .rbracket else { throw fail("expected `]` to close the header [\(TOMLTree.name(path))], found \(found())") }
            i += 1
            try tree.defineTable(path, line: start)
        }
    }

    private mutating func keyValue() throws(TOMLError) {
        let start = line
        let path = try key()
        guard at(i) == .equals else { throw fail("expected `=` after the key `\(TOMLTree.name(path))`, found \(found())") }
        i += 1
        skipBlank()
        let value = try value(depth: tree.current.depth + path.count - 1)
        try tree.set(path, TOMLNode(value: value, line: start))
    }

    /// A dotted key: simple keys joined by dots, blanks allowed around the dots. Leaves `i` after
    /// the blanks that follow it.
    private mutating func key() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            parts.append(try simpleKey())
            skipBlank()
            guard at(i) == .dot else { return parts }
            i += 1
            skipBlank()
        }
    }

    private mutating func simpleKey() throws(TOMLError) -> String {
        guard i < b.count else { throw fail("expected a key, found the end of the file") }
        let c = b[i]
        if Self.isBareKeyByte(c) {
            let start = i
            while i < b.count && Self.isBareKeyByte(b[i]) { i += 1 }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        if c == .quote {
            if at(i + 1) == .quote && at(i + 2) == .quote { throw fail("a multi-line string cannot be a key") }
            return try basicString()
        }
        if c == .apostrophe {
            if at(i + 1) == .apostrophe && at(i + 2) == .apostrophe { throw fail("a multi-line string cannot be a key") }
            return try literalString()
        }
        throw fail("expected a key (letters, digits, `_`, `-` or a quoted string), found \(found())")
    }

    static func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == .underscore || c == .minus
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(TOMLError) -> TOMLValue {
        guard i < b.count else { throw fail("expected a value, found the end of the file") }
        switch b[i] {
        case .quote:
            return .string(at(i + 1) == .quote && at(i + 2) == .quote ? try multilineBasicString() : try basicString())
        case .apostrophe:
            return .string(at(i + 1) == .apostrophe && at(i + 2) == .apostrophe ? try multilineLiteralString() : try literalString())
        case .lbracket:
            return try array(depth: depth + 1)
        case .lbrace:
            return try inlineTable(depth: depth + 1)
        case .lf, .cr:
            throw fail("expected a value before the end of the line")
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "i"), UInt8(ascii: "n"), .plus, .minus, 0x30...0x39:
            let start = i
            guard let v = try scalar() else { throw notAValue(from: start) }
            if i < b.count && Self.isWordByte(b[i]) { throw notAValue(from: start) }
            return v
        default:
            throw notAValue(from: i)
        }
    }

    private mutating func array(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth <= TOML.maxDepth else { throw TOML.tooDeep(line: line) }
        let open = line
        i += 1
        var items: [TOMLNode] = []
        try skipArrayBlank()
        if at(i) == .rbracket {
            i += 1
            return .array(items)
        }
        while true {
            let start = line
            items.append(TOMLNode(value: try value(depth: depth), line: start))
            try skipArrayBlank()
            guard i < b.count else { throw fail("the array opened on line \(open) is not closed") }
            if b[i] == .comma {
                i += 1
                try skipArrayBlank()
                if at(i) == .rbracket {
                    i += 1
                    return .array(items)
                }
            } else if b[i] == .rbracket {
                i += 1
                return .array(items)
            } else {
                throw fail("expected `,` or `]` in the array opened on line \(open), found \(found())")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth <= TOML.maxDepth else { throw TOML.tooDeep(line: line) }
        let open = line
        i += 1
        inlineTables += 1
        let section = -inlineTables
        let table = TOMLTableBuilder(origin: .root, line: open, depth: depth)
        skipBlank()
        if at(i) == .rbrace {
            i += 1
            return .table(table.finish())
        }
        while true {
            let start = line
            let path = try key()
            guard at(i) == .equals else { throw fail("expected `=` after the key `\(TOMLTree.name(path))`, found \(found())") }
            i += 1
            skipBlank()
            let v = try value(depth: depth + path.count - 1)
            try TOMLTree.set(path, TOMLNode(value: v, line: start), in: table, section: section)
            skipBlank()
            guard i < b.count else { throw fail("the inline table opened on line \(open) is not closed") }
            switch b[i] {
            case .rbrace:
                i += 1
                return .table(table.finish())
            case .comma:
                i += 1
                skipBlank()
            case .lf, .cr:
                throw fail("an inline table must close on the line it opens (line \(open)); use a [table] for more lines")
            default:
                throw fail("expected `,` or `}` in the inline table, found \(found())")
            }
        }
    }

    // MARK: Strings

    /// `"..."`: escapes, no new lines.
    private mutating func basicString() throws(TOMLError) -> String {
        i += 1
        scratch.removeAll(keepingCapacity: true)
        while true {
            guard i < b.count else { throw fail("the string is not closed before the end of the file") }
            let c = b[i]
            switch c {
            case .quote:
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            case .backslash:
                try escape()
            case .lf, .cr:
                throw fail("the string is not closed on its line (use \"\"\" for a multi-line string)")
            default:
                if Self.isControl(c) { throw fail("control character \(Self.scalarName(c)) in a string (write it as an escape)") }
                scratch.append(c)
                i += 1
            }
        }
    }

    /// `"""..."""`: escapes, new lines, a backslash at the end of a line joins the next one.
    private mutating func multilineBasicString() throws(TOMLError) -> String {
        let open = line
        i += 3
        if at(i) == .lf || at(i) == .cr { try newline() }
        scratch.removeAll(keepingCapacity: true)
        while true {
            guard i < b.count else { throw fail("the multi-line string opened on line \(open) is not closed") }
            let c = b[i]
            switch c {
            case .quote:
                if try closesMultiline(.quote) { return String(decoding: scratch, as: UTF8.self) }
            case .backslash:
                var j = i + 1
                while at(j) == .space || at(j) == .tab { j += 1 }
                if at(j) == .lf || at(j) == .cr {
                    // Line-ending backslash: drop it, the new line and all blanks and new lines after.
                    i = j
                    try newline()
                    while i < b.count {
                        if b[i] == .space || b[i] == .tab {
                            i += 1
                        } else if b[i] == .lf || b[i] == .cr {
                            try newline()
                        } else {
                            break
                        }
                    }
                } else if j > i + 1 {
                    throw fail("a backslash followed by blanks must end the line")
                } else {
                    try escape()
                }
            case .lf, .cr:
                try newline()
                scratch.append(.lf)
            default:
                if Self.isControl(c) { throw fail("control character \(Self.scalarName(c)) in a string (write it as an escape)") }
                scratch.append(c)
                i += 1
            }
        }
    }

    /// `'...'`: taken as written, no new lines.
    private mutating func literalString() throws(TOMLError) -> String {
        i += 1
        let start = i
        while true {
            guard i < b.count else { throw fail("the string is not closed before the end of the file") }
            let c = b[i]
            if c == .apostrophe {
                i += 1
                return String(decoding: b[start..<(i - 1)], as: UTF8.self)
            }
            if c == .lf || c == .cr { throw fail("the string is not closed on its line (use ''' for a multi-line string)") }
            if Self.isControl(c) { throw fail("control character \(Self.scalarName(c)) in a literal string") }
            i += 1
        }
    }

    /// `'''...'''`: taken as written, with new lines.
    private mutating func multilineLiteralString() throws(TOMLError) -> String {
        let open = line
        i += 3
        if at(i) == .lf || at(i) == .cr { try newline() }
        scratch.removeAll(keepingCapacity: true)
        while true {
            guard i < b.count else { throw fail("the multi-line string opened on line \(open) is not closed") }
            let c = b[i]
            switch c {
            case .apostrophe:
                if try closesMultiline(.apostrophe) { return String(decoding: scratch, as: UTF8.self) }
            case .lf, .cr:
                try newline()
                scratch.append(.lf)
            default:
                if Self.isControl(c) { throw fail("control character \(Self.scalarName(c)) in a literal string") }
                scratch.append(c)
                i += 1
            }
        }
    }

    /// At a run of quotes inside a multi-line string: three close it, and up to two more just
    /// before them belong to the string. Fewer than three are content.
    private mutating func closesMultiline(_ q: UInt8) throws(TOMLError) -> Bool {
        var run = 0
        while at(i + run) == q { run += 1 }
        if run < 3 {
            for _ in 0..<run { scratch.append(q) }
            i += run
            return false
        }
        guard run <= 5 else { throw fail("too many quotes at the end of a multi-line string (at most two may come before the closing three)") }
        for _ in 0..<(run - 3) { scratch.append(q) }
        i += run
        return true
    }

    private mutating func escape() throws(TOMLError) {
        let e = at(i + 1)
        i += 2
        switch e {
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case .quote: scratch.append(.quote)
        case .backslash: scratch.append(.backslash)
        case UInt8(ascii: "u"): try unicodeEscape(digits: 4)
        case UInt8(ascii: "U"): try unicodeEscape(digits: 8)
        default:
            i -= 1
            throw fail("invalid escape `\\` followed by \(found()) (valid: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)")
        }
    }

    private mutating func unicodeEscape(digits: Int) throws(TOMLError) {
        var v: UInt32 = 0
        for k in 0..<digits {
            guard let d = Self.hexValue(at(i + k)) else { throw fail("\\\(digits == 4 ? "u" : "U") needs \(digits) hex digits") }
            v = v << 4 | UInt32(d)
        }
        guard let scalar = Unicode.Scalar(v) else {
            throw fail(
                "\\\(digits == 4 ? "u" : "U")\(String(v, radix: 16, uppercase: true)) is not a Unicode scalar value (surrogates and values above 10FFFF are not)"
            )
        }
        i += digits
        UTF8.encode(scalar) { scratch.append($0) }
    }

    // MARK: Numbers, booleans, dates and times

    /// A bare value: boolean, number, date or time. nil when the text is none of these.
    private mutating func scalar() throws(TOMLError) -> TOMLValue? {
        if matches("true") {
            i += 4
            return .bool(true)
        }
        if matches("false") {
            i += 5
            return .bool(false)
        }
        if isDigit(i) && isDigit(i + 1) && isDigit(i + 2) && isDigit(i + 3) && at(i + 4) == .minus { return try dateOrDateTime() }
        if isDigit(i) && isDigit(i + 1) && at(i + 2) == .colon {
            guard let t = try time() else { return nil }
            return .localTime(t)
        }
        return try number()
    }

    private mutating func number() throws(TOMLError) -> TOMLValue? {
        let start = i
        var negative = false
        if at(i) == .plus || at(i) == .minus {
            negative = at(i) == .minus
            i += 1
        }
        if matches("inf") || matches("nan") {
            let inf = at(i) == UInt8(ascii: "i")
            i += 3
            return .float(inf ? (negative ? -.infinity : .infinity) : .nan)
        }
        if i == start && at(i) == UInt8(ascii: "0"), let radix = [UInt8(ascii: "x"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][at(i + 1)] {
            i += 2
            guard let digits = digitRun(radix: radix) else { return nil }
            var v: UInt64 = 0
            for d in digits {
                let (m, o1) = v.multipliedReportingOverflow(by: UInt64(radix))
                let (s, o2) = m.addingReportingOverflow(UInt64(Self.hexValue(d)!))
                guard !o1, !o2, s <= UInt64(Int64.max) else { throw fail("`\(text(start..<i))` does not fit in a 64-bit integer") }
                v = s
            }
            return .integer(Int64(v))
        }
        guard let intPart = digitRun(radix: 10) else { return nil }
        if intPart.count > 1 && intPart[0] == UInt8(ascii: "0") {
            throw fail("leading zeros are not allowed in the number `\(text(start..<i))`")
        }
        var frac: [UInt8]?
        var exp: [UInt8]?
        var expSign: UInt8?
        if at(i) == .dot {
            i += 1
            guard let f = digitRun(radix: 10) else { return nil }
            frac = f
        }
        if at(i) == UInt8(ascii: "e") || at(i) == UInt8(ascii: "E") {
            i += 1
            if at(i) == .plus || at(i) == .minus {
                expSign = at(i)
                i += 1
            }
            guard let e = digitRun(radix: 10) else { return nil }
            exp = e
        }
        if frac == nil && exp == nil {
            // Accumulate negatively so Int64.min fits.
            var v: Int64 = 0
            for d in intPart {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int64(d - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw fail("`\(text(start..<i))` does not fit in a 64-bit integer") }
                v = s
            }
            if negative { return .integer(v) }
            guard v != .min else { throw fail("`\(text(start..<i))` does not fit in a 64-bit integer") }
            return .integer(-v)
        }
        var s = negative ? "-" : ""
        s += String(decoding: intPart, as: UTF8.self)
        if let frac { s += "." + String(decoding: frac, as: UTF8.self) }
        if let exp { s += "e" + (expSign == .minus ? "-" : "") + String(decoding: exp, as: UTF8.self) }
        guard let d = Double(s) else { return nil }
        return .float(d)
    }

    /// DIGIT *( [_] DIGIT ) in the radix; the digits without underscores, or nil if malformed.
    private mutating func digitRun(radix: Int) -> [UInt8]? {
        var digits: [UInt8] = []
        while true {
            guard let d = Self.hexValue(at(i)), d < radix else { return nil }
            digits.append(at(i))
            i += 1
            if at(i) == .underscore {
                i += 1
            } else if !(Self.hexValue(at(i)).map { $0 < radix } ?? false) {
                return digits
            }
        }
    }

    private mutating func dateOrDateTime() throws(TOMLError) -> TOMLValue? {
        let start = i
        guard let year = twoDigits(i).flatMap({ hi in twoDigits(i + 2).map { hi * 100 + $0 } }) else { return nil }
        i += 4
        guard at(i) == .minus, let month = twoDigits(i + 1), at(i + 3) == .minus, let day = twoDigits(i + 4) else { return nil }
        i += 6
        // Year 0000 is refused, as toml-test and tomllib do (RFC 3339 allows it; no calendar here needs it).
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else {
            throw fail("`\(text(start..<i))` is not a date")
        }
        let date = TOMLDate(year: year, month: month, day: day)
        let t = at(i)
        let hasTime = (t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == .space) && isDigit(i + 1) && isDigit(i + 2) && at(i + 3) == .colon
        guard hasTime else { return .localDate(date) }
        i += 1
        guard let time = try time() else { return nil }
        let z = at(i)
        if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
            i += 1
            return .offsetDateTime(date, time, offsetMinutes: 0)
        }
        if (z == .plus || z == .minus) && isDigit(i + 1) {
            guard let h = twoDigits(i + 1), at(i + 3) == .colon, let m = twoDigits(i + 4) else { return nil }
            i += 6
            guard h <= 23, m <= 59 else { throw fail("`\(text(start..<i))` has an invalid UTC offset") }
            return .offsetDateTime(date, time, offsetMinutes: (z == .minus ? -1 : 1) * (h * 60 + m))
        }
        return .localDateTime(date, time)
    }

    /// HH:MM:SS[.fraction]
    private mutating func time() throws(TOMLError) -> TOMLTime? {
        let start = i
        guard let h = twoDigits(i), at(i + 2) == .colon, let m = twoDigits(i + 3), at(i + 5) == .colon, let s = twoDigits(i + 6) else { return nil }
        i += 8
        var nanos = 0
        if at(i) == .dot {
            i += 1
            guard isDigit(i) else { return nil }
            var scale = 100_000_000
            while isDigit(i) {
                nanos += Int(b[i] - UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
        }
        guard h <= 23, m <= 59, s <= 59 else { throw fail("`\(text(start..<i))` is not a time of day") }
        return TOMLTime(hour: h, minute: m, second: s, nanosecond: nanos)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // MARK: Bytes

    private func at(_ j: Int) -> UInt8 { j < b.count ? b[j] : 0 }
    private func isDigit(_ j: Int) -> Bool { j < b.count && b[j] >= 0x30 && b[j] <= 0x39 }
    private func twoDigits(_ j: Int) -> Int? {
        isDigit(j) && isDigit(j + 1) ? Int(b[j] - 0x30) * 10 + Int(b[j + 1] - 0x30) : nil
    }
    private func matches(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        return word.withUTF8Buffer { w in (0..<n).allSatisfy { b[i + $0] == w[$0] } }
    }
    private func text(_ r: Range<Int>) -> String { String(decoding: b[r.clamped(to: 0..<b.count)], as: UTF8.self) }

    static func isControl(_ c: UInt8) -> Bool { (c < 0x20 && c != .tab) || c == 0x7F }

    /// Bytes that can continue a bare value (`1e5`, `1979-05-27`, `0x1F`, `+inf`).
    static func isWordByte(_ c: UInt8) -> Bool { isBareKeyByte(c) || c == .dot || c == .plus || c == .colon }

    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: Int(c - 0x30)
        case 0x61...0x66: Int(c - 0x61 + 10)
        case 0x41...0x46: Int(c - 0x41 + 10)
        default: nil
        }
    }

    static func scalarName(_ c: UInt8) -> String {
        let hex = String(c, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    private func fail(_ message: String) -> TOMLError { TOMLError(line: line, message: message) }

    /// What the reader found at `i`, for messages.
    private func found() -> String {
        guard i < b.count else { return "the end of the file" }
        let c = b[i]
        if c == .lf || c == .cr { return "the end of the line" }
        if Self.isControl(c) { return "control character \(Self.scalarName(c))" }
        var end = i + 1
        while end < b.count && b[end] & 0xC0 == 0x80 { end += 1 }
        return "`\(text(i..<end))`"
    }

    /// "`01` is not a value": names the whole word that failed to read.
    private func notAValue(from start: Int) -> TOMLError {
        var end = start
        while end < b.count && end - start < 40 && !Self.endsBareWord(b[end]) { end += 1 }
        while end < b.count && end > start && b[end] & 0xC0 == 0x80 { end -= 1 }
        let word = text(start..<end)
        if word.isEmpty { return fail("expected a value, found \(found())") }
        let first = b[start]
        let numeric = first == .plus || first == .minus || (first >= 0x30 && first <= 0x39)
        return TOMLError(line: line, message: "`\(word)` is not a valid value" + (numeric ? "" : " (strings need quotes)"))
    }

    private static func endsBareWord(_ c: UInt8) -> Bool {
        c == .space || c == .tab || c == .lf || c == .cr || c == .comma || c == .rbracket || c == .rbrace || c == .hash
    }

    /// The offset of the first byte that is not part of well-formed UTF-8 (no overlong forms,
    /// no surrogates, nothing above U+10FFFF), or nil.
    static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                i += 1
                continue
            }
            let need: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0:
                need = 2
                lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED:
                need = 2
                hi = 0x9F
            case 0xF0:
                need = 3
                lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4:
                need = 3
                hi = 0x8F
            default: return i
            }
            for k in 1...need {
                guard i + k < n else { return i }
                let cc = b[i + k]
                if k == 1 ? !(lo...hi).contains(cc) : !(0x80...0xBF).contains(cc) { return i + k }
            }
            i += need + 1
        }
        return nil
    }
}

extension UInt8 {
    fileprivate static let tab: UInt8 = 0x09
    fileprivate static let lf: UInt8 = 0x0A
    fileprivate static let cr: UInt8 = 0x0D
    fileprivate static let space: UInt8 = 0x20
    fileprivate static let quote: UInt8 = 0x22
    fileprivate static let hash: UInt8 = 0x23
    fileprivate static let apostrophe: UInt8 = 0x27
    fileprivate static let plus: UInt8 = 0x2B
    fileprivate static let comma: UInt8 = 0x2C
    fileprivate static let minus: UInt8 = 0x2D
    fileprivate static let dot: UInt8 = 0x2E
    fileprivate static let colon: UInt8 = 0x3A
    fileprivate static let equals: UInt8 = 0x3D
    fileprivate static let lbracket: UInt8 = 0x5B
    fileprivate static let backslash: UInt8 = 0x5C
    fileprivate static let rbracket: UInt8 = 0x5D
    fileprivate static let underscore: UInt8 = 0x5F
    fileprivate static let lbrace: UInt8 = 0x7B
    fileprivate static let rbrace: UInt8 = 0x7D
}
