/// Rules across the gates of one community (issue 13), as pure functions. A gate's own policy
/// decides first; a decision that spends a shared right (a household's shopping exit, a visitor's
/// entry) is then settled against central's claim — granted, refused, or unreachable, in which
/// case a bounded offline budget decides. Passages at the community's other gates feed the same
/// history the rules read (quota, presence, visitor entries).
public enum CrossGate {
    /// A shared right an admitted decision spends.
    public enum Claim: Sendable, Equatable {
        /// One of `allowed` exits of `household` in a rolling `window` seconds.
        case quota(household: String, person: String, window: Int64, allowed: Int)
        /// One of `allowed` entries under the visitor's approval starting at `approvalStart`.
        case visitorEntry(visitor: String, approvalStart: Int64, allowed: Int)

        /// The offline budget's key: one household, or one visitor approval.
        public var subject: String {
            switch self {
            case .quota(let h, _, _, _): "household:" + h
            case .visitorEntry(let v, let start, _): "visitor:\(v)@\(start)"
            }
        }
    }

    public enum ClaimResult: Sendable, Equatable {
        case granted
        case refused(heldBy: String?)
        /// No answer within the bounded wait: the offline budget decides.
        case unreachable
    }

    /// Flags a settled decision carries (in `Decision.flags`), so central and the ledger know how
    /// it was decided.
    public enum Flag {
        public static let claimed = "central_claim"
        public static let offline = "offline_budget"
        public static let refused = "central_refused"
    }

    /// The claim an admitted decision needs before anything moves, or nil. Staff overrides are
    /// the staff member's call and claim nothing; exempt residents spend no quota.
    public static func claim(for d: Decision, direction: Direction, registry: RegistrySnapshot, config: RulesConfig, at: Timestamp) -> Claim? {
        guard d.outcome == .admit, d.reason == .ok, let person = d.personID else { return nil }
        switch (d.personKind, direction) {
        case (.resident?, .out):
            guard let h = d.household, !d.flags.contains(PassageHistory.quotaExemptFlag) else { return nil }
            return .quota(household: h, person: person, window: Int64(config.quotaDays) * 86_400, allowed: config.quotaExits)
        case (.visitor?, .in):
            guard let v = registry.visitors[person] else { return nil }
            return .visitorEntry(visitor: person, approvalStart: v.validFrom, allowed: v.maxEntries)
        default:
            return nil
        }
    }

    /// Decisions this gate made offline per subject, for the bounded budget.
    public struct OfflineBudget: Sendable, Equatable {
        /// Offline admits allowed per subject per window (quota: per household per quota window;
        /// visitor: per approval).
        public var perWindow: Int
        var spent: [String: [Timestamp]] = [:]

        public init(perWindow: Int) { self.perWindow = perWindow }

        public func available(_ c: Claim, at: Timestamp) -> Bool {
            used(c, at: at) < perWindow
        }

        public func used(_ c: Claim, at: Timestamp) -> Int {
            let since: Timestamp
            switch c {
            case .quota(_, _, let window, _): since = at - window
            case .visitorEntry(_, let start, _): since = start
            }
            return spent[c.subject, default: []].filter { $0 > since }.count
        }

        public mutating func spend(_ c: Claim, at: Timestamp) {
            spent[c.subject, default: []].append(at)
        }
    }

    /// Settles the lane's actions for one decision against the claim's result: a refusal (or an
    /// unreachable central with the offline budget spent) turns the admit into a deny before it
    /// is logged, and the relay never moves. Returns the actions and whether the offline budget
    /// was spent.
    public static func settle(_ actions: [Lane.Action], claim: Claim, result: ClaimResult, budget: inout OfflineBudget, at: Timestamp) -> [Lane.Action] {
        let denyReason: Reason
        switch claim {
        case .quota: denyReason = .householdQuota
        case .visitorEntry: denyReason = .notResident
        }
        var deny = false
        var flag: String
        switch result {
        case .granted:
            flag = Flag.claimed
        case .refused:
            flag = Flag.refused
            deny = true
        case .unreachable:
            flag = Flag.offline
            if budget.available(claim, at: at) {
                budget.spend(claim, at: at)
            } else {
                deny = true
            }
        }
        var out: [Lane.Action] = []
        for a in actions {
            switch a {
            case .decided(var d, let facts):
                d.flags.append(flag)
                if deny {
                    d.outcome = .deny
                    d.reason = denyReason
                }
                out.append(.decided(d, facts: facts))
            case .pulseRelay where deny:
                continue
            case .light(.green) where deny:
                out.append(.light(.red))
            default:
                out.append(a)
            }
        }
        return out
    }

    /// A passage at another gate of the community, as the rules count it.
    public struct PeerPassage: Sendable, Equatable {
        public var person: String
        public var kind: PersonKind
        public var household: String?
        public var direction: Direction
        public var at: Timestamp
        public init(person: String, kind: PersonKind, household: String?, direction: Direction, at: Timestamp) {
            self.person = person
            self.kind = kind
            self.household = household
            self.direction = direction
            self.at = at
        }
    }

    /// The decision another gate's admitted passage stands for in this gate's history: recorded
    /// through the same `PassageHistory.record` as the gate's own (quota, presence, visitor
    /// entries), so there is one history of the community's passages.
    public static func decision(_ p: PeerPassage) -> Decision {
        Decision(outcome: .admit, reason: .ok, personID: p.person, personKind: p.kind, household: p.household)
    }
}
