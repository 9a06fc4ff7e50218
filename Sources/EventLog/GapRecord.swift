import Foundation

/// The log's own marker for lost records. Two kinds:
/// - set aside at open (recovery): damaged bytes were copied to `kept_at` in the log directory and
///   the gap record takes the last lost sequence number, so the sequence stays dense. It commits
///   to that file (`kept_bytes`, `kept_sha256`), which `log verify` checks. The record after it
///   keeps the chain hash it was written with, which the verifier cannot link across lost bytes.
/// - found missing (a witness — the durable-end file, the mirror — saw the log go further than it
///   now does): the gap record is appended at `lost_to + 1`, a number nobody downstream has seen,
///   so no number is ever issued twice; the chain runs through it like any record.
/// Gap records written before the commitment existed name `kept_at` only ("old format").
public enum GapRecord {
    public static let type: UInt16 = 0xFFFF

    public struct Info: Sendable, Equatable {
        public var lostFrom: UInt64
        public var lostTo: UInt64
        /// The file in the log directory that holds the bytes set aside, if any were.
        public var keptAt: String?
        public var keptBytes: Int?
        /// Lowercase hex SHA-256 of the bytes as they were set aside.
        public var keptSHA256: String?
        public var reason: String?

        public init(lostFrom: UInt64, lostTo: UInt64, keptAt: String? = nil, keptBytes: Int? = nil, keptSHA256: String? = nil, reason: String? = nil) {
            (self.lostFrom, self.lostTo, self.keptAt, self.keptBytes, self.keptSHA256, self.reason) = (lostFrom, lostTo, keptAt, keptBytes, keptSHA256, reason)
        }

        /// Set aside at open: the record after it does not chain to it.
        public var setAside: Bool { keptAt != nil }
        /// Written before gap records committed to their evidence.
        public var oldFormat: Bool { keptAt != nil && (keptBytes == nil || keptSHA256 == nil) }

        public var description: String {
            var s = lostFrom <= lostTo ? "records \(lostFrom)…\(lostTo) lost" : "damage set aside, no record lost"
            if let reason { s += " (\(reason))" }
            if let keptAt { s += "; bytes kept in \(keptAt)" }
            return s
        }
    }

    public static func payload(_ g: Info) -> [UInt8] {
        var s = "{\"lost_from\":\(g.lostFrom),\"lost_to\":\(g.lostTo)"
        if let k = g.keptAt { s += ",\"kept_at\":\(quoted(k))" }
        if let n = g.keptBytes { s += ",\"kept_bytes\":\(n)" }
        if let h = g.keptSHA256 { s += ",\"kept_sha256\":\(quoted(h))" }
        if let r = g.reason { s += ",\"reason\":\(quoted(r))" }
        return Array((s + "}").utf8)
    }

    public static func parse(_ payload: [UInt8]) -> Info? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any],
              let from = (o["lost_from"] as? NSNumber)?.uint64Value, let to = (o["lost_to"] as? NSNumber)?.uint64Value else { return nil }
        return Info(lostFrom: from, lostTo: to, keptAt: o["kept_at"] as? String, keptBytes: (o["kept_bytes"] as? NSNumber)?.intValue, keptSHA256: o["kept_sha256"] as? String, reason: o["reason"] as? String)
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
