/// The people, places and credentials of a closed-management community, as plain values.
/// GateCore owns the rules (RULES.md) as pure functions over these; it performs no I/O.

/// Seconds since the Unix epoch. GateCore never reads a clock itself.
public typealias Timestamp = Int64

public enum Direction: String, Codable, Sendable, CaseIterable {
    case `in`, out
}

public struct Address: Hashable, Codable, Sendable, CustomStringConvertible {
    public var building: String
    public var unit: String
    public var room: String
    public init(building: String, unit: String, room: String) {
        self.building = building
        self.unit = unit
        self.room = room
    }
    public var description: String { "\(building)-\(unit)-\(room)" }

    /// Parses `building-unit-room` (e.g. `3-2-501`).
    public init?(parsing s: String) {
        let p = s.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard p.count == 3, p.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(building: p[0], unit: p[1], room: p[2])
    }
}

/// What a lockdown covers: the whole compound, one building, or one unit of a building.
public enum LockdownScope: Hashable, Codable, Sendable, CustomStringConvertible {
    case compound
    case building(String)
    case unit(building: String, unit: String)

    public func covers(_ a: Address) -> Bool {
        switch self {
        case .compound: true
        case .building(let b): a.building == b
        case .unit(let b, let u): a.building == b && a.unit == u
        }
    }

    public var description: String {
        switch self {
        case .compound: "compound"
        case .building(let b): b
        case .unit(let b, let u): "\(b)-\(u)"
        }
    }

    /// `compound`, `3` (building) or `3-2` (unit).
    public init?(parsing s: String) {
        if s == "compound" || s == "all" { self = .compound; return }
        let p = s.split(separator: "-").map(String.init)
        switch p.count {
        case 1: self = .building(p[0])
        case 2: self = .unit(building: p[0], unit: p[1])
        default: return nil
        }
    }
}

/// Origin categories counted by the seven counts (七知).
public enum Origin: String, Codable, Sendable, CaseIterable {
    case local, hubei, wuhan
    case otherProvince = "other-province"
    case returnee
}

public enum Sex: String, Codable, Sendable {
    case male = "M", female = "F"
}

public struct Resident: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var sex: Sex
    public var idNumber: String
    public var household: String
    public var address: Address
    public var origin: Origin
    public var returnDate: Timestamp?
    public var quarantineUntil: Timestamp?
    public var rental: Bool
    public var landlordContact: String?
    public var phone: String?

    public init(id: String, name: String, sex: Sex, idNumber: String, household: String, address: Address, origin: Origin = .local, returnDate: Timestamp? = nil, quarantineUntil: Timestamp? = nil, rental: Bool = false, landlordContact: String? = nil, phone: String? = nil) {
        self.id = id
        self.name = name
        self.sex = sex
        self.idNumber = idNumber
        self.household = household
        self.address = address
        self.origin = origin
        self.returnDate = returnDate
        self.quarantineUntil = quarantineUntil
        self.rental = rental
        self.landlordContact = landlordContact
        self.phone = phone
    }
}

public struct Visitor: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var idNumber: String
    public var phone: String
    public var hostHousehold: String
    public var reason: String
    public var approver: String
    public var validFrom: Timestamp
    public var validUntil: Timestamp
    /// Entries allowed under this approval (1 = single entry); the entries already made are
    /// counted from the passage history (`PassageHistory.entries`), not stored here.
    public var maxEntries: Int

    public init(id: String, name: String, idNumber: String, phone: String, hostHousehold: String, reason: String, approver: String, validFrom: Timestamp, validUntil: Timestamp, maxEntries: Int = 1) {
        self.id = id
        self.name = name
        self.idNumber = idNumber
        self.phone = phone
        self.hostHousehold = hostHousehold
        self.reason = reason
        self.approver = approver
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.maxEntries = maxEntries
    }

    /// Valid at `t` with entries left, given the entries already admitted under this approval.
    public func isActive(at t: Timestamp, entriesUsed: Int) -> Bool {
        validFrom <= t && t <= validUntil && entriesUsed < maxEntries
    }
}

public struct Courier: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var idNumber: String
    public var company: String
    /// Allowed local minutes of the day, `[start, end)`.
    public var startMinute: Int
    public var endMinute: Int
    public init(id: String, name: String, idNumber: String, company: String, startMinute: Int = 8 * 60, endMinute: Int = 20 * 60) {
        self.id = id
        self.name = name
        self.idNumber = idNumber
        self.company = company
        self.startMinute = startMinute
        self.endMinute = endMinute
    }
    public func allowed(localMinute m: Int) -> Bool {
        startMinute <= endMinute ? (startMinute <= m && m < endMinute) : (m >= startMinute || m < endMinute)
    }
}

public struct Staff: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: String
    public var idNumber: String
    public init(id: String, name: String, role: String, idNumber: String) {
        self.id = id
        self.name = name
        self.role = role
        self.idNumber = idNumber
    }
}

/// A quota exemption for a person (medical, essential work), with a reason and an expiry.
public struct Exemption: Codable, Sendable, Equatable {
    public var person: String
    public var reason: String
    public var until: Timestamp
    public init(person: String, reason: String, until: Timestamp) {
        self.person = person
        self.reason = reason
        self.until = until
    }
}

public enum PersonKind: String, Codable, Sendable {
    case resident, visitor, courier, staff
}

/// Who a credential turned out to be.
public enum Person: Sendable, Equatable {
    case resident(Resident)
    case visitor(Visitor)
    case courier(Courier)
    case staff(Staff)

    public var id: String {
        switch self {
        case .resident(let r): r.id
        case .visitor(let v): v.id
        case .courier(let c): c.id
        case .staff(let s): s.id
        }
    }
    public var name: String {
        switch self {
        case .resident(let r): r.name
        case .visitor(let v): v.name
        case .courier(let c): c.name
        case .staff(let s): s.name
        }
    }
    public var kind: PersonKind {
        switch self {
        case .resident: .resident
        case .visitor: .visitor
        case .courier: .courier
        case .staff: .staff
        }
    }
    public var household: String? {
        if case .resident(let r) = self { return r.household }
        if case .visitor(let v) = self { return v.hostHousehold }
        return nil
    }
}
