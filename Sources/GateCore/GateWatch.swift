/// The gate's rules about time and place that are not one passage's decision: impossible travel
/// (one credential at two lanes too soon), courier stays (over the history's couriers inside), a
/// door forced open or held open, and
/// fault rate-limiting. Pure, like `Lane` and `Policy`: time comes in with every call, and each
/// call returns the alerts to record; the kiosk's controller only performs them.

/// Every kind of alert the kiosk raises; the raw value is what the log and the alert command see.
public enum AlertKind: String, Sendable, Codable, CaseIterable {
    case fever
    case quarantineExit = "quarantine_exit"
    case lockdownExit = "lockdown_exit"
    case overstay
    case deviceMissing = "device_missing"
    case logFailure = "log_failure"
    case logDamage = "log_damage"
    case forcedOpen = "forced_open"
    case heldOpen = "held_open"
    case impossibleTravel = "impossible_travel"
    /// A decision's own alert for a reason without a dedicated kind.
    case decision
}

public struct Alert: Sendable, Equatable {
    public var kind: AlertKind
    public var message: String
    public var lane: String?
    /// Also sound the lane's alarm output.
    public var alarm: Bool
    public init(kind: AlertKind, message: String, lane: String?, alarm: Bool) {
        self.kind = kind
        self.message = message
        self.lane = lane
        self.alarm = alarm
    }
}

public struct GateWatch: Sendable {
    /// Per lane: how long a door may stay open before `held_open`.
    public var heldOpenSeconds: [String: Double] = [:]
    /// Faults recorded per device per second; the rest are counted into one summary record.
    public var faultsPerSecond = 20

    var relayOpenUntil: [String: Double] = [:]
    var doorOpenSince: [String: Double] = [:]
    var heldAlerted: Set<String> = []
    /// Courier stays already alerted: (courier, admitted at).
    var overstayAlerted: Set<String> = []
    var lastSeen: [String: (lane: String, at: Double)] = [:]
    var faultWindow: [String: (start: Double, count: Int, dropped: Int)] = [:]

    public init() {}

    /// A decided passage (already durable): the decision's own alert, impossible travel, and
    /// courier presence. `at` is the decision's recorded time.
    public mutating func passage(_ d: Decision, lane: String, direction: Direction, at: Double, rules: RulesConfig) -> [Alert] {
        var alerts: [Alert] = []
        if d.alert {
            let kind: AlertKind = switch d.reason {
            case .fever: .fever
            case .quarantined: .quarantineExit
            case .lockdown: .lockdownExit
            default: .decision
            }
            let temp = d.temperature.map { String(format1: $0) + " °C" } ?? "no reading"
            alerts.append(Alert(kind: kind, message: "\(ReasonText.text(d.reason, .en)) (\(d.personID ?? "?"), \(temp))", lane: lane, alarm: false))
        }
        guard let id = d.personID else { return alerts }
        if let prev = lastSeen[id], prev.lane != lane, rules.impossibleTravelSeconds > 0, at - prev.at < rules.impossibleTravelSeconds {
            alerts.append(Alert(kind: .impossibleTravel, message: "\(id)'s credential at \(prev.lane) and \(lane) \(String(format1: at - prev.at)) s apart: shared or copied pass?", lane: lane, alarm: false))
        }
        lastSeen[id] = (lane, at)
        return alerts
    }

    /// The relay was opened on `lane` until `until` (an admitted passage or the exit button).
    public mutating func relayOpened(lane: String, until: Double) {
        relayOpenUntil[lane] = until
    }

    /// The door contact changed. Opening with no relay window open (plus a second's grace) is
    /// `forced_open`, with the alarm.
    public mutating func door(lane: String, open: Bool, at: Double) -> [Alert] {
        guard open else {
            doorOpenSince[lane] = nil
            heldAlerted.remove(lane)
            return []
        }
        doorOpenSince[lane] = at
        if at > (relayOpenUntil[lane] ?? 0) + 1 {
            return [Alert(kind: .forcedOpen, message: "door \(lane) opened without an admitted passage", lane: lane, alarm: true)]
        }
        return []
    }

    /// Time passes: doors held open too long, couriers inside too long (once per stay). The
    /// couriers inside come from the passage history (so a restart keeps them); `name` gives the
    /// name to show (masked).
    public mutating func tick(now: Double, rules: RulesConfig, couriersInside: [String: Timestamp] = [:], name: (String) -> String? = { _ in nil }) -> [Alert] {
        var alerts: [Alert] = []
        for (lane, since) in doorOpenSince.sorted(by: { $0.key < $1.key }) where !heldAlerted.contains(lane) {
            let limit = heldOpenSeconds[lane] ?? 30
            if now - since > limit {
                heldAlerted.insert(lane)
                alerts.append(Alert(kind: .heldOpen, message: "door \(lane) open for more than \(Int(limit)) s", lane: lane, alarm: true))
            }
        }
        let stay = Double(rules.courierStayMinutes * 60)
        for (id, since) in couriersInside.sorted(by: { $0.key < $1.key }) where now - Double(since) > stay {
            let stayKey = "\(id)@\(since)"
            guard !overstayAlerted.contains(stayKey) else { continue }
            overstayAlerted.insert(stayKey)
            alerts.append(Alert(kind: .overstay, message: "courier \(name(id).map(maskName) ?? "?") (\(id)) inside for more than \(rules.courierStayMinutes) min", lane: nil, alarm: false))
        }
        overstayAlerted = overstayAlerted.filter { k in couriersInside.contains { "\($0.key)@\($0.value)" == k } }
        return alerts
    }

    public enum FaultVerdict: Sendable, Equatable {
        /// Record the fault; `dropped` earlier faults of the last window are summarised first.
        case record(droppedBefore: Int)
        /// Over the limit: counted, summarised later.
        case drop
    }

    /// At most `faultsPerSecond` fault records per device per second; the rest are counted.
    public mutating func fault(device: String, at: Double) -> FaultVerdict {
        var w = faultWindow[device] ?? (at, 0, 0)
        var dropped = 0
        if at - w.start >= 1 {
            dropped = w.dropped
            w = (at, 0, 0)
        }
        w.count += 1
        if w.count > faultsPerSecond {
            w.dropped += 1
            faultWindow[device] = w
            return .drop
        }
        faultWindow[device] = w
        return .record(droppedBefore: dropped)
    }
}

extension String {
    /// One decimal, locale-free.
    init(format1 v: Double) {
        let t = (v * 10).rounded() / 10
        let whole = Int(t.rounded(.towardZero))
        let tenth = abs(Int(((t - Double(whole)) * 10).rounded()))
        self = (t < 0 && whole == 0 ? "-" : "") + "\(whole).\(tenth)"
    }
}
