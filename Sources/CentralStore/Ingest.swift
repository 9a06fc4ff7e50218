import CentralWire
import Crypto
import EventLog
import Foundation
import GateCore
import Logging
import NIOCore
import PostgresNIO

/// Events up: one batch, checked and stored in one transaction, acknowledged only after commit.
extension CentralDB {
    /// A batch checked for shape before any database work (hostile input stops here).
    public static func decode(_ batch: UploadBatch) throws -> [Record] {
        guard batch.v == Wire.version else { throw WireError(code: "version_mismatch", message: "protocol version \(batch.v); central speaks \(Wire.version)") }
        guard !batch.records.isEmpty else { throw WireError(code: "empty_batch", message: "a batch needs at least one record") }
        guard batch.records.count <= Wire.maxBatchRecords else { throw WireError(code: "batch_too_large", message: "at most \(Wire.maxBatchRecords) records per batch") }
        var out: [Record] = []
        out.reserveCapacity(batch.records.count)
        for (i, w) in batch.records.enumerated() {
            guard w.seq >= 1, w.seq <= UInt64(Int64.max) else { throw WireError(code: "bad_record", message: "record \(i): seq out of range") }
            if i > 0, w.seq != batch.records[i - 1].seq + 1 { throw WireError(code: "not_contiguous", message: "record \(i): seq \(w.seq) does not follow \(batch.records[i - 1].seq)") }
            guard w.chain.utf8.count == 64, let chain = Wire.unhex(w.chain) else { throw WireError(code: "bad_record", message: "record \(i): chain must be 64 hex digits") }
            guard w.payload.utf8.count <= (Record.maxPayload / 3 + 1) * 4, let payload = Data(base64Encoded: w.payload) else { throw WireError(code: "bad_record", message: "record \(i): payload must be base64 of at most 1 MiB") }
            guard w.monoNs <= UInt64(Int64.max) else { throw WireError(code: "bad_record", message: "record \(i): mono_ns out of range") }
            let flags = RecordFlags(rawValue: w.flags)
            if flags.contains(.redacted), payload.count != 32 { throw WireError(code: "bad_record", message: "record \(i): a redacted record carries a 32-byte hash") }
            out.append(Record(seq: w.seq, type: w.type, flags: flags, wallNs: w.wallNs, monoNs: w.monoNs, chain: chain, payload: Array(payload)))
        }
        return out
    }

    enum IngestOutcome {
        /// Nothing new was stored (a retry of records central holds).
        case ack(UploadAck)
        /// New records committed: the community's readers are woken.
        case stored(UploadAck)
        case refused(WireError)
    }

    /// Stores a batch for `gate`: records already held are checked equal and skipped, the rest
    /// must continue the gate's chain from the stored head. Each new record gets the community's
    /// next sequence number (commit-ordered: the community row stays locked to commit).
    public func ingest(_ batch: UploadBatch, gate id: GateIdentity, now: Date = Date()) async throws -> UploadAck {
        try await ingest(records: try Self.decode(batch), durable: batch.durableSeq, gate: id, now: now)
    }

    /// A binary batch (`Wire.framedBatch`): magic, version, the kiosk's durable end, then the
    /// records in the log's own framing, each checked against its CRC.
    public func ingest(framed body: [UInt8], gate id: GateIdentity, now: Date = Date()) async throws -> UploadAck {
        let (durable, records) = try Self.decodeFramed(body)
        return try await ingest(records: records, durable: durable, gate: id, now: now)
    }

    /// The same for a gate whose state was read when its token was checked (the first attempt
    /// uses that read).
    public func ingest(framed body: [UInt8], gate state: GateState, now: Date = Date()) async throws -> UploadAck {
        let (durable, records) = try Self.decodeFramed(body)
        return try await ingest(records: records, durable: durable, gate: state.identity, read: state, now: now)
    }

    public static func decodeFramed(_ body: [UInt8]) throws -> (UInt64, [Record]) {
        guard body.count >= 13, Array(body[0..<4]) == Wire.framedMagic else { throw WireError(code: "bad_request", message: "not a framed batch") }
        guard Int(body[4]) == Wire.version else { throw WireError(code: "version_mismatch", message: "protocol version \(body[4]); central speaks \(Wire.version)") }
        var durable: UInt64 = 0
        for i in 0..<8 { durable |= UInt64(body[5 + i]) << (8 * UInt64(i)) }
        let records: [Record]
        do { records = try RecordFraming.decode(Array(body[13...])) } catch { throw WireError(code: "bad_record", message: "\(error)") }
        try validate(records)
        return (durable, records)
    }

