import EventLog
import Foundation
import GateCore

/// The kiosk's copy of a registry that central keeps (issue 13). With `[central]` configured, the
/// uplink writes central's changes here in version order, each in one transaction with its
/// version cursor and its audit event (so the kiosk's log records what changed and who changed
/// it at central); local admin writes are refused, naming central.
extension Store {
    static let centralTable = """
        CREATE TABLE IF NOT EXISTS central_registry(
            id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT NOT NULL, community TEXT NOT NULL,
            version INTEGER NOT NULL, applied_at INTEGER NOT NULL)
        """

    /// Where the registry is kept, when central keeps it: (url, community, version, applied_at).
    public func centralState() throws -> (url: String, community: String, version: Int64, appliedAt: Timestamp)? {
        guard try db.query("SELECT 1 FROM sqlite_master WHERE name = 'central_registry'", [], { _ in true }).first != nil else { return nil }
        return try db.query("SELECT url, community, version, applied_at FROM central_registry WHERE id = 1") { ($0.text(0), $0.text(1), $0.int(2), $0.int(3)) }.first
    }

    /// Marks this registry as central's (the kiosk's uplink does it at start). Version stays.
    public func setCentral(url: String, community: String, now: Timestamp) throws {
        try db.run(Self.centralTable)
        try db.run("INSERT INTO central_registry VALUES (1, ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET url = excluded.url, community = excluded.community", [.text(url), .text(community), .int(now)])
    }

    /// Back to a locally kept registry (the `[central]` section was removed).
    public func clearCentral() throws {
        try db.run("DROP TABLE IF EXISTS central_registry")
    }

    /// Applies central's changes (`version` ascending) in one transaction. A snapshot replaces the
    /// whole registry first. Changes at or below the stored version are skipped (a retried page).
    /// Returns the version now held.
    @discardableResult
    public func applyCentral(_ changes: [(version: Int64, event: GateEvent)], snapshot: Bool, upTo version: Int64, now: Timestamp) throws -> Int64 {
        try db.transaction {
            let held = try db.query("SELECT version FROM central_registry WHERE id = 1") { $0.int(0) }.first ?? 0
            if snapshot {
                for t in ["residents", "visitors", "couriers", "staff", "passes", "lockdowns", "exemptions", "keys"] {
                    try db.run("DELETE FROM \(t)")
                }
            } else if version <= held {
                return held
            }
            var last = snapshot ? 0 : held
            for c in changes.sorted(by: { $0.version < $1.version }) where snapshot || c.version > last {
                try replay(c.event)
                if !snapshot {
                    var e = c.event
                    e.kind = .registryChange
                    e.message = "from central, registry version \(c.version)"
                    try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
                }
                last = max(last, c.version)
            }
            let applied = max(last, version)
            if snapshot {
                var e = GateEvent(kind: .registryChange, at: Double(now))
                e.entity = "snapshot"
                e.key = String(applied)
                e.action = "replace"
                e.actor = "central"
                e.message = "registry replaced by central's snapshot at version \(applied) (\(changes.count) entities)"
                try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
            }
            try db.run("UPDATE central_registry SET version = ?, applied_at = ? WHERE id = 1", [.int(applied), .int(now)])
            return applied
        }
    }

    /// Marks the registry as checked against central now (an up-to-date answer with no changes).
    public func touchCentral(now: Timestamp) throws {
        try db.run("UPDATE central_registry SET applied_at = ? WHERE id = 1", [.int(now)])
    }

    /// Every entity of the registry as `restate` events (what an admin command run against
    /// central starts from, and what central's snapshot looks like).
    public func registryEntities() throws -> [GateEvent] {
        let before = try pendingAudit().last?.id ?? 0
        _ = try restateRegistry(actor: "snapshot")
        let all = try pendingAudit().filter { $0.id > before }
        if let last = all.last?.id {
            try db.run("DELETE FROM audit_outbox WHERE id > ? AND id <= ?", [.int(before), .int(last)])
        }
        return all.map(\.event)
    }
}
