import EventLog
import Foundation
import GateCore
import Synchronization
import Testing
@testable import GateStore

func tempDataDir() -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("postern-store-\(UUID().uuidString.prefix(8))").path
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func idn(_ body: String) -> String { body + String(IDNumber.checkCharacter(for: body)!) }

let csvGood = "\u{FEFF}id,name,sex,id_number,building,unit,room,household,origin,return_date,rental,landlord_contact\r\n"
    + "r1,张伟,M,\(idn("15070219800101001")),1,1,101,h1,local,,no,\r\n"
    + "r2,李娜,F,\(idn("15070219820202002")),1,1,101,h1,hubei,2020-02-01,no,\r\n"
    + "r3,\"王, 芳\",女,\(idn("42010619850404004")),2,1,301,h3,wuhan,,yes,\"房东 138\"\r\n"

@Suite("Resident CSV import")
struct ImportTests {
    @Test("BOM, CRLF and quoted fields are read; a return date starts 14 days of isolation")
    func good() throws {
        let rs = try ResidentImport.parse(csvGood, isolationDays: 14, utcOffset: 8 * 3600).get()
        #expect(rs.map(\.id) == ["r1", "r2", "r3"])
        #expect(rs[2].name == "王, 芳")
        #expect(rs[2].sex == .female)
        #expect(rs[2].rental)
        #expect(rs[2].landlordContact == "房东 138")
        #expect(rs[1].quarantineUntil == rs[1].returnDate! + 14 * 86_400)
    }

    @Test("every bad row is reported with its line number and reason")
    func bad() {
        let text = "id,name,sex,id_number,building,unit,room,origin\n"
            + "r1,A,M,\(idn("15070219800101001")),1,1,101,local\n"
            + "r2,B,X,\(idn("15070219820202002")),1,1,101,local\n"
            + "r3,C,M,150702198202020021,1,1,101,local\n"
            + "r4,D,M,\(idn("15070219820202003")),1,1,101,mars\n"
            + "r1,E,M,\(idn("15070219820202004")),1,1,101,local\n"
            + "r6,F,M\n"
        guard case .failure(let e) = ResidentImport.parse(text, isolationDays: 14) else {
            Issue.record("a bad file must be rejected")
            return
        }
        #expect(e.rows.map(\.line) == [3, 4, 5, 6, 7])
        #expect(e.rows[0].message.contains("sex"))
        #expect(e.rows[1].message.contains("check digit"))
        #expect(e.rows[2].message.contains("origin"))
        #expect(e.rows[3].message.contains("already used on line 2"))
    }

    @Test("unknown columns (typos) and an unterminated quote are named")
    func header() {
        guard case .failure(let e) = ResidentImport.parse("id,name,sex,id_numbr,building,unit,room\n", isolationDays: 14) else { Issue.record("accepted"); return }
        #expect(e.description.contains("unknown column \"id_numbr\""))
        guard case .failure(let q) = ResidentImport.parse("id,name\n\"r1,x\n", isolationDays: 14) else { Issue.record("accepted"); return }
        #expect(q.description.contains("unterminated"))
    }
}

@Suite("Registry, audit and mirror")
struct RegistryTests {
    func seeded() throws -> (String, Store) {
        let dir = tempDataDir()
        let s = try Store.open(dataDir: dir)
        try s.importResidents(try ResidentImport.parse(csvGood, isolationDays: 14).get(), actor: "admin")
        return (dir, s)
    }

    @Test("changes show in the snapshot; a new pass supersedes the old; revocation and lockdown apply")
    func snapshot() throws {
        let (_, s) = try seeded()
        try s.recordPass(Pass(id: 1, kind: .resident, person: "r1", household: "h1", issued: 0, expires: 99, keyID: "k"), actor: "admin")
        try s.recordPass(Pass(id: 2, kind: .resident, person: "r1", household: "h1", issued: 1, expires: 99, keyID: "k"), actor: "admin")
        try s.revokePass(2, reason: "lost", actor: "admin")
        try s.setLockdown(.unit(building: "1", unit: "1"), reason: "confirmed case", at: 5, actor: "admin")
        try s.setQuarantine(person: "r1", until: 1000, actor: "admin")
        let snap = try s.snapshot()
        #expect(snap.residents.count == 3)
        #expect(snap.currentPass["r1"] == 2)
        #expect(snap.revokedPasses == [2])
        #expect(snap.lockdowns == [.unit(building: "1", unit: "1")])
        #expect(snap.residents["r1"]?.quarantineUntil == 1000)
        try s.liftLockdown(.unit(building: "1", unit: "1"), actor: "admin")
        #expect(try s.snapshot().lockdowns.isEmpty)
        #expect(throws: Database.Error.self) { try s.liftLockdown(.compound, actor: "admin") }
    }

