import CentralStore
import CentralWire
import Crypto
import EventLog
import Foundation
import GateCore
import Testing
import Uplink

/// A real kiosk log in a temp directory, for building uploads.
struct KioskLog {
    let dir: String
    let writer: LogWriter

    init(_ name: String) throws {
        dir = NSTemporaryDirectory() + "postern-central-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        writer = try LogWriter.open(directory: dir)
    }

    func append(_ e: GateEvent) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        _ = try writer.appendBlocking([LogEntry(type: e.kind.recordType, payload: Array(try enc.encode(e)))])
    }

    func passage(person: String, kind: PersonKind = .resident, household: String? = "1-1-101", direction: Direction = .out, outcome: Outcome = .admit, flags: [String] = [], at: Double = Date().timeIntervalSince1970) throws {
        var d = Decision(outcome: outcome, reason: outcome == .admit ? .ok : .householdQuota, personID: person, personKind: kind, personName: "张" + person, household: household, temperature: 36.5)
        d.flags = flags
        try append(GateEvent.passage(d, Lane.Summary(lane: "l1", direction: direction, credentialKind: "qr", readings: [], retests: 0), at: at))
    }

    func records(from: UInt64 = 1) throws -> [Record] { try LogCursor(directory: dir, from: from).next(limit: 10_000) }

    func batch(from: UInt64 = 1) throws -> UploadBatch {
        let rs = try records(from: from)
        return UploadBatch(records: rs.map(EventShipper.wire), durableSeq: rs.last?.seq ?? 0)
    }
}

func seedOrg(_ db: CentralDB) async throws {
    try await db.addOrgUnit(kind: "city", id: "hlbe", parent: nil, name: "呼伦贝尔")
    try await db.addOrgUnit(kind: "district", id: "hailar", parent: "hlbe", name: "海拉尔区")
    try await db.addOrgUnit(kind: "street", id: "jiankang", parent: "hailar", name: "健康街道")
    try await db.addCommunity(id: "c1", street: "jiankang", name: "一号小区")
    try await db.addCommunity(id: "c2", street: "jiankang", name: "二号小区")
}

@Suite("Central store on a real PostgreSQL", .serialized)
struct StoreTests {
    static let cluster = try! PGCluster()

    @Test("migrations apply once; a second start applies none")
    func migrations() async throws {
        try await withCentralDB(Self.cluster, "mig") { db, _ in
            let n = try await db.migrate()
            #expect(n == 0)
        }
    }

    @Test("a gate token authenticates only its own gate and community; junk tokens are refused")
    func tokens() async throws {
        try await withCentralDB(Self.cluster, "tokens") { db, _ in
            try await seedOrg(db)
            let t = try await db.enrolGate(id: "g1", community: "c1", name: "north", kioskKey: nil)
            #expect(try await db.authenticateGate(token: t) == .init(gate: "g1", community: "c1"))
            let t2 = try await db.enrolGate(id: "g2", community: "c2", name: "south", kioskKey: nil)
            for bad in ["", "pst1", t + "x", t.replacingOccurrences(of: ".c1.", with: ".c2."), "pst1.c1.g1.' OR 1=1 --", String(repeating: "a", count: 10_000), t2.replacingOccurrences(of: ".g2.", with: ".g1.")] {
                #expect(try await db.authenticateGate(token: bad) == nil)
            }
            // Re-enrolling replaces the token.
            let t3 = try await db.enrolGate(id: "g1", community: "c1", name: "north", kioskKey: nil)
            #expect(try await db.authenticateGate(token: t) == nil)
            #expect(try await db.authenticateGate(token: t3) != nil)
            await #expect(throws: CentralError.self) { _ = try await db.enrolGate(id: "g1", community: "c2", name: "x", kioskKey: nil) }
            await #expect(throws: CentralError.self) { _ = try await db.enrolGate(id: "bad id!", community: "c1", name: "x", kioskKey: nil) }
        }
    }

