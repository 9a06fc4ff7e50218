import CentralStore
import Foundation
import GateCore

/// The ledger (台账) over several gates as CSV or a printable page, each ending with how complete
/// it is: per gate, the newest record central holds and how many records are still to come.
public enum LedgerFormat {
    static func time(_ t: Double) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    /// A cell: control and bidi characters escaped, formulas neutralised (`Printable.csvCell`,
    /// the kiosk's ledger's own).
    static func cell(_ s: String) -> String { Printable.csvCell(s) }

    public static func completeness(_ gates: [CentralDB.GateCompleteness]) -> [String] {
        gates.map { g in
            let through = g.completeThrough.map(time) ?? "nothing yet"
            let behind = g.behindRecords > 0 ? ", \(g.behindRecords) record(s) not yet received" : ""
            let bad = g.integrity.map { "; INTEGRITY: \($0)" } ?? ""
            return "\(g.community)/\(g.gate): complete through \(through) (seq \(g.ackedSeq)\(behind))\(bad)"
        }
    }

    public static func csv(_ rows: [CentralDB.LedgerRow], gates: [CentralDB.GateCompleteness]) -> String {
        var out = "time,community,gate,seq,lane,direction,name,person,pass,temperature,decision,reason,staff,late\r\n"
        for r in rows {
            out += [time(r.time), r.community, r.gate, String(r.seq), r.lane, r.direction, r.name, r.person, r.pass, r.temperature.map { String(format: "%.1f", $0) } ?? "", r.decision, r.reason, r.staff, r.late ? "late" : ""].map(cell).joined(separator: ",") + "\r\n"
        }
        for line in completeness(gates) { out += "# " + cell(line) + "\r\n" }
        return out
    }

    static func esc(_ s: String) -> String { Printable.htmlText(s) }

    public static func html(_ rows: [CentralDB.LedgerRow], gates: [CentralDB.GateCompleteness], title: String) -> String {
        var out = "<!doctype html><html><head><meta charset=\"utf-8\"><title>台账 \(esc(title))</title><style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;font:12px sans-serif}.late{color:#a60}</style></head><body>"
        out += "<h1>台账 ledger: \(esc(title))</h1><table><tr><th>time</th><th>community</th><th>gate</th><th>lane</th><th>dir</th><th>name</th><th>person</th><th>°C</th><th>decision</th><th>reason</th><th>staff</th></tr>"
        for r in rows {
            out += "<tr\(r.late ? " class=\"late\"" : "")><td>\(time(r.time))</td><td>\(esc(r.community))</td><td>\(esc(r.gate))</td><td>\(esc(r.lane))</td><td>\(esc(r.direction))</td><td>\(esc(r.name))</td><td>\(esc(r.person))</td><td>\(r.temperature.map { String(format: "%.1f", $0) } ?? "")</td><td>\(esc(r.decision))</td><td>\(esc(r.reason))</td><td>\(esc(r.staff))</td></tr>"
        }
        out += "</table><h2>Complete through</h2><ul>" + completeness(gates).map { "<li>\(esc($0))</li>" }.joined() + "</ul></body></html>\n"
        return out
    }
}
