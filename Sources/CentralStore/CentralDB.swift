/// Central's store: everything central knows lives in PostgreSQL, so any number of stateless
/// `postern-central` instances can serve from one database. This module owns the schema, its
/// migrations and every query; it knows no HTTP.
import CentralWire
import Crypto
import Foundation
import GateCore
import Logging
import NIOCore
import PostgresNIO

public struct CentralError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case notFound = "not_found", invalid, conflict, forbidden, integrity
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// Ids of organisation units, communities, gates, lanes and accounts: 1–64 of `A–Z a–z 0–9 _ -`.
public enum CentralID {
    public static func isValid(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 }
    }
    public static func check(_ s: String, _ what: String) throws {
        guard isValid(s) else { throw CentralError(.invalid, "\(what) \"\(Printable.escaped(String(s.prefix(80))))\" is not a valid id (1–64 of A–Z a–z 0–9 _ -)") }
    }
}

public final class CentralDB: Sendable {
    public let client: PostgresClient
    let logger: Logger
    /// Records received this long after they were written are flagged late (backlog, not live).
    public let lateAfterSeconds: Double
    /// Registry changes kept for incremental pulls; older cursors get a snapshot.
    public let registryKeep: Int64

    /// Wakes the long polls of every instance after events commit (see `EventNotifier`).
    let eventNotifier: EventNotifier

    public init(client: PostgresClient, logger: Logger, lateAfterSeconds: Double = 60, registryKeep: Int64 = 10_000) {
        self.client = client
        self.logger = logger
        self.lateAfterSeconds = lateAfterSeconds
        self.registryKeep = registryKeep
        self.eventNotifier = EventNotifier(client: client, logger: logger)
    }

    // MARK: migrations

    /// Applies missing migrations, each in its own transaction, under an advisory lock.
    public func migrate() async throws -> Int {
        try await client.withConnection { conn in
            try await conn.exec("SELECT pg_advisory_lock(7253001)", logger: logger)
            do {
                try await conn.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", logger: logger)
                var have = 0
                for try await v in try await conn.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", logger: logger).decode(Int.self) { have = v }
                var applied = 0
                for (i, sql) in CentralSchema.migrations.enumerated() where i + 1 > have {
                    try await conn.exec("BEGIN", logger: logger)
                    do {
                        for stmt in Self.statements(sql) {
                            try await conn.exec(PostgresQuery(unsafeSQL: stmt), logger: logger)
                        }
                        try await conn.exec("INSERT INTO schema_migrations(version) VALUES (\(i + 1))", logger: logger)
                        try await conn.exec("COMMIT", logger: logger)
                    } catch {
                        _ = try? await conn.exec("ROLLBACK", logger: logger)
                        throw error
                    }
                    applied += 1
                }
                try await conn.exec("SELECT pg_advisory_unlock(7253001)", logger: logger)
                return applied
            } catch {
                _ = try? await conn.exec("SELECT pg_advisory_unlock(7253001)", logger: logger)
                throw error
            }
        }
    }

