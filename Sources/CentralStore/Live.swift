import Foundation
import GateCore
import Logging
import NIOCore
import PostgresNIO

/// What the web front reads and writes at central, per community: the gates' events and the
/// operators' actions in `community_seq` order (committed rows only: every number is taken under
/// the community row's lock, held to commit, so what a reader sees is always a prefix), the head,
/// where today's state starts, alarm acknowledgements, photos and the published staff.
extension CentralDB {
    /// One committed row of a community's sequence. `type` is the kiosk log's record type, or
    /// `webActionType` for an operator's action recorded at central.
    public struct LiveRow: Sendable {
        public var communitySeq: Int64
        public var gate: String
        public var type: Int
        public var flags: Int
        public var wallNs: Int64
        public var late: Bool
        public var payload: [UInt8]
        public var hasPhoto: Bool
    }

    public static let webActionType = -1

    /// Rows after `after`, in sequence order: the gates' events (with whether the passage's holder
    /// has a photo) and the operators' actions.
    public func liveRows(community: String, after: Int64, limit: Int) async throws -> [LiveRow] {
        var out: [LiveRow] = []
        let rows = try await client.query(
            """
            SELECT * FROM (
              SELECT e.community_seq, e.gate, e.type, e.flags, e.wall_ns, e.late, e.payload,
                     (e.person IS NOT NULL AND EXISTS (SELECT 1 FROM photos p WHERE p.community = e.community AND p.person = e.person)) AS photo
                FROM events e WHERE e.community = \(community) AND e.community_seq > \(after)
                ORDER BY e.community_seq LIMIT \(limit)) a
            UNION ALL
            SELECT * FROM (
              SELECT w.community_seq, '', \(Self.webActionType)::int4, 0, w.wall_ns, false, w.payload, false
                FROM web_actions w WHERE w.community = \(community) AND w.community_seq > \(after)
                ORDER BY w.community_seq LIMIT \(limit)) b
            ORDER BY 1 LIMIT \(limit)
            """, logger: logger)
        for try await (cs, gate, type, flags, wall, late, payload, photo) in rows.decode((Int64, String, Int32, Int32, Int64, Bool, ByteBuffer, Bool).self) {
            out.append(
                LiveRow(
                    communitySeq: cs, gate: gate, type: Int(type), flags: Int(flags), wallNs: wall, late: late, payload: Array(payload.readableBytesView),
                    hasPhoto: photo))
        }
        return out
    }

    /// The community's highest committed sequence number.
    public func liveHead(community: String) async throws -> Int64 {
        try await scalarInt("SELECT next_seq FROM communities WHERE id = \(community)") ?? 0
    }

    /// The first of the community's rows from yesterday on (a live page rebuilds today's counts,
    /// open alarms and device states from there), at most `maxBack` rows back.
    public func liveStateStart(community: String, maxBack: Int64 = 200_000) async throws -> Int64 {
        let head = try await liveHead(community: community)
        let first = try await scalarInt("SELECT MIN(community_seq) FROM events WHERE community = \(community) AND day >= current_date - 1") ?? (head + 1)
        return max(max(1, head - maxBack), min(first, head + 1))
    }

    /// Records an operator's action (an alarm acknowledgement) in the community's sequence, with
    /// who and when; wakes the community's readers. Returns its sequence number.
    public func recordWebAction(community: String, actor: String, action: String, payload: [UInt8], wallNs: Int64) async throws -> Int64 {
        try await transaction { conn in
            guard let seq = try await self.scalarInt("UPDATE communities SET next_seq = next_seq + 1 WHERE id = \(community) RETURNING next_seq", on: conn)
            else {
                throw CentralError(.notFound, "no community \(community)")
            }
            try await conn.exec(
                """
                INSERT INTO web_actions(community, community_seq, actor, action, wall_ns, payload)
                VALUES (\(community), \(seq), \(actor), \(action), \(wallNs), \(ByteBuffer(bytes: payload)))
                """, logger: self.logger)
            try await conn.exec("SELECT pg_notify('postern_events', \(community))", logger: self.logger)
            return seq
        }
    }

    /// The community's name, or nil when there is no such community.
    public func communityName(_ id: String) async throws -> String? {
        guard CentralID.isValid(id) else { return nil }
        return try await scalarString("SELECT name FROM communities WHERE id = \(id)")
    }

    /// Stores a person's photo (the caller passes `Photo.normalise`'s output, never bytes as
    /// given). The person must be in the community's registry.
    public func setPhoto(community: String, person: String, jpeg: [UInt8], sha256: String, actor: String) async throws {
        guard PersonID.isValid(person) else { throw CentralError(.invalid, "person id is not valid") }
        guard
            try await scalarString(
                "SELECT key FROM registry_state WHERE community = \(community) AND key = \(person) AND entity IN ('resident', 'visitor', 'courier', 'staff') LIMIT 1"
            ) != nil
        else { throw CentralError(.notFound, "no person \(person) in the registry of \(community)") }
        try await client.exec(
            """
            INSERT INTO photos(community, person, jpeg, sha256, set_by) VALUES (\(community), \(person), \(ByteBuffer(bytes: jpeg)), \(sha256), \(actor))
            ON CONFLICT (community, person) DO UPDATE SET jpeg = EXCLUDED.jpeg, sha256 = EXCLUDED.sha256, set_by = EXCLUDED.set_by, set_at = now()
            """, logger: logger)
    }

    public func photo(community: String, person: String) async throws -> [UInt8]? {
        for try await b in try await client.query("SELECT jpeg FROM photos WHERE community = \(community) AND person = \(person)", logger: logger).decode(
            ByteBuffer.self)
        {
            return Array(b.readableBytesView)
        }
        return nil
    }

    public func hasPhoto(community: String, person: String) async throws -> Bool {
        try await scalarInt("SELECT 1::int8 FROM photos WHERE community = \(community) AND person = \(person)") != nil
    }

    /// The community's staff, from the registry central keeps.
    public func staff(community: String) async throws -> [Staff] {
        var out: [Staff] = []
        let decoder = JSONDecoder()
        for try await body in try await client.query(
            "SELECT body FROM registry_state WHERE community = \(community) AND entity = 'staff' ORDER BY key", logger: logger
        ).decode(String.self) {
            guard let e = try? decoder.decode(GateEvent.self, from: Data(body.utf8)), let a = e.after,
                let s = try? decoder.decode(Staff.self, from: Data(a.utf8))
            else { continue }
            out.append(s)
        }
        return out
    }

    /// Today's events per community, kind, outcome and late flag (central's `/metrics`).
    public func eventCountsToday() async throws -> [(community: String, kind: String, outcome: String, late: Bool, count: Int64)] {
        var out: [(community: String, kind: String, outcome: String, late: Bool, count: Int64)] = []
        let rows = try await client.query(
            """
            SELECT community, COALESCE(kind, ''), COALESCE(outcome, ''), late, COUNT(*)::int8 FROM events
            WHERE day = current_date GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            """, logger: logger)
        for try await (c, k, o, l, n) in rows.decode((String, String, String, Bool, Int64).self) { out.append((c, k, o, l, n)) }
        return out
    }
}
