import GateCore

/// Today's picture folded from the records in order: counts per lane, direction and outcome, the
/// alarms still waiting for an acknowledgement, each device's state, the last decision (for the
/// board) and the clock flag of the newest record. A pure value: `apply` is the whole logic.
struct LiveState: Sendable, Equatable {
    struct LaneCounts: Sendable, Equatable, Encodable {
        var lane: String
        var inAdmit = 0
        var inDeny = 0
        var outAdmit = 0
        var outDeny = 0
        var retests = 0
    }

    struct DeviceState: Sendable, Equatable, Encodable {
        var device: String
        var state = "unknown"
        var since = ""
        var faultsToday = 0
        var lastFault = ""
        var lastReading = ""
        var lastReadingTime = ""
    }

    var day = ""
    var lanes: [String: LaneCounts] = [:]
    var devices: [String: DeviceState] = [:]
    /// Open alarms by their sequence number, oldest first when sorted.
    var alarms: [UInt64: Views.Alarm] = [:]
    var acknowledged = 0
    var raised = 0
    var last: Views.Board?
    var clockUnsynced = false
    var lastSeq: UInt64 = 0

    init(lanes: [String] = [], devices: [String] = []) {
        for l in lanes { self.lanes[l] = LaneCounts(lane: l) }
        for d in devices { self.devices[d] = DeviceState(device: d) }
    }

    /// `today`: the local day of "now", so that records from earlier days rebuild alarms and
    /// device states but count nothing.
    mutating func apply(_ r: LiveRecord, today: String) {
        lastSeq = max(lastSeq, r.seq)
        guard let e = r.event else { return }
        if !r.late { clockUnsynced = r.clockUnsynced }
        let recordDay = Views.day(r.wallNs)
        if day != today {
            day = today
            for k in lanes.keys { lanes[k] = LaneCounts(lane: k) }
            for k in devices.keys { devices[k]!.faultsToday = 0 }
        }
        let counts = recordDay == today
        switch e.kind {
        case .passage:
            guard let d = e.decision else { return }
            if counts, let lane = e.lane {
                var c = lanes[lane] ?? LaneCounts(lane: lane)
                switch (e.direction, d.outcome) {
                case (.in?, .admit): c.inAdmit += 1
                case (.in?, .deny): c.inDeny += 1
                case (.out?, .admit): c.outAdmit += 1
                case (.out?, .deny): c.outDeny += 1
                case (_, .retest): c.retests += 1
                default: break
                }
                lanes[lane] = c
            }
            for reading in e.readings ?? [] {
                var s = devices[reading.device] ?? DeviceState(device: reading.device)
                s.lastReading = String(format: "%.1f", reading.celsius)
                s.lastReadingTime = Views.time(r.wallNs)
                devices[reading.device] = s
            }
            if let b = Views.board(r, e) { last = b }
        case .alert:
            if let a = Views.alarm(r, e) {
                alarms[r.seq] = a
                raised += 1
            }
        case .system:
            if let a = Views.ack(r, e), alarms.removeValue(forKey: a.ackOf) != nil { acknowledged += 1 }
        case .deviceState, .deviceFault:
            guard let v = Views.device(r, e) else { return }
            var s = devices[v.device] ?? DeviceState(device: v.device)
            if v.state == "fault" {
                if counts { s.faultsToday += 1 }
                s.lastFault = v.message
            } else {
                s.state = v.state
                s.since = v.time
            }
            devices[v.device] = s
        default:
            break
        }
    }

    var openAlarms: [Views.Alarm] { alarms.keys.sorted().map { alarms[$0]! } }
    var laneList: [LaneCounts] { lanes.keys.sorted().map { lanes[$0]! } }
    var deviceList: [DeviceState] { devices.keys.sorted().map { devices[$0]! } }
}
