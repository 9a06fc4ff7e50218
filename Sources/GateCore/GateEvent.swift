/// The event schema: what the gate writes into the log, one JSON object per record. Versioned by
/// `v`; readers ignore fields they do not know, so later versions can add fields freely.
public struct GateEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case passage         // a decision: admit, deny or retest (with every reading)
        case deviceFault = "device_fault"
        case deviceState = "device_state"
        case alert
        case door            // door sensor, exit button, held/forced-open
        case configReload = "config_reload"
        case registryChange = "registry_change"
        case system          // start, stop, recovery findings
        case unknown

        public init(from decoder: any Decoder) throws {
            self = Kind(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .unknown
        }

        /// The log record type for this kind (the log itself knows nothing of gates).
        public var recordType: UInt16 {
            switch self {
            case .passage: 1
            case .deviceFault, .deviceState: 2
            case .alert: 3
            case .door: 4
            case .configReload: 5
            case .registryChange: 6
            case .system, .unknown: 7
            }
        }
    }

    public static let schemaVersion = 1

    public var v: Int = GateEvent.schemaVersion
    public var kind: Kind
    /// Wall-clock time the event describes (seconds, with fraction).
    public var at: Double
    public var lane: String?
    public var direction: Direction?
    public var decision: Decision?
    public var readings: [Reading]?
    public var retests: Int?
    public var credentialKind: String?
    /// How many attempts this one record stands for, when more than one: the rest of a burst of
    /// unreadable scans on a lane, coalesced (absent: one attempt).
    public var attempts: Int?
    public var device: String?
    public var message: String?
    /// Alert kind: fever, quarantine_exit, lockdown_exit, overstay, device_missing, log_failure, forced_open, held_open, impossible_travel.
    public var alert: String?
    public var configHash: String?
    public var actor: String?
    public var entity: String?
    public var key: String?
    public var action: String?
    /// JSON of the entity before and after a registry change (after = nil: deleted).
    public var before: String?
    public var after: String?

    public init(kind: Kind, at: Double) {
        self.kind = kind
        self.at = at
    }

    public static func passage(_ d: Decision, _ s: Lane.Summary, at: Double) -> GateEvent {
        var e = GateEvent(kind: .passage, at: at)
        e.lane = s.lane
        e.direction = s.direction
        e.decision = d
        e.readings = s.readings
        e.retests = s.retests
        e.credentialKind = s.credentialKind
        e.attempts = s.attempts
        return e
    }
}
