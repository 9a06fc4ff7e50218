import EventLog
import Foundation
import GateCore

/// The registry in SQLite. Every change runs in one transaction with its audit event written to
/// `audit_outbox`; the single log writer (the daemon, or the CLI when no daemon holds the log)
/// moves outbox rows into the event log. Registry events carry the entity after the change, so
/// `mirror rebuild` can recreate these tables from the log alone.
/// A registry change refused because it would overwrite or shadow another person or key.
public struct RegistryConflict: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

public final class Store: @unchecked Sendable {
    public let db: Database
    public let path: String
    let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
    let decoder = JSONDecoder()

    public static func open(dataDir: String, readOnly: Bool = false) throws -> Store {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let path = dataDir + "/postern.db"
        let s = Store(db: try Database(path: path, readOnly: readOnly), path: path)
        if !readOnly {
            try Schema.migrate(s.db)
            for p in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: p) {
                try? FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: p)
            }
        }
        return s
    }

    init(db: Database, path: String) {
        self.db = db
        self.path = path
    }

    func json<T: Encodable>(_ v: T?) -> String? { v.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) } }

    /// Applies a change and queues its audit event, atomically.
    func change<T: Codable>(_ entity: String, key: String, action: String, actor: String, before: T?, after: T?, apply: () throws -> Void) throws {
        try db.transaction {
            try apply()
            var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
            e.entity = entity
            e.key = key
            e.action = action
            e.actor = actor
            e.before = json(before)
            e.after = json(after)
            try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
        }
    }

    // MARK: residents

    static let residentColumns = "id, name, sex, id_number, household, building, unit, room, origin, return_date, quarantine_until, rental, landlord_contact, phone"

    func residentRow(_ s: Statement) -> Resident {
        Resident(id: s.text(0), name: s.text(1), sex: Sex(rawValue: s.text(2)) ?? .male, idNumber: s.text(3), household: s.text(4), address: Address(building: s.text(5), unit: s.text(6), room: s.text(7)), origin: Origin(rawValue: s.text(8)) ?? .local, returnDate: s.optInt(9), quarantineUntil: s.optInt(10), rental: s.int(11) != 0, landlordContact: s.optText(12), phone: s.optText(13))
    }

    public func resident(_ id: String) throws -> Resident? {
        try db.query("SELECT \(Self.residentColumns) FROM residents WHERE id = ?", [.text(id)], residentRow).first
    }

    public func residents() throws -> [Resident] {
        try db.query("SELECT \(Self.residentColumns) FROM residents ORDER BY building, unit, room, id", [], residentRow)
    }

    /// Upserts by id. Never `INSERT OR REPLACE`: over the UNIQUE id_number that would silently
    /// delete another person who holds the same number; here that is a constraint error.
    func writeResident(_ r: Resident) throws {
        try claimID(r.id, kind: .resident, idNumber: r.idNumber)
        try db.run("INSERT INTO residents(\(Self.residentColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET \(Self.updateAll(Self.residentColumns))", [
            .text(r.id), .text(r.name), .text(r.sex.rawValue), .text(r.idNumber.uppercased()), .text(r.household), .text(r.address.building), .text(r.address.unit), .text(r.address.room),
            .text(r.origin.rawValue), .opt(r.returnDate), .opt(r.quarantineUntil), .int(r.rental ? 1 : 0), .opt(r.landlordContact), .opt(r.phone),
        ])
    }

    public func upsertResident(_ r: Resident, actor: String) throws {
        try checkIdentity(kind: .resident, id: r.id, idNumber: r.idNumber)
        try Self.checkText(Self.textFields(r))
        let before = try resident(r.id)
        try change("resident", key: r.id, action: before == nil ? "add" : "update", actor: actor, before: before, after: r) { try writeResident(r) }
    }

    public func setQuarantine(person: String, until: Timestamp?, actor: String) throws {
        guard var r = try resident(person) else { throw Database.Error(message: "no resident \(person)") }
        let before = r
        r.quarantineUntil = until
        try change("resident", key: r.id, action: until == nil ? "quarantine_clear" : "quarantine_set", actor: actor, before: before, after: r) { try writeResident(r) }
    }

    // MARK: visitors, couriers, staff, exemptions

    public func addVisitor(_ v: Visitor, actor: String) throws {
        try checkIdentity(kind: .visitor, id: v.id, idNumber: v.idNumber)
        try Self.checkText([("name", v.name), ("phone", v.phone), ("host", v.hostHousehold), ("reason", v.reason), ("approver", v.approver)])
        try change("visitor", key: v.id, action: "approve", actor: actor, before: Optional<Visitor>.none, after: v) { try writeVisitor(v) }
    }

    func writeVisitor(_ v: Visitor) throws {
        try claimID(v.id, kind: .visitor, idNumber: v.idNumber)
        try db.run("INSERT INTO visitors VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET \(Self.updateAll("id, name, id_number, phone, host_household, reason, approver, valid_from, valid_until, max_entries"))", [.text(v.id), .text(v.name), .text(v.idNumber.uppercased()), .text(v.phone), .text(v.hostHousehold), .text(v.reason), .text(v.approver), .int(v.validFrom), .int(v.validUntil), .int(Int64(v.maxEntries))])
    }

    public func addCourier(_ c: Courier, actor: String) throws {
        try checkIdentity(kind: .courier, id: c.id, idNumber: c.idNumber)
        try Self.checkText([("name", c.name), ("company", c.company)])
        try change("courier", key: c.id, action: "add", actor: actor, before: Optional<Courier>.none, after: c) { try writeCourier(c) }
    }

    func writeCourier(_ c: Courier) throws {
        try claimID(c.id, kind: .courier, idNumber: c.idNumber)
        try db.run("INSERT INTO couriers VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET \(Self.updateAll("id, name, id_number, company, start_minute, end_minute"))", [.text(c.id), .text(c.name), .text(c.idNumber.uppercased()), .text(c.company), .int(Int64(c.startMinute)), .int(Int64(c.endMinute))])
    }

    public func removeCourier(_ id: String, actor: String) throws {
        try change("courier", key: id, action: "remove", actor: actor, before: Optional<Courier>.none, after: Optional<Courier>.none) {
            try db.run("DELETE FROM couriers WHERE id = ?", [.text(id)])
            guard db.changes == 1 else { throw Database.Error(message: "no courier \(id)") }
            try revokePasses(person: id, kind: .courier)
        }
    }

    public func addStaff(_ s: Staff, actor: String) throws {
        try checkIdentity(kind: .staff, id: s.id, idNumber: s.idNumber)
        try Self.checkText([("name", s.name), ("role", s.role)])
        try change("staff", key: s.id, action: "add", actor: actor, before: Optional<Staff>.none, after: s) { try writeStaff(s) }
    }

    func writeStaff(_ s: Staff) throws {
        try claimID(s.id, kind: .staff, idNumber: s.idNumber)
        try db.run("INSERT INTO staff VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET \(Self.updateAll("id, name, role, id_number"))", [.text(s.id), .text(s.name), .text(s.role), .text(s.idNumber.uppercased())])
    }

    public func setExemption(_ e: Exemption, actor: String) throws {
        try change("exemption", key: e.person, action: "grant", actor: actor, before: Optional<Exemption>.none, after: e) { try writeExemption(e) }
    }

    func writeExemption(_ e: Exemption) throws {
        try db.run("INSERT INTO exemptions VALUES (?,?,?) ON CONFLICT(person) DO UPDATE SET reason = excluded.reason, until = excluded.until", [.text(e.person), .text(e.reason), .int(e.until)])
    }

    // MARK: lockdowns

    public struct Lockdown: Codable, Sendable, Equatable {
        public var scope: String
        public var since: Timestamp
        public var reason: String
    }

    public func setLockdown(_ scope: LockdownScope, reason: String, at: Timestamp, actor: String) throws {
        let l = Lockdown(scope: scope.description, since: at, reason: reason)
        try change("lockdown", key: l.scope, action: "set", actor: actor, before: Optional<Lockdown>.none, after: l) { try writeLockdown(l) }
    }

    func writeLockdown(_ l: Lockdown) throws {
        try db.run("INSERT INTO lockdowns VALUES (?,?,?) ON CONFLICT(scope) DO UPDATE SET since = excluded.since, reason = excluded.reason", [.text(l.scope), .int(l.since), .text(l.reason)])
    }

    public func liftLockdown(_ scope: LockdownScope, actor: String) throws {
        try change("lockdown", key: scope.description, action: "lift", actor: actor, before: Optional<Lockdown>.none, after: Optional<Lockdown>.none) {
            try db.run("DELETE FROM lockdowns WHERE scope = ?", [.text(scope.description)])
            guard db.changes == 1 else { throw Database.Error(message: "no lockdown on \(scope)") }
        }
    }

    public func lockdowns() throws -> [Lockdown] {
        try db.query("SELECT scope, since, reason FROM lockdowns ORDER BY scope") { Lockdown(scope: $0.text(0), since: $0.int(1), reason: $0.text(2)) }
    }

    // MARK: passes and keys

    public struct PassRecord: Codable, Sendable, Equatable {
        public var pass: Pass
        public var revoked: Bool
        public var revokedReason: String?
    }

    /// Records an issued pass; it supersedes every earlier pass of the same person.
    public func recordPass(_ p: Pass, actor: String) throws {
        let rec = PassRecord(pass: p, revoked: false, revokedReason: nil)
        try change("pass", key: p.idString, action: "issue", actor: actor, before: Optional<PassRecord>.none, after: rec) { try writePass(rec) }
    }

    /// The latest issued pass of a person stays `current` even when revoked, so revoking it never
    /// brings an older, superseded pass back to life.
    func writePass(_ r: PassRecord) throws {
        let id = Int64(bitPattern: r.pass.id)
        let exists = try db.query("SELECT 1 FROM passes WHERE id = ?", [.int(id)]) { _ in true }.first ?? false
        if !exists { try db.run("UPDATE passes SET current = 0 WHERE person = ?", [.text(r.pass.person)]) }
        try db.run("INSERT INTO passes(id, person, kind, household, issued, expires, key_id, revoked, revoked_reason, current) VALUES (?,?,?,?,?,?,?,?,?, COALESCE((SELECT current FROM passes WHERE id = ?), 1)) ON CONFLICT(id) DO UPDATE SET \(Self.updateAll("id, person, kind, household, issued, expires, key_id, revoked, revoked_reason"))", [
            .int(id), .text(r.pass.person), .text(r.pass.kind.rawValue), .text(r.pass.household), .int(r.pass.issued), .int(r.pass.expires), .text(r.pass.keyID), .int(r.revoked ? 1 : 0), .opt(r.revokedReason), .int(id),
        ])
    }

    public func pass(id: UInt64) throws -> PassRecord? {
        try db.query("SELECT id, person, kind, household, issued, expires, key_id, revoked, revoked_reason FROM passes WHERE id = ?", [.int(Int64(bitPattern: id))]) { s in
            PassRecord(pass: Pass(id: UInt64(bitPattern: s.int(0)), kind: PersonKind(rawValue: s.text(2)) ?? .resident, person: s.text(1), household: s.text(3), issued: s.int(4), expires: s.int(5), keyID: s.text(6)), revoked: s.int(7) != 0, revokedReason: s.optText(8))
        }.first
    }

    /// The person's latest issued pass, if it is still good.
    public func currentPass(person: String) throws -> PassRecord? {
        guard let id = try db.query("SELECT id FROM passes WHERE person = ? AND current = 1 AND revoked = 0", [.text(person)], { UInt64(bitPattern: $0.int(0)) }).first else { return nil }
        return try pass(id: id)
    }

    /// Revokes a pass (lost, stolen): every kiosk denies it from its next registry reload.
    public func revokePass(_ id: UInt64, reason: String, actor: String) throws {
        guard var rec = try pass(id: id) else { throw Database.Error(message: "no pass \(String(id, radix: 16))") }
        let before = rec
        rec.revoked = true
        rec.revokedReason = reason
        try change("pass", key: rec.pass.idString, action: "revoke", actor: actor, before: before, after: rec) { try writePass(rec) }
    }

    public func addKey(_ k: TrustedKey, actor: String) throws {
        if let old = try keys().first(where: { $0.id == k.id }), old.publicKey != k.publicKey {
            throw RegistryConflict(message: "key id \(k.id) already names a different public key; choose a new key id")
        }
        try change("key", key: k.id, action: "trust", actor: actor, before: Optional<TrustedKey>.none, after: k) { try writeKey(k) }
    }

    func writeKey(_ k: TrustedKey) throws {
        try db.run("INSERT INTO keys VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET public_key = excluded.public_key, not_before = excluded.not_before, not_after = excluded.not_after", [.text(k.id), .blob(k.publicKey), .int(k.notBefore), .opt(k.notAfter)])
    }

    public func keys() throws -> [TrustedKey] {
        try db.query("SELECT id, public_key, not_before, not_after FROM keys ORDER BY not_before") { TrustedKey(id: $0.text(0), publicKey: $0.blob(1), notBefore: $0.int(2), notAfter: $0.optInt(3)) }
    }

    // MARK: the snapshot the policy reads

    /// The registry part of a snapshot (what happened at the gate is `PassageHistory`, rebuilt
    /// from `historyPassages`).
    public func snapshot(extraKeys: [TrustedKey] = []) throws -> RegistrySnapshot {
        var s = RegistrySnapshot()
        for r in try residents() { s.add(r) }
        for v in try db.query("SELECT id, name, id_number, phone, host_household, reason, approver, valid_from, valid_until, max_entries FROM visitors", [], { q in
            Visitor(id: q.text(0), name: q.text(1), idNumber: q.text(2), phone: q.text(3), hostHousehold: q.text(4), reason: q.text(5), approver: q.text(6), validFrom: q.int(7), validUntil: q.int(8), maxEntries: Int(q.int(9)))
        }) { s.add(v) }
        for c in try db.query("SELECT id, name, id_number, company, start_minute, end_minute FROM couriers", [], { q in
            Courier(id: q.text(0), name: q.text(1), idNumber: q.text(2), company: q.text(3), startMinute: Int(q.int(4)), endMinute: Int(q.int(5)))
        }) { s.add(c) }
        for st in try db.query("SELECT id, name, role, id_number FROM staff", [], { Staff(id: $0.text(0), name: $0.text(1), role: $0.text(2), idNumber: $0.text(3)) }) { s.add(st) }
        s.lockdowns = try lockdowns().compactMap { LockdownScope(parsing: $0.scope) }
        for e in try db.query("SELECT person, reason, until FROM exemptions", [], { Exemption(person: $0.text(0), reason: $0.text(1), until: $0.int(2)) }) { s.exemptions[e.person] = e }
        for (person, id) in try db.query("SELECT person, id FROM passes WHERE current = 1", [], { ($0.text(0), UInt64(bitPattern: $0.int(1))) }) { s.currentPass[person] = id }
        s.revokedPasses = Set(try db.query("SELECT id FROM passes WHERE revoked = 1") { UInt64(bitPattern: $0.int(0)) })
        s.keys = extraKeys + (try keys()).filter { k in !extraKeys.contains { $0.id == k.id } }
        return s
    }

    /// Which logged passages `PassageHistory.rebuild` needs (sequence numbers, as SQL over the
    /// mirror with `?1` = since, in ns): every admitted passage since then (quota windows), each
    /// person's last admitted passage (anti-passback, courier stays), and visitors' admitted
    /// entries under their current approval. `purge` keeps exactly these.
    static let historySeqsSQL = """
        SELECT seq FROM events WHERE kind = 'passage' AND outcome = 'admit' AND wall_ns >= ?1
        UNION SELECT MAX(seq) FROM events WHERE kind = 'passage' AND outcome = 'admit' AND person IS NOT NULL GROUP BY person
        UNION SELECT e.seq FROM events e JOIN visitors v ON v.id = e.person
          WHERE e.kind = 'passage' AND e.outcome = 'admit' AND e.direction = 'in' AND e.person_kind = 'visitor' AND e.wall_ns >= v.valid_from * 1000000000
        """

    /// The history window: 31 days covers the longest quota window a config can ask for.
    public static let historyDays: Timestamp = 31

    /// The logged passages that `PassageHistory.rebuild` needs, in log order, read from the mirror
    /// (the log's index; the kiosk brings it up to the durable end of the log first).
    public func historyPassages(since: Timestamp) throws -> [(decision: Decision, direction: Direction, at: Timestamp)] {
        let rows = try db.query("SELECT payload FROM events WHERE seq IN (\(Self.historySeqsSQL)) ORDER BY seq", [.int(since * 1_000_000_000)]) { $0.text(0) }
        return rows.compactMap { text in
            guard let e = try? decoder.decode(GateEvent.self, from: Data(text.utf8)), let d = e.decision, let dir = e.direction else { return nil }
            return (d, dir, Timestamp(e.at))
        }
    }

    /// The sequence numbers `historyPassages` reads: what `purge` must leave readable.
    public func historySeqs(since: Timestamp) throws -> Set<UInt64> {
        Set(try db.query("SELECT seq FROM events WHERE seq IN (\(Self.historySeqsSQL))", [.int(since * 1_000_000_000)]) { UInt64($0.int(0)) })
    }

    // MARK: identities

    /// `SET a = excluded.a, …` for an upsert over these columns.
    static func updateAll(_ columns: String) -> String {
        columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
    }

    /// Why a person (kind, id, ID number) cannot be written, or nil: the id must be valid; an ID
    /// number belongs to one person across residents, visitors, couriers and staff (the gate
    /// resolves ID cards by number); and an existing id keeps its ID number — a different person
    /// needs a new id, so nothing issued to the old holder (a pass) carries over.
    public func identityConflict(kind: PersonKind, id: String, idNumber: String) throws -> String? {
        guard PersonID.isValid(id) else { return "id \"\(Printable.escaped(id))\" is not a valid person id (\(PersonID.rule))" }
        let number = idNumber.uppercased()
        let holders = try db.query("""
            SELECT 'resident', id FROM residents WHERE id_number = ?1 UNION ALL SELECT 'visitor', id FROM visitors WHERE id_number = ?1
            UNION ALL SELECT 'courier', id FROM couriers WHERE id_number = ?1 UNION ALL SELECT 'staff', id FROM staff WHERE id_number = ?1
            """, [.text(number)]) { ($0.text(0), $0.text(1)) }
        if let other = holders.first(where: { $0 != (kind.rawValue, id) }) {
            return "\(kind.rawValue) \(id): ID number \(IDNumber.masked(number)) already belongs to \(other.0) \(other.1); nothing changed"
        }
        if let (k, existing) = try db.query("SELECT kind, id_number FROM person_ids WHERE id = ?", [.text(id)], { ($0.text(0), $0.optText(1)) }).first {
            if k != kind.rawValue { return "id \(id) already names a \(k); ids are unique across residents, visitors, couriers and staff" }
            guard let existing else { return "id \(id) is retired (its person was removed and purged); choose a new id" }
            if existing != number { return "\(kind.rawValue) \(id) already names the person with ID number \(IDNumber.masked(existing)); a different person needs a new id" }
        }
        return nil
    }

    /// Why a person's text fields cannot be stored, or nil: no control characters (they would be
    /// cut at NUL by SQLite, or drive an operator's terminal), no bidi overrides.
    public static func textProblem(_ fields: [(name: String, value: String?)]) -> String? {
        for (name, value) in fields {
            guard let v = value, let bad = v.unicodeScalars.first(where: Printable.needsEscape) else { continue }
            return "\(name) contains the control or formatting character U+\(String(bad.value, radix: 16, uppercase: true)); nothing changed"
        }
        return nil
    }

    static func checkText(_ fields: [(name: String, value: String?)]) throws {
        if let why = textProblem(fields) { throw RegistryConflict(message: why) }
    }

    /// Records an id as taken for good (by this kind and ID number).
    func claimID(_ id: String, kind: PersonKind, idNumber: String) throws {
        try db.run("INSERT INTO person_ids(id, kind, id_number) VALUES (?,?,?) ON CONFLICT(id) DO NOTHING", [.text(id), .text(kind.rawValue), .text(idNumber.uppercased())])
    }

    /// Purge: the ID numbers of people no longer registered are forgotten; their ids stay retired.
    public func forgetRemovedIDNumbers() throws {
        try db.run("UPDATE person_ids SET id_number = NULL WHERE id NOT IN (SELECT id FROM residents UNION SELECT id FROM visitors UNION SELECT id FROM couriers UNION SELECT id FROM staff)")
    }

    static func textFields(_ r: Resident) -> [(name: String, value: String?)] {
        [("name", r.name), ("household", r.household), ("building", r.address.building), ("unit", r.address.unit), ("room", r.address.room), ("phone", r.phone), ("landlord_contact", r.landlordContact)]
    }

    func checkIdentity(kind: PersonKind, id: String, idNumber: String) throws {
        if let why = try identityConflict(kind: kind, id: id, idNumber: idNumber) { throw RegistryConflict(message: why) }
    }

    /// A removed person's passes die with the record: revoked, so that a pass can never be
    /// accepted for someone who later gets the same id.
    func revokePasses(person: String, kind: PersonKind) throws {
        try db.run("UPDATE passes SET revoked = 1, revoked_reason = 'holder removed' WHERE person = ? AND kind = ? AND revoked = 0", [.text(person), .text(kind.rawValue)])
    }

    // MARK: restating the registry

    /// Queues one `restate` registry change per current entity (people, exemptions, lockdowns,
    /// passes, keys) carrying its present state, so that the log alone can recreate today's
    /// registry even after the events that built it were redacted (`purge`). Passes go oldest
    /// first with each person's current pass last, as replay needs them.
    public func restateRegistry(actor: String) throws -> Int {
        var n = 0
        try db.transaction {
            func queue<T: Codable>(_ entity: String, _ key: String, _ v: T) throws {
                var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
                e.entity = entity
                e.key = key
                e.action = "restate"
                e.actor = actor
                e.after = json(v)
                try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
                n += 1
            }
            let s = try snapshot()
            for k in try keys() { try queue("key", k.id, k) }
            for r in try residents() { try queue("resident", r.id, r) }
            for v in s.visitors.values.sorted(by: { $0.id < $1.id }) { try queue("visitor", v.id, v) }
            for c in s.couriers.values.sorted(by: { $0.id < $1.id }) { try queue("courier", c.id, c) }
            for st in s.staff.values.sorted(by: { $0.id < $1.id }) { try queue("staff", st.id, st) }
            for e in s.exemptions.values.sorted(by: { $0.person < $1.person }) { try queue("exemption", e.person, e) }
            for l in try lockdowns() { try queue("lockdown", l.scope, l) }
            let ids = try db.query("SELECT id FROM passes ORDER BY current, issued, id") { UInt64(bitPattern: $0.int(0)) }
            for id in ids { if let p = try pass(id: id) { try queue("pass", p.pass.idString, p) } }
        }
        return n
    }

    // MARK: audit outbox

    public func pendingAudit() throws -> [(id: Int64, event: GateEvent)] {
        try db.query("SELECT id, event FROM audit_outbox ORDER BY id") { s in (s.int(0), try decoder.decode(GateEvent.self, from: Data(s.text(1).utf8))) }
    }

    public func deleteAudit(upTo id: Int64) throws {
        try db.run("DELETE FROM audit_outbox WHERE id <= ?", [.int(id)])
    }

    /// Moves queued audit events into the log: appended durably first, then deleted. A crash
    /// between the two appends them again on the next drain (at-least-once; each carries its
    /// outbox id as `key` context so duplicates are recognisable).
    public func drainAudit(into log: LogWriter) throws -> Int {
        try reconcile(log)
        let pending = try pendingAudit()
        guard let last = pending.last?.id else { return 0 }
        try log.appendBlocking(pending.map { LogEntry(type: GateEvent.Kind.registryChange.recordType, payload: Array(try! encoder.encode($0.event))) })
        try deleteAudit(upTo: last)
        return pending.count
    }

    /// Re-applies a registry event to the tables (mirror rebuild).
    func replay(_ e: GateEvent) throws {
        guard let entity = e.entity, let key = e.key else { return }
        let after = e.after.map { Data($0.utf8) }
        switch entity {
        case "resident": if let a = after { try writeResident(try decoder.decode(Resident.self, from: a)) }
        case "visitor": if let a = after { try writeVisitor(try decoder.decode(Visitor.self, from: a)) }
        case "courier":
            if let a = after {
                try writeCourier(try decoder.decode(Courier.self, from: a))
            } else {
                try db.run("DELETE FROM couriers WHERE id = ?", [.text(key)])
                try revokePasses(person: key, kind: .courier)
            }
        case "staff": if let a = after { try writeStaff(try decoder.decode(Staff.self, from: a)) }
        case "exemption": if let a = after { try writeExemption(try decoder.decode(Exemption.self, from: a)) }
        case "lockdown":
            if let a = after { try writeLockdown(try decoder.decode(Lockdown.self, from: a)) } else { try db.run("DELETE FROM lockdowns WHERE scope = ?", [.text(key)]) }
        case "pass": if let a = after { try writePass(try decoder.decode(PassRecord.self, from: a)) }
        case "key": if let a = after { try writeKey(try decoder.decode(TrustedKey.self, from: a)) }
        default: break
        }
    }
}
