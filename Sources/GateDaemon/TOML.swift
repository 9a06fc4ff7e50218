/// A small TOML reader for Postern's config: tables, arrays of tables, dotted headers, inline
/// tables, arrays, strings, integers, floats, booleans, comments. Every value remembers its line so
/// validation messages can say `file:line: key`. Anything outside this subset is an error, never a
/// silent guess.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String), integer(Int64), float(Double), bool(Bool), array([TOMLNode]), table(TOMLTable)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

public struct TOMLNode: Sendable, Equatable {
    public var value: TOMLValue
    public var line: Int
}

public struct TOMLTable: Sendable, Equatable {
    public var entries: [(key: String, node: TOMLNode)] = []
    public var line: Int = 0

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && zip(a.entries, b.entries).allSatisfy { $0.node == $1.node }
    }

    public subscript(key: String) -> TOMLNode? {
        get { entries.first { $0.key == key }?.node }
        set {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let n = newValue { entries[i].node = n } else { entries.remove(at: i) }
            } else if let n = newValue {
                entries.append((key, n))
            }
        }
    }
}

public struct TOMLError: Error, CustomStringConvertible, Sendable, Equatable {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

public enum TOML {
    public static func parse(_ text: String) throws -> TOMLTable {
        var root = TOMLTable()
        root.line = 1
        var path: [String] = []  // current table header
        var arrayHeader = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < lines.count {
            let n = i + 1
            var line = Substring(lines[i])
            i += 1
            if line.hasSuffix("\r") { line = line.dropLast() }
            var p = Parser(chars: Array(line.unicodeScalars), line: n)
            p.skipSpace()
            if p.atEnd || p.peek == "#" { continue }
            if p.peek == "[" {
                p.pos += 1
                arrayHeader = p.peek == "["
                if arrayHeader { p.pos += 1 }
                let keys = try p.parseKey()
                guard p.eat("]"), !arrayHeader || p.eat("]") else { throw TOMLError(line: n, message: "malformed table header") }
                try p.expectEnd()
                path = keys
                try root.define(path: keys, array: arrayHeader, line: n)
                continue
            }
            let keys = try p.parseKey()
            p.skipSpace()
            guard p.eat("=") else { throw TOMLError(line: n, message: "expected `=` after key `\(keys.joined(separator: "."))`") }
            p.skipSpace()
            // Multi-line arrays: gather following lines until brackets balance.
            var rest = String(String.UnicodeScalarView(p.chars[p.pos...]))
            var depth = Parser.bracketDepth(rest)
            while depth > 0 && i < lines.count {
                rest += "\n" + lines[i]
                i += 1
                depth = Parser.bracketDepth(rest)
            }
            var vp = Parser(chars: Array(rest.unicodeScalars), line: n)
            let value = try vp.parseValue()
            try vp.expectEnd()
            try root.set(path: path + keys, TOMLNode(value: value, line: n), inArray: arrayHeader, headerDepth: path.count)
        }
        return root
    }

    struct Parser {
        var chars: [Unicode.Scalar]
        var pos = 0
        let line: Int
        var atEnd: Bool { pos >= chars.count }
        var peek: Unicode.Scalar? { atEnd ? nil : chars[pos] }

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" { pos += 1 }
        }
        mutating func skipSpaceAndComments() {
            while true {
                skipSpace()
                if peek == "#" {
                    while let c = peek, c != "\n" { pos += 1 }
                } else {
                    return
                }
            }
        }
        mutating func eat(_ c: Unicode.Scalar) -> Bool {
            skipSpace()
            if peek == c {
                pos += 1
                return true
            }
            return false
        }
        mutating func expectEnd() throws {
            skipSpace()
            if peek == "#" { return }
            if !atEnd { throw TOMLError(line: line, message: "unexpected text after value: \(String(String.UnicodeScalarView(chars[pos...])).prefix(20))") }
        }

        static func bracketDepth(_ s: String) -> Int {
            var depth = 0
            var inString = false
            var inComment = false
            var prev: Character = " "
            for c in s {
                if inComment {
                    if c == "\n" { inComment = false }
                    continue
                }
                if c == "\"" && prev != "\\" { inString.toggle() }
                if !inString {
                    if c == "#" { inComment = true }
                    if c == "[" || c == "{" { depth += 1 }
                    if c == "]" || c == "}" { depth -= 1 }
                }
                prev = c
            }
            return depth
        }

        mutating func parseKey() throws -> [String] {
            var keys: [String] = []
            repeat {
                skipSpace()
                if peek == "\"" {
                    keys.append(try parseString())
                } else {
                    var k = ""
                    while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" {
                        k.unicodeScalars.append(c)
                        pos += 1
                    }
                    guard !k.isEmpty else { throw TOMLError(line: line, message: "expected a key") }
                    keys.append(k)
                }
                skipSpace()
            } while eat(".")
            return keys
        }

