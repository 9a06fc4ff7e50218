/// Text from outside (a name from a CSV import, a visitor's details, a scanned payload, a device
/// message) made safe to print on an operator's terminal: C0 and C1 control characters (ESC, CSI,
/// OSC — OSC 52 writes to the clipboard), DEL, and Unicode bidirectional and invisible format
/// characters are shown as visible escapes (`\x1B`, `\u{202E}`) instead of being sent raw. Every
/// human-readable output of Postern passes untrusted strings through here; JSON output escapes
/// control characters by its own rules.
public enum Printable {
    public static func escaped(_ s: String, keepingLayout: Bool = false) -> String {
        func escape(_ u: Unicode.Scalar) -> Bool { needsEscape(u) && !(keepingLayout && (u == "\n" || u == "\t")) }
        guard s.unicodeScalars.contains(where: escape) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            if escape(u) {
                out += u.value < 0x100 ? "\\x" + hex(u.value, 2) : "\\u{" + hex(u.value, 4) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// A JSON text made safe to print: JSON escapes C0 controls itself; DEL, C1 controls and the
    /// bidi/invisible characters that remain raw inside strings become `\uXXXX` escapes (the
    /// same value to a JSON reader). Only valid inside strings, which is where they can occur.
    public static func jsonSafe(_ json: String) -> String {
        // C0 controls never stand raw inside a JSON string (the serializer escapes them); outside
        // strings they are the layout of pretty-printed JSON, which stays.
        func escape(_ u: Unicode.Scalar) -> Bool { u.value >= 0x7F && needsEscape(u) }
        guard json.unicodeScalars.contains(where: escape) else { return json }
        var out = ""
        for u in json.unicodeScalars {
            if escape(u) { out += "\\u" + hex(u.value, 4) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// Control characters, DEL, C1 controls, bidi embeddings/overrides/isolates and marks,
    /// zero-width and other invisible format characters, line/paragraph separators, BOM.
    public static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x061C, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F, 0xFEFF, 0xFFF9...0xFFFB: true
        default: false
        }
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// One CSV cell, safe to open in a spreadsheet and to print: control and bidi characters
    /// escaped as above, then a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
    /// return (read as a formula: CSV injection, OWASP) gets a leading `'` and is quoted — except
    /// a plain number like `-3.5`, which is data. Every CSV Postern writes (the kiosk's ledger,
    /// central's ledger) builds its cells here.
    public static func csvCell(_ s: String) -> String {
        var v = escaped(s)
        if let f = v.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(f), !isPlainNumber(v) { v = "'" + v }
        let quote = v.hasPrefix("'") || v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        return quote ? "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : v
    }

    static func isPlainNumber(_ s: String) -> Bool {
        var u = Substring(s)
        if u.first == "-" || u.first == "+" { u = u.dropFirst() }
        let parts = u.split(separator: ".", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Text for an HTML page (element content or a quoted attribute): control and bidi
    /// characters escaped as above, then `& < > "` as entities.
    public static func htmlText(_ s: String) -> String {
        escaped(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

