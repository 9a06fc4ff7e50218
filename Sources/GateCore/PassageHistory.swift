/// The passage history the rules read, and its one owner: household exits (the shopping quota),
/// each person's last admitted direction (anti-passback), visitors' admitted entries (single-
/// entry approvals), couriers inside (stays). It changes only through `record`, which the kiosk calls for every decision
/// it has made durable and which `rebuild` replays over the logged passages at start — the same
/// code both times, so a kiosk that restarted decides exactly as one that never did.
///
/// Everything a later decision depends on is read from the decision itself (the `quota_exempt`
/// flag the policy sets), never from registry state that may have changed since.
public struct PassageHistory: Sendable, Equatable {
    public struct Exit: Sendable, Equatable {
        public var at: Timestamp
        public var person: String
        public var exempt: Bool
        public init(at: Timestamp, person: String, exempt: Bool = false) {
            self.at = at
            self.person = person
            self.exempt = exempt
        }
    }

    /// Admitted `out` passages per household (pruned to the longest quota window asked for).
    public private(set) var householdExits: [String: [Exit]] = [:]
    /// Last admitted direction per person.
    public private(set) var presence: [String: Direction] = [:]
    /// Admitted `in` passages per visitor (times), to count entries under an approval.
    public private(set) var visitorEntries: [String: [Timestamp]] = [:]
    /// Couriers inside now, with the time they were admitted in (courier stays).
    public private(set) var couriersInside: [String: Timestamp] = [:]

    public init() {}

    /// The flag a decision carries when an exemption kept the exit out of the quota.
    public static let quotaExemptFlag = "quota_exempt"

    /// Applies one decided passage. Only admits change the history.
    public mutating func record(_ d: Decision, direction: Direction, at: Timestamp) {
        guard d.outcome == .admit, let id = d.personID else { return }
        presence[id] = direction
        if direction == .out, d.personKind == .resident, let h = d.household {
            householdExits[h, default: []].append(Exit(at: at, person: id, exempt: d.flags.contains(Self.quotaExemptFlag)))
        }
        if direction == .in, d.personKind == .visitor {
            visitorEntries[id, default: []].append(at)
        }
        if d.personKind == .courier {
            couriersInside[id] = direction == .in ? at : nil
        }
    }

    /// Exits of a household counted by the quota in the window ending at `now`.
    public func quotaExits(household: String, since: Timestamp) -> Int {
        householdExits[household, default: []].reduce(0) { $0 + ($1.at > since && !$1.exempt ? 1 : 0) }
    }

    /// Entries a visitor was admitted under the approval that began at `validFrom`.
    public func entries(visitor: String, since validFrom: Timestamp) -> Int {
        visitorEntries[visitor, default: []].reduce(0) { $0 + ($1 >= validFrom ? 1 : 0) }
    }

    /// Forgets exits older than `before` (they can no longer count against any quota window).
    public mutating func prune(exitsBefore before: Timestamp) {
        for (h, xs) in householdExits {
            let kept = xs.filter { $0.at >= before }
            householdExits[h] = kept.isEmpty ? nil : kept
        }
    }

    /// The history as the logged passages (in log order) leave it.
    public static func rebuild<S: Sequence>(_ passages: S) -> PassageHistory where S.Element == (decision: Decision, direction: Direction, at: Timestamp) {
        var h = PassageHistory()
        for p in passages { h.record(p.decision, direction: p.direction, at: p.at) }
        return h
    }
}