        mutating func parseString() throws -> String {
            guard peek == "\"" || peek == "'" else { throw TOMLError(line: line, message: "expected a string") }
            let quote = peek!
            pos += 1
            var s = ""
            while let c = peek {
                pos += 1
                if c == quote { return s }
                if c == "\\" && quote == "\"" {
                    guard let e = peek else { break }
                    pos += 1
                    switch e {
                    case "n": s += "\n"
                    case "t": s += "\t"
                    case "r": s += "\r"
                    case "\\": s += "\\"
                    case "\"": s += "\""
                    case "u", "U":
                        let len = e == "u" ? 4 : 8
                        guard pos + len <= chars.count, let v = UInt32(String(String.UnicodeScalarView(chars[pos..<(pos + len)])), radix: 16), let u = Unicode.Scalar(v) else {
                            throw TOMLError(line: line, message: "bad unicode escape")
                        }
                        s.unicodeScalars.append(u)
                        pos += len
                    default: throw TOMLError(line: line, message: "unknown escape \\\(e)")
                    }
                } else if c == "\n" {
                    break
                } else {
                    s.unicodeScalars.append(c)
                }
            }
            throw TOMLError(line: line, message: "unterminated string")
        }

        mutating func parseValue() throws -> TOMLValue {
            skipSpace()
            guard let c = peek else { throw TOMLError(line: line, message: "missing value") }
            switch c {
            case "\"", "'": return .string(try parseString())
            case "[":
                pos += 1
                var items: [TOMLNode] = []
                skipSpaceAndComments()
                if peek == "]" {
                    pos += 1
                    return .array([])
                }
                while true {
                    skipSpaceAndComments()
                    items.append(TOMLNode(value: try parseValue(), line: line))
                    skipSpaceAndComments()
                    if eat(",") {
                        skipSpaceAndComments()
                        if peek == "]" {
                            pos += 1
                            return .array(items)
                        }
                        continue
                    }
                    guard eat("]") else { throw TOMLError(line: line, message: "expected `,` or `]` in array") }
                    return .array(items)
                }
            case "{":
                pos += 1
                var t = TOMLTable()
                t.line = line
                if eat("}") { return .table(t) }
                while true {
                    let keys = try parseKey()
                    guard eat("=") else { throw TOMLError(line: line, message: "expected `=` in inline table") }
                    let v = try parseValue()
                    try t.set(path: keys, TOMLNode(value: v, line: line), inArray: false, headerDepth: 0)
                    if eat(",") { continue }
                    guard eat("}") else { throw TOMLError(line: line, message: "expected `,` or `}` in inline table") }
                    return .table(t)
                }
            default:
                var word = ""
                while let c = peek, !(c == "," || c == "]" || c == "}" || c == " " || c == "\t" || c == "#" || c == "\n") {
                    word.unicodeScalars.append(c)
                    pos += 1
                }
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                let clean = word.replacingUnderscores
                if let i = Int64(clean) { return .integer(i) }
                if clean.hasPrefix("0x"), let i = Int64(clean.dropFirst(2), radix: 16) { return .integer(i) }
                if let d = Double(clean), !clean.isEmpty, clean.first != "." { return .float(d) }
                throw TOMLError(line: line, message: word.isEmpty ? "missing value" : "`\(word)` is not a value (strings need quotes)")
            }
        }
    }
}

extension String {
    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}

extension TOMLTable {
    /// Creates the table (or a new array-of-tables element) a header names.
    mutating func define(path: [String], array: Bool, line: Int) throws {
        guard let first = path.first else { return }
        let rest = Array(path.dropFirst())
        if rest.isEmpty {
            if array {
                var list: [TOMLNode] = []
                if let existing = self[first] {
                    guard case .array(let a) = existing.value else { throw TOMLError(line: line, message: "`\(first)` is already defined on line \(existing.line)") }
                    list = a
                }
                var t = TOMLTable()
                t.line = line
                list.append(TOMLNode(value: .table(t), line: line))
                self[first] = TOMLNode(value: .array(list), line: self[first]?.line ?? line)
            } else {
                if let existing = self[first] {
                    guard case .table = existing.value else { throw TOMLError(line: line, message: "`\(first)` is already defined on line \(existing.line)") }
                    return
                }
                var t = TOMLTable()
                t.line = line
                self[first] = TOMLNode(value: .table(t), line: line)
            }
            return
        }
        try descend(first, line: line) { try $0.define(path: rest, array: array, line: line) }
    }

    /// Sets a key below the current header; a duplicate key is an error naming both lines.
    mutating func set(path: [String], _ node: TOMLNode, inArray: Bool, headerDepth: Int) throws {
        guard let first = path.first else { return }
        let rest = Array(path.dropFirst())
        if rest.isEmpty {
            if let existing = self[first] { throw TOMLError(line: node.line, message: "duplicate key `\(first)` (first set on line \(existing.line))") }
            self[first] = node
            return
        }
        if self[first] == nil {
            var t = TOMLTable()
            t.line = node.line
            self[first] = TOMLNode(value: .table(t), line: node.line)
        }
        try descend(first, line: node.line) { try $0.set(path: rest, node, inArray: inArray, headerDepth: headerDepth - 1) }
    }

    /// Edits the table at `key`, or the last element of an array of tables there.
    private mutating func descend(_ key: String, line: Int, _ body: (inout TOMLTable) throws -> Void) throws {
        guard var node = self[key] else {
            var t = TOMLTable()
            t.line = line
            try body(&t)
            self[key] = TOMLNode(value: .table(t), line: line)
            return
        }
        switch node.value {
        case .table(var t):
            try body(&t)
            node.value = .table(t)
        case .array(var a):
            guard let last = a.last, case .table(var t) = last.value else { throw TOMLError(line: line, message: "`\(key)` is not a table") }
            try body(&t)
            a[a.count - 1].value = .table(t)
            node.value = .array(a)
        default:
            throw TOMLError(line: line, message: "`\(key)` is a value (line \(node.line)), not a table")
        }
        self[key] = node
    }
}