    /// What every batch must be, however it arrived.
    static func validate(_ records: [Record]) throws {
        guard !records.isEmpty else { throw WireError(code: "empty_batch", message: "a batch needs at least one record") }
        guard records.count <= Wire.maxBatchRecords else { throw WireError(code: "batch_too_large", message: "at most \(Wire.maxBatchRecords) records per batch") }
        for (i, r) in records.enumerated() {
            guard r.seq >= 1, r.seq <= UInt64(Int64.max), r.monoNs <= UInt64(Int64.max), r.chain.count == 32 else { throw WireError(code: "bad_record", message: "record \(i): seq, mono_ns or chain out of range") }
            if i > 0, r.seq != records[i - 1].seq + 1 { throw WireError(code: "not_contiguous", message: "record \(i): seq \(r.seq) does not follow \(records[i - 1].seq)") }
            if r.flags.contains(.redacted), r.payload.count != 32 { throw WireError(code: "bad_record", message: "record \(i): a redacted record carries a 32-byte hash") }
        }
    }

    /// Stores a batch: first optimistically (one read, then one statement that commits on its own
    /// and only if the gate's row is still what was read), and in a locked transaction when the
    /// batch settles offline claims or starts a new chain base, or when other writers keep racing.
    public func ingest(records: [Record], durable: UInt64, gate id: GateIdentity, now: Date = Date()) async throws -> UploadAck {
        try await ingest(records: records, durable: durable, gate: id, read: nil, now: now)
    }

    func ingest(records: [Record], durable: UInt64, gate id: GateIdentity, read: GateState?, now: Date) async throws -> UploadAck {
        var read = read
        for _ in 0..<3 {
            defer { read = nil }
            switch try await ingestOptimistic(records, durable: durable, gate: id, read: read, now: now) {
            case .done(.ack(let a)), .done(.stored(let a)): return a
            case .done(.refused(let e)): throw e
            case .raced: continue
            case .needsLock: return try await ingestLocked(records: records, durable: durable, gate: id, now: now)
            }
        }
        return try await ingestLocked(records: records, durable: durable, gate: id, now: now)
    }

    /// The same in one transaction that locks the gate's row first (the only path before the
    /// optimistic one; kept for offline claims and rebases). `notifyInside` sends the
    /// notification inside the transaction, as central did before: only for the benchmark's
    /// before/after comparison.
    public func ingestLocked(records: [Record], durable: UInt64, gate id: GateIdentity, now: Date = Date(), notifyInside: Bool = false) async throws -> UploadAck {
        let outcome: IngestOutcome = try await self.transaction { conn in
            let o = try await self.ingest(records, durable: durable, gate: id, now: now, conn: conn)
            if notifyInside, case .stored = o { try await conn.exec("SELECT pg_notify('postern_events', \(id.community))", logger: self.logger) }
            return o
        }
        switch outcome {
        case .ack(let a): return a
        case .stored(let a):
            if !notifyInside { eventNotifier.notify(id.community) }
            return a
        case .refused(let e): throw e
        }
    }

    enum Optimistic {
        case done(IngestOutcome)
        /// The gate's row changed between the read and the write (another instance or a retry):
        /// nothing was written; read again.
        case raced
        case needsLock
    }

