/// A document as JSON in the tagged form of the toml-test compliance suite, for
/// `postern config parse`: tables are objects, arrays are arrays, and every other value is
/// `{"type": T, "value": "text"}` with T one of string, integer, float, bool, datetime,
/// datetime-local, date-local, time-local. Floats are shortest round-trip decimals, and
/// `inf`, `-inf`, `nan` for the specials; date-times use `T` and `Z`.
extension TOMLTable {
    public var taggedJSON: String {
        var out = ""
        TaggedJSON.table(self, into: &out)
        return out
    }
}

extension TOMLError {
    /// `{"line":N,"message":"…"}`
    public var json: String {
        var out = "{\"line\":\(line),\"message\":"
        TaggedJSON.string(message, into: &out)
        return out + "}"
    }
}

public enum TaggedJSON {
    static func table(_ t: TOMLTable, into out: inout String) {
        out += "{"
        for (n, entry) in t.entries.enumerated() {
            if n > 0 { out += "," }
            string(entry.key, into: &out)
            out += ":"
            value(entry.node.value, into: &out)
        }
        out += "}"
    }

    static func value(_ v: TOMLValue, into out: inout String) {
        switch v {
        case .table(let t):
            table(t, into: &out)
        case .array(let items):
            out += "["
            for (n, item) in items.enumerated() {
                if n > 0 { out += "," }
                value(item.value, into: &out)
            }
            out += "]"
        case .string(let s): leaf("string", s, into: &out)
        case .integer(let i): leaf("integer", String(i), into: &out)
        case .float(let d): leaf("float", float(d), into: &out)
        case .bool(let b): leaf("bool", b ? "true" : "false", into: &out)
        case .offsetDateTime(let d, let t, let offset): leaf("datetime", "\(d)T\(t)\(Self.offset(offset))", into: &out)
        case .localDateTime(let d, let t): leaf("datetime-local", "\(d)T\(t)", into: &out)
        case .localDate(let d): leaf("date-local", d.description, into: &out)
        case .localTime(let t): leaf("time-local", t.description, into: &out)
        }
    }

    static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return d.description
    }

    static func offset(_ minutes: Int) -> String {
        if minutes == 0 { return "Z" }
        let m = abs(minutes)
        return (minutes < 0 ? "-" : "+") + (m / 60 < 10 ? "0" : "") + String(m / 60) + ":" + (m % 60 < 10 ? "0" : "") + String(m % 60)
    }

    private static func leaf(_ type: String, _ text: String, into out: inout String) {
        out += "{\"type\":\"" + type + "\",\"value\":"
        string(text, into: &out)
        out += "}"
    }

    /// `s` quoted: valid both as a JSON string and as a TOML basic string (the escapes used,
    /// \" \\ \n \r \t \uXXXX, mean the same in both).
    public static func quoted(_ s: String) -> String {
        var out = ""
        string(s, into: &out)
        return out
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as is.
    static func string(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
