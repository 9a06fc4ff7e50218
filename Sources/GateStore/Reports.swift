import Foundation
import GateCore

/// The seven counts (七知) from the registry, plus the day's passages from the mirror; and the
/// daily ledger (台账) with personal data masked unless asked.
public struct SevenCounts: Codable, Sendable, Equatable {
    public var households = 0
    public var rentalHouseholds = 0
    public var hubei = 0
    public var wuhan = 0
    public var otherOutsiders = 0
    public var returnees = 0
    public var inIsolation = 0
    public var day = ""
    public var passagesIn = 0
    public var passagesOut = 0
    public var denialsByReason: [String: Int] = [:]
    public var feverAlerts = 0
    public init() {}
}

public struct LedgerRow: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var time: String
    public var lane: String
    public var direction: String
    public var name: String
    public var idNumber: String
    public var pass: String
    public var temperature: String
    public var outcome: String
    public var reason: String
    public var staff: String
    public var clockUnsynced: Bool
    /// Attempts the row stands for (a coalesced burst of unreadable scans: more than one).
    public var attempts: Int = 1

    public init(seq: UInt64, time: String, lane: String, direction: String, name: String, idNumber: String, pass: String, temperature: String, outcome: String, reason: String, staff: String, clockUnsynced: Bool, attempts: Int = 1) {
        (self.seq, self.time, self.lane, self.direction, self.name, self.idNumber) = (seq, time, lane, direction, name, idNumber)
        (self.pass, self.temperature, self.outcome, self.reason, self.staff, self.clockUnsynced) = (pass, temperature, outcome, reason, staff, clockUnsynced)
        self.attempts = attempts
    }
}

extension Store {
    public func sevenCounts(day: String, now: Timestamp) throws -> SevenCounts {
        var c = SevenCounts()
        c.day = day
        c.households = Int(try db.query("SELECT COUNT(DISTINCT household) FROM residents") { $0.int(0) }.first ?? 0)
        c.rentalHouseholds = Int(try db.query("SELECT COUNT(DISTINCT household) FROM residents WHERE rental = 1") { $0.int(0) }.first ?? 0)
        for (origin, n) in try db.query("SELECT origin, COUNT(*) FROM residents GROUP BY origin", [], { ($0.text(0), Int($0.int(1))) }) {
            switch Origin(rawValue: origin) {
            case .hubei: c.hubei = n
            case .wuhan: c.wuhan = n
            case .otherProvince: c.otherOutsiders = n
            case .returnee: c.returnees = n
            default: break
            }
        }
        c.inIsolation = Int(try db.query("SELECT COUNT(*) FROM residents WHERE quarantine_until > ?", [.int(now)]) { $0.int(0) }.first ?? 0)
        for (dir, n) in try db.query("SELECT direction, COUNT(*) FROM events WHERE day = ? AND kind = 'passage' AND outcome = 'admit' GROUP BY direction", [.text(day)], { ($0.text(0), Int($0.int(1))) }) {
            if dir == "in" { c.passagesIn = n } else if dir == "out" { c.passagesOut = n }
        }
        for (r, n) in try db.query("SELECT reason, SUM(COALESCE(json_extract(payload, '$.attempts'), 1)) FROM events WHERE day = ? AND kind = 'passage' AND outcome = 'deny' GROUP BY reason", [.text(day)], { ($0.text(0), Int($0.int(1))) }) {
            c.denialsByReason[r] = n
        }
        c.feverAlerts = Int(try db.query("SELECT COUNT(*) FROM events WHERE day = ? AND kind = 'alert' AND alert = 'fever'", [.text(day)]) { $0.int(0) }.first ?? 0)
        return c
    }