    /// Splits a migration into statements (none of ours has `;` inside a literal).
    static func statements(_ sql: String) -> [String] {
        sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    // MARK: organisation

    public func addOrgUnit(kind: String, id: String, parent: String?, name: String) async throws {
        try CentralID.check(id, kind)
        guard ["city", "district", "street"].contains(kind) else { throw CentralError(.invalid, "kind must be city, district or street") }
        if kind != "city" {
            guard let parent else { throw CentralError(.invalid, "a \(kind) needs its parent") }
            let want = kind == "district" ? "city" : "district"
            let k = try await scalarString("SELECT kind FROM org_units WHERE id = \(parent)")
            guard k == want else { throw CentralError(.invalid, "the parent of a \(kind) must be a \(want); \(parent) is \(k ?? "unknown")") }
        }
        try await client.exec("INSERT INTO org_units(id, kind, parent, name) VALUES (\(id), \(kind), \(kind == "city" ? nil : parent), \(name)) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name", logger: logger)
    }

    public func addCommunity(id: String, street: String, name: String, quotaExits: Int = 1, quotaDays: Int = 2) async throws {
        try CentralID.check(id, "community")
        guard try await scalarString("SELECT kind FROM org_units WHERE id = \(street)") == "street" else { throw CentralError(.invalid, "no street \(street)") }
        try await client.exec("INSERT INTO communities(id, street, name, quota_exits, quota_days) VALUES (\(id), \(street), \(name), \(quotaExits), \(quotaDays)) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, quota_exits = EXCLUDED.quota_exits, quota_days = EXCLUDED.quota_days", logger: logger)
    }

    /// Enrols a gate: returns its token (shown once; central keeps only its SHA-256). Enrolling an
    /// existing gate again replaces its token (the old one stops working) and keeps its log.
    public func enrolGate(id: String, community: String, name: String, kioskKey: [UInt8]?) async throws -> String {
        try CentralID.check(id, "gate")
        guard try await scalarString("SELECT id FROM communities WHERE id = \(community)") != nil else { throw CentralError(.notFound, "no community \(community)") }
        if let k = kioskKey, (try? Curve25519.Signing.PublicKey(rawRepresentation: k)) == nil { throw CentralError(.invalid, "the kiosk key is not an Ed25519 public key") }
        if let other = try await scalarString("SELECT community FROM gates WHERE id = \(id)"), other != community {
            throw CentralError(.conflict, "gate \(id) is enrolled in community \(other)")
        }
        var secret = [UInt8](repeating: 0, count: 32)
        for i in secret.indices { secret[i] = UInt8.random(in: 0...255) }
        let token = "pst1.\(community).\(id).\(Base64URL.encode(secret))"
        let hash = ByteBuffer(bytes: SHA256.hash(data: Array(token.utf8)))
        let key = kioskKey.map { ByteBuffer(bytes: $0) }
        try await client.exec("""
            INSERT INTO gates(id, community, name, token_hash, kiosk_key) VALUES (\(id), \(community), \(name), \(hash), \(key))
            ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, name = EXCLUDED.name, kiosk_key = COALESCE(EXCLUDED.kiosk_key, gates.kiosk_key)
            """, logger: logger)
        return token
    }

    public struct GateIdentity: Sendable, Equatable {
        public var gate: String
        public var community: String
        public init(gate: String, community: String) {
            self.gate = gate
            self.community = community
        }
    }

    /// The gate a bearer token names, or nil. Constant-time comparison of the token's hash.
    public func authenticateGate(token: String) async throws -> GateIdentity? {
        try await authenticateGateReadingState(token: token)?.identity
    }

    /// A gate's upload state as read (without a lock) when its token was checked.
    public struct GateState: Sendable {
        public var identity: GateIdentity
        var acked: Int64
        var head: [UInt8]
        var key: [UInt8]?
        var integrity: String?
        var rebase: Bool
    }

    /// The same check, reading the gate's upload state in the same query (an upload's first
    /// read: one round trip less per batch).
    public func authenticateGateReadingState(token: String) async throws -> GateState? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 300, parts.count == 4, parts[0] == "pst1", CentralID.isValid(String(parts[2])) else { return nil }
        let gate = String(parts[2])
        let want = Array(SHA256.hash(data: Array(token.utf8)))
        for try await (community, stored, a, h, k, i, r) in try await client.query("SELECT community, token_hash, acked_seq, chain_head, kiosk_key, integrity, rebase FROM gates WHERE id = \(gate)", logger: logger).decode((String, ByteBuffer, Int64, ByteBuffer, ByteBuffer?, String?, Bool).self) {
            let have = Array(stored.readableBytesView)
            guard have.count == want.count else { return nil }
            var diff: UInt8 = 0
            for i in 0..<have.count { diff |= have[i] ^ want[i] }
            guard diff == 0 && community == String(parts[1]) else { return nil }
            return GateState(identity: GateIdentity(gate: gate, community: community), acked: a, head: Array(h.readableBytesView), key: k.map { Array($0.readableBytesView) }, integrity: i, rebase: r)
        }
        return nil
    }

