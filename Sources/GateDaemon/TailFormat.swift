import EventLog
import Foundation
import GateCore

/// How `postern tail` (and the demo) show events: one aligned line per event, coloured on a
/// terminal, or one JSON object per line with a `seq` field. Personal data masked unless asked.
public struct TailFormat: Sendable {
    public var json = false
    public var color = false
    public var unmask = false
    public var lang = Language.en
    public init(json: Bool = false, color: Bool = false, unmask: Bool = false, lang: Language = .en) {
        self.json = json
        self.color = color
        self.unmask = unmask
        self.lang = lang
    }

    public struct Filter: Sendable {
        public var lane: String?
        public var deniedOnly = false
        public var reason: String?
        public var sinceNs: Int64?
        public init(lane: String? = nil, deniedOnly: Bool = false, reason: String? = nil, sinceNs: Int64? = nil) {
            self.lane = lane
            self.deniedOnly = deniedOnly
            self.reason = reason
            self.sinceNs = sinceNs
        }

        public func accepts(_ r: Record, _ e: GateEvent?) -> Bool {
            if let s = sinceNs, r.wallNs < s { return false }
            if let lane, e?.lane != lane { return false }
            if deniedOnly && e?.decision?.outcome != .deny { return false }
            if let reason, e?.decision?.reason.rawValue != reason && e?.alert != reason { return false }
            return true
        }
    }

    static let decoder = JSONDecoder()

    public static func event(_ r: Record) -> GateEvent? {
        guard r.type != GapRecord.type, r.type != Checkpoint.type, !r.flags.contains(.redacted) else { return nil }
        return try? decoder.decode(GateEvent.self, from: Data(r.payload))
    }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    public func line(_ r: Record) -> String {
        let e = Self.event(r)
        if json {
            var obj: [String: Any] = ["seq": r.seq, "record_type": r.type, "wall_ns": r.wallNs]
            if r.flags.contains(.clockUnsynced) { obj["clock_unsynced"] = true }
            if r.flags.contains(.redacted) { obj["redacted"] = true }
            if var e {
                if !unmask { e = Self.masked(e) }
                if let data = try? JSONEncoder().encode(e), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    obj.merge(o) { a, _ in a }
                }
            } else if r.type == GapRecord.type {
                obj["kind"] = "gap"
                obj["detail"] = String(decoding: r.payload, as: UTF8.self)
            } else if r.type == Checkpoint.type {
                obj["kind"] = "checkpoint"
            }
            let d = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return Printable.jsonSafe(String(decoding: d, as: UTF8.self))
        }
        // Human lines: every string that came from outside (names, lanes, messages, actors, keys,
        // devices, gap details) is shown with control and bidi characters escaped.
        func t(_ s: String?) -> String { Printable.escaped(s ?? "") }
        let time = Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(r.wallNs) / 1e9)) + (r.flags.contains(.clockUnsynced) ? "*" : " ")
        let seq = String(r.seq).leftPad(7)
        guard let e else {
            let what = r.type == GapRecord.type ? paint("GAP  " + t(String(decoding: r.payload, as: UTF8.self)), "1;31") : r.type == Checkpoint.type ? paint("checkpoint (signed)", "2") : "record type \(r.type)"
            return "\(seq) \(time) \(what)"
        }
        switch e.kind {
        case .passage:
            let d = e.decision!
            let outcome = ReasonText.outcome(d.outcome, lang).rightPad(6)
            let colored = paint(outcome, d.outcome == .admit ? "32" : d.outcome == .deny ? "31" : "33")
            let name = t(d.personName.map { unmask ? $0 : maskName($0) } ?? "-").rightPad(6)
            let temps = (e.readings ?? []).map { String(format: "%.1f", $0.celsius) }.joined(separator: "→")
            let flags = d.flags.isEmpty ? "" : " [" + d.flags.joined(separator: ",") + "]"
            let staff = d.override.map { " (staff \(t($0.staff)): \(t($0.reason)))" } ?? ""
            return "\(seq) \(time) \(t(e.lane ?? "-").rightPad(10)) \((e.direction?.rawValue ?? "").rightPad(3)) \(colored) \(d.reason.rawValue.rightPad(22)) \(name) \(temps.isEmpty ? "--.-" : temps)°C  \(ReasonText.text(d.reason, lang))\(flags)\(staff)"
        case .alert:
            return "\(seq) \(time) \(t(e.lane ?? "-").rightPad(10)) \(paint("ALERT " + t(e.alert), "1;31")) \(t(e.message))"
        case .registryChange:
            return "\(seq) \(time) registry   \(t(e.actor ?? "?")) \(t(e.action)) \(t(e.entity)) \(t(e.key))"
        case .deviceFault, .deviceState:
            return "\(seq) \(time) \(t(e.device ?? "-").rightPad(10)) \(paint(e.kind == .deviceFault ? "fault" : "device", "2")) \(t(e.message))"
        default:
            return "\(seq) \(time) \(t(e.lane ?? e.kind.rawValue).rightPad(10)) \(e.kind.rawValue) \(t(e.message))\(t(e.configHash.map { " sha256 \($0.prefix(12))" }))"
        }
    }

    /// The event with personal data masked: the passage's name, and inside a registry change the
    /// entity before and after (names, ID numbers, phones, landlord contacts), whatever its kind.
    public static func masked(_ e: GateEvent) -> GateEvent {
        var e = e
        if var d = e.decision {
            d.personName = d.personName.map(maskName)
            e.decision = d
        }
        e.before = e.before.map(maskedEntityJSON)
        e.after = e.after.map(maskedEntityJSON)
        return e
    }

    /// Masks personal fields wherever they occur in an entity's JSON (nested included).
    static func maskedEntityJSON(_ json: String) -> String {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return "{\"masked\":true}" }
        func walk(_ v: Any, key: String?) -> Any {
            if let o = v as? [String: Any] { return o.reduce(into: [String: Any]()) { $0[$1.key] = walk($1.value, key: $1.key) } }
            if let a = v as? [Any] { return a.map { walk($0, key: key) } }
            guard let s = v as? String, let key else { return v }
            switch key {
            case "name", "personName": return maskName(s)
            case "idNumber", "id_number": return IDNumber.masked(s)
            case "phone", "landlordContact", "landlord_contact": return maskPhone(s)
            default: return s
            }
        }
        let masked = walk(obj, key: nil)
        guard let d = try? JSONSerialization.data(withJSONObject: masked, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{\"masked\":true}" }
        return String(decoding: d, as: UTF8.self)
    }

    static let timeFormatter: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "MM-dd HH:mm:ss"
        return f
    }()
}

extension String {
    func rightPad(_ n: Int) -> String {
        let w = displayWidth
        return w >= n ? self : self + String(repeating: " ", count: n - w)
    }
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    /// CJK characters take two terminal columns.
    var displayWidth: Int { unicodeScalars.reduce(0) { $0 + ($1.value >= 0x1100 && ($1.value <= 0x115F || (0x2E80...0xA4CF).contains($1.value) || (0xAC00...0xD7A3).contains($1.value) || (0xF900...0xFAFF).contains($1.value) || (0xFF00...0xFF60).contains($1.value)) ? 2 : 1) } }
}
