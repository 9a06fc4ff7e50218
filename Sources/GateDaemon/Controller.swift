import CentralWire
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import Logging
import Metrics

/// The gate's one serial decision loop, a thin shell: device events, GPIO edges and ticks go to
/// the pure parts in GateCore (the lanes, the policy, `GateWatch`), and what they return is
/// performed — records first, in one durable batch, then the outputs, which cannot move without
/// the proof of that append (`Durable`). The passage history (`PassageHistory`) is owned here:
/// rebuilt from the log at start (by the kiosk), updated by every durable decision, read by the
/// rules. Registry and config changes apply at once, between two inputs.
public actor Controller {
    public enum Input: Sendable {
        case device(DeviceEvent)
        /// A debounced edge on a lane's GPIO input.
        case gpio(lane: String, role: InputRole, active: Bool, at: Double)
        case tick
        case registry(RegistrySnapshot)
        case config(KioskConfig, hash: String)
        case configRejected(String)
        case override(lane: String, Override)
        /// Admitted passages at the community's other gates (from central, issue 13).
        case peers([PeerPassage])
    }

    /// Cross-gate claims (issue 13); empty for a kiosk on its own.
    public nonisolated let crossGate = CrossGateSlot()

    let journal: Journal
    let outputs: [String: GateOutputs]
    let logger: Logger
    let effects: SideEffects
    let clock: any GateClock
    let settings: ConfigInForce
    var config: KioskConfig { settings.current }
    var lanes: [String: Lane] = [:]
    var laneOf: [String: [String]] = [:]  // device → lanes
    var registry: RegistrySnapshot
    public private(set) var history: PassageHistory
    var watch = GateWatch()
    var maskPressed: [String: Double] = [:]
    public private(set) var lastTick = monoSeconds()
    public private(set) var decisions = 0
    /// Wall time of the last thing that happened at a lane (scan, reading, door, button): the
    /// announcements wait for the gate to be quiet.
    public private(set) var lastActivity = 0.0
    /// The announcement on the speaker; stopped whenever the gate needs the speaker.
    public nonisolated let announcer = Announcer()

    init(settings: ConfigInForce, registry: RegistrySnapshot, history: PassageHistory, journal: Journal, io: [String: GateIO], logger: Logger, clock: any GateClock = SystemGateClock()) {
        self.settings = settings
        self.registry = registry
        self.history = history
        self.journal = journal
        self.outputs = io.mapValues(GateOutputs.init)
        self.logger = logger
        self.effects = SideEffects(logger: logger)
        self.clock = clock
        let config = settings.current
        for l in config.lanes {
            lanes[l.id] = Lane(id: l.id, direction: l.direction)
            for d in [l.thermometer].compactMap({ $0 }) + l.readers { laneOf[d, default: []].append(l.id) }
        }
        watch.heldOpenSeconds = Dictionary(uniqueKeysWithValues: config.lanes.map { ($0.id, Double($0.doorHeldOpenSeconds)) })
    }

    func context(lane: String, at now: Double) -> Lane.Context {
        let mask = maskPressed[lane].map { now - $0 <= config.rules.pairingWindowSeconds }
        let wired = config.lanes.first { $0.id == lane }?.inputs[.maskConfirm] != nil
        return Lane.Context(registry: registry, history: history, config: config.rules, localMinute: clock.localMinute(at: now), maskConfirmed: wired ? (mask ?? false) : nil)
    }

    public func handle(_ input: Input) async throws {
        switch input {
        case .device(let e): try await device(e)
        case .gpio(let lane, let role, let active, let at): try await gpio(lane: lane, role: role, active: active, at: at)
        case .tick: try await tick()
        case .registry(let r):
            // The registry only: what happened at the gate stays in `history`.
            registry = r
        case .config(let c, let hash):
            try await applyConfig(c, hash: hash)
        case .configRejected(let why):
            var e = GateEvent(kind: .configReload, at: clock.wall())
            e.message = "rejected, previous config kept: \(why)"
            _ = try await journal.append(e)
        case .override(let lane, let o):
            guard lanes[lane] != nil else { return }
            let now = clock.wall()
            _ = lanes[lane]!.handle(.override(o, at: Timestamp(now)), context(lane: lane, at: now))
        case .peers(let ps):
            try await peers(ps)
        }
    }

    /// The kiosk is stopping: every passage still waiting is closed and appended (nobody is let
    /// through), and a burst of unreadable scans still being counted is recorded with its count,
    /// so a shutdown never drops an attempt from the ledger.
    public func stopLanes() async throws {
        let now = clock.wall()
        for id in lanes.keys.sorted() {
            try await perform(lanes[id]!.handle(.stop(now: Timestamp(now)), context(lane: id, at: now)), lane: id)
        }
    }

    /// A new config takes effect at once, between two inputs: a passage still waiting is decided
    /// under the config in force at its decision. (Waiting for idle lanes let anyone who kept
    /// scanning hold a removed key trusted.)
    func applyConfig(_ c: KioskConfig, hash: String) async throws {
        let outcome = settings.apply(c)
        watch.heldOpenSeconds = Dictionary(uniqueKeysWithValues: config.lanes.map { ($0.id, Double($0.doorHeldOpenSeconds)) })
        // Trusted keys live in the registry snapshot the policy reads: a key removed from the
        // config stops admitting its passes with this very reload.
        registry.keys = settings.current.keys + registry.keys.filter { k in !outcome.previousConfigKeys.contains(k.id) && !settings.current.keys.contains { $0.id == k.id } }
        var e = GateEvent(kind: .configReload, at: clock.wall())
        e.configHash = hash
        e.message = outcome.summary
        _ = try await journal.append(e)
        logger.notice("config reloaded (sha256 \(hash.prefix(12))): \(outcome.summary)")
    }

    func device(_ ev: DeviceEvent) async throws {
        let now = clock.wall()
        switch ev {
        case .reading(let dev, let c, let amb, let at):
            if !(laneOf[dev] ?? []).isEmpty { personAtGate(now) }
            for lane in laneOf[dev] ?? [] {
                try await timed { lanes[lane]!.handle(.reading(Reading(celsius: c, ambient: amb, device: dev, at: Timestamp(at))), context(lane: lane, at: now)) } perform: { try await perform($0, lane: lane) }
            }
        case .credential(let dev, let text, let isID, let at):
            personAtGate(now)
            for lane in laneOf[dev] ?? [] {
                let typed = config.lanes.first { $0.id == lane }?.typedIDNumbers ?? false
                let cred = Credential.classify(text, source: isID ? .idCardReader : .scanner, typedIDNumbers: typed)
                try await timed { lanes[lane]!.handle(.credential(cred, at: Timestamp(at)), context(lane: lane, at: now)) } perform: { try await perform($0, lane: lane) }
            }
        case .input(let role, let active, let at):
            // Edges reach the controller with their lane (`.gpio`); a bare one has no lane.
            logger.debug("GPIO edge \(role.rawValue) without a lane ignored (active \(active) at \(at))")
        case .connected(let dev, let path):
            var e = GateEvent(kind: .deviceState, at: now)
            e.device = dev
            e.message = "connected at \(path)"
            _ = try await journal.append(e)
            logger.info("device \(dev) connected at \(path)")
        case .disconnected(let dev, let reason):
            var e = GateEvent(kind: .deviceState, at: now)
            e.device = dev
            e.message = "missing: \(reason)"
            try await record([e], alerts: [Alert(kind: .deviceMissing, message: "\(dev): \(reason)", lane: laneOf[dev]?.first, alarm: false)], at: now)
            logger.warning("device \(dev) missing: \(reason)")
        case .fault(let dev, let message):
            guard case .record(let dropped) = watch.fault(device: dev, at: now) else { return }
            var events: [GateEvent] = []
            if dropped > 0 {
                var e = GateEvent(kind: .deviceFault, at: now)
                e.device = dev
                e.message = "\(dropped) further faults in the last second not logged individually"
                events.append(e)
            }
            var e = GateEvent(kind: .deviceFault, at: now)
            e.device = dev
            e.message = message
            events.append(e)
            _ = try await journal.appendDurably(events)
        }
    }

    /// `postern_decision_seconds`: the lane state machine and the policy for one input that ended
    /// in a decision. `postern_scan_to_relay_seconds`: from the controller taking the input (a
    /// scan, or the reading that completed the pair) to the relay being set, durable append
    /// included. No-ops unless a metrics backend is bootstrapped.
    let decisionTimer = Metrics.Timer(label: "postern_decision_seconds")
    let relayTimer = Metrics.Timer(label: "postern_scan_to_relay_seconds")

    func timed(_ decide: () -> [Lane.Action], perform: ([Lane.Action]) async throws -> Void) async throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let actions = decide()
        let t1 = DispatchTime.now().uptimeNanoseconds
        if actions.contains(where: { if case .decided = $0 { true } else { false } }) { decisionTimer.recordNanoseconds(t1 - t0) }
        try await perform(actions)
        if actions.contains(where: { if case .pulseRelay = $0 { true } else { false } }) {
            relayTimer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - t0)
        }
    }

    /// Someone is at a lane: no announcement plays over what the gate says to them.
    func personAtGate(_ now: Double) {
        lastActivity = now
        announcer.interrupt()
    }

    func gpio(lane: String, role: InputRole, active: Bool, at: Double) async throws {
        personAtGate(clock.wall())
        var e = GateEvent(kind: .door, at: at)
        e.lane = lane
        switch role {
        case .door:
            e.message = active ? "door opened" : "door closed"
            try await record([e], alerts: watch.door(lane: lane, open: active, at: at), at: at)
        case .exitButton:
            guard active else { return }
            e.message = "exit button pressed"
            let (_, proof) = try await journal.appendDurably([e])
            let ms = config.rules.relayPulseMs
            watch.relayOpened(lane: lane, until: clock.wall() + Double(ms) / 1000)
            outputs[lane]?.pulse(.relay, ms: ms, after: proof)
        case .maskConfirm:
            if active { maskPressed[lane] = at }
        }
    }

    func tick() async throws {
        lastTick = monoSeconds()
        let now = clock.wall()
        for id in lanes.keys.sorted() {
            try await perform(lanes[id]!.handle(.tick(now: Timestamp(now)), context(lane: id, at: now)), lane: id)
        }
        let registry = self.registry
        let alerts = watch.tick(now: now, rules: config.rules, couriersInside: history.couriersInside) { registry.couriers[$0]?.name }
        if !alerts.isEmpty { try await record([], alerts: alerts, at: now) }
        // Exits older than the longest quota window a config can ask for no longer count.
        history.prune(exitsBefore: Timestamp(now) - 31 * 86_400)
    }

    /// Performs a lane's actions: its decisions (with every alert they raise) appended as one
    /// durable batch first; then the history learns them; then the outputs move, each with the
    /// proof of that append. The order of the actions in the list does not matter.
    func perform(_ actions: [Lane.Action], lane: String) async throws {
        guard !actions.isEmpty else { return }
        let actions = await crossGate.get()?.review(actions, lane: lane, registry: registry, rules: config.rules, now: Timestamp(clock.wall())) ?? actions
        var events: [GateEvent] = []
        var alerts: [Alert] = []
        var decided: [(Decision, Direction, Timestamp)] = []
        let now = clock.wall()
        for case .decided(let d, let s) in actions {
            lastActivity = now
            let e = GateEvent.passage(d, s, at: now)
            events.append(e)
            decided.append((d, s.direction, Timestamp(e.at)))
            alerts += watch.passage(d, lane: lane, direction: s.direction, at: e.at, rules: config.rules)
            let sound = d.reason == .fever ? "fever" : d.reason == .noTemperature ? "no_temperature" : d.outcome.rawValue
            if let f = config.sounds[sound] ?? config.sounds[d.outcome.rawValue] {
                    announcer.interrupt()
                    effects.play(config.soundPlayer, file: f)
                }
        }
        guard let proof = try await record(events, alerts: alerts, at: now) else { return }
        for (d, dir, at) in decided {
            history.record(d, direction: dir, at: at)
            decisions += 1
        }
        let gate = outputs[lane]
        for a in actions {
            switch a {
            case .decided: continue
            case .pulseRelay(let ms):
                watch.relayOpened(lane: lane, until: clock.wall() + Double(ms) / 1000)
                gate?.pulse(.relay, ms: ms, after: proof)
            case .light(let color):
                guard let gate else { continue }
                for c in [OutputRole.green, .red, .amber] where c.rawValue != color.rawValue { gate.set(c, false, after: proof) }
                if let role = OutputRole(rawValue: color.rawValue) { gate.pulse(role, ms: max(3000, config.rules.relayPulseMs), after: proof) }
            case .alarm:
                gate?.pulse(.alarm, ms: config.alarmSeconds * 1000, after: proof)
            case .promptRetest:
                if let f = config.sounds["retest"] {
                    announcer.interrupt()
                    effects.play(config.soundPlayer, file: f)
                }
            }
        }
    }

    /// Appends `events` and one event per alert as one durable batch, then sounds the alarms the
    /// alerts ask for and runs the alert command. Returns the proof, or nil if nothing was
    /// recorded.
    @discardableResult
    func record(_ events: [GateEvent], alerts: [Alert], at: Double) async throws -> Durable? {
        let alertEvents = alerts.map { a in
            var e = GateEvent(kind: .alert, at: at)
            e.alert = a.kind.rawValue
            e.lane = a.lane
            e.message = a.message
            return e
        }
        let all = events + alertEvents
        guard !all.isEmpty else { return nil }
        let (seqs, proof) = try await journal.appendDurably(all)
        for (a, (e, seq)) in zip(alerts, zip(alertEvents, seqs.suffix(alertEvents.count))) {
            if a.alarm, let lane = a.lane { outputs[lane]?.pulse(.alarm, ms: config.alarmSeconds * 1000, after: proof) }
            logger.warning("ALERT \(a.kind.rawValue): \(a.message)")
            if let cmd = config.alertCommand {
                var payload = (try? JSONEncoder().encode(e)) ?? Data()
                if var obj = (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] {
                    obj["seq"] = seq
                    obj["gate"] = config.gate
                    payload = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? payload
                }
                effects.runAlert(cmd, json: payload, timeout: config.alertTimeoutSeconds)
            }
        }
        return proof
    }
}

extension Controller {
    /// The other gates' admitted passages go into the same history as this gate's own (quota,
    /// anti-passback presence, visitor entries) and through the same watch (a courier who leaves
    /// by another gate, impossible travel between gates); the watch's alerts are recorded.
    func peers(_ ps: [PeerPassage]) async throws {
        var alerts: [Alert] = []
        for p in ps {
            let d = CrossGate.decision(.init(person: p.person, kind: p.personKind, household: p.household, direction: p.direction, at: Timestamp(p.at)))
            history.record(d, direction: p.direction, at: Timestamp(p.at))
            alerts += watch.passage(d, lane: "\(p.gate)/\(p.lane)", direction: p.direction, at: p.at, rules: config.rules)
        }
        try await record([], alerts: alerts, at: clock.wall())
    }
}
