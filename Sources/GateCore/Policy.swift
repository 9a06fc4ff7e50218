/// `decide(facts, registry, config) -> Decision`: rules 1–9 of RULES.md applied in order; the first
/// failing rule decides. Pure: no clock, no I/O.
public enum Policy {
    /// `resolved`: rule 1's answer for `f.credential` against this `registry` at `f.now`, when the
    /// caller has it already (a lane that just checked the scan), so a signature is verified once.
    public static func decide(_ f: PassageFacts, registry: RegistrySnapshot, history: PassageHistory, config c: RulesConfig, resolved: Result<(Person, Pass?), Reason>? = nil) -> Decision {
        var d = Decision(outcome: .deny, reason: .unknownCredential, flags: [], alarm: false, alert: false)

        // 1. Credential valid.
        let person: Person
        switch resolved ?? registry.resolve(f.credential, now: f.now) {
        case .failure(let r):
            d.reason = r
            return d
        case .success(let (p, pass)):
            person = p
            d.personID = p.id
            d.personKind = p.kind
            d.personName = p.name
            d.household = p.household
            d.passID = pass?.idString
        }

        let denial = screen(f, person: person, registry: registry, history: history, config: c, decision: &d)
        guard let denial else {
            d.outcome = .admit
            d.reason = .ok
            return d
        }
        d.outcome = denial.outcome
        d.reason = denial.reason
        if let o = f.override, denial.outcome == .deny {
            d.override = o
            d.overridden = denial.reason
            if denial.reason == .fever {
                d.reason = .secondaryScreening
            } else {
                d.outcome = .admit
                d.reason = .override
                d.alarm = false
                d.alert = false
            }
        }
        return d
    }

    /// Rules 2–9. Returns the failing rule's outcome, or nil to admit.
    static func screen(_ f: PassageFacts, person: Person, registry: RegistrySnapshot, history: PassageHistory, config c: RulesConfig, decision d: inout Decision) -> (outcome: Outcome, reason: Reason)? {
        let exhausted = f.final || f.retestsUsed >= c.retests
        // 2. Temperature present and plausible.
        guard let last = f.readings.last else { return (.deny, .noTemperature) }
        let t = last.celsius + c.compensation
        d.temperature = (t * 100).rounded() / 100
        if t < c.plausibleMin || t > c.plausibleMax {
            return (exhausted ? .deny : .retest, .implausibleTemperature)
        }
        // 3. No fever.
        if t >= c.feverThreshold {
            if !exhausted { return (.retest, .feverRetest) }
            d.alarm = true
            d.alert = true
            return (.deny, .fever)
        }
        // 4. Non-residents barred (entering).
        switch person {
        case .visitor(let v) where f.direction == .in:
            if !v.isActive(at: f.now, entriesUsed: history.entries(visitor: v.id, since: v.validFrom)) { return (.deny, .notResident) }
        case .courier(let k) where f.direction == .in:
            if !k.allowed(localMinute: f.localMinute) { return (.deny, .courierOutsideHours) }
        default: break
        }
        if case .resident(let r) = person, f.direction == .out {
            // 5. Home isolation.
            if let q = r.quarantineUntil, q > f.now {
                d.alarm = true
                d.alert = true
                return (.deny, .quarantined)
            }
            // 6. Lockdown.
            if registry.lockdowns.contains(where: { $0.covers(r.address) }) {
                d.alarm = true
                d.alert = true
                return (.deny, .lockdown)
            }
            // 7. Household shopping quota.
            let exempt = registry.exemptions[r.id].map { $0.until > f.now } ?? false
            if exempt {
                // Recorded on the decision, so the history never counts this exit, after a
                // restart or a rebuild just as now.
                d.flags.append(PassageHistory.quotaExemptFlag)
            } else {
                let used = history.quotaExits(household: r.household, since: f.now - Timestamp(c.quotaDays) * 86_400)
                if used >= c.quotaExits { return (.deny, .householdQuota) }
            }
        }
        // 8. Anti-passback.
        if c.antiPassback != .off, history.presence[person.id] == f.direction {
            if c.antiPassback == .hard { return (.deny, .antiPassback) }
            d.flags.append(Reason.antiPassback.rawValue)
        }
        // 9. Mask.
        if c.mask != .off, f.direction == .out, f.maskConfirmed == false {
            if c.mask == .hard { return (.deny, .noMask) }
            d.flags.append(Reason.noMask.rawValue)
        }
        return nil
    }
}
