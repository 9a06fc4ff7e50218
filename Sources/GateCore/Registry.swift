/// A read-only snapshot of the registry (people, keys, passes, lockdowns, exemptions). The daemon
/// builds one from SQLite and swaps it atomically; the policy only reads it. What happened at the
/// gate is not here: that is `PassageHistory`.
public struct RegistrySnapshot: Sendable {
    public var residents: [String: Resident] = [:]
    public var visitors: [String: Visitor] = [:]
    public var couriers: [String: Courier] = [:]
    public var staff: [String: Staff] = [:]
    public var lockdowns: [LockdownScope] = []
    public var keys: [TrustedKey] = []
    /// The current pass of each person; any other pass of theirs is superseded.
    public var currentPass: [String: UInt64] = [:]
    public var revokedPasses: Set<UInt64> = []
    public var exemptions: [String: Exemption] = [:]
    /// ID number → person id, across residents, visitors, couriers and staff.
    public var byIDNumber: [String: (PersonKind, String)] = [:]

    public init() {}

    public mutating func add(_ r: Resident) {
        residents[r.id] = r
        byIDNumber[r.idNumber.uppercased()] = (.resident, r.id)
    }
    public mutating func add(_ v: Visitor) {
        visitors[v.id] = v
        byIDNumber[v.idNumber.uppercased()] = (.visitor, v.id)
    }
    public mutating func add(_ c: Courier) {
        couriers[c.id] = c
        byIDNumber[c.idNumber.uppercased()] = (.courier, c.id)
    }
    public mutating func add(_ s: Staff) {
        staff[s.id] = s
        byIDNumber[s.idNumber.uppercased()] = (.staff, s.id)
    }

    public func person(kind: PersonKind, id: String) -> Person? {
        switch kind {
        case .resident: residents[id].map(Person.resident)
        case .visitor: visitors[id].map(Person.visitor)
        case .courier: couriers[id].map(Person.courier)
        case .staff: staff[id].map(Person.staff)
        }
    }

    /// Rule 1: who the credential belongs to, or why it is not valid.
    public func resolve(_ c: Credential, now: Timestamp) -> Result<(Person, Pass?), Reason> {
        switch c {
        case .qr(let text):
            switch PassCodec.verify(text, keys: keys, now: now) {
            case .failure(let f): return .failure(Reason(rawValue: f.rawValue)!)
            case .success(let pass):
                if revokedPasses.contains(pass.id) { return .failure(.revokedPass) }
                guard let p = person(kind: pass.kind, id: pass.person) else { return .failure(.unknownCredential) }
                if let cur = currentPass[pass.person], cur != pass.id { return .failure(.supersededPass) }
                return .success((p, pass))
            }
        case .idCard(let number), .typedIDNumber(let number):
            guard IDNumber.isValid(number) else { return .failure(.invalidIDNumber) }
            guard let (kind, id) = byIDNumber[number.uppercased()], let p = person(kind: kind, id: id) else { return .failure(.unknownCredential) }
            return .success((p, nil))
        }
    }
}