    /// What `ingest(…conn:)` checks, on a read without a lock; then every write in one statement
    /// (in its own short transaction): the gate's row advances only if it still holds the acknowledged sequence and
    /// head that were read (compare-and-set; a concurrent batch makes it match no row and nothing
    /// is written), the community's numbers are taken in that statement (its row stays locked
    /// to the statement's commit, so `community_seq` still becomes visible in commit order), the
    /// rows go in. Four round trips instead of eight (read, which over HTTP is the token check's
    /// own; BEGIN, the statement, COMMIT), no
    /// connection held while the batch is checked, and the community row held for the insert and
    /// commit only. The readers are woken after the commit (`EventNotifier`).
    private func ingestOptimistic(_ records: [Record], durable: UInt64, gate id: GateIdentity, read: GateState?, now: Date) async throws -> Optimistic {
        var state: (acked: Int64, head: [UInt8], key: [UInt8]?, integrity: String?, rebase: Bool)?
        if let r = read, r.identity == id {
            state = (r.acked, r.head, r.key, r.integrity, r.rebase)
        } else {
            for try await (a, h, k, i, r) in try await client.query("SELECT acked_seq, chain_head, kiosk_key, integrity, rebase FROM gates WHERE id = \(id.gate)", logger: logger).decode((Int64, ByteBuffer, ByteBuffer?, String?, Bool).self) {
                state = (a, Array(h.readableBytesView), k.map { Array($0.readableBytesView) }, i, r)
            }
        }
        guard let st = state else { return .done(.refused(WireError(code: "unknown_gate", message: "gate \(id.gate) is not enrolled"))) }
        // A state read before the body arrived refuses nothing by itself: read again first.
        let fresh = read == nil
        if let why = st.integrity { return fresh ? .done(.refused(WireError(code: "integrity", message: why, ackedSeq: UInt64(st.acked)))) : .raced }
        if st.rebase { return .needsLock }
        if let refusal = try await checkHeld(records, acked: st.acked, gate: id.gate, on: nil) { return .done(.refused(refusal)) }
        let new = records.filter { Int64($0.seq) > st.acked }
        guard let first = new.first else { return .done(.ack(UploadAck(ackedSeq: UInt64(st.acked), late: 0, overdrafts: 0))) }
        guard Int64(first.seq) == st.acked + 1 else {
            guard fresh else { return .raced }
            return .done(.refused(WireError(code: "gap", message: "central holds gate \(id.gate) up to seq \(st.acked); the batch starts at \(first.seq)", ackedSeq: UInt64(st.acked))))
        }
        let head: [UInt8]
        switch checkChain(new, head: st.head, rebase: false, key: st.key, gate: id.gate) {
        case .success(let h): head = h
        case .failure(let e): return .done(.refused(e))
        }
        var cols = Columns(capacity: new.count)
        var late = 0
        let nowNs = Int64(now.timeIntervalSince1970 * 1e9)
        let lateNs = Int64(lateAfterSeconds * 1e9)
        let decoder = JSONDecoder()
        for r in new {
            let isLate = Self.isLate(wallNs: r.wallNs, nowNs: nowNs, lateNs: lateNs)
            if isLate { late += 1 }
            let (fields, e) = Self.indexed(r, decoder: decoder)
            // An offline decision spends a shared right on upload: the locked path settles it.
            if let e, let d = e.decision, d.flags.contains(CrossGate.Flag.offline), d.outcome == .admit, d.personID != nil { return .needsLock }
            cols.add(r, communitySeq: 0, late: isLate, fields: fields, event: e)
        }
        let n = Int64(new.count), firstSeq = Int64(first.seq), last = Int64(new.last!.seq)
        // In an explicit transaction: postgres-nio ends a statement's rows at CommandComplete,
        // which for an implicit transaction comes before its commit; COMMIT's own completion
        // comes after the commit, so the answer is given only for what is durable.
        let statement = StoreBatch(last: last, head: ByteBuffer(bytes: head), durable: Int64(clamping: durable), lastWall: new.last!.wallNs, gate: id.gate, acked: st.acked, oldHead: ByteBuffer(bytes: st.head), n: n, firstSeq: firstSeq, cols: cols)
        // In an explicit transaction: postgres-nio ends a statement's rows at CommandComplete,
        // which for an implicit transaction comes before its commit; COMMIT's own completion
        // comes after the commit, so the answer is given only for what is durable.
        let written: Bool = try await self.transaction { conn in
            var written = false
            for try await _ in try await conn.execute(statement, logger: self.logger) { written = true }
            return written
        }
        guard written else { return .raced }
        eventNotifier.notify(id.community)
        return .done(.stored(UploadAck(ackedSeq: UInt64(last), late: late, overdrafts: 0)))
    }

    /// Records central already holds (seq ≤ acked): a retry must carry the same chain, or the
    /// kiosk's log changed after upload. Stored events never change, so no lock is needed.
    private func checkHeld(_ records: [Record], acked: Int64, gate: String, on conn: PostgresConnection?) async throws -> WireError? {
        let old = records.filter { Int64($0.seq) <= acked }
        guard !old.isEmpty else { return nil }
        var held: [Int64: [UInt8]] = [:]
        let seqs = old.map { Int64($0.seq) }
        let q: PostgresQuery = "SELECT seq, chain FROM events WHERE gate = \(gate) AND seq = ANY(\(seqs))"
        let rows = try await (conn != nil ? conn!.query(q, logger: logger) : client.query(q, logger: logger))
        for try await (s, c) in rows.decode((Int64, ByteBuffer).self) { held[s] = Array(c.readableBytesView) }
        guard let bad = old.first(where: { r in held[Int64(r.seq)].map { h in h != r.chain } ?? false }) else { return nil }
        let why = "gate \(gate) sent seq \(bad.seq) with a different chain than central holds: its log was rewritten after upload"
        flag(gate: gate, seq: Int64(bad.seq), kind: "rewritten", message: why)
        return WireError(code: "integrity", message: why, ackedSeq: UInt64(acked))
    }

