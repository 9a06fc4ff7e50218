import EventLog
import Foundation
import GateCore

/// The SQLite mirror of the event log: a follower that inserts events in batches, idempotent by
/// sequence number, with its cursor stored in the same transaction, so after any crash it resumes
/// exactly where the database says it is. A row already there under a record's number must be that
/// record: a different event under a number the mirror holds is refused with an error, never
/// dropped in silence. A gap record marks the rows of the records it names `lost_from_log`.
public final class Mirror: @unchecked Sendable {
    public let store: Store
    let logDir: String
    private var cursor: LogCursor
    private let decoder = JSONDecoder()
    private let dayFormatter: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f
    }()

    public init(store: Store, logDir: String) throws {
        self.store = store
        self.logDir = logDir
        let last = try store.db.query("SELECT last_seq FROM mirror_cursor WHERE id = 1") { UInt64($0.int(0)) }.first ?? 0
        cursor = LogCursor(directory: logDir, from: last + 1)
    }

    public var lastSeq: UInt64 { cursor.nextSeq - 1 }

    /// Only the fields the mirror indexes; the full event stays in `payload`.
    struct Indexed: Decodable {
        struct D: Decodable {
            var outcome: String?
            var reason: String?
            var personID: String?
            var personKind: String?
            var household: String?
            var temperature: Double?
        }
        var kind: String?
        var lane: String?
        var direction: String?
        var alert: String?
        var decision: D?
    }

    /// The indexed fields: the single-pass reader first, JSONDecoder for anything it declines.
    func indexed(_ payload: [UInt8]) -> IndexedFields? {
        if let f = IndexedFields.parse(payload) { return f }
        guard let e = try? decoder.decode(Indexed.self, from: Data(payload)) else { return nil }
        var f = IndexedFields()
        (f.kind, f.lane, f.direction, f.alert) = (e.kind, e.lane, e.direction, e.alert)
        if let d = e.decision {
            (f.outcome, f.reason, f.personID, f.personKind, f.household, f.temperature) = (d.outcome, d.reason, d.personID, d.personKind, d.household, d.temperature)
        }
        return f
    }

    private var dayCache: (start: Int64, end: Int64, text: String)?

    /// The local calendar day of a timestamp, cached for the day being mirrored.
    func day(_ wallNs: Int64) -> String {
        let secs = wallNs / 1_000_000_000
        if let c = dayCache, secs >= c.start, secs < c.end { return c.text }
        let date = Date(timeIntervalSince1970: Double(secs))
        let text = dayFormatter.string(from: date)
        let start = Int64(Calendar.current.startOfDay(for: date).timeIntervalSince1970)
        dayCache = (start, start + 86_400 - 3_600, text)  // an hour short: safe across DST changes
        return text
    }

    /// Applies available records up to `upTo`; returns how many were applied.
    @discardableResult
    public func catchUp(upTo: UInt64 = .max, batch: Int = 1000, replayRegistry: Bool = false) throws -> Int {
        var total = 0
        let insert = try store.db.prepare("INSERT OR IGNORE INTO events(seq, type, kind, wall_ns, day, lane, direction, outcome, reason, person, person_kind, household, temperature, alert, clock_unsynced, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
        let setCursor = try store.db.prepare("UPDATE mirror_cursor SET last_seq = ? WHERE id = 1")
        let existing = try store.db.prepare("SELECT type, wall_ns FROM events WHERE seq = ?")
        while true {
            let recs = try cursor.next(limit: batch, upTo: upTo)
            if recs.isEmpty { return total }
            try store.db.transaction {
                for r in recs {
                    let isGate = r.type != GapRecord.type && r.type != Checkpoint.type && !r.flags.contains(.redacted)
                    let e = isGate ? indexed(r.payload) : nil
                    let kind: String = switch r.type {
                    case GapRecord.type: "gap"
                    case Checkpoint.type: "checkpoint"
                    default: e?.kind ?? (r.flags.contains(.redacted) ? "redacted" : "unknown")
                    }
                    try insert.bind([
                        .int(Int64(r.seq)), .int(Int64(r.type)), .text(kind), .int(r.wallNs), .text(day(r.wallNs)), .opt(e?.lane), .opt(e?.direction),
                        .opt(e?.outcome), .opt(e?.reason), .opt(e?.personID), .opt(e?.personKind), .opt(e?.household),
                        .opt(e?.temperature), .opt(e?.alert), .int(r.flags.contains(.clockUnsynced) ? 1 : 0),
                        .text(r.type == Checkpoint.type ? Base64Hex.hex(r.payload) : String(decoding: r.payload, as: UTF8.self)),
                    ])
                    while try insert.step() {}
                    if store.db.changes == 0 {
                        // Already mirrored (another process caught up first) — or a different event
                        // under a number the mirror has seen: the log was rewritten or shortened.
                        try existing.bind([.int(Int64(r.seq))])
                        var same = true
                        while try existing.step() { same = existing.int(0) == Int64(r.type) && existing.int(1) == r.wallNs }
                        if !same {
                            throw Database.Error(message: "mirror: seq \(r.seq) in the log is not the event the mirror holds under that number (the log was rewritten or shortened and numbers reused); nothing after it is mirrored. Run `postern log verify`")
                        }
                    }
                    if r.type == GapRecord.type, let g = GapRecord.parse(r.payload) {
                        try store.markLost(from: g.lostFrom, to: g.lostTo, except: r.seq)
                    }
                    if replayRegistry, kind == GateEvent.Kind.registryChange.rawValue, let full = try? decoder.decode(GateEvent.self, from: Data(r.payload)) {
                        try store.replay(full)
                    }
                }
                try setCursor.bind([.int(Int64(recs.last!.seq))])
                while try setCursor.step() {}
            }
            total += recs.count
        }
    }

    /// Recreates the database from the log: a fresh file is built beside the old one (events and,
    /// from registry events, the registry tables) and then renamed over it.
    public static func rebuild(dataDir: String, logDir: String) throws -> Int {
        let tmpDir = dataDir + "/.rebuild"
        try? FileManager.default.removeItem(atPath: tmpDir)
        try FileManager.default.createDirectory(atPath: tmpDir, withIntermediateDirectories: true)
        let n: Int
        do {
            let fresh = try Store.open(dataDir: tmpDir)
            let m = try Mirror(store: fresh, logDir: logDir)
            n = try m.catchUp(replayRegistry: true)
            try fresh.db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dataDir + "/postern.db" + suffix) }
        guard rename(tmpDir + "/postern.db", dataDir + "/postern.db") == 0 else { throw Database.Error(message: "cannot replace \(dataDir)/postern.db") }
        try? FileManager.default.removeItem(atPath: tmpDir)
        return n
    }
}

enum Base64Hex {
    static func hex(_ b: [UInt8]) -> String { b.map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }.joined() }
}