    public func ledger(day: String, lane: String?, unmask: Bool) throws -> [LedgerRow] {
        let dec = JSONDecoder()
        let tf = DateFormatter()
        tf.dateFormat = "HH:mm:ss"
        var names: [String: (String, String)] = [:]
        for (id, n, num) in try db.query("SELECT id, name, id_number FROM residents UNION ALL SELECT id, name, id_number FROM visitors UNION ALL SELECT id, name, id_number FROM couriers UNION ALL SELECT id, name, id_number FROM staff", [], { ($0.text(0), $0.text(1), $0.text(2)) }) {
            names[id] = (n, num)
        }
        var args: [Value] = [.text(day)]
        var sql = "SELECT seq, wall_ns, payload, clock_unsynced FROM events WHERE day = ? AND kind = 'passage'"
        if let lane {
            sql += " AND lane = ?"
            args.append(.text(lane))
        }
        return try db.query(sql + " ORDER BY seq", args) { s in
            let e = try? dec.decode(GateEvent.self, from: Data(s.text(2).utf8))
            let d = e?.decision
            let who = d?.personID.flatMap { names[$0] }
            let name = who?.0 ?? d?.personName ?? ""
            let num = who?.1 ?? ""
            return LedgerRow(
                seq: UInt64(s.int(0)), time: tf.string(from: Date(timeIntervalSince1970: Double(s.int(1)) / 1e9)), lane: e?.lane ?? "", direction: e?.direction?.rawValue ?? "",
                name: unmask ? name : maskName(name), idNumber: unmask ? num : (num.isEmpty ? "" : IDNumber.masked(num)), pass: d?.passID ?? "",
                temperature: (e?.readings ?? []).map { String(format: "%.1f", $0.celsius) }.joined(separator: "/"),
                outcome: d?.outcome.rawValue ?? "", reason: d?.reason.rawValue ?? "", staff: d?.override?.staff ?? "", clockUnsynced: s.int(3) != 0, attempts: e?.attempts ?? 1)
        }
    }
}

public enum LedgerFormat {
    /// One CSV cell: `Printable.csvCell` (escaped, formula-neutralised, quoted).
    static func csvField(_ s: String) -> String { Printable.csvCell(s) }

    public static func csv(_ rows: [LedgerRow], lang: Language) -> String {
        let head = lang == .zh
            ? ["序号", "时间", "通道", "方向", "姓名", "身份证号", "通行证", "体温", "结果", "原因", "放行人员", "时钟未同步", "次数"]
            : ["seq", "time", "lane", "direction", "name", "id_number", "pass", "temperature", "outcome", "reason", "staff", "clock_unsynced", "attempts"]
        var out = head.joined(separator: ",") + "\r\n"
        for r in rows {
            out += [String(r.seq), r.time, r.lane, r.direction, r.name, r.idNumber, r.pass, r.temperature, r.outcome, r.reason, r.staff, r.clockUnsynced ? "1" : "", String(r.attempts)].map(csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func html(_ s: String) -> String { Printable.htmlText(s) }

    public static func html(_ rows: [LedgerRow], day: String, gate: String, lang: Language) -> String {
        let title = lang == .zh ? "出入登记台账 \(day) · \(gate)" : "Entry ledger \(day) · \(gate)"
        let head = lang == .zh ? ["时间", "通道", "方向", "姓名", "身份证号", "体温", "结果", "原因", "放行人员"] : ["Time", "Lane", "Dir", "Name", "ID number", "Temp", "Outcome", "Reason", "Staff"]
        var out = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(html(title))</title><style>body{font-family:sans-serif}table{border-collapse:collapse;width:100%}td,th{border:1px solid #444;padding:2px 6px;font-size:11pt}tr.deny{background:#fdd}@media print{tr{page-break-inside:avoid}}</style></head><body>"
        out += "<h1>\(html(title))</h1><table><tr>" + head.map { "<th>\(html($0))</th>" }.joined() + "</tr>"
        for r in rows {
            let reason = (Reason(rawValue: r.reason).map { ReasonText.text($0, lang) } ?? r.reason) + (r.attempts > 1 ? " ×\(r.attempts)" : "")
            let cells = [r.time + (r.clockUnsynced ? "*" : ""), r.lane, r.direction, r.name, r.idNumber, r.temperature, Outcome(rawValue: r.outcome).map { ReasonText.outcome($0, lang) } ?? r.outcome, reason, r.staff]
            out += "<tr class=\"\(r.outcome)\">" + cells.map { "<td>\(html($0))</td>" }.joined() + "</tr>"
        }
        out += "</table><p>\(rows.count) \(lang == .zh ? "条记录；* 表示记录时系统时钟未同步" : "records; * marks a time recorded before the clock was synchronised")</p></body></html>\n"
        return out
    }
}