    /// Each new record must continue the chain from `head` (a gap record that set damaged bytes
    /// aside may be followed by a new base), and each signed checkpoint must verify. Returns the
    /// new head, or the refusal (the finding recorded).
    private func checkChain(_ new: [Record], head start: [UInt8], rebase: Bool, key: [UInt8]?, gate: String) -> Result<[UInt8], WireError> {
        var head = start
        var afterGap = rebase
        let acked = UInt64(new.first!.seq - 1)
        for r in new {
            if !afterGap && !r.continues(head) {
                let why = "gate \(gate) seq \(r.seq) does not continue the chain central holds: records were removed, reordered or rewritten"
                flag(gate: gate, seq: Int64(r.seq), kind: "chain_broken", message: why)
                return .failure(WireError(code: "integrity", message: why, ackedSeq: acked))
            }
            if r.type == Checkpoint.type && !r.flags.contains(.redacted) {
                if let why = Self.checkCheckpoint(r, previous: head, key: key) {
                    flag(gate: gate, seq: Int64(r.seq), kind: "checkpoint", message: "gate \(gate) seq \(r.seq): \(why)")
                    return .failure(WireError(code: "integrity", message: why, ackedSeq: acked))
                }
            }
            afterGap = r.type == GapRecord.type && !r.flags.contains(.redacted) && (GapRecord.parse(r.payload)?.setAside ?? true)
            head = r.chain
        }
        return .success(head)
    }

    /// The indexed fields by the mirror's single-pass reader; the full decoder only for a
    /// decision that carries flags (or what the reader declines).
    static func indexed(_ r: Record, decoder: JSONDecoder) -> (IndexedFields?, GateEvent?) {
        guard !r.flags.contains(.redacted), r.type >= 1, r.type <= 7 else { return (nil, nil) }
        let fields = IndexedFields.parse(r.payload)
        if fields == nil || (fields?.outcome != nil && !contains(r.payload, emptyFlags)) {
            return (fields, try? decoder.decode(GateEvent.self, from: Data(r.payload)))
        }
        return (fields, nil)
    }

