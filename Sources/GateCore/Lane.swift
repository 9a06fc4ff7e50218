/// One lane's state machine: pairs a credential and a temperature reading taken in either order
/// within the pairing window, runs retests with a cool-down, times out to `no_temperature`, and
/// returns the actions to perform. Pure: time comes in with every input.
public struct Lane: Sendable {
    public enum Input: Sendable {
        case credential(Credential, at: Timestamp)
        case reading(Reading)
        /// A staff member arms an override for the next decision on this lane.
        case override(Override, at: Timestamp)
        case tick(now: Timestamp)
        /// The kiosk is stopping: a passage still waiting is closed and recorded, and nobody is let
        /// through. A deny stands as the rules gave it; what would have admitted or asked for a
        /// retest is recorded as `kiosk_stopped`.
        case stop(now: Timestamp)
    }

    public enum Light: String, Sendable, Codable { case green, red, amber, off }

    public enum Action: Sendable, Equatable {
        /// A decision to append to the log (before any output moves).
        case decided(Decision, facts: Summary)
        case pulseRelay(milliseconds: Int)
        case light(Light)
        case alarm
        case promptRetest
    }

    /// What the event records about the passage besides the decision.
    public struct Summary: Sendable, Equatable, Codable {
        public var lane: String
        public var direction: Direction
        public var credentialKind: String
        public var readings: [Reading]
        public var retests: Int
        /// Attempts this record stands for when more than one (coalesced unreadable scans).
        public var attempts: Int?
        public init(lane: String, direction: Direction, credentialKind: String, readings: [Reading], retests: Int, attempts: Int? = nil) {
            self.lane = lane
            self.direction = direction
            self.credentialKind = credentialKind
            self.readings = readings
            self.retests = retests
            self.attempts = attempts
        }
    }

    /// Where the policy's inputs come from at the moment of a decision.
    public struct Context: Sendable {
        public var registry: RegistrySnapshot
        public var history: PassageHistory
        public var config: RulesConfig
        public var localMinute: Int
        public var maskConfirmed: Bool?
        public init(registry: RegistrySnapshot, history: PassageHistory = PassageHistory(), config: RulesConfig, localMinute: Int = 720, maskConfirmed: Bool? = nil) {
            self.registry = registry
            self.history = history
            self.config = config
            self.localMinute = localMinute
            self.maskConfirmed = maskConfirmed
        }
    }

    struct Pending: Sendable {
        var credential: Credential
        var readings: [Reading]
        var retests: Int
        var deadline: Timestamp
        var cooldownUntil: Timestamp
        var override: Override?
    }

    public let id: String
    public let direction: Direction
    private(set) var pending: Pending?
    private var looseReading: Reading?
    private var armedOverride: (Override, Timestamp)?
    private var lastDecided: Timestamp?
    /// Credentials refused by rule 1: when the first of the current burst (one reason) was
    /// recorded, how many followed.
    private var junk: (since: Timestamp, repeats: Int, credential: Credential, reason: Reason)?

    public init(id: String, direction: Direction) {
        self.id = id
        self.direction = direction
    }

    /// True while a passage is waiting for its reading or a retest.
    public var isBusy: Bool { pending != nil }

