/// The thresholds of RULES.md, every default configurable.
public struct RulesConfig: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable, CaseIterable { case off, soft, hard }

    public var feverThreshold = 37.3
    public var plausibleMin = 34.0
    public var plausibleMax = 42.5
    /// Added to every reading (forehead or wrist sensors read low).
    public var compensation = 0.0
    public var retests = 1
    public var retestCooldownSeconds = 3.0
    public var pairingWindowSeconds = 15.0
    /// A reading this soon after a passage was decided belongs to the person who just left, not to
    /// the next credential: it is not kept for pairing.
    public var readingHoldoffSeconds = 2.0
    /// The same person's credential at two different lanes within this many seconds cannot be one
    /// person walking: an `impossible_travel` alert (a shared or copied pass). 0 turns it off.
    public var impossibleTravelSeconds = 3.0
    /// Credentials refused by rule 1 (unreadable, forged, unknown key, expired, revoked,
    /// superseded, unknown person) for the same reason on one lane within this many seconds after
    /// the first are counted, not recorded one by one: the first is a deny record at once, the
    /// rest become one record with their count when the interval ends. 0 records each one.
    public var invalidCredentialCoalesceSeconds = 10.0
    public var quotaExits = 1
    public var quotaDays = 2
    public var isolationDays = 14
    public var courierStayMinutes = 30
    public var antiPassback = Mode.soft
    public var mask = Mode.off
    public var relayPulseMs = 3000

    public init() {}
}

/// Stable, machine-readable reason codes: one per decision. Texts for people live in `ReasonText`.
public enum Reason: String, Sendable, Codable, CaseIterable, Error {
    case ok
    case override
    case unknownCredential = "unknown_credential"
    case malformedCredential = "malformed_credential"
    case badSignature = "bad_signature"
    case unknownKey = "unknown_key"
    case expiredPass = "expired_pass"
    case notYetValid = "not_yet_valid"
    case revokedPass = "revoked_pass"
    case supersededPass = "superseded_pass"
    case invalidIDNumber = "invalid_id_number"
    case noTemperature = "no_temperature"
    case implausibleTemperature = "implausible_temperature"
    case feverRetest = "fever_retest"
    case fever
    case secondaryScreening = "secondary_screening"
    case notResident = "not_resident"
    case courierOutsideHours = "courier_outside_hours"
    case quarantined
    case lockdown
    case householdQuota = "household_quota"
    case antiPassback = "anti_passback"
    case noMask = "no_mask"
    /// The kiosk stopped (shutdown, restart) while this passage waited: not let through.
    case kioskStopped = "kiosk_stopped"
}

public enum Outcome: String, Sendable, Codable {
    case admit, deny, retest
}

/// One temperature measurement as the device reported it.
public struct Reading: Sendable, Equatable, Codable {
    public var celsius: Double
    public var ambient: Double?
    public var device: String
    public var at: Timestamp
    public init(celsius: Double, ambient: Double? = nil, device: String, at: Timestamp) {
        self.celsius = celsius
        self.ambient = ambient
        self.device = device
        self.at = at
    }
    public static func fahrenheit(_ f: Double, ambient: Double? = nil, device: String, at: Timestamp) -> Reading {
        Reading(celsius: (f - 32) * 5 / 9, ambient: ambient, device: device, at: at)
    }
}

public enum Credential: Sendable, Equatable, Codable {
    /// A scanned QR pass payload.
    case qr(String)
    /// An ID number read from an ID card's chip by an ID-card reader.
    case idCard(String)
    /// An ID number typed or scanned at a lane that opts into typed ID numbers (a staffed desk).
    case typedIDNumber(String)
}

/// A staff member's override of one passage, always with a reason.
public struct Override: Sendable, Equatable, Codable {
    public var staff: String
    public var reason: String
    public init(staff: String, reason: String) {
        self.staff = staff
        self.reason = reason
    }
}

/// Everything the policy needs to know about one passage.
public struct PassageFacts: Sendable {
    public var lane: String
    public var direction: Direction
    public var credential: Credential
    /// Every reading taken for this passage, oldest first; the last one decides.
    public var readings: [Reading]
    public var retestsUsed: Int
    /// No further reading will come (timeout): a retest outcome becomes a deny.
    public var final: Bool
    public var now: Timestamp
    /// Minutes since local midnight at `now` (couriers' allowed hours).
    public var localMinute: Int
    /// The mask signal, where one is wired.
    public var maskConfirmed: Bool?
    public var override: Override?

    public init(lane: String, direction: Direction, credential: Credential, readings: [Reading], retestsUsed: Int = 0, final: Bool = false, now: Timestamp, localMinute: Int = 12 * 60, maskConfirmed: Bool? = nil, override: Override? = nil) {
        self.lane = lane
        self.direction = direction
        self.credential = credential
        self.readings = readings
        self.retestsUsed = retestsUsed
        self.final = final
        self.now = now
        self.localMinute = localMinute
        self.maskConfirmed = maskConfirmed
        self.override = override
    }
}

public struct Decision: Sendable, Equatable, Codable {
    public var outcome: Outcome
    public var reason: Reason
    public var personID: String?
    public var personKind: PersonKind?
    public var personName: String?
    public var household: String?
    public var passID: String?
    /// The deciding temperature after compensation.
    public var temperature: Double?
    /// Soft-mode findings that did not deny (e.g. `anti_passback`, `no_mask`).
    public var flags: [String]
    public var alarm: Bool
    public var alert: Bool
    public var override: Override?
    /// The reason that was overridden, when `reason` is `override` or `secondary_screening`.
    public var overridden: Reason?

    public init(outcome: Outcome, reason: Reason, personID: String? = nil, personKind: PersonKind? = nil, personName: String? = nil, household: String? = nil, passID: String? = nil, temperature: Double? = nil, flags: [String] = [], alarm: Bool = false, alert: Bool = false, override: Override? = nil, overridden: Reason? = nil) {
        self.outcome = outcome
        self.reason = reason
        self.personID = personID
        self.personKind = personKind
        self.personName = personName
        self.household = household
        self.passID = passID
        self.temperature = temperature
        self.flags = flags
        self.alarm = alarm
        self.alert = alert
        self.override = override
        self.overridden = overridden
    }
}