    private func ingest(_ records: [Record], durable: UInt64, gate id: GateIdentity, now: Date, conn: PostgresConnection) async throws -> IngestOutcome {
        var state: (acked: Int64, head: [UInt8], key: [UInt8]?, integrity: String?, rebase: Bool)?
        for try await (a, h, k, i, r) in try await conn.query("SELECT acked_seq, chain_head, kiosk_key, integrity, rebase FROM gates WHERE id = \(id.gate) FOR UPDATE", logger: logger).decode((Int64, ByteBuffer, ByteBuffer?, String?, Bool).self) {
            state = (a, Array(h.readableBytesView), k.map { Array($0.readableBytesView) }, i, r)
        }
        guard let st = state else { return .refused(WireError(code: "unknown_gate", message: "gate \(id.gate) is not enrolled")) }
        if let why = st.integrity { return .refused(WireError(code: "integrity", message: why, ackedSeq: UInt64(st.acked))) }

        if let refusal = try await checkHeld(records, acked: st.acked, gate: id.gate, on: conn) { return .refused(refusal) }
        let new = records.filter { Int64($0.seq) > st.acked }
        guard let first = new.first else {
            return .ack(UploadAck(ackedSeq: UInt64(st.acked), late: 0, overdrafts: 0))
        }
        guard Int64(first.seq) == st.acked + 1 else {
            return .refused(WireError(code: "gap", message: "central holds gate \(id.gate) up to seq \(st.acked); the batch starts at \(first.seq)", ackedSeq: UInt64(st.acked)))
        }

        // The chain, and the kiosk's signed checkpoints.
        let head: [UInt8]
        switch checkChain(new, head: st.head, rebase: st.rebase, key: st.key, gate: id.gate) {
        case .success(let h): head = h
        case .failure(let e): return .refused(e)
        }
        if st.rebase {
            try await conn.exec("INSERT INTO integrity_findings(gate, seq, kind, message) VALUES (\(id.gate), \(Int64(first.seq)), 'rebased', 'chain accepted from here after an admin cleared the finding')", logger: logger)
        }

        // The community's sequence: this row stays locked to commit, so readers by community_seq
        // never see a number commit after a higher one.
        let n = Int64(new.count)
        guard let top = try await scalarInt("UPDATE communities SET next_seq = next_seq + \(n) WHERE id = \(id.community) RETURNING next_seq", on: conn) else {
            return .refused(WireError(code: "unknown_gate", message: "community \(id.community) is gone"))
        }
        let base = top - n + 1

        let nowNs = Int64(now.timeIntervalSince1970 * 1e9)
        let lateNs = Int64(lateAfterSeconds * 1e9)
        var cols = Columns(capacity: new.count)
        var late = 0
        var offline: [(seq: Int64, claim: CrossGate.Claim, person: String, at: Int64)] = []
        let decoder = JSONDecoder()
        for (i, r) in new.enumerated() {
            let isLate = Self.isLate(wallNs: r.wallNs, nowNs: nowNs, lateNs: lateNs)
            if isLate { late += 1 }
            let (fields, e) = Self.indexed(r, decoder: decoder)
            cols.add(r, communitySeq: base + Int64(i), late: isLate, fields: fields, event: e)
            if let e, let d = e.decision, d.flags.contains(CrossGate.Flag.offline), d.outcome == .admit, let person = d.personID {
                // The decision's time as the kiosk wrote it, if it is a time at all (1e300 is not,
                // and would trap in Int64(_:)); else the record's wall time; else now.
                let at = WireTime.isSane(e.at) ? Int64(e.at) : WireTime.isSane(nanoseconds: r.wallNs) ? r.wallNs / 1_000_000_000 : nowNs / 1_000_000_000
                if d.personKind == .resident, let h = d.household {
                    offline.append((Int64(r.seq), .quota(household: h, person: person, window: try await quotaWindow(id.community, conn: conn), allowed: try await quotaAllowed(id.community, conn: conn)), person, at))
                } else if d.personKind == .visitor {
                    // The approval's own entries: a multi-entry visitor's second offline entry is
                    // not an overdraft.
                    let v = try await visitorApproval(id.community, person, conn: conn)
                    offline.append((Int64(r.seq), .visitorEntry(visitor: person, approvalStart: v?.validFrom ?? 0, allowed: max(1, v?.maxEntries ?? 1)), person, at))
                }
            }
        }
        try await conn.exec("""
            INSERT INTO events(gate, seq, community, community_seq, type, flags, wall_ns, mono_ns, chain, payload, late,
                kind, lane, direction, outcome, reason, person, person_kind, household, temperature, alert, flags_text, day)
            SELECT \(id.gate), u.seq, \(id.community), u.cs, u.type, u.flags, u.wall, u.mono, u.chain, u.payload, u.late,
                NULLIF(u.kind, ''), NULLIF(u.lane, ''), NULLIF(u.direction, ''), NULLIF(u.outcome, ''), NULLIF(u.reason, ''),
                NULLIF(u.person, ''), NULLIF(u.person_kind, ''), NULLIF(u.household, ''), NULLIF(u.temp, 'NaN'::float8),
                NULLIF(u.alert, ''), NULLIF(u.flags_text, ''), u.day::date
            FROM unnest(\(cols.seq)::int8[], \(cols.communitySeq)::int8[], \(cols.type)::int4[], \(cols.flags)::int4[],
                \(cols.wallNs)::int8[], \(cols.monoNs)::int8[], \(cols.chain)::bytea[], \(cols.payload)::bytea[], \(cols.late)::bool[],
                \(cols.kind)::text[], \(cols.lane)::text[], \(cols.direction)::text[], \(cols.outcome)::text[], \(cols.reason)::text[],
                \(cols.person)::text[], \(cols.personKind)::text[], \(cols.household)::text[], \(cols.temperature)::float8[],
                \(cols.alert)::text[], \(cols.flagsText)::text[], \(cols.day)::text[])
              AS u(seq, cs, type, flags, wall, mono, chain, payload, late, kind, lane, direction, outcome, reason, person,
                   person_kind, household, temp, alert, flags_text, day)
            ON CONFLICT (gate, seq) DO NOTHING
            """, logger: logger)

        // Offline decisions spend the shared right now; one that cannot is an overdraft.
        var overdrafts = 0
        for o in offline {
            if try await claim(o.claim, community: id.community, gate: id.gate, person: o.person, at: o.at, offline: true, conn: conn) == nil {
                overdrafts += 1
                let (kind, subject) = Self.kindSubject(o.claim)
                try await conn.exec("INSERT INTO overdrafts(community, gate, seq, kind, subject, person, at) VALUES (\(id.community), \(id.gate), \(o.seq), \(kind == "quota" ? "quota_overdraft" : "visitor_overdraft"), \(subject), \(o.person), \(o.at)) ON CONFLICT DO NOTHING", logger: logger)
            }
        }

        let last = Int64(new.last!.seq)
        let lastWall = new.last!.wallNs
        try await conn.exec("""
            UPDATE gates SET acked_seq = \(last), chain_head = \(ByteBuffer(bytes: head)), durable_seq = GREATEST(durable_seq, \(Int64(clamping: durable))),
                last_wall_ns = \(lastWall), last_upload = now(), rebase = false WHERE id = \(id.gate)
            """, logger: logger)
        return .stored(UploadAck(ackedSeq: UInt64(last), late: late, overdrafts: overdrafts))
    }

