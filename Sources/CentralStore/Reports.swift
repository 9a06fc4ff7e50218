import CentralWire
import Foundation
import GateCore
import Logging
import NIOCore
import PostgresNIO

/// What supervisors and the other gates read: the community's passages by community sequence,
/// the seven counts (七知) over any part of the organisation, and the ledger (台账) of a day, each
/// with how complete it is per gate.
extension CentralDB {
    /// Admitted passages of the community at other gates after `cursor` (the community sequence).
    /// A first request (cursor 0) starts `windowDays` back, enough for every rule that counts.
    public func peers(community: String, exceptGate: String, after cursor: Int64, windowDays: Int = 30, limit: Int = 1000) async throws -> PeerFeed {
        let sinceNs = cursor == 0 ? Int64((Date().timeIntervalSince1970 - Double(windowDays) * 86_400) * 1e9) : Int64.min
        var out: [PeerPassage] = []
        for try await (cs, g, lane, wall, person, pk, hh, dir) in try await client.query("""
            SELECT community_seq, gate, COALESCE(lane, ''), wall_ns, person, person_kind, household, direction FROM events
            WHERE community = \(community) AND community_seq > \(cursor) AND kind = 'passage' AND outcome = 'admit'
              AND person IS NOT NULL AND person_kind IS NOT NULL AND direction IS NOT NULL AND gate <> \(exceptGate) AND wall_ns >= \(sinceNs)
            ORDER BY community_seq LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, Int64, String, String, String?, String).self) {
            guard let kind = PersonKind(rawValue: pk), let d = Direction(rawValue: dir) else { continue }
            out.append(PeerPassage(communitySeq: cs, gate: g, lane: lane, at: Double(wall) / 1e9, person: person, personKind: kind, household: hh, direction: d))
        }
        // Nothing to return: hand back the community's head, so the next wait starts there.
        var head = cursor
        if out.isEmpty, let h = try await scalarInt("SELECT next_seq FROM communities WHERE id = \(community)") { head = max(cursor, h) }
        return PeerFeed(after: out.last?.communitySeq ?? head, passages: out)
    }

    /// How complete central's copy of each gate is.
    public struct GateCompleteness: Sendable, Codable, Equatable {
        public var gate: String
        public var community: String
        /// Central holds every record up to here.
        public var ackedSeq: Int64
        /// The kiosk's durable end as it last said (records still to come = durable − acked).
        public var durableSeq: Int64
        /// Wall time of the newest record central holds ("complete through").
        public var completeThrough: Double?
        public var lastUpload: Double?
        public var behindRecords: Int64 { max(0, durableSeq - ackedSeq) }
        public var integrity: String?
    }

    public func completeness(communities: [String]) async throws -> [GateCompleteness] {
        var out: [GateCompleteness] = []
        for try await (g, c, a, d, w, u, i) in try await client.query("""
            SELECT id, community, acked_seq, durable_seq, last_wall_ns, EXTRACT(EPOCH FROM last_upload)::float8, integrity
            FROM gates WHERE community = ANY(\(communities)) ORDER BY community, id
            """, logger: logger).decode((String, String, Int64, Int64, Int64?, Double?, String?).self) {
            out.append(GateCompleteness(gate: g, community: c, ackedSeq: a, durableSeq: d, completeThrough: w.map { Double($0) / 1e9 }, lastUpload: u, integrity: i))
        }
        return out
    }

    public struct SevenReport: Sendable, Codable {
        public var scope: String
        public var day: String
        public var communities: [String]
        public var households = 0
        public var rentalHouseholds = 0
        public var hubei = 0
        public var wuhan = 0
        public var otherProvince = 0
        public var returnees = 0
        public var isolatedNow = 0
        public var passagesIn = 0
        public var passagesOut = 0
        public var denialsByReason: [String: Int] = [:]
        public var feverAlerts = 0
        public var lateRecords = 0
        public var overdrafts = 0
        public var gates: [GateCompleteness] = []
    }

    /// 七知 from the registry central keeps, plus the day's passages from every gate.
    public func seven(scope: String, communities: [String], day: String, now: Double = Date().timeIntervalSince1970) async throws -> SevenReport {
        var r = SevenReport(scope: scope, day: day, communities: communities)
        let decoder = JSONDecoder()
        var households = Set<String>(), rentals = Set<String>()
        for try await (c, body) in try await client.query("SELECT community, body FROM registry_state WHERE community = ANY(\(communities)) AND entity = 'resident'", logger: logger).decode((String, String).self) {
            guard let e = try? decoder.decode(GateEvent.self, from: Data(body.utf8)), let a = e.after, let res = try? decoder.decode(Resident.self, from: Data(a.utf8)) else { continue }
            let h = c + "/" + res.household
            households.insert(h)
            if res.rental { rentals.insert(h) }
            switch res.origin {
            case .hubei: r.hubei += 1
            case .wuhan: r.wuhan += 1
            case .otherProvince: r.otherProvince += 1
            case .returnee: r.returnees += 1
            case .local: break
            }
            if let q = res.quarantineUntil, Double(q) > now { r.isolatedNow += 1 }
        }
        r.households = households.count
        r.rentalHouseholds = rentals.count
        for try await (kind, dir, outcome, reason, alert, late, n) in try await client.query("""
            SELECT kind, COALESCE(direction, ''), COALESCE(outcome, ''), COALESCE(reason, ''), COALESCE(alert, ''), late, COUNT(*)::bigint
            FROM events WHERE community = ANY(\(communities)) AND day = \(day)::date AND kind IN ('passage', 'alert')
            GROUP BY 1, 2, 3, 4, 5, 6
            """, logger: logger).decode((String, String, String, String, String, Bool, Int64).self) {
            let n = Int(n)
            if late { r.lateRecords += n }
            if kind == "passage" {
                if outcome == "admit" { if dir == "in" { r.passagesIn += n } else if dir == "out" { r.passagesOut += n } }
                if outcome == "deny" { r.denialsByReason[reason, default: 0] += n }
            } else if alert == "fever" {
                r.feverAlerts += n
            }
        }
        r.overdrafts = Int(try await scalarInt("SELECT COUNT(*)::bigint FROM overdrafts WHERE community = ANY(\(communities)) AND to_timestamp(at)::date = \(day)::date") ?? 0)
        r.gates = try await completeness(communities: communities)
        return r
    }

    public struct LedgerRow: Sendable, Codable, Equatable {
        public var time: Double
        public var community: String
        public var gate: String
        public var seq: Int64
        public var communitySeq: Int64
        public var lane: String
        public var direction: String
        public var name: String
        public var person: String
        public var pass: String
        public var temperature: Double?
        public var decision: String
        public var reason: String
        public var staff: String
        public var late: Bool
    }

    /// The day's ledger over the communities: every passage, plus the overdrafts found on upload
    /// (as `quota_overdraft` rows). Names and ids masked unless `unmask`.
    public func ledger(communities: [String], day: String, unmask: Bool) async throws -> [LedgerRow] {
        var rows: [LedgerRow] = []
        for try await (c, g, seq, cs, wall, payload, late) in try await client.query("""
            SELECT community, gate, seq, community_seq, wall_ns, payload, late FROM events
            WHERE community = ANY(\(communities)) AND day = \(day)::date AND kind = 'passage'
            ORDER BY wall_ns, community, community_seq
            """, logger: logger).decode((String, String, Int64, Int64, Int64, ByteBuffer, Bool).self) {
            // Read field by field, not as a whole GateEvent: a passage from a newer kiosk (a
            // reason this version does not know, an override without a reason) is still a
            // passage and is listed, with its codes as they were written.
            let p = LedgerFields(Data(payload.readableBytesView))
            rows.append(LedgerRow(
                time: p.at ?? Double(wall) / 1e9, community: c, gate: g, seq: seq, communitySeq: cs, lane: p.lane, direction: p.direction,
                name: unmask ? p.name : Self.maskName(p.name), person: unmask ? p.person : Self.maskID(p.person), pass: p.pass,
                temperature: p.temperature, decision: p.outcome, reason: p.reason, staff: p.staff, late: late || Double(wall) / 1e9 < 0))
        }
        for try await (c, g, seq, kind, person, at) in try await client.query("""
            SELECT community, gate, seq, kind, COALESCE(person, ''), at FROM overdrafts
            WHERE community = ANY(\(communities)) AND to_timestamp(at)::date = \(day)::date ORDER BY at
            """, logger: logger).decode((String, String, Int64, String, String, Int64).self) {
            rows.append(LedgerRow(time: Double(at), community: c, gate: g, seq: seq, communitySeq: 0, lane: "", direction: "out", name: "", person: unmask ? person : Self.maskID(person), pass: "", temperature: nil, decision: "found_on_upload", reason: kind, staff: "", late: true))
        }
        return rows.sorted { ($0.time, $0.community, $0.communitySeq) < ($1.time, $1.community, $1.communitySeq) }
    }

    static func maskName(_ s: String) -> String {
        guard let f = s.first else { return "" }
        return String(f) + String(repeating: "*", count: max(1, s.count - 1))
    }

    static func maskID(_ s: String) -> String {
        s.count <= 2 ? String(repeating: "*", count: s.count) : String(s.prefix(2)) + String(repeating: "*", count: s.count - 2)
    }
}

/// A passage's ledger fields from its JSON payload, each on its own: a field of an unknown
/// shape is empty, never the reason to drop the row.
struct LedgerFields {
    var at: Double?
    var lane = "", direction = "", name = "", person = "", pass = "", outcome = "", reason = "", staff = ""
    var temperature: Double?

    init(_ json: Data) {
        guard let e = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else { return }
        at = (e["at"] as? NSNumber).map(\.doubleValue).flatMap { $0.isFinite ? $0 : nil }
        lane = e["lane"] as? String ?? ""
        direction = e["direction"] as? String ?? ""
        guard let d = e["decision"] as? [String: Any] else { return }
        name = d["personName"] as? String ?? ""
        person = d["personID"] as? String ?? ""
        pass = d["passID"] as? String ?? ""
        outcome = d["outcome"] as? String ?? ""
        reason = d["reason"] as? String ?? ""
        temperature = (d["temperature"] as? NSNumber).map(\.doubleValue).flatMap { $0.isFinite ? $0 : nil }
        staff = (d["override"] as? [String: Any])?["staff"] as? String ?? ""
    }
}