    @Test("events up: idempotent by (gate, seq), dense community sequence, gaps refused, retries with a different chain detected")
    func ingest() async throws {
        try await withCentralDB(Self.cluster, "ingest") { db, cfg in
            try await seedOrg(db)
            _ = try await db.enrolGate(id: "g1", community: "c1", name: "north", kioskKey: nil)
            _ = try await db.enrolGate(id: "g2", community: "c1", name: "south", kioskKey: nil)
            let g1 = CentralDB.GateIdentity(gate: "g1", community: "c1"), g2 = CentralDB.GateIdentity(gate: "g2", community: "c1")
            let a = try KioskLog("a"), b = try KioskLog("b")
            for i in 0..<30 { try a.passage(person: "r\(i)") }
            for i in 0..<20 { try b.passage(person: "s\(i)", direction: .in) }
            let ack = try await db.ingest(try a.batch(), gate: g1)
            #expect(ack.ackedSeq == 30)
            // The same batch again: nothing new, same answer.
            #expect(try await db.ingest(try a.batch(), gate: g1).ackedSeq == 30)
            // Overlapping retry plus new records.
            for i in 30..<40 { try a.passage(person: "r\(i)") }
            #expect(try await db.ingest(try a.batch(from: 25), gate: g1).ackedSeq == 40)
            #expect(try await db.ingest(try b.batch(), gate: g2).ackedSeq == 20)
            #expect(try Self.cluster.psql("SELECT COUNT(*) FROM events", db: cfg.dbName) == "60")
            #expect(try Self.cluster.psql("SELECT COUNT(DISTINCT community_seq) = COUNT(*) AND MIN(community_seq) = 1 AND MAX(community_seq) = 60 FROM events", db: cfg.dbName) == "t")
            // A batch that skips records is refused with the acknowledged sequence.
            for i in 40..<45 { try a.passage(person: "r\(i)") }
            do {
                _ = try await db.ingest(try a.batch(from: 43), gate: g1)
                Issue.record("a gap was accepted")
            } catch let e as WireError {
                #expect(e.code == "gap")
                #expect(e.ackedSeq == 40)
            }
            // Another kiosk's records under g1's name: they do not continue g1's chain.
            let c = try KioskLog("c")
            for i in 0..<45 { try c.passage(person: "x\(i)") }
            do {
                _ = try await db.ingest(try c.batch(from: 41), gate: g1)
                Issue.record("a foreign chain was accepted")
            } catch let e as WireError {
                #expect(e.code == "integrity")
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await db.findings(gate: "g1").contains { $0.kind == "chain_broken" })
            #expect(try await db.findings().count == (try await db.findings(gate: "g1")).count)
        }
    }

    @Test("one gate's batches sent many times at once (retries, two instances): each record stored once, acks agree, community numbers dense and in commit order")
    func concurrentRetries() async throws {
        try await withCentralDB(Self.cluster, "race") { db, cfg in
            try await seedOrg(db)
            _ = try await db.enrolGate(id: "g1", community: "c1", name: "n", kioskKey: nil)
            _ = try await db.enrolGate(id: "g2", community: "c1", name: "s", kioskKey: nil)
            let a = try KioskLog("race-a"), b = try KioskLog("race-b")
            for i in 0..<60 { try a.passage(person: "r\(i)") }
            for i in 0..<60 { try b.passage(person: "s\(i)", direction: .in) }
            let ra = try a.records(), rb = try b.records()
            // Three batches per gate, each sent 6 times concurrently, in order per sender.
            let acks = try await withThrowingTaskGroup(of: [UInt64].self) { g in
                for sender in 0..<12 {
                    let (recs, gate) = sender % 2 == 0 ? (ra, "g1") : (rb, "g2")
                    g.addTask {
                        var out: [UInt64] = []
                        for at in stride(from: 0, to: 60, by: 20) {
                            while true {
                                do {
                                    out.append(try await db.ingest(records: Array(recs[at..<at + 20]), durable: 60, gate: .init(gate: gate, community: "c1")).ackedSeq)
                                    break
                                } catch let e as WireError where e.code == "gap" {
                                    // Another sender has not committed the batch before this one yet.
                                    try await Task.sleep(for: .milliseconds(5))
                                } catch {
                                    Issue.record("\(String(reflecting: error))")
                                    throw error
                                }
                            }
                        }
                        return out
                    }
                }
                var all: [[UInt64]] = []
                for try await x in g { all.append(x) }
                return all
            }
            // An answer covers at least its batch (a later one if another sender got further).
            #expect(acks.allSatisfy { $0.count == 3 && $0[0] >= 20 && $0[1] >= 40 && $0[2] == 60 && $0 == $0.sorted() })
            #expect(try Self.cluster.psql("SELECT COUNT(*) = 120 AND COUNT(DISTINCT (gate, seq)) = 120 AND MIN(community_seq) = 1 AND MAX(community_seq) = 120 AND COUNT(DISTINCT community_seq) = 120 FROM events", db: cfg.dbName) == "t")
            #expect(try Self.cluster.psql("SELECT string_agg(acked_seq::text, ',' ORDER BY id) FROM gates", db: cfg.dbName) == "60,60")
            // Per gate, community numbers rise with seq (each batch took its numbers at its commit).
            #expect(try Self.cluster.psql("SELECT bool_and(ok) FROM (SELECT community_seq > lag(community_seq, 1, 0::bigint) OVER (PARTITION BY gate ORDER BY seq) AS ok FROM events) x", db: cfg.dbName) == "t")
            #expect(try await db.findings().isEmpty)
            // A state read before another batch committed (an upload's token check, then a slow
            // body) refuses nothing by itself: central reads again.
            let t3 = try await db.enrolGate(id: "g3", community: "c1", name: "w", kioskKey: nil)
            let c = try KioskLog("race-c")
            for i in 0..<20 { try c.passage(person: "t\(i)") }
            let rc = try c.records()
            let stale = try #require(try await db.authenticateGateReadingState(token: t3))
            #expect(try await db.ingest(records: Array(rc[0..<10]), durable: 20, gate: stale.identity).ackedSeq == 10)
            #expect(try await db.ingest(framed: Wire.framedBatch(durableSeq: 20, records: RecordFraming.encode(Array(rc[10..<20]))), gate: stale).ackedSeq == 20)
            #expect(try Self.cluster.psql("SELECT COUNT(*) = 140 AND MAX(community_seq) = 140 AND COUNT(DISTINCT community_seq) = 140 FROM events", db: cfg.dbName) == "t")
            #expect(try await db.authenticateGateReadingState(token: t3 + "x") == nil)
        }
    }