    static let emptyFlags = Array("\"flags\":[]".utf8)

    /// Whether `needle` occurs in `hay` (a byte search; no decoding).
    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, hay.count >= needle.count else { return false }
        var i = 0
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }

    static func checkCheckpoint(_ r: Record, previous: [UInt8], key: [UInt8]?) -> String? {
        guard let cp = Checkpoint.parse(r.payload) else { return "malformed checkpoint" }
        guard cp.seq == r.seq - 1, cp.chain == previous else { return "checkpoint does not match the chain" }
        guard let key, let pub = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return nil }  // no key enrolled: chain only
        guard pub.isValidSignature(cp.signature, for: Checkpoint.message(seq: cp.seq, chain: cp.chain)) else { return "checkpoint signature does not verify with the gate's enrolled key" }
        return nil
    }

    /// Records an integrity finding and stops the gate's uploads until an admin clears it. Runs in
    /// its own transaction so the finding stays even though the batch is refused.
    func flag(gate: String, seq: Int64?, kind: String, message: String) {
        logger.critical("integrity: \(message)")
        let client = self.client
        let logger = self.logger
        Task.detached {
            try? await client.withTransaction(logger: logger) { c in
                try await c.exec("INSERT INTO integrity_findings(gate, seq, kind, message) VALUES (\(gate), \(seq), \(kind), \(message))", logger: logger)
                try await c.exec("UPDATE gates SET integrity = \(message) WHERE id = \(gate)", logger: logger)
            }
        }
    }

    /// Hello: the kiosk's chain at central's acknowledged sequence must match what central holds;
    /// a kiosk whose log ends before it was truncated.
    public func hello(_ h: Hello, gate id: GateIdentity) async throws -> GateStatus {
        guard h.v == Wire.version else { throw WireError(code: "version_mismatch", message: "protocol version \(h.v); central speaks \(Wire.version)") }
        var acked: Int64 = 0
        var integrity: String?
        for try await (a, i) in try await client.query("SELECT acked_seq, integrity FROM gates WHERE id = \(id.gate)", logger: logger).decode((Int64, String?).self) {
            acked = a
            integrity = i
        }
        // Checked only on the second round, which names central's acknowledged sequence as the
        // kiosk learned it: a delayed first round (or an older request) proves nothing, since
        // the kiosk may have shipped more since it was sent.
        if integrity == nil, acked > 0, let at = h.atSeq, at == UInt64(acked) {
            var why: String? = nil
            var kind = ""
            if let c = h.chainAtSeq {
                var held: [UInt8]? = nil
                for try await b in try await client.query("SELECT chain FROM events WHERE gate = \(id.gate) AND seq = \(acked)", logger: logger).decode(ByteBuffer.self) { held = Array(b.readableBytesView) }
                if let held, Wire.unhex(c) != held {
                    why = "gate \(id.gate)'s record \(acked) differs from the one central acknowledged: the kiosk log was rewritten"
                    kind = "rewritten"
                }
            } else if h.durableSeq < at {
                why = "gate \(id.gate)'s log ends at seq \(h.durableSeq) but central holds it up to \(acked): the kiosk log was truncated or replaced"
                kind = "truncated"
            }
            if let why {
                logger.critical("integrity: \(why)")
                let acked = acked, kind = kind
                try await self.transaction { c in
                    try await c.exec("INSERT INTO integrity_findings(gate, seq, kind, message) VALUES (\(id.gate), \(acked), \(kind), \(why))", logger: logger)
                    try await c.exec("UPDATE gates SET integrity = \(why) WHERE id = \(id.gate)", logger: logger)
                }
                integrity = why
            }
        }
        try await client.exec("UPDATE gates SET durable_seq = GREATEST(durable_seq, \(Int64(clamping: h.durableSeq))) WHERE id = \(id.gate)", logger: logger)
        return GateStatus(gate: id.gate, community: id.community, ackedSeq: UInt64(acked), integrity: integrity, serverTime: Date().timeIntervalSince1970)
    }

    /// An admin clears a gate's integrity finding after looking into it: uploads resume, and the
    /// next batch is accepted as a new chain base (recorded as a finding of its own).
    public func clearIntegrity(gate: String, actor: String) async throws {
        try await self.transaction { c in
            try await c.exec("UPDATE gates SET integrity = NULL, rebase = true WHERE id = \(gate)", logger: logger)
            try await c.exec("INSERT INTO integrity_findings(gate, kind, message) VALUES (\(gate), 'cleared', \("cleared by " + actor))", logger: logger)
        }
    }

    public struct Finding: Sendable, Codable {
        public var gate: String
        public var seq: Int64?
        public var kind: String
        public var message: String
    }

    /// Every finding, or one gate's (a NULL bind has no type: the cast gives it one).
    public func findings(gate: String? = nil) async throws -> [Finding] {
        var out: [Finding] = []
        for try await (g, s, k, m) in try await client.query("SELECT gate, seq, kind, message FROM integrity_findings WHERE \(gate)::text IS NULL OR gate = \(gate) ORDER BY id", logger: logger).decode((String, Int64?, String, String).self) {
            out.append(Finding(gate: g, seq: s, kind: k, message: m))
        }
        return out
    }

    func quotaWindow(_ community: String, conn: PostgresConnection) async throws -> Int64 {
        (try await scalarInt("SELECT quota_days::bigint * 86400 FROM communities WHERE id = \(community)", on: conn)) ?? 2 * 86_400
    }

    func quotaAllowed(_ community: String, conn: PostgresConnection) async throws -> Int {
        Int((try await scalarInt("SELECT quota_exits::bigint FROM communities WHERE id = \(community)", on: conn)) ?? 1)
    }

    /// Arrived more than `lateNs` after its wall time. A wall time that is no time at all
    /// (Int64.min, after 2100: a kiosk's broken clock, or a planted record) counts as late and
    /// never traps the subtraction; the record is still stored, since it is part of the chain.
    static func isLate(wallNs: Int64, nowNs: Int64, lateNs: Int64) -> Bool {
        guard WireTime.isSane(nanoseconds: wallNs) else { return true }
        return nowNs - wallNs > lateNs
    }

    /// The visitor's approval as central's registry holds it, read in the upload's transaction.
    func visitorApproval(_ community: String, _ visitor: String, conn: PostgresConnection) async throws -> Visitor? {
        for try await body in try await conn.query("SELECT body FROM registry_state WHERE community = \(community) AND entity = 'visitor' AND key = \(visitor)", logger: logger).decode(String.self) {
            return Self.visitor(registryBody: body)
        }
        return nil
    }
}

