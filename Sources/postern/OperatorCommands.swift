import ArgumentParser
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show entry events, past and live (like journalctl -f).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Keep following new events.") var follow = false
    @Option(name: .long, help: "Start after this sequence number (resume without repeats or gaps).") var after: UInt64?
    @Option(name: .long, help: "Only events at or after TIME (YYYY-MM-DD, YYYY-MM-DDTHH:MM, or e.g. 2h, 30m).") var since: String?
    @Option(name: .long, help: "Only this lane.") var lane: String?
    @Flag(name: .long, help: "Only denied passages.") var denied = false
    @Option(name: .long, help: "Only this reason code (or alert kind).") var reason: String?
    @Flag(name: .long, help: "One JSON object per line.") var json = false
    @Option(name: .short, help: "Without -f or --after: show the last N events.") var n: Int = 20

    func run() async throws {
        try await guarded {
            let dir = global.dataDir + "/log"
            guard FileManager.default.fileExists(atPath: dir) else { throw Exit.io("no event log in \(global.dataDir)") }
            var start = (after ?? 0) + 1
            if after == nil && since == nil {
                // The last N events: find the end first.
                let last = try LogVerifier(directory: dir).run().lastSeq ?? 0
                start = last > UInt64(n) ? last - UInt64(n) + 1 : 1
            }
            var filter = TailFormat.Filter(lane: lane, deniedOnly: denied, reason: reason)
            if let since { filter.sinceNs = try parseSince(since) }
            let fmt = TailFormat(json: json, color: isatty(1) == 1, unmask: global.unmask, lang: global.language)
            // With central keeping the registry, how old this kiosk's copy is (on stderr, so the
            // event lines stay one per line for pipes).
            if !json, let s = try? Store.open(dataDir: global.dataDir, readOnly: true), let line = CentralAdmin.registryAge(s, zh: global.language == .zh) {
                errOut(line)
            }
            let cursor = LogCursor(directory: dir, from: start)
            while true {
                let recs = try cursor.next(limit: 512)
                for r in recs where filter.accepts(r, TailFormat.event(r)) { outRaw(fmt.line(r)) }
                if recs.isEmpty {
                    if !follow { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    func parseSince(_ s: String) throws -> Int64 {
        let now = Date().timeIntervalSince1970
        if let v = Double(s.dropLast()), let u = s.last, "smhd".contains(u) {
            let mult: Double = ["s": 1, "m": 60, "h": 3600, "d": 86_400][String(u)]!
            return Int64((now - v * mult) * 1e9)
        }
        for f in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            let df = DateFormatter()
            df.dateFormat = f
            if let d = df.date(from: s) { return Int64(d.timeIntervalSince1970 * 1e9) }
        }
        throw ValidationError("--since: \"\(s)\" is not a time (YYYY-MM-DD, YYYY-MM-DDTHH:MM, or 2h / 30m)")
    }
}

func today() -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd"
    return f.string(from: Date())
}

/// Brings the mirror up to the log before a report (read-only use of the log files).
func mirroredStore(_ dataDir: String) throws -> Store {
    let s = try Store.open(dataDir: dataDir)
    if FileManager.default.fileExists(atPath: dataDir + "/log") {
        try Mirror(store: s, logDir: dataDir + "/log").catchUp()
    }
    return s
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reports.", subcommands: [Seven.self])

    struct Seven: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The seven counts (七知) plus today's passages, denials by reason and fever alerts.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long) var json = false
        @Option(name: .long, help: "Day (YYYY-MM-DD), default today.") var date: String?

        func run() async throws {
            try await guarded {
                let s = try mirroredStore(global.dataDir)
                let c = try s.sevenCounts(day: date ?? today(), now: Timestamp(Date().timeIntervalSince1970))
                if json {
                    let e = JSONEncoder()
                    e.outputFormatting = [.sortedKeys]
                    outJSON(String(decoding: try e.encode(c), as: UTF8.self))
                    return
                }
                let zh = global.language == .zh
                let rows: [(String, String, Int)] = [
                    ("总户数", "households", c.households), ("出租房屋数", "rental households", c.rentalHouseholds),
                    ("湖北籍人员", "Hubei origin", c.hubei), ("武汉籍人员", "Wuhan origin", c.wuhan),
                    ("其他外来人员", "other outsiders", c.otherOutsiders), ("节后返乡人员", "post-holiday returnees", c.returnees),
                    ("居家隔离人员", "in home isolation now", c.inIsolation),
                ]
                out(zh ? "七知 · \(c.day)" : "Seven counts · \(c.day)")
                for (a, b, n) in rows { out("  \((zh ? a : b).rightPadded(24)) \(n)") }
                out(zh ? "今日通行：进 \(c.passagesIn)，出 \(c.passagesOut)；发热告警 \(c.feverAlerts)" : "Today: \(c.passagesIn) in, \(c.passagesOut) out; \(c.feverAlerts) fever alerts")
                for (r, n) in c.denialsByReason.sorted(by: { $0.value > $1.value }) {
                    out("  \((Reason(rawValue: r).map { ReasonText.text($0, global.language) } ?? r).rightPadded(24)) \(n)  (\(r))")
                }
                if let line = CentralAdmin.registryAge(s, zh: zh) { out(line) }
            }
        }
    }
}

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The day's ledger (台账) as CSV or a printable HTML page.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Day (YYYY-MM-DD), default today.") var date: String?
    @Option(name: .long) var lane: String?
    @Option(name: .long, help: "csv or html") var format: String = "csv"
    @Option(name: .long, help: "Gate name for the page heading.") var gate: String = "gate"

    func run() async throws {
        try await guarded {
            guard ["csv", "html"].contains(format) else { throw ValidationError("--format must be csv or html") }
            let s = try mirroredStore(global.dataDir)
            let day = date ?? today()
            let rows = try s.ledger(day: day, lane: lane, unmask: global.unmask)
            FileHandle.standardOutput.write(Data((format == "csv" ? LedgerFormat.csv(rows, lang: global.language) : LedgerFormat.html(rows, day: day, gate: gate, lang: global.language)).utf8))
        }
    }
}

extension String {
    func rightPadded(_ n: Int) -> String {
        let w = unicodeScalars.reduce(0) { $0 + ($1.value >= 0x2E80 ? 2 : 1) }
        return w >= n ? self : self + String(repeating: " ", count: n - w)
    }
}
