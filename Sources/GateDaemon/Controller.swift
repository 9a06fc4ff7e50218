import Devices
import EventLog
import CentralWire
import Foundation
import GateCore
import GateStore
import Logging

/// The gate's one serial decision loop: device events and ticks in, lane state machines and the
/// policy in the middle, then — in this order — the event appended durably, and only then the
/// relay, lights, alarm, sound and alerts. Registry and config changes are applied between passages.
public actor Controller {
    public enum Input: Sendable {
        case device(DeviceEvent)
        case tick
        case registry(RegistrySnapshot)
        case config(KioskConfig, hash: String)
        case configRejected(String)
        case override(lane: String, Override)
        /// Admitted passages at the community's other gates (from central).
        case peers([PeerPassage])
    }

    /// Cross-gate claims (issue 13); empty for a kiosk on its own.
    public nonisolated let crossGate = CrossGateSlot()

    let journal: Journal
    let io: [String: GateIO]
    let logger: Logger
    let effects: SideEffects
    var config: KioskConfig
    var lanes: [String: Lane] = [:]
    var laneOf: [String: [String]] = [:]  // device → lanes
    var registry: RegistrySnapshot
    var pendingConfig: (KioskConfig, String)?
    var relayOpenUntil: [String: Double] = [:]
    var doorOpenSince: [String: Double] = [:]
    var heldAlerted: Set<String> = []
    var maskPressed: [String: Double] = [:]
    var couriersInside: [String: (since: Double, alerted: Bool)] = [:]
    var faultWindow: [String: (start: Double, count: Int, dropped: Int)] = [:]
    var lastSeen: [String: (lane: String, at: Double)] = [:]
    public private(set) var lastTick = monoSeconds()
    public private(set) var decisions = 0

    public init(config: KioskConfig, registry: RegistrySnapshot, journal: Journal, io: [String: GateIO], logger: Logger) {
        self.config = config
        self.registry = registry
        self.journal = journal
        self.io = io
        self.logger = logger
        self.effects = SideEffects(logger: logger)
        for l in config.lanes {
            lanes[l.id] = Lane(id: l.id, direction: l.direction)
            for d in [l.thermometer].compactMap({ $0 }) + l.readers { laneOf[d, default: []].append(l.id) }
        }
    }

    var localMinute: Int {
        let c = Calendar.current.dateComponents([.hour, .minute], from: Date())
        return (c.hour ?? 0) * 60 + (c.minute ?? 0)
    }

    func context(lane: String) -> Lane.Context {
        let mask = maskPressed[lane].map { wallSeconds() - $0 <= config.rules.pairingWindowSeconds }
        let wired = config.lanes.first { $0.id == lane }?.inputs[.maskConfirm] != nil
        return Lane.Context(registry: registry, config: config.rules, localMinute: localMinute, maskConfirmed: wired ? (mask ?? false) : nil)
    }

    public func handle(_ input: Input) async throws {
        switch input {
        case .device(let e): try await device(e)
        case .tick: try await tick()
        case .registry(var r):
            // Passage history is the controller's own (it is ahead of the mirror); keep it.
            r.householdExits = registry.householdExits
            r.presence = registry.presence
            // Entries counted under the same approval carry over; a new approval starts afresh.
            for (id, v) in r.visitors {
                if let mine = registry.visitors[id], mine.validFrom == v.validFrom, mine.entriesUsed > v.entriesUsed { r.visitors[id]?.entriesUsed = mine.entriesUsed }
            }
            registry = r
        case .config(let c, let hash):
            pendingConfig = (c, hash)
            try await applyPendingConfig()
        case .configRejected(let why):
            var e = GateEvent(kind: .configReload, at: wallSeconds())
            e.message = "rejected, previous config kept: \(why)"
            _ = try await journal.append(e)
        case .peers(let ps):
            try await peers(ps)
        case .override(let lane, let o):
            guard lanes[lane] != nil else { return }
            _ = lanes[lane]!.handle(.override(o, at: Timestamp(wallSeconds())), context(lane: lane))
        }
    }

    /// The kiosk is stopping: every passage still waiting is closed and appended (nobody is let
    /// through), and a burst of unreadable scans still being counted is recorded with its count,
    /// so a shutdown never drops an attempt from the ledger.
    public func stopLanes() async throws {
        let now = Timestamp(wallSeconds())
        for id in lanes.keys.sorted() {
            try await perform(lanes[id]!.handle(.stop(now: now), context(lane: id)), lane: id)
        }
    }

    /// A new config takes effect only while no lane is mid-passage.
    func applyPendingConfig() async throws {
        guard let (c, hash) = pendingConfig, !lanes.values.contains(where: \.isBusy) else { return }
        pendingConfig = nil
        let restartNeeded = c.lanes != config.lanes || c.devices != config.devices || c.gpioChip != config.gpioChip || c.dataDir != config.dataDir
        var kept = c
        if restartNeeded {
            // Devices, lanes and GPIO are wired at start; the rest applies now.
            kept.lanes = config.lanes
            kept.devices = config.devices
            kept.gpioChip = config.gpioChip
            kept.dataDir = config.dataDir
        }
        config = kept
        var e = GateEvent(kind: .configReload, at: wallSeconds())
        e.configHash = hash
        e.message = restartNeeded ? "applied; device, lane and GPIO changes need a restart" : "applied"
        _ = try await journal.append(e)
        logger.notice("config reloaded (sha256 \(hash.prefix(12)))\(restartNeeded ? "; device/lane/GPIO changes need a restart" : "")")
    }

    func device(_ ev: DeviceEvent) async throws {
        let now = wallSeconds()
        switch ev {
        case .reading(let dev, let c, let amb, let at):
            for lane in laneOf[dev] ?? [] {
                try await perform(lanes[lane]!.handle(.reading(Reading(celsius: c, ambient: amb, device: dev, at: Timestamp(at))), context(lane: lane)), lane: lane)
            }
        case .credential(let dev, let text, let isID, let at):
            for lane in laneOf[dev] ?? [] {
                let typed = config.lanes.first { $0.id == lane }?.typedIDNumbers ?? false
                let cred = Credential.classify(text, source: isID ? .idCardReader : .scanner, typedIDNumbers: typed)
                try await perform(lanes[lane]!.handle(.credential(cred, at: Timestamp(at)), context(lane: lane)), lane: lane)
            }
        case .input(let line, let active, let at):
            try await input(line: line, active: active, at: at)
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
            _ = try await journal.append(e)
            try await alert("device_missing", message: "\(dev): \(reason)", lane: laneOf[dev]?.first, alarm: false)
            logger.warning("device \(dev) missing: \(reason)")
        case .fault(let dev, let message):
            // At most 20 fault events per device per second; the rest are counted, not lost.
            var w = faultWindow[dev] ?? (now, 0, 0)
            if now - w.start >= 1 {
                if w.dropped > 0 {
                    var e = GateEvent(kind: .deviceFault, at: now)
                    e.device = dev
                    e.message = "\(w.dropped) further faults in the last second not logged individually"
                    _ = try await journal.append(e)
                }
                w = (now, 0, 0)
            }
            w.count += 1
            if w.count > 20 {
                w.dropped += 1
                faultWindow[dev] = w
                return
            }
            faultWindow[dev] = w
            var e = GateEvent(kind: .deviceFault, at: now)
            e.device = dev
            e.message = message
            _ = try await journal.append(e)
        }
    }

    func laneFor(input line: String) -> (String, String)? {
        // Input lines are named `lane/role` by the kiosk.
        let p = line.split(separator: "/", maxSplits: 1).map(String.init)
        return p.count == 2 ? (p[0], p[1]) : nil
    }

    func input(line: String, active: Bool, at: Double) async throws {
        guard let (lane, role) = laneFor(input: line) else { return }
        var e = GateEvent(kind: .door, at: at)
        e.lane = lane
        switch InputRole(rawValue: role) {
        case .door:
            e.message = active ? "door opened" : "door closed"
            _ = try await journal.append(e)
            if active {
                doorOpenSince[lane] = at
                if at > (relayOpenUntil[lane] ?? 0) + 1 {
                    try await alert("forced_open", message: "door \(lane) opened without an admitted passage", lane: lane, alarm: true)
                }
            } else {
                doorOpenSince[lane] = nil
                heldAlerted.remove(lane)
            }
        case .exitButton:
            guard active else { return }
            e.message = "exit button pressed"
            _ = try await journal.append(e)
            relayOpenUntil[lane] = wallSeconds() + Double(config.rules.relayPulseMs) / 1000
            io[lane]?.pulse(.relay, ms: config.rules.relayPulseMs)
        case .maskConfirm:
            if active { maskPressed[lane] = at }
        case nil:
            return
        }
    }

    func tick() async throws {
        lastTick = monoSeconds()
        let now = wallSeconds()
        for id in lanes.keys.sorted() {
            try await perform(lanes[id]!.handle(.tick(now: Timestamp(now)), context(lane: id)), lane: id)
        }
        for (lane, since) in doorOpenSince where !heldAlerted.contains(lane) {
            let limit = Double(config.lanes.first { $0.id == lane }?.doorHeldOpenSeconds ?? 30)
            if now - since > limit {
                heldAlerted.insert(lane)
                try await alert("held_open", message: "door \(lane) open for more than \(Int(limit)) s", lane: lane, alarm: true)
            }
        }
        let stay = Double(config.rules.courierStayMinutes * 60)
        for (id, c) in couriersInside where !c.alerted && now - c.since > stay {
            couriersInside[id]?.alerted = true
            try await alert("overstay", message: "courier \(registry.couriers[id]?.name.prefix(1) ?? "?")* (\(id)) inside for more than \(config.rules.courierStayMinutes) min", lane: nil, alarm: false)
        }
        try await applyPendingConfig()
    }

    func perform(_ actions: [Lane.Action], lane: String) async throws {
        let actions = await crossGate.get()?.review(actions, lane: lane, registry: registry, rules: config.rules, now: Timestamp(wallSeconds())) ?? actions
        let gate = io[lane]
        for a in actions {
            switch a {
            case .decided(let d, let s):
                // Durable before anything moves.
                _ = try await journal.append(GateEvent.passage(d, s, at: wallSeconds()))
                decisions += 1
                registry.record(d, direction: s.direction, at: Timestamp(wallSeconds()))
                if let id = d.personID {
                    let t = wallSeconds()
                    if let prev = lastSeen[id], prev.lane != lane, config.rules.impossibleTravelSeconds > 0, t - prev.at < config.rules.impossibleTravelSeconds {
                        try await alert("impossible_travel", message: "\(id)'s credential at \(prev.lane) and \(lane) \(String(format: "%.1f", t - prev.at)) s apart: shared or copied pass?", lane: lane, alarm: false)
                    }
                    lastSeen[id] = (lane, t)
                }
                if d.outcome == .admit, d.personKind == .courier, let id = d.personID {
                    if s.direction == .in { couriersInside[id] = (wallSeconds(), false) } else { couriersInside[id] = nil }
                }
                if d.alert {
                    let kind = switch d.reason {
                    case .fever: "fever"
                    case .quarantined: "quarantine_exit"
                    case .lockdown: "lockdown_exit"
                    default: d.reason.rawValue
                    }
                    try await alert(kind, message: "\(ReasonText.text(d.reason, .en)) (\(d.personID ?? "?"), \(d.temperature.map { String(format: "%.1f °C", $0) } ?? "no reading"))", lane: lane, alarm: false)
                }
                let sound = d.reason == .fever ? "fever" : d.reason == .noTemperature ? "no_temperature" : d.outcome.rawValue
                if let f = config.sounds[sound] ?? config.sounds[d.outcome.rawValue] { effects.play(config.soundPlayer, file: f) }
            case .pulseRelay(let ms):
                relayOpenUntil[lane] = wallSeconds() + Double(ms) / 1000
                gate?.pulse(.relay, ms: ms)
            case .light(let color):
                guard let gate else { continue }
                for c in [OutputRole.green, .red, .amber] where c.rawValue != color.rawValue { gate.set(c, false) }
                if let role = OutputRole(rawValue: color.rawValue) { gate.pulse(role, ms: max(3000, config.rules.relayPulseMs)) }
            case .alarm:
                gate?.pulse(.alarm, ms: config.alarmSeconds * 1000)
            case .promptRetest:
                if let f = config.sounds["retest"] { effects.play(config.soundPlayer, file: f) }
            }
        }
    }

    func alert(_ kind: String, message: String, lane: String?, alarm: Bool) async throws {
        var e = GateEvent(kind: .alert, at: wallSeconds())
        e.alert = kind
        e.lane = lane
        e.message = message
        let seq = try await journal.append(e)
        if alarm, let lane { io[lane]?.pulse(.alarm, ms: config.alarmSeconds * 1000) }
        logger.warning("ALERT \(kind): \(message)")
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
}

/// The event log as the gate uses it: typed events in, sequence numbers out once durable.
public final class Journal: Sendable {
    public let writer: LogWriter
    let encoder: JSONEncoder

    public init(writer: LogWriter) {
        self.writer = writer
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder = e
    }

    public func append(_ e: GateEvent) async throws -> UInt64 {
        try await writer.append(type: e.kind.recordType, payload: Array(try encoder.encode(e)))
    }

    public func appendBlocking(_ e: GateEvent) throws -> UInt64 {
        try writer.appendBlocking([LogEntry(type: e.kind.recordType, payload: Array(try encoder.encode(e)))])[0]
    }
}
