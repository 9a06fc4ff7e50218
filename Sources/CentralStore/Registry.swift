import CentralWire
import Crypto
import Foundation
import GateCore
import Logging
import NIOCore
import PostgresNIO

/// Registry down: central is authoritative. Each change gets the community's next registry
/// version while the community row is locked (so versions commit in order and a reader by
/// cursor never skips one), is kept in `registry_changes` for incremental pulls and folded into
/// `registry_state` for snapshots, and wakes long-polling gates through NOTIFY after commit.
extension CentralDB {
    static let entities: Set<String> = ["resident", "visitor", "courier", "staff", "exemption", "lockdown", "pass", "key"]

    /// Checks one change from an account: a registry change of a known entity whose `after`
    /// decodes as that entity. A private key never travels: keys carry public halves only.
    static func validate(_ e: GateEvent) throws {
        guard let entity = e.entity, entities.contains(entity) else { throw CentralError(.invalid, "entity must be one of \(entities.sorted().joined(separator: ", "))") }
        guard let key = e.key, !key.isEmpty, key.utf8.count <= 200 else { throw CentralError(.invalid, "\(entity): key missing or longer than 200 bytes") }
        guard let action = e.action, !action.isEmpty, action.utf8.count <= 32 else { throw CentralError(.invalid, "\(entity) \(key): action missing") }
        if (e.after?.utf8.count ?? 0) > 64 << 10 || (e.before?.utf8.count ?? 0) > 64 << 10 { throw CentralError(.invalid, "\(entity) \(key): entity larger than 64 KiB") }
        guard let after = e.after else {
            guard ["courier", "lockdown"].contains(entity) else { throw CentralError(.invalid, "\(entity) \(key): only couriers and lockdowns can be removed") }
            return
        }
        let d = JSONDecoder()
        let data = Data(after.utf8)
        // Every time is range-checked here, at the write: a gate's claim arithmetic and the
        // kiosks' rules later add to them (WireTime).
        func sane(_ t: Int64?) -> Bool { t.map { WireTime.isSane($0) } ?? true }
        let ok: Bool
        switch entity {
        case "resident": ok = (try? d.decode(Resident.self, from: data)).map { $0.id == key && PersonID.isValid($0.id) && IDNumber.isValid($0.idNumber) && sane($0.returnDate) && sane($0.quarantineUntil) } ?? false
        case "visitor": ok = (try? d.decode(Visitor.self, from: data)).map { $0.id == key && PersonID.isValid($0.id) && IDNumber.isValid($0.idNumber) && sane($0.validFrom) && sane($0.validUntil) && $0.validFrom <= $0.validUntil && (1...50).contains($0.maxEntries) } ?? false
        case "courier": ok = (try? d.decode(Courier.self, from: data)).map { $0.id == key && PersonID.isValid($0.id) && IDNumber.isValid($0.idNumber) } ?? false
        case "staff": ok = (try? d.decode(Staff.self, from: data)).map { $0.id == key && PersonID.isValid($0.id) } ?? false
        case "exemption": ok = (try? d.decode(Exemption.self, from: data)).map { $0.person == key && sane($0.until) } ?? false
        case "key": ok = (try? d.decode(TrustedKey.self, from: data)).map { $0.id == key && $0.publicKey.count == 32 && sane($0.notBefore) && sane($0.notAfter) } ?? false
        case "lockdown":
            ok = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).map { ($0["scope"] as? String).flatMap(LockdownScope.init(parsing:)) != nil && ($0["since"] as? NSNumber).map { WireTime.isSane($0.doubleValue) } == true && $0["reason"] is String } ?? false
        case "pass":
            ok = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).map { ($0["pass"] as? [String: Any]) != nil && $0["revoked"] is NSNumber } ?? false
        default: ok = false
        }
        guard ok else { throw CentralError(.invalid, "\(entity) \(key): `after` is not a valid \(entity)") }
    }

    /// Applies an account's registry changes atomically; returns the new registry version.
    public func writeRegistry(_ w: RegistryWrite, actor: String) async throws -> Int64 {
        guard !w.changes.isEmpty, w.changes.count <= 20_000 else { throw CentralError(.invalid, "between 1 and 20000 changes per write") }
        for c in w.changes { try Self.validate(c) }
        let encoder = Wire.encoder
        return try await self.transaction { conn in
            guard let top = try await self.scalarInt("UPDATE communities SET registry_version = registry_version + \(Int64(w.changes.count)) WHERE id = \(w.community) RETURNING registry_version", on: conn) else {
                throw CentralError(.notFound, "no community \(w.community)")
            }
            var version = top - Int64(w.changes.count)
            for var c in w.changes {
                version += 1
                c.kind = .registryChange
                c.actor = "central:" + actor
                c.at = Date().timeIntervalSince1970
                let body = String(decoding: try encoder.encode(c), as: UTF8.self)
                let entity = c.entity!, key = c.key!
                try await conn.exec("INSERT INTO registry_changes(community, version, actor, entity, key, body) VALUES (\(w.community), \(version), \(actor), \(entity), \(key), \(body))", logger: self.logger)
                if c.after == nil {
                    try await conn.exec("DELETE FROM registry_state WHERE community = \(w.community) AND entity = \(entity) AND key = \(key)", logger: self.logger)
                } else {
                    try await conn.exec("""
                        INSERT INTO registry_state(community, entity, key, version, body) VALUES (\(w.community), \(entity), \(key), \(version), \(body))
                        ON CONFLICT (community, entity, key) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body
                        """, logger: self.logger)
                }
            }
            try await conn.exec("SELECT pg_notify('postern_registry', \(w.community))", logger: self.logger)
            return top
        }
    }

    public func registryVersion(community: String) async throws -> Int64? {
        try await scalarInt("SELECT registry_version FROM communities WHERE id = \(community)")
    }

    /// The changes after `cursor`, or a signed snapshot when the cursor is older than central
    /// keeps (or newer than it has: a restored database).
    public func registryFeed(community: String, after cursor: Int64, limit: Int = 1000) async throws -> RegistryFeed {
        let (version, floor) = try await registryBounds(community)
        if cursor < floor || cursor > version || (cursor == 0 && version > 0 && floor > 0) {
            return try await snapshot(community: community)
        }
        var changes: [RegistryChange] = []
        let decoder = JSONDecoder()
        for try await (v, body) in try await client.query("SELECT version, body FROM registry_changes WHERE community = \(community) AND version > \(cursor) ORDER BY version LIMIT \(limit)", logger: logger).decode((Int64, String).self) {
            changes.append(RegistryChange(version: v, event: try decoder.decode(GateEvent.self, from: Data(body.utf8))))
        }
        return RegistryFeed(community: community, version: changes.last?.version ?? cursor, snapshot: false, changes: changes)
    }

    func registryBounds(_ community: String) async throws -> (Int64, Int64) {
        for try await (v, f) in try await client.query("SELECT registry_version, registry_floor FROM communities WHERE id = \(community)", logger: logger).decode((Int64, Int64).self) { return (v, f) }
        throw CentralError(.notFound, "no community \(community)")
    }

    /// The whole registry at one version (a consistent read), signed by central's key.
    public func snapshot(community: String) async throws -> RegistryFeed {
        let key = try await signingKey()
        let decoder = JSONDecoder()
        var feed: RegistryFeed = try await self.transaction { conn in
            try await conn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: self.logger)
            let version = try await self.scalarInt("SELECT registry_version FROM communities WHERE id = \(community)", on: conn) ?? 0
            var changes: [RegistryChange] = []
            for try await (v, body) in try await conn.query("SELECT version, body FROM registry_state WHERE community = \(community) ORDER BY version", logger: self.logger).decode((Int64, String).self) {
                var e = try decoder.decode(GateEvent.self, from: Data(body.utf8))
                e.action = "restate"
                changes.append(RegistryChange(version: v, event: e))
            }
            return RegistryFeed(community: community, version: version, snapshot: true, changes: changes)
        }
        feed.keyID = nil
        let sig = try key.key.signature(for: feed.signedBytes)
        feed.signature = Base64URL.encode(Array(sig))
        feed.keyID = key.id
        return feed
    }

    /// Forgets changes older than the newest `keep` per community; older cursors get snapshots.
    public func pruneRegistry(keep: Int64) async throws {
        try await self.transaction { conn in
            try await conn.exec("UPDATE communities SET registry_floor = GREATEST(registry_floor, registry_version - \(keep)) WHERE registry_version - \(keep) > registry_floor", logger: self.logger)
            try await conn.exec("DELETE FROM registry_changes r USING communities c WHERE r.community = c.id AND r.version <= c.registry_floor", logger: self.logger)
        }
    }

    /// Central's registry-signing public key (base64url), for the kiosks' `registry_key`.
    public func registryPublicKey() async throws -> String {
        Base64URL.encode(Array(try await signingKey().key.publicKey.rawRepresentation))
    }

    /// The community's current registry as entities (what an admin command starts from).
    public func registryEntities(community: String) async throws -> [GateEvent] {
        try await snapshot(community: community).changes.map(\.event)
    }
}
