/// A single-pass reader for the few fields the mirror indexes, from the JSON the journal writes:
/// top-level `kind`, `lane`, `direction`, `alert` and, inside `decision`, `outcome`, `reason`,
/// `personID`, `personKind`, `household`, `temperature`. It skips every other value generically
/// (any order, nesting, escapes), and gives up (nil: the caller falls back to JSONDecoder) on
/// anything it does not expect, such as an escaped character inside a captured string.
public struct IndexedFields: Sendable {
    public var kind, lane, direction, alert: String?
    public var outcome, reason, personID, personKind, household: String?
    public var temperature: Double?

    public init(kind: String? = nil, lane: String? = nil, direction: String? = nil, alert: String? = nil, outcome: String? = nil, reason: String? = nil, personID: String? = nil, personKind: String? = nil, household: String? = nil, temperature: Double? = nil) {
        self.kind = kind
        self.lane = lane
        self.direction = direction
        self.alert = alert
        self.outcome = outcome
        self.reason = reason
        self.personID = personID
        self.personKind = personKind
        self.household = household
        self.temperature = temperature
    }

    public static func parse(_ b: [UInt8]) -> IndexedFields? {
        var p = Reader(b: b)
        var f = IndexedFields()
        guard p.object({ key, p in
            switch key {
            case "kind": f.kind = p.string() ?? "?"
            case "lane": f.lane = p.string()
            case "direction": f.direction = p.string()
            case "alert": f.alert = p.peek == UInt8(ascii: "\"") ? p.string() : nil
                if f.alert == nil { return p.skip() }
            case "decision":
                return p.object { k, p in
                    switch k {
                    case "outcome": f.outcome = p.string()
                    case "reason": f.reason = p.string()
                    case "personID": f.personID = p.string()
                    case "personKind": f.personKind = p.string()
                    case "household": f.household = p.string()
                    case "temperature": f.temperature = p.number()
                    default: return p.skip()
                    }
                    return !p.failed
                }
            default: return p.skip()
            }
            return !p.failed
        }), f.kind != "?" else { return nil }
        return f
    }

    struct Reader {
        let b: [UInt8]
        var i = 0
        var failed = false
        var peek: UInt8? {
            mutating get {
                ws()
                return i < b.count ? b[i] : nil
            }
        }
        mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

        /// Calls `field` for each key with the reader at its value; the callback consumes it.
        mutating func object(_ field: (String, inout Reader) -> Bool) -> Bool {
            guard peek == UInt8(ascii: "{") else { return false }
            i += 1
            if peek == UInt8(ascii: "}") { i += 1; return true }
            while true {
                guard let key = string() else { return false }
                guard peek == UInt8(ascii: ":") else { return false }
                i += 1
                ws()
                guard field(key, &self) else { return false }
                switch peek {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "}"): i += 1; return true
                default: return false
                }
            }
        }

        /// A string without escapes (nil, and `failed`, otherwise).
        mutating func string() -> String? {
            guard peek == UInt8(ascii: "\"") else { failed = true; return nil }
            let start = i + 1
            var j = start
            while j < b.count, b[j] != UInt8(ascii: "\"") {
                if b[j] == UInt8(ascii: "\\") { failed = true; return nil }
                j += 1
            }
            guard j < b.count else { failed = true; return nil }
            i = j + 1
            return String(decoding: b[start..<j], as: UTF8.self)
        }

        mutating func number() -> Double? {
            ws()
            let start = i
            while i < b.count, "+-.eE0123456789".utf8.contains(b[i]) { i += 1 }
            guard let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else { failed = true; return nil }
            return d
        }

        /// Skips any JSON value.
        mutating func skip() -> Bool {
            guard let c = peek else { return false }
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                guard i < b.count else { return false }
                i += 1
                return true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < b.count {
                    switch b[i] {
                    case UInt8(ascii: "\""):
                        i += 1
                        while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                while i < b.count, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]") { i += 1 }
                return true
            }
        }
    }
}