    @Test("every change queues an audit event; draining appends them to the log once")
    func audit() throws {
        let (dir, s) = try seeded()
        try s.setQuarantine(person: "r2", until: nil, actor: "chen")
        #expect(try s.pendingAudit().count == 4)
        let log = try LogWriter.open(directory: dir + "/log")
        #expect(try s.drainAudit(into: log) == 4)
        #expect(try s.pendingAudit().isEmpty)
        #expect(try s.drainAudit(into: log) == 0)
        log.close()
        let recs = try LogCursor(directory: dir + "/log", from: 1).next()
        let events = try recs.map { try JSONDecoder().decode(GateEvent.self, from: Data($0.payload)) }
        #expect(events.last?.actor == "chen")
        #expect(events.last?.action == "quarantine_clear")
        #expect(events.last?.before?.contains("quarantineUntil") == true)
    }

    func appendPassages(_ log: LogWriter, _ n: Int) throws {
        for i in 0..<n {
            let d = Decision(outcome: i % 3 == 0 ? .deny : .admit, reason: i % 3 == 0 ? .fever : .ok, personID: "r\(i % 3 + 1)", personKind: .resident, personName: "x", household: "h1", passID: nil, temperature: 36.5, flags: [], alarm: false, alert: false)
            let e = GateEvent.passage(d, Lane.Summary(lane: "gate1", direction: i % 2 == 0 ? .in : .out, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970)
            try log.appendBlocking([LogEntry(type: 1, payload: Array(try JSONEncoder().encode(e)))])
        }
    }

    func rows(_ s: Store) throws -> [String] {
        try s.db.query("SELECT seq, type, kind, wall_ns, day, lane, direction, outcome, reason, person, household, payload FROM events ORDER BY seq") { q in (0..<12).map { q.text(Int32($0)) }.joined(separator: "|") }
    }

    @Test("the mirror resumes exactly after stopping at any batch, and equals a rebuild from the log")
    func resumeAndRebuild() throws {
        let (dir, s) = try seeded()
        let log = try LogWriter.open(directory: dir + "/log")
        _ = try s.drainAudit(into: log)
        try appendPassages(log, 95)
        let durable = log.durableSeq
        log.close()
        // Stop after every possible batch boundary: a fresh mirror picks up from the stored cursor.
        for stopAfter in [0, 1, 7, 50] {
            let d2 = tempDataDir()
            let s2 = try Store.open(dataDir: d2)
            let m = try Mirror(store: s2, logDir: dir + "/log")
            if stopAfter > 0 { try m.catchUp(upTo: UInt64(stopAfter), batch: 3) }
            let again = try Mirror(store: s2, logDir: dir + "/log")
            #expect(again.lastSeq == UInt64(stopAfter))
            try again.catchUp(upTo: durable, batch: 10)
            #expect(try rows(s2).count == Int(durable))
        }
        let m = try Mirror(store: s, logDir: dir + "/log")
        #expect(try m.catchUp() == Int(durable))
        #expect(try m.catchUp() == 0)
        let incremental = try rows(s)
        let residentsBefore = try s.residents()
        #expect(try Mirror.rebuild(dataDir: dir, logDir: dir + "/log") == Int(durable))
        let rebuilt = try Store.open(dataDir: dir)
        #expect(try rows(rebuilt) == incremental)
        #expect(try rebuilt.residents() == residentsBefore)
    }

    @Test("seven counts and a masked ledger")
    func reports() throws {
        let (dir, s) = try seeded()
        let log = try LogWriter.open(directory: dir + "/log")
        try appendPassages(log, 6)
        log.close()
        try Mirror(store: s, logDir: dir + "/log").catchUp()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let today = f.string(from: Date())
        let c = try s.sevenCounts(day: today, now: Timestamp(Date().timeIntervalSince1970) - 86_400 * 365 * 10)
        #expect(c.households == 2)
        #expect(c.rentalHouseholds == 1)
        #expect(c.hubei == 1 && c.wuhan == 1)
        #expect(c.inIsolation == 1)
        #expect(c.passagesIn + c.passagesOut == 4)
        #expect(c.denialsByReason == ["fever": 2])
        let ledger = try s.ledger(day: today, lane: nil, unmask: false)
        #expect(ledger.count == 6)
        #expect(ledger[0].name == "张*")
        #expect(ledger[0].idNumber.contains("****"))
        let csv = LedgerFormat.csv(ledger, lang: .zh)
        #expect(csv.hasPrefix("序号,时间"))
        #expect(!csv.contains("张伟"))
        #expect(try s.ledger(day: today, lane: nil, unmask: true)[0].name == "张伟")
    }
}

@Suite("Mirror field reader")
struct IndexedFieldsTests {
    @Test("the single-pass reader agrees with JSONDecoder on real events, and declines what it cannot read")
    func agrees() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var d = Decision(outcome: .admit, reason: .override, personID: "r1", personKind: .resident, personName: "张\"伟", household: "h1", temperature: 36.55, flags: ["anti_passback"], alarm: true, alert: true, override: Override(staff: "s1", reason: "medical, {urgent}"), overridden: .lockdown)
        d.passID = "00ff"
        var e = GateEvent.passage(d, Lane.Summary(lane: "in-1", direction: .out, credentialKind: "qr", readings: [Reading(celsius: 36.5, ambient: 24, device: "t", at: 1)], retests: 1), at: 1.5)
        e.alert = "fever"
        let f = try #require(IndexedFields.parse(Array(try enc.encode(e))))
        #expect(f.kind == "passage" && f.lane == "in-1" && f.direction == "out" && f.alert == "fever")
        #expect(f.outcome == "admit" && f.reason == "override" && f.personID == "r1" && f.personKind == "resident" && f.household == "h1")
        #expect(f.temperature == 36.55)
        var plain = GateEvent(kind: .deviceFault, at: 2)
        plain.device = "t"
        plain.message = "bad \\ bytes"
        let g = try #require(IndexedFields.parse(Array(try enc.encode(plain))))
        #expect(g.kind == "device_fault" && g.lane == nil && g.outcome == nil)
        var escaped = GateEvent(kind: .passage, at: 3)
        escaped.lane = "a\"b"
        #expect(IndexedFields.parse(Array(try enc.encode(escaped))) == nil)  // declined: the caller uses JSONDecoder
        #expect(IndexedFields.parse(Array("not json".utf8)) == nil)
    }
}

