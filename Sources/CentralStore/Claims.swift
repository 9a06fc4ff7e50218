import CentralWire
import Foundation
import GateCore
import Logging
import PostgresNIO

/// Cross-gate rights, claimed atomically by an exclusion constraint: a household's exit takes
/// one of `allowed` slots for the window [at, at + window); two claims in the same slot whose
/// windows overlap cannot both commit, whichever gate and instance they come from. A visitor's
/// entry takes one of the approval's entry slots.
extension CentralDB {
    static func kindSubject(_ c: CrossGate.Claim) -> (String, String) {
        switch c {
        case .quota(let h, _, _, _): ("quota", h)
        case .visitorEntry(let v, let start, _): ("visitor_entry", "\(v)@\(start)")
        }
    }

    /// Claims a slot; nil when every slot is taken (refused, or an overdraft for an offline
    /// decision). Each attempt is one INSERT that the constraint admits or drops.
    func claim(_ c: CrossGate.Claim, community: String, gate: String, person: String, at: Int64, offline: Bool, conn: PostgresConnection) async throws -> Int? {
        let (kind, subject) = Self.kindSubject(c)
        let lower: Int64, upper: Int64, allowed: Int
        switch c {
        case .quota(_, _, let window, let n):
            // Values may come from storage (a community's quota days): saturate, never trap.
            lower = at
            upper = WireTime.saturatingAdd(at, max(1, window))
            allowed = n
        case .visitorEntry(_, let start, let n):
            lower = start
            upper = WireTime.saturatingAdd(start, 1)
            allowed = n
        }
        for slot in 0..<max(1, min(allowed, 50)) {
            let inserted = try await conn.query("""
                INSERT INTO claims(community, kind, subject, slot, during, gate, person, at, offline)
                VALUES (\(community), \(kind), \(subject), \(slot), int8range(\(lower), \(upper)), \(gate), \(person), \(at), \(offline))
                ON CONFLICT DO NOTHING RETURNING slot
                """, logger: logger)
            for try await _ in inserted.decode(Int.self) { return slot }
        }
        return nil
    }

    /// Every number of a claim checked before any arithmetic on it: the time within a week of
    /// central's clock, a quota window of 1 s to 366 days (a visitor's approval start a sane
    /// time), 1 to 50 slots. Anything else is `bad_claim` (400), never a trap.
    public static func checkRange(_ r: ClaimRequest, now: Int64) throws {
        let windowOK = switch r.kind {
        case .quota: (1...366 * 86_400).contains(r.window)
        case .visitorEntry: WireTime.isSane(r.window)
        }
        guard (1...50).contains(r.allowed), windowOK, WireTime.isSane(r.at), WireTime.isSane(now), (r.at - now).magnitude < 7 * 86_400 else {
            throw WireError(code: "bad_claim", message: "window, allowed or time out of range")
        }
    }

    /// An online claim from a gate (a person waiting at the lane).
    public func claim(_ r: ClaimRequest, gate id: GateIdentity) async throws -> ClaimResponse {
        guard r.subject.utf8.count <= 200, r.person.utf8.count <= 200, r.lane.utf8.count <= 64, !r.subject.isEmpty else { throw WireError(code: "bad_claim", message: "subject, person or lane too long or empty") }
        try Self.checkRange(r, now: Int64(Date().timeIntervalSince1970))
        let claim: CrossGate.Claim
        switch r.kind {
        case .quota:
            // The community's own quota settings win over what the gate sent.
            let window = (try await scalarInt("SELECT quota_days::bigint * 86400 FROM communities WHERE id = \(id.community)")) ?? r.window
            let allowed = Int((try await scalarInt("SELECT quota_exits::bigint FROM communities WHERE id = \(id.community)")) ?? Int64(r.allowed))
            claim = .quota(household: r.subject, person: r.person, window: window, allowed: allowed)
        case .visitorEntry:
            // Central's registry decides, not the gate: the visitor must exist here, `at` must
            // fall in the approval, and the approval's own start and entries are the claim's.
            guard let v = try await visitor(community: id.community, id: r.subject), v.validFrom <= r.at, r.at <= v.validUntil else {
                return ClaimResponse(granted: false, heldBy: "no visitor approval at central for \(r.subject) at that time")
            }
            claim = .visitorEntry(visitor: v.id, approvalStart: v.validFrom, allowed: min(max(v.maxEntries, 1), 50))
        }
        let slot: Int? = try await client.withConnection { conn in
            try await self.claim(claim, community: id.community, gate: id.gate, person: r.person, at: r.at, offline: false, conn: conn)
        }
        if slot != nil { return ClaimResponse(granted: true) }
        let (kind, subject) = Self.kindSubject(claim)
        var holder: String? = nil
        for try await (g, p) in try await client.query("SELECT gate, person FROM claims WHERE community = \(id.community) AND kind = \(kind) AND subject = \(subject) ORDER BY at DESC LIMIT 1", logger: logger).decode((String, String).self) {
            holder = "\(p) at \(g)"
        }
        return ClaimResponse(granted: false, heldBy: holder)
    }

    /// A visitor as central's registry has it now (nil when it has none by that id).
    public func visitor(community: String, id: String) async throws -> Visitor? {
        for try await body in try await client.query("SELECT body FROM registry_state WHERE community = \(community) AND entity = 'visitor' AND key = \(id)", logger: logger).decode(String.self) {
            return Self.visitor(registryBody: body)
        }
        return nil
    }

    /// A visitor's approval from its `registry_state` row (the registry change that set it).
    static func visitor(registryBody body: String) -> Visitor? {
        guard let e = try? JSONDecoder().decode(GateEvent.self, from: Data(body.utf8)), let a = e.after else { return nil }
        return try? JSONDecoder().decode(Visitor.self, from: Data(a.utf8))
    }

    public struct OverdraftSummary: Sendable, Codable {
        public var community: String
        public var kind: String
        public var count: Int
    }

    public func overdrafts(communities: [String]) async throws -> [OverdraftSummary] {
        var out: [OverdraftSummary] = []
        for try await (c, k, n) in try await client.query("SELECT community, kind, COUNT(*)::bigint FROM overdrafts WHERE community = ANY(\(communities)) GROUP BY 1, 2 ORDER BY 1, 2", logger: logger).decode((String, String, Int64).self) {
            out.append(OverdraftSummary(community: c, kind: k, count: Int(n)))
        }
        return out
    }
}