    @Test("a kiosk log rewritten or truncated after upload is detected at the next hello")
    func rewrittenAndTruncated() async throws {
        try await withCentralDB(Self.cluster, "rewrite") { db, cfg in
            try await seedOrg(db)
            _ = try await db.enrolGate(id: "g1", community: "c1", name: "n", kioskKey: nil)
            _ = try await db.enrolGate(id: "g2", community: "c1", name: "s", kioskKey: nil)
            let g1 = CentralDB.GateIdentity(gate: "g1", community: "c1"), g2 = CentralDB.GateIdentity(gate: "g2", community: "c1")
            let a = try KioskLog("rw")
            for i in 0..<10 { try a.passage(person: "r\(i)") }
            _ = try await db.ingest(try a.batch(), gate: g1)
            // The same seqs, different content (a rewritten log).
            let forged = try KioskLog("forged")
            for i in 0..<10 { try forged.passage(person: "f\(i)") }
            let st = try await db.hello(Hello(durableSeq: 10, atSeq: 10, chainAtSeq: Wire.hex(try forged.records(from: 10)[0].chain), registryVersion: 0), gate: g1)
            #expect(st.integrity?.contains("rewritten") == true)
            // Uploads stop until an admin clears it.
            await #expect(throws: WireError.self) { _ = try await db.ingest(try a.batch(), gate: g1) }
            // Truncated: the kiosk's log ends before what central acknowledged.
            _ = try await db.ingest(try a.batch(), gate: g2)
            // A first-round hello proves nothing (it may be a delayed request); the second round does.
            #expect(try await db.hello(Hello(durableSeq: 4, registryVersion: 0), gate: g2).integrity == nil)
            let st2 = try await db.hello(Hello(durableSeq: 4, atSeq: 10, chainAtSeq: nil, registryVersion: 0), gate: g2)
            #expect(st2.integrity?.contains("truncated") == true)
            #expect(try Self.cluster.psql("SELECT string_agg(kind, ',' ORDER BY id) FROM integrity_findings", db: cfg.dbName) == "rewritten,truncated")
            try await db.clearIntegrity(gate: "g1", actor: "test")
            #expect(try await db.hello(Hello(durableSeq: 10, registryVersion: 0), gate: g1).integrity == nil)
        }
    }

    @Test("signed checkpoints verify with the enrolled kiosk key; one signed by another key is refused")
    func checkpoints() async throws {
        try await withCentralDB(Self.cluster, "cp") { db, _ in
            try await seedOrg(db)
            let key = Curve25519.Signing.PrivateKey()
            _ = try await db.enrolGate(id: "g1", community: "c1", name: "n", kioskKey: Array(key.publicKey.rawRepresentation))
            _ = try await db.enrolGate(id: "g2", community: "c1", name: "s", kioskKey: Array(key.publicKey.rawRepresentation))
            let a = try KioskLog("cp")
            try a.passage(person: "r1")
            _ = try await a.writer.appendChained { seq, chain in try Checkpoint.entry(seq: seq, chain: chain, keyID: "kiosk", key: key) }
            try a.passage(person: "r2")
            #expect(try await db.ingest(try a.batch(), gate: .init(gate: "g1", community: "c1")).ackedSeq == 3)
            let b = try KioskLog("cp2")
            try b.passage(person: "r1")
            _ = try await b.writer.appendChained { seq, chain in try Checkpoint.entry(seq: seq, chain: chain, keyID: "kiosk", key: Curve25519.Signing.PrivateKey()) }
            await #expect(throws: WireError.self) { _ = try await db.ingest(try b.batch(), gate: .init(gate: "g2", community: "c1")) }
        }
    }

