import Crypto
import GateCore

/// A small community: two households in building 1, one in building 2, a visitor, a courier, staff.
struct Community {
    static let day: Timestamp = 1_580_860_800  // 2020-02-05 00:00 UTC
    let key = Curve25519.Signing.PrivateKey()
    let otherKey = Curve25519.Signing.PrivateKey()
    var registry = RegistrySnapshot()
    var history = PassageHistory()
    var config = RulesConfig()

    // Valid GB 11643 numbers (check digits computed by IDNumber itself in `id(_:)`).
    static func id(_ body: String) -> String { body + String(IDNumber.checkCharacter(for: body)!) }

    static let zhang = Resident(id: "r1", name: "张伟", sex: .male, idNumber: id("15070219800101001"), household: "h1", address: Address(building: "1", unit: "1", room: "101"))
    static let zhangWife = Resident(id: "r2", name: "李娜", sex: .female, idNumber: id("15070219820202002"), household: "h1", address: Address(building: "1", unit: "1", room: "101"))
    static let wang = Resident(id: "r3", name: "王芳", sex: .female, idNumber: id("15070219900303003"), household: "h2", address: Address(building: "1", unit: "2", room: "201"))
    static let zhao = Resident(id: "r4", name: "赵强", sex: .male, idNumber: id("42010619850404004"), household: "h3", address: Address(building: "2", unit: "1", room: "301"), origin: .wuhan)
    static let visitor = Visitor(id: "v1", name: "孙丽", idNumber: id("15070219950505005"), phone: "13800000000", hostHousehold: "h2", reason: "care for elderly", approver: "s1", validFrom: day, validUntil: day + 86_399)
    static let courier = Courier(id: "c1", name: "周杰", idNumber: id("15070219960606006"), company: "SF", startMinute: 8 * 60, endMinute: 20 * 60)
    static let staff = Staff(id: "s1", name: "陈主任", role: "cadre", idNumber: id("15070219700707007"))

    init() {
        registry.keys = [TrustedKey(id: "k1", publicKey: Array(key.publicKey.rawRepresentation))]
        for r in [Self.zhang, Self.zhangWife, Self.wang, Self.zhao] { registry.add(r) }
        registry.add(Self.visitor)
        registry.add(Self.courier)
        registry.add(Self.staff)
    }

    mutating func pass(_ person: String, kind: PersonKind = .resident, household: String = "h1", id: UInt64 = 1, issued: Timestamp = day - 86_400, expires: Timestamp = day + 30 * 86_400, keyID: String = "k1", signer: Curve25519.Signing.PrivateKey? = nil, register: Bool = true) -> String {
        let p = Pass(id: id, kind: kind, person: person, household: household, issued: issued, expires: expires, keyID: keyID)
        if register { registry.currentPass[person] = id }
        return try! PassCodec.encode(p, signingKey: signer ?? key)
    }

    func facts(_ c: Credential, _ dir: Direction = .in, temps: [Double] = [36.5], retests: Int = 0, final: Bool = false, at: Timestamp = day + 10 * 3600, minute: Int = 10 * 60, override: Override? = nil, mask: Bool? = nil) -> PassageFacts {
        PassageFacts(lane: "gate1", direction: dir, credential: c, readings: temps.map { Reading(celsius: $0, device: "t1", at: at) }, retestsUsed: retests, final: final, now: at, localMinute: minute, maskConfirmed: mask, override: override)
    }

    func decide(_ f: PassageFacts) -> Decision { Policy.decide(f, registry: registry, history: history, config: config) }
}