/// Two processes opening a data directory for the first time (the daemon's first start and an
/// admin command, or two kiosks' tools in a test) must both get the full schema: the migration
/// is decided inside the write transaction, never from a version read before it.
@Suite("First open by several connections at once")
struct ConcurrentFirstOpenTests {
    @Test("8 connections opening a fresh database at the same moment, 100 times: every open succeeds, the schema is applied once")
    func concurrentFirstOpen() throws {
        for round in 0..<100 {
            let dir = NSTemporaryDirectory() + "postern-first-open-\(round)-\(UUID().uuidString.prefix(6))"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let failures = Mutex<[String]>([])
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for _ in 0..<8 {
                group.enter()
                Thread.detachNewThread {
                    start.wait()
                    do { _ = try Store.open(dataDir: dir).snapshot() } catch { failures.withLock { $0.append("\(error)") } }
                    group.leave()
                }
            }
            for _ in 0..<8 { start.signal() }
            group.wait()
            let seen = failures.withLock { $0 }
            #expect(seen.isEmpty, "round \(round): \(seen)")
            let s = try Store.open(dataDir: dir)
            #expect(try s.db.query("PRAGMA user_version") { Int($0.int(0)) }.first == Schema.migrations.count)
        }
    }
}

@Suite("Schema upgrades")
struct SchemaUpgradeTests {
    @Test("a database at version 3 (visitors with the unused entries_used column) upgrades and keeps its visitors")
    func fromVersion3() throws {
        let dir = tempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let db = try Database(path: dir + "/postern.db")
            for m in Schema.migrations.prefix(3) { try db.exec(m) }
            try db.exec("PRAGMA user_version = 3")
            try db.exec("INSERT INTO visitors VALUES ('v1', '访客', '\(idn("15070219800101001"))', '13800000000', 'h1', 'care', 's1', 100, 200, 2, 0)")
        }
        let s = try Store.open(dataDir: dir)
        #expect(try s.db.query("PRAGMA user_version") { Int($0.int(0)) }.first == Schema.migrations.count)
        let v = try #require(try s.snapshot().visitors["v1"])
        #expect(v.name == "访客" && v.maxEntries == 2 && v.validUntil == 200)
        #expect(try s.db.query("SELECT count(*) FROM pragma_table_info('visitors') WHERE name = 'entries_used'") { $0.int(0) }.first == 0)
    }
}