/// Column arrays for one multi-row insert (empty string and NaN stand for NULL).
struct Columns {
    var seq: [Int64] = [], communitySeq: [Int64] = [], type: [Int32] = [], flags: [Int32] = []
    var wallNs: [Int64] = [], monoNs: [Int64] = [], chain: [ByteBuffer] = [], payload: [ByteBuffer] = [], late: [Bool] = []
    var kind: [String] = [], lane: [String] = [], direction: [String] = [], outcome: [String] = [], reason: [String] = []
    var person: [String] = [], personKind: [String] = [], household: [String] = [], temperature: [Double] = []
    var alert: [String] = [], flagsText: [String] = [], day: [String] = []

    /// Local day per quarter hour of wall time: every zone's offset is a multiple of 15 minutes,
    /// so a day never begins inside a quarter, and formatting once per quarter gives the same days.
    var dayCache: [Int64: String] = [:]

    init(capacity: Int) {}

    mutating func dayString(_ wallNs: Int64) -> String {
        let quarter: Int64 = 900_000_000_000
        // Days of wall times outside 1970…2100 are those of its bounds (no trap, no year 292277026596).
        let wallNs = min(max(wallNs, 0), WireTime.latest * 1_000_000_000)
        let q = wallNs / quarter
        if let d = dayCache[q] { return d }
        let d = Self.dayFormat.string(from: Date(timeIntervalSince1970: Double(q * quarter) / 1e9))
        dayCache[q] = d
        return d
    }