    @Test("hostile batches are refused before the database: bad hex, bad base64, not contiguous, wrong version, too many")
    func hostileBatches() throws {
        let ok = WireRecord(seq: 1, type: 1, flags: 0, wallNs: 0, monoNs: 0, chain: String(repeating: "ab", count: 32), payload: "e30=")
        var cases: [UploadBatch] = []
        var r = ok
        r.chain = "zz"
        cases.append(UploadBatch(records: [r], durableSeq: 1))
        r = ok
        r.payload = "!!!"
        cases.append(UploadBatch(records: [r], durableSeq: 1))
        r = ok
        r.seq = 0
        cases.append(UploadBatch(records: [r], durableSeq: 1))
        var r2 = ok
        r2.seq = 3
        cases.append(UploadBatch(records: [ok, r2], durableSeq: 3))
        cases.append(UploadBatch(records: [], durableSeq: 0))
        cases.append(UploadBatch(records: Array(repeating: ok, count: Wire.maxBatchRecords + 1), durableSeq: 1))
        var v = UploadBatch(records: [ok], durableSeq: 1)
        v.v = 99
        cases.append(v)
        r = ok
        r.flags = 1
        cases.append(UploadBatch(records: [r], durableSeq: 1))
        for c in cases { #expect(throws: WireError.self) { _ = try CentralDB.decode(c) } }
        #expect(try CentralDB.decode(UploadBatch(records: [ok], durableSeq: 1)).count == 1)
        // The framed form the shipper sends: the log's own records, CRC checked.
        let log = try KioskLog("framed")
        for i in 0..<5 { try log.passage(person: "r\(i)") }
        let recs = try log.records()
        let good = Wire.framedBatch(durableSeq: 5, records: RecordFraming.encode(recs))
        #expect(try CentralDB.decodeFramed(good).1.count == 5)
        var flipped = good
        flipped[flipped.count - 3] ^= 0x40
        var wrongMagic = good
        wrongMagic[0] = 0x58
        let gap = Wire.framedBatch(durableSeq: 5, records: RecordFraming.encode([recs[0], recs[2]]))
        for bad in [flipped, wrongMagic, Array(good.prefix(good.count - 7)), Array(good.prefix(12)), gap, Wire.framedBatch(durableSeq: 0, records: []), Wire.framedBatch(durableSeq: 1, records: Array(repeating: 0xFF, count: 100))] {
            #expect(throws: WireError.self) { _ = try CentralDB.decodeFramed(bad) }
        }
    }

    @Test("a household's quota is claimed atomically: 24 concurrent claims from two gates, exactly one granted")
    func claimsAreAtomic() async throws {
        try await withCentralDB(Self.cluster, "claims") { db, _ in
            try await seedOrg(db)
            let now = Int64(Date().timeIntervalSince1970)
            let results = try await withThrowingTaskGroup(of: Bool.self) { g in
                for i in 0..<24 {
                    g.addTask {
                        let gate = CentralDB.GateIdentity(gate: i % 2 == 0 ? "g1" : "g2", community: "c1")
                        return try await db.claim(ClaimRequest(kind: .quota, subject: "1-1-101", person: "p\(i)", at: now + Int64(i % 3), lane: "out", window: 2 * 86_400, allowed: 1), gate: gate).granted
                    }
                }
                var out: [Bool] = []
                for try await r in g { out.append(r) }
                return out
            }
            #expect(results.filter { $0 }.count == 1)
            // Another household, and the same household after the window, are free.
            #expect(try await db.claim(ClaimRequest(kind: .quota, subject: "1-1-102", person: "q", at: now, lane: "out", window: 2 * 86_400, allowed: 1), gate: .init(gate: "g1", community: "c1")).granted)
            #expect(try await db.claim(ClaimRequest(kind: .quota, subject: "1-1-101", person: "q", at: now + 2 * 86_400 + 5, lane: "out", window: 2 * 86_400, allowed: 1), gate: .init(gate: "g1", community: "c1")).granted)
            // A single-entry visitor (approved in central's registry): one entry across gates.
            _ = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [AttackTests.visitorChange("v1", from: now - 60, until: now + 3600)]), actor: "a")
            let v1 = try await db.claim(ClaimRequest(kind: .visitorEntry, subject: "v1", person: "v1", at: now, lane: "in", window: now - 60, allowed: 1), gate: .init(gate: "g1", community: "c1"))
            let v2 = try await db.claim(ClaimRequest(kind: .visitorEntry, subject: "v1", person: "v1", at: now, lane: "in", window: now - 60, allowed: 1), gate: .init(gate: "g2", community: "c1"))
            #expect(v1.granted && !v2.granted)
            #expect(v2.heldBy == "v1 at g1")
        }
    }

    @Test("offline admits beyond the quota are found on upload and recorded as quota_overdraft")
    func overdrafts() async throws {
        try await withCentralDB(Self.cluster, "overdraft") { db, _ in
            try await seedOrg(db)
            _ = try await db.enrolGate(id: "g1", community: "c1", name: "n", kioskKey: nil)
            _ = try await db.enrolGate(id: "g2", community: "c1", name: "s", kioskKey: nil)
            let a = try KioskLog("oa"), b = try KioskLog("ob")
            try a.passage(person: "r1", flags: [CrossGate.Flag.offline])
            try b.passage(person: "r2", flags: [CrossGate.Flag.offline])
            try b.passage(person: "r3", household: "1-1-102", flags: [CrossGate.Flag.offline])
            #expect(try await db.ingest(try a.batch(), gate: .init(gate: "g1", community: "c1")).overdrafts == 0)
            #expect(try await db.ingest(try b.batch(), gate: .init(gate: "g2", community: "c1")).overdrafts == 1)
            let rows = try await db.ledger(communities: ["c1"], day: todayString(), unmask: false)
            #expect(rows.contains { $0.reason == "quota_overdraft" && $0.gate == "g2" })
            #expect(rows.allSatisfy { !$0.name.hasPrefix("张r") })  // masked
        }
    }

    @Test("registry: versions in commit order, incremental feed, signed snapshot, hostile writes refused")
    func registry() async throws {
        try await withCentralDB(Self.cluster, "registry") { db, _ in
            try await seedOrg(db)
            let r = Resident(id: "r1", name: "张伟", sex: .male, idNumber: "15070219800101001" + String(IDNumber.checkCharacter(for: "15070219800101001")!), household: "1-1-101", address: Address(building: "1", unit: "1", room: "101"))
            var e = GateEvent(kind: .registryChange, at: 0)
            e.entity = "resident"
            e.key = "r1"
            e.action = "upsert"
            e.after = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
            let v1 = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [e]), actor: "admin1")
            #expect(v1 == 1)
            var q = r
            q.quarantineUntil = 2_000_000_000
            var e2 = e
            e2.after = String(decoding: try JSONEncoder().encode(q), as: UTF8.self)
            #expect(try await db.writeRegistry(RegistryWrite(community: "c1", changes: [e2]), actor: "admin1") == 2)
            let feed = try await db.registryFeed(community: "c1", after: 1)
            #expect(feed.changes.map(\.version) == [2] && !feed.snapshot)
            #expect(try await db.registryFeed(community: "c2", after: 0).changes.isEmpty)
            // Older than central keeps: a signed snapshot.
            try await db.pruneRegistry(keep: 1)
            let snap = try await db.registryFeed(community: "c1", after: 0)
            #expect(snap.snapshot && snap.version == 2 && snap.changes.count == 1)
            let pub = try Curve25519.Signing.PublicKey(rawRepresentation: Base64URL.decode(try await db.registryPublicKey())!)
            let roundTripped = try JSONDecoder().decode(RegistryFeed.self, from: try Wire.encoder.encode(snap))
            #expect(pub.isValidSignature(Base64URL.decode(roundTripped.signature!)!, for: roundTripped.signedBytes))
            // Hostile writes.
            var bad = e
            bad.entity = "residents; DROP TABLE events"
            await #expect(throws: CentralError.self) { _ = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [bad]), actor: "x") }
            bad = e
            bad.after = "{\"id\": \"r1\"}"
            await #expect(throws: CentralError.self) { _ = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [bad]), actor: "x") }
            bad = e
            bad.after = nil
            await #expect(throws: CentralError.self) { _ = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [bad]), actor: "x") }
            await #expect(throws: CentralError.self) { _ = try await db.writeRegistry(RegistryWrite(community: "nowhere", changes: [e]), actor: "x") }
            #expect(try await db.registryVersion(community: "c1") == 2)
        }
    }
}

func todayString() -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd"
    f.locale = Locale(identifier: "en_US_POSIX")
    return f.string(from: Date())
}