    public mutating func handle(_ input: Input, _ ctx: Context) -> [Action] {
        let window = Timestamp(ctx.config.pairingWindowSeconds.rounded(.up))
        switch input {
        case .override(let o, let at):
            armedOverride = (o, at)
            return []
        case .credential(let cred, let at):
            var actions: [Action] = []
            if let p = pending, p.credential != cred {
                // A new person while the previous one never completed: close that one first.
                actions += decide(ctx, now: at, final: true)
            }
            let resolved = ctx.registry.resolve(cred, now: at)
            if case .failure(let reason) = resolved {
                // Rule 1 fails whatever the temperature (unreadable, forged, unknown key,
                // expired, revoked, superseded, unknown person), so refuse at once. A burst with
                // the same reason is recorded as its first attempt and then one counted record
                // (nothing moves for the uncounted ones: no output without a durable record).
                if let j = junk, j.reason == reason, Double(at - j.since) < ctx.config.invalidCredentialCoalesceSeconds {
                    junk!.repeats += 1
                    return actions
                }
                actions += flushJunk(ctx, now: at)
                junk = (at, 0, cred, reason)
                lastDecided = at
                return actions + refuseAtOnce(cred, reason: reason, ctx, now: at, attempts: nil)
            }
            if pending != nil { return actions }  // the same credential scanned twice
            var readings: [Reading] = []
            if let r = looseReading, at - r.at <= window { readings.append(r) }
            looseReading = nil
            var ov: Override? = nil
            if let (o, t) = armedOverride, at - t <= window { ov = o }
            armedOverride = nil
            pending = Pending(credential: cred, readings: readings, retests: 0, deadline: at + window, cooldownUntil: at, override: ov)
            // Deciding now, with the registry just checked: rule 1 is not verified a second time.
            if !readings.isEmpty { actions += decide(ctx, now: at, final: false, resolved: resolved) }
            return actions
        case .reading(let r):
            guard var p = pending else {
                if let t = lastDecided, Double(r.at - t) < ctx.config.readingHoldoffSeconds { return [] }
                looseReading = r
                return []
            }
            p.readings.append(r)
            pending = p
            if r.at < p.cooldownUntil { return [] }  // recorded, but the retest needs a fresh measurement
            return decide(ctx, now: r.at, final: false)
        case .tick(let now):
            var flushed: [Action] = []
            if let j = junk, Double(now - j.since) >= ctx.config.invalidCredentialCoalesceSeconds {
                flushed = flushJunk(ctx, now: now)
            }
            if let r = looseReading, now - r.at > window { looseReading = nil }
            if let (_, t) = armedOverride, now - t > window { armedOverride = nil }
            guard let p = pending, now >= p.deadline else { return flushed }
            return flushed + decide(ctx, now: now, final: true)
        case .stop(let now):
            looseReading = nil
            armedOverride = nil
            return flushJunk(ctx, now: now) + decide(ctx, now: now, final: true).compactMap { a in
                switch a {
                case .decided(var d, let facts):
                    if d.outcome != .deny {
                        d.outcome = .deny
                        d.reason = .kioskStopped
                        d.override = nil
                        d.overridden = nil
                    }
                    pending = nil
                    return .decided(d, facts: facts)
                case .light(.green), .light(.amber), .pulseRelay, .promptRetest: return nil
                default: return a
                }
            }
        }
    }

    /// The decision for a credential that rule 1 refused (`reason`), without a temperature.
    private func refuseAtOnce(_ cred: Credential, reason: Reason, _ ctx: Context, now: Timestamp, attempts: Int?) -> [Action] {
        let facts = PassageFacts(lane: id, direction: direction, credential: cred, readings: [], final: true, now: now, localMinute: ctx.localMinute, maskConfirmed: ctx.maskConfirmed)
        let d = Policy.decide(facts, registry: ctx.registry, history: ctx.history, config: ctx.config, resolved: .failure(reason))
        let summary = Summary(lane: id, direction: direction, credentialKind: cred.kindName, readings: [], retests: 0, attempts: attempts)
        return attempts == nil ? [.decided(d, facts: summary), .light(.red)] : [.decided(d, facts: summary)]
    }

    /// Ends the current burst of unreadable scans: one record with the count, if any followed.
    private mutating func flushJunk(_ ctx: Context, now: Timestamp) -> [Action] {
        defer { junk = nil }
        guard let j = junk, j.repeats > 0 else { return [] }
        return refuseAtOnce(j.credential, reason: j.reason, ctx, now: now, attempts: j.repeats)
    }

    private mutating func decide(_ ctx: Context, now: Timestamp, final: Bool, resolved: Result<(Person, Pass?), Reason>? = nil) -> [Action] {
        guard var p = pending else { return [] }
        let facts = PassageFacts(lane: id, direction: direction, credential: p.credential, readings: p.readings, retestsUsed: p.retests, final: final, now: now, localMinute: ctx.localMinute, maskConfirmed: ctx.maskConfirmed, override: p.override)
        let d = Policy.decide(facts, registry: ctx.registry, history: ctx.history, config: ctx.config, resolved: resolved)
        let summary = Summary(lane: id, direction: direction, credentialKind: p.credential.kindName, readings: p.readings, retests: p.retests)
        var actions: [Action] = [.decided(d, facts: summary)]
        switch d.outcome {
        case .retest:
            p.retests += 1
            p.cooldownUntil = now + Timestamp(ctx.config.retestCooldownSeconds.rounded(.up))
            p.deadline = p.cooldownUntil + Timestamp(ctx.config.pairingWindowSeconds.rounded(.up))
            pending = p
            actions += [.light(.amber), .promptRetest]
        case .admit:
            pending = nil
            lastDecided = now
            actions += [.light(.green), .pulseRelay(milliseconds: ctx.config.relayPulseMs)]
        case .deny:
            pending = nil
            lastDecided = now
            actions.append(.light(.red))
            if d.alarm { actions.append(.alarm) }
        }
        return actions
    }
}