    static let dayFormat: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone.current
        return f
    }()

    mutating func add(_ r: Record, communitySeq cs: Int64, late l: Bool, fields f: IndexedFields?, event e: GateEvent?) {
        seq.append(Int64(r.seq))
        communitySeq.append(cs)
        type.append(Int32(r.type))
        flags.append(Int32(r.flags.rawValue))
        wallNs.append(r.wallNs)
        monoNs.append(Int64(r.monoNs))
        chain.append(ByteBuffer(bytes: r.chain))
        payload.append(ByteBuffer(bytes: r.payload))
        late.append(l)
        kind.append(f?.kind ?? e?.kind.rawValue ?? (r.type == Checkpoint.type ? "checkpoint" : r.type == GapRecord.type ? "gap" : ""))
        lane.append(f?.lane ?? e?.lane ?? "")
        direction.append(f?.direction ?? e?.direction?.rawValue ?? "")
        outcome.append(f?.outcome ?? e?.decision?.outcome.rawValue ?? "")
        reason.append(f?.reason ?? e?.decision?.reason.rawValue ?? "")
        person.append(f?.personID ?? e?.decision?.personID ?? "")
        personKind.append(f?.personKind ?? e?.decision?.personKind?.rawValue ?? "")
        household.append(f?.household ?? e?.decision?.household ?? "")
        temperature.append(f?.temperature ?? e?.decision?.temperature ?? .nan)
        alert.append(f?.alert ?? e?.alert ?? "")
        flagsText.append(e?.decision?.flags.joined(separator: ",") ?? "")
        day.append(dayString(r.wallNs))
    }
}

/// A batch's whole write, prepared once per connection (a batch is parsed and planned once, not
/// every time): the gate's row advanced only if it still holds what was read, the community's
/// numbers taken (its row locked to commit), the rows inserted. One row back if written.
struct StoreBatch: PostgresPreparedStatement {
    static let sql = """
        WITH g AS (
            UPDATE gates SET acked_seq = $1, chain_head = $2, durable_seq = GREATEST(durable_seq, $3), last_wall_ns = $4, last_upload = now()
            WHERE id = $5 AND acked_seq = $6 AND chain_head = $7 AND integrity IS NULL AND NOT rebase
            RETURNING community),
        c AS (
            UPDATE communities SET next_seq = next_seq + $8 FROM g WHERE communities.id = g.community
            RETURNING communities.id AS community, communities.next_seq - $8 AS base),
        i AS (
            INSERT INTO events(gate, seq, community, community_seq, type, flags, wall_ns, mono_ns, chain, payload, late,
                kind, lane, direction, outcome, reason, person, person_kind, household, temperature, alert, flags_text, day)
            SELECT $5, u.seq, c.community, c.base + u.seq - $9 + 1, u.type, u.flags, u.wall, u.mono, u.chain, u.payload, u.late,
                NULLIF(u.kind, ''), NULLIF(u.lane, ''), NULLIF(u.direction, ''), NULLIF(u.outcome, ''), NULLIF(u.reason, ''),
                NULLIF(u.person, ''), NULLIF(u.person_kind, ''), NULLIF(u.household, ''), NULLIF(u.temp, 'NaN'::float8),
                NULLIF(u.alert, ''), NULLIF(u.flags_text, ''), u.day::date
            FROM c, unnest($10::int8[], $11::int4[], $12::int4[], $13::int8[], $14::int8[], $15::bytea[], $16::bytea[], $17::bool[],
                $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::float8[],
                $27::text[], $28::text[], $29::text[])
              AS u(seq, type, flags, wall, mono, chain, payload, late, kind, lane, direction, outcome, reason, person,
                   person_kind, household, temp, alert, flags_text, day))
        SELECT c.base FROM c
        """
    typealias Row = Int64

    var last: Int64, head: ByteBuffer, durable: Int64, lastWall: Int64, gate: String, acked: Int64, oldHead: ByteBuffer, n: Int64, firstSeq: Int64
    var cols: Columns

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 29)
        b.append(last)
        b.append(head)
        b.append(durable)
        b.append(lastWall)
        b.append(gate)
        b.append(acked)
        b.append(oldHead)
        b.append(n)
        b.append(firstSeq)
        b.append(cols.seq)
        b.append(cols.type)
        b.append(cols.flags)
        b.append(cols.wallNs)
        b.append(cols.monoNs)
        b.append(cols.chain)
        b.append(cols.payload)
        b.append(cols.late)
        b.append(cols.kind)
        b.append(cols.lane)
        b.append(cols.direction)
        b.append(cols.outcome)
        b.append(cols.reason)
        b.append(cols.person)
        b.append(cols.personKind)
        b.append(cols.household)
        b.append(cols.temperature)
        b.append(cols.alert)
        b.append(cols.flagsText)
        b.append(cols.day)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