    // MARK: accounts

    public struct Account: Sendable, Equatable {
        public var name: String
        public var role: String
        public var scope: String?
        public var passwordHash: String
    }

    public static let roles = ["admin", "community_admin", "operator", "street_supervisor", "district_supervisor", "city_supervisor"]

    public func addAccount(name: String, passwordHash: String, role: String, scope: String?) async throws {
        try CentralID.check(name, "account")
        guard Self.roles.contains(role) else { throw CentralError(.invalid, "role must be one of \(Self.roles.joined(separator: ", "))") }
        if role != "admin" {
            guard let scope else { throw CentralError(.invalid, "a \(role) account needs --scope") }
            let found: String?
            switch role {
            case "community_admin", "operator": found = try await scalarString("SELECT id FROM communities WHERE id = \(scope)")
            case "street_supervisor": found = try await scalarString("SELECT id FROM org_units WHERE id = \(scope) AND kind = 'street'")
            case "district_supervisor": found = try await scalarString("SELECT id FROM org_units WHERE id = \(scope) AND kind = 'district'")
            default: found = try await scalarString("SELECT id FROM org_units WHERE id = \(scope) AND kind = 'city'")
            }
            guard found != nil else { throw CentralError(.notFound, "no \(role.replacingOccurrences(of: "_admin", with: "").replacingOccurrences(of: "_supervisor", with: "")) \(scope)") }
        }
        try await client.exec("INSERT INTO accounts(name, password_hash, role, scope) VALUES (\(name), \(passwordHash), \(role), \(role == "admin" ? nil : scope)) ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, scope = EXCLUDED.scope", logger: logger)
    }

    public func account(_ name: String) async throws -> Account? {
        guard CentralID.isValid(name) else { return nil }
        for try await (n, h, r, s) in try await client.query("SELECT name, password_hash, role, scope FROM accounts WHERE name = \(name)", logger: logger).decode((String, String, String, String?).self) {
            return Account(name: n, role: r, scope: s, passwordHash: h)
        }
        return nil
    }

    /// The communities an account may see (all for admin and city supervisors of that city).
    public func communities(visibleTo a: Account) async throws -> Set<String> {
        let rows: PostgresRowSequence
        switch a.role {
        case "admin": rows = try await client.query("SELECT id FROM communities", logger: logger)
        case "community_admin", "operator": rows = try await client.query("SELECT id FROM communities WHERE id = \(a.scope ?? "")", logger: logger)
        case "street_supervisor": rows = try await client.query("SELECT id FROM communities WHERE street = \(a.scope ?? "")", logger: logger)
        case "district_supervisor": rows = try await client.query("SELECT c.id FROM communities c JOIN org_units s ON s.id = c.street WHERE s.parent = \(a.scope ?? "")", logger: logger)
        default: rows = try await client.query("SELECT c.id FROM communities c JOIN org_units s ON s.id = c.street JOIN org_units d ON d.id = s.parent WHERE d.parent = \(a.scope ?? "")", logger: logger)
        }
        var out = Set<String>()
        for try await id in rows.decode(String.self) { out.insert(id) }
        return out
    }

    /// Communities under a scope: `community C`, `street S`, `district D`, `city X` (or every city).
    public func communities(scope: String, id: String?) async throws -> [String] {
        let rows: PostgresRowSequence
        switch scope {
        case "community": rows = try await client.query("SELECT id FROM communities WHERE id = \(id ?? "") ORDER BY id", logger: logger)
        case "street": rows = try await client.query("SELECT id FROM communities WHERE street = \(id ?? "") ORDER BY id", logger: logger)
        case "district": rows = try await client.query("SELECT c.id FROM communities c JOIN org_units s ON s.id = c.street WHERE s.parent = \(id ?? "") ORDER BY c.id", logger: logger)
        case "city":
            if let id {
                rows = try await client.query("SELECT c.id FROM communities c JOIN org_units s ON s.id = c.street JOIN org_units d ON d.id = s.parent WHERE d.parent = \(id) ORDER BY c.id", logger: logger)
            } else {
                rows = try await client.query("SELECT id FROM communities ORDER BY id", logger: logger)
            }
        default: throw CentralError(.invalid, "scope must be community, street, district or city")
        }
        var out: [String] = []
        for try await c in rows.decode(String.self) { out.append(c) }
        return out
    }

