import Testing
@testable import GateCore

@Suite("Cross-gate rules (pure)")
struct CrossGateTests {
    let out = Lane.Summary(lane: "out", direction: .out, credentialKind: "qr", readings: [], retests: 0)

    func admit(_ kind: PersonKind = .resident, person: String = "r1", household: String? = "h1", flags: [String] = []) -> Decision {
        var d = Decision(outcome: .admit, reason: .ok, personID: person, personKind: kind, household: household)
        d.flags = flags
        return d
    }

    @Test("which decisions spend a shared right: a resident's non-exempt exit, a visitor's entry; never an override, a deny or an entry of a resident")
    func claims() {
        var reg = RegistrySnapshot()
        reg.add(Visitor(id: "v1", name: "v", idNumber: "1", phone: "1", hostHousehold: "h1", reason: "r", approver: "s", validFrom: 100, validUntil: 200, maxEntries: 2))
        let rules = RulesConfig()
        #expect(CrossGate.claim(for: admit(), direction: .out, registry: reg, config: rules, at: 150) == .quota(household: "h1", person: "r1", window: 2 * 86_400, allowed: 1))
        #expect(CrossGate.claim(for: admit(), direction: .in, registry: reg, config: rules, at: 150) == nil)
        #expect(CrossGate.claim(for: admit(flags: [PassageHistory.quotaExemptFlag]), direction: .out, registry: reg, config: rules, at: 150) == nil)
        var o = admit()
        o.reason = .override
        #expect(CrossGate.claim(for: o, direction: .out, registry: reg, config: rules, at: 150) == nil)
        var deny = admit()
        deny.outcome = .deny
        #expect(CrossGate.claim(for: deny, direction: .out, registry: reg, config: rules, at: 150) == nil)
        #expect(CrossGate.claim(for: admit(.visitor, person: "v1"), direction: .in, registry: reg, config: rules, at: 150) == .visitorEntry(visitor: "v1", approvalStart: 100, allowed: 2))
        #expect(CrossGate.claim(for: admit(.courier, person: "c1", household: nil), direction: .in, registry: reg, config: rules, at: 150) == nil)
    }

    @Test("a refusal turns the admit into a deny before anything moves: no relay pulse, red instead of green")
    func refusal() {
        var budget = CrossGate.OfflineBudget(perWindow: 1)
        let actions: [Lane.Action] = [.decided(admit(), facts: out), .light(.green), .pulseRelay(milliseconds: 3000)]
        let claim = CrossGate.Claim.quota(household: "h1", person: "r1", window: 172_800, allowed: 1)
        let settled = CrossGate.settle(actions, claim: claim, result: .refused(heldBy: "r2 at gB"), budget: &budget, at: 1000)
        guard case .decided(let d, _) = settled.first else { Issue.record("no decision"); return }
        #expect(d.outcome == .deny && d.reason == .householdQuota && d.flags.contains(CrossGate.Flag.refused))
        #expect(!settled.contains { if case .pulseRelay = $0 { true } else { false } })
        #expect(settled.contains(.light(.red)) && !settled.contains(.light(.green)))
        let granted = CrossGate.settle(actions, claim: claim, result: .granted, budget: &budget, at: 1000)
        #expect(granted.count == 3 && granted.contains(.pulseRelay(milliseconds: 3000)))
    }

    @Test("unreachable: the offline budget admits up to its bound per household window, then denies; a new window frees it")
    func offlineBudget() {
        var budget = CrossGate.OfflineBudget(perWindow: 1)
        let actions: [Lane.Action] = [.decided(admit(), facts: out), .light(.green), .pulseRelay(milliseconds: 3000)]
        let claim = CrossGate.Claim.quota(household: "h1", person: "r1", window: 100, allowed: 1)
        let first = CrossGate.settle(actions, claim: claim, result: .unreachable, budget: &budget, at: 1000)
        guard case .decided(let d1, _) = first.first else { return }
        #expect(d1.outcome == .admit && d1.flags.contains(CrossGate.Flag.offline))
        let second = CrossGate.settle(actions, claim: claim, result: .unreachable, budget: &budget, at: 1050)
        guard case .decided(let d2, _) = second.first else { return }
        #expect(d2.outcome == .deny && d2.reason == .householdQuota)
        let other = CrossGate.settle(actions, claim: .quota(household: "h2", person: "r9", window: 100, allowed: 1), result: .unreachable, budget: &budget, at: 1050)
        guard case .decided(let d3, _) = other.first else { return }
        #expect(d3.outcome == .admit)
        let later = CrossGate.settle(actions, claim: claim, result: .unreachable, budget: &budget, at: 1101)
        guard case .decided(let d4, _) = later.first else { return }
        #expect(d4.outcome == .admit)
        // A budget of 0 is fail-secure.
        var none = CrossGate.OfflineBudget(perWindow: 0)
        guard case .decided(let d5, _) = CrossGate.settle(actions, claim: claim, result: .unreachable, budget: &none, at: 1000).first else { return }
        #expect(d5.outcome == .deny)
    }

    @Test("another gate's admitted passage counts in the one history like the gate's own")
    func peers() {
        var h = PassageHistory()
        let p = CrossGate.PeerPassage(person: "r2", kind: .resident, household: "h1", direction: .out, at: 500)
        h.record(CrossGate.decision(p), direction: p.direction, at: p.at)
        #expect(h.quotaExits(household: "h1", since: 400) == 1)
        #expect(h.presence["r2"] == .out)
        // Policy then denies the household's second shopper here.
        var reg = RegistrySnapshot()
        reg.add(Resident(id: "r1", name: "a", sex: .male, idNumber: "11010519491231002X", household: "h1", address: Address(building: "1", unit: "1", room: "1")))
        let f = PassageFacts(lane: "out", direction: .out, credential: .typedIDNumber("11010519491231002X"), readings: [Reading(celsius: 36.5, device: "t", at: 600)], now: 600)
        #expect(Policy.decide(f, registry: reg, history: h, config: RulesConfig()).reason == .householdQuota)
    }
}