    // MARK: central's registry signing key

    /// Central's snapshot-signing key, created on first use (kept in the database so every
    /// instance signs with the same key).
    public func signingKey() async throws -> (id: String, key: Curve25519.Signing.PrivateKey) {
        for try await (id, raw) in try await client.query("SELECT id, private_key FROM signing_keys ORDER BY created_at DESC LIMIT 1", logger: logger).decode((String, ByteBuffer).self) {
            return (id, try Curve25519.Signing.PrivateKey(rawRepresentation: Array(raw.readableBytesView)))
        }
        let k = Curve25519.Signing.PrivateKey()
        let id = "central-\(Int(Date().timeIntervalSince1970))"
        try await client.exec("INSERT INTO signing_keys(id, private_key, public_key) VALUES (\(id), \(ByteBuffer(bytes: k.rawRepresentation)), \(ByteBuffer(bytes: k.publicKey.rawRepresentation))) ON CONFLICT DO NOTHING", logger: logger)
        return try await signingKey()
    }

    // MARK: helpers

    func scalarString(_ q: PostgresQuery) async throws -> String? {
        for try await v in try await client.query(q, logger: logger).decode(String?.self) { return v }
        return nil
    }

    func scalarInt(_ q: PostgresQuery, on conn: PostgresConnection? = nil) async throws -> Int64? {
        let rows: PostgresRowSequence
        if let conn { rows = try await conn.query(q, logger: logger) } else { rows = try await client.query(q, logger: logger) }
        for try await v in rows.decode(Int64?.self) { return v }
        return nil
    }
}

/// Runs a statement and drains its rows: a row sequence left unread keeps the connection busy.
extension PostgresConnection {
    func exec(_ q: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await query(q, logger: logger) {}
    }
}

extension PostgresClient {
    func exec(_ q: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await query(q, logger: logger) {}
    }
}

extension CentralDB {
    /// A transaction whose closure's own error comes out as itself (postgres-nio wraps it).
    func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { conn in try await body(conn) }
        } catch let e as PostgresTransactionError {
            if let inner = e.closureError { throw inner }
            throw e
        }
    }
}

/// `NOTIFY postern_events, COMMUNITY` after events commit, outside the ingest's transaction.
/// PostgreSQL serialises every transaction that notifies, cluster-wide, from its pre-commit to
/// the end of its commit (a lock on "database 0" in async.c, held across the WAL flush): with the
/// notification inside each batch's transaction, no two batches could share a commit flush. Here
/// the communities to announce are gathered while one notifying statement runs, and sent
/// together by the next one. A notification only wakes readers, who then read by
/// `community_seq`; one lost (the instance dies between the commit and the notify, or the
/// database is unreachable) delays a long poll to its timeout, it loses no event.
final class EventNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = Set<String>()
    private var running = false
    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    func notify(_ community: String) {
        let start = lock.withLock {
            pending.insert(community)
            defer { running = true }
            return !running
        }
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch = lock.withLock {
                let b = pending
                pending = []
                if b.isEmpty { running = false }
                return b
            }
            if batch.isEmpty { return }
            do {
                try await client.exec("SELECT pg_notify('postern_events', c) FROM unnest(\(Array(batch))::text[]) AS c", logger: logger)
            } catch {
                logger.notice("could not notify new events for \(batch.sorted().joined(separator: ", ")): \(error); long polls wake at their timeout")
            }
        }
    }
}
