import Crypto
import Testing
@testable import GateCore

@Suite("GB 11643 ID numbers")
struct IDNumberTests {
    @Test("the published example number has check character X")
    func published() {
        #expect(IDNumber.isValid("11010519491231002X"))
        #expect(IDNumber.isValid("11010519491231002x"))
        #expect(!IDNumber.isValid("110105194912310021"))
    }
    @Test("rejects wrong length, letters and non-ASCII digits", arguments: ["", "12345", "11010519491231002XX", "1101051949123100AX", "１１０１０５１９４９１２３１００２X"])
    func rejects(_ s: String) { #expect(!IDNumber.isValid(s)) }
    @Test("masking keeps region and last four")
    func mask() { #expect(IDNumber.masked("11010519491231002X") == "110105********002X") }
}

@Suite("Rule 1: credentials")
struct CredentialRuleTests {
    @Test("a valid pass of a resident is admitted with reason ok")
    func valid() {
        var c = Community()
        let d = c.decide(c.facts(.qr(c.pass("r1"))))
        #expect(d.outcome == .admit)
        #expect(d.reason == .ok)
        #expect(d.personID == "r1")
    }

    @Test("each forged or invalid pass is denied with its own reason")
    func forged() {
        var c = Community()
        let good = c.pass("r1", id: 7)
        var raw = Base64URL.decode(String(good.dropFirst(2)))!
        raw[12] ^= 1  // flip a bit inside the signed body
        let flipped = "P1" + Base64URL.encode(raw)
        let cases: [(String, Reason)] = [
            (c.pass("r1", id: 8, signer: c.otherKey, register: false), .badSignature),
            (c.pass("r1", id: 9, keyID: "k-unknown", register: false), .unknownKey),
            (flipped, .badSignature),
            (String(good.dropLast(10)), .malformedCredential),
            ("hello world", .malformedCredential),
            (c.pass("r1", id: 10, expires: Community.day, register: false), .expiredPass),
            (c.pass("nobody", id: 11), .unknownCredential),
        ]
        c.registry.currentPass["r1"] = 7
        for (payload, reason) in cases {
            let d = c.decide(c.facts(.qr(payload)))
            #expect(d.outcome == .deny, "\(reason)")
            #expect(d.reason == reason)
        }
    }

    @Test("revoked and superseded passes are denied")
    func revokedSuperseded() {
        var c = Community()
        let old = c.pass("r1", id: 1)
        let new = c.pass("r1", id: 2)
        #expect(c.decide(c.facts(.qr(old))).reason == .supersededPass)
        #expect(c.decide(c.facts(.qr(new))).reason == .ok)
        c.registry.revokedPasses.insert(2)
        #expect(c.decide(c.facts(.qr(new))).reason == .revokedPass)
    }

    @Test("a retired key stops working; a rotated-in key works alongside the old one")
    func rotation() {
        var c = Community()
        let newKey = Curve25519.Signing.PrivateKey()
        c.registry.keys.append(TrustedKey(id: "k2", publicKey: Array(newKey.publicKey.rawRepresentation), notBefore: Community.day - 86_400 * 2))
        let oldPass = c.pass("r1", id: 1)
        let newPass = c.pass("r2", household: "h1", id: 2, keyID: "k2", signer: newKey)
        #expect(c.decide(c.facts(.qr(oldPass))).reason == .ok)
        #expect(c.decide(c.facts(.qr(newPass))).reason == .ok)
        c.registry.keys[0].notAfter = Community.day
        #expect(c.decide(c.facts(.qr(oldPass))).reason == .unknownKey)
        #expect(c.decide(c.facts(.qr(newPass))).reason == .ok)
    }

    @Test("ID cards: bad check digit, unknown number, resident found")
    func idCards() {
        let c = Community()
        var bad = Community.zhang.idNumber
        let last = bad.removeLast()
        bad.append(last == "0" ? "1" : "0")
        #expect(c.decide(c.facts(.idCard(bad))).reason == .invalidIDNumber)
        #expect(c.decide(c.facts(.idCard(Community.id("11010519491231002")))).reason == .unknownCredential)
        #expect(c.decide(c.facts(.idCard(Community.zhang.idNumber))).reason == .ok)
    }
}

@Suite("Rules 2 and 3: temperature")
struct TemperatureRuleTests {
    @Test("table", arguments: [
        ([Double](), 0, false, Outcome.deny, Reason.noTemperature),
        ([33.0], 0, false, .retest, .implausibleTemperature),
        ([43.0], 1, false, .deny, .implausibleTemperature),
        ([37.3], 0, false, .retest, .feverRetest),
        ([37.3, 37.5], 1, false, .deny, .fever),
        ([37.5, 36.8], 1, false, .admit, .ok),
        ([37.29], 0, false, .admit, .ok),
        ([38.0], 0, true, .deny, .fever),
    ])
    func table(temps: [Double], retests: Int, final: Bool, outcome: Outcome, reason: Reason) {
        var c = Community()
        let d = c.decide(c.facts(.qr(c.pass("r1")), temps: temps, retests: retests, final: final))
        #expect(d.outcome == outcome)
        #expect(d.reason == reason)
        if reason == .fever {
            #expect(d.alarm && d.alert)
        }
    }

    @Test("compensation is applied before the thresholds")
    func compensation() {
        var c = Community()
        c.config.compensation = 0.8
        let d = c.decide(c.facts(.qr(c.pass("r1")), temps: [36.6], retests: 1))
        #expect(d.reason == .fever)
        #expect(d.temperature == 37.4)
    }

    @Test("Fahrenheit readings convert")
    func fahrenheit() {
        #expect(abs(Reading.fahrenheit(98.6, device: "x", at: 0).celsius - 37.0) < 1e-9)
    }
}

@Suite("Rules 4 to 9")
struct PersonRuleTests {
    @Test("visitors need an active approval; single entry is used up")
    func visitors() {
        var c = Community()
        let p = c.pass("v1", kind: .visitor, household: "h2", id: 5)
        #expect(c.decide(c.facts(.qr(p))).reason == .ok)
        c.history.record(c.decide(c.facts(.qr(p))), direction: .in, at: Community.day + 36_000)
        #expect(c.decide(c.facts(.qr(p))).reason == .notResident)
        // Leaving is always allowed.
        #expect(c.decide(c.facts(.qr(p), .out)).outcome == .admit)
        // Approval expired.
        var c2 = Community()
        let p2 = c2.pass("v1", kind: .visitor, household: "h2", id: 6)
        #expect(c2.decide(c2.facts(.qr(p2), at: Community.day + 90_000)).reason == .notResident)
    }

    @Test("couriers only within their hours")
    func couriers() {
        let c = Community()
        #expect(c.decide(c.facts(.idCard(Community.courier.idNumber), minute: 9 * 60)).reason == .ok)
        #expect(c.decide(c.facts(.idCard(Community.courier.idNumber), minute: 21 * 60)).reason == .courierOutsideHours)
    }

    @Test("home isolation stops going out, not coming in, and raises an alert")
    func quarantine() {
        var c = Community()
        var z = Community.zhao
        z.quarantineUntil = Community.day + 14 * 86_400
        c.registry.add(z)
        let out = c.decide(c.facts(.idCard(z.idNumber), .out))
        #expect(out.reason == .quarantined)
        #expect(out.alert && out.alarm)
        #expect(c.decide(c.facts(.idCard(z.idNumber), .in)).reason == .ok)
    }

    @Test("a unit lockdown stops its residents going out and leaves neighbours free")
    func lockdown() {
        var c = Community()
        c.registry.lockdowns = [.unit(building: "1", unit: "1")]
        #expect(c.decide(c.facts(.idCard(Community.zhang.idNumber), .out)).reason == .lockdown)
        #expect(c.decide(c.facts(.idCard(Community.zhang.idNumber), .in)).reason == .ok)
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out)).reason == .ok)
        c.registry.lockdowns = [.compound]
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out)).reason == .lockdown)
    }

    @Test("a household's second shopper is denied, and allowed again after two days")
    func quota() {
        var c = Community()
        let t0 = Community.day + 9 * 3600
        let first = c.decide(c.facts(.idCard(Community.zhang.idNumber), .out, at: t0))
        #expect(first.reason == .ok)
        c.history.record(first, direction: .out, at: t0)
        #expect(c.decide(c.facts(.idCard(Community.zhangWife.idNumber), .out, at: t0 + 3600)).reason == .householdQuota)
        // The return does not count; another household is unaffected.
        #expect(c.decide(c.facts(.idCard(Community.zhang.idNumber), .in, at: t0 + 7200)).reason == .ok)
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out, at: t0 + 3600)).reason == .ok)
        #expect(c.decide(c.facts(.idCard(Community.zhangWife.idNumber), .out, at: t0 + 2 * 86_400 + 1)).reason == .ok)
        // An exemption lets a person out regardless.
        c.registry.exemptions["r2"] = Exemption(person: "r2", reason: "dialysis", until: t0 + 86_400)
        #expect(c.decide(c.facts(.idCard(Community.zhangWife.idNumber), .out, at: t0 + 3600)).reason == .ok)
    }

    @Test("anti-passback: soft flags, hard denies")
    func antiPassback() {
        var c = Community()
        c.history.record(Decision(outcome: .admit, reason: .ok, personID: "r1", personKind: .resident, household: "h1"), direction: .in, at: Community.day)
        let soft = c.decide(c.facts(.idCard(Community.zhang.idNumber), .in))
        #expect(soft.outcome == .admit)
        #expect(soft.flags == ["anti_passback"])
        c.config.antiPassback = .hard
        #expect(c.decide(c.facts(.idCard(Community.zhang.idNumber), .in)).reason == .antiPassback)
    }

    @Test("mask: off ignores, soft flags, hard denies on out lanes")
    func mask() {
        var c = Community()
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out, mask: false)).flags.isEmpty)
        c.config.mask = .soft
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out, mask: false)).flags == ["no_mask"])
        c.config.mask = .hard
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out, mask: false)).reason == .noMask)
        #expect(c.decide(c.facts(.idCard(Community.wang.idNumber), .out, mask: true)).reason == .ok)
    }

    @Test("staff override admits a denied passage, but a fever only to secondary screening")
    func override() {
        var c = Community()
        c.registry.lockdowns = [.compound]
        let o = Override(staff: "s1", reason: "hospital appointment")
        let d = c.decide(c.facts(.idCard(Community.wang.idNumber), .out, override: o))
        #expect(d.outcome == .admit)
        #expect(d.reason == .override)
        #expect(d.overridden == .lockdown)
        let f = c.decide(c.facts(.idCard(Community.wang.idNumber), .in, temps: [38.5], retests: 1, override: o))
        #expect(f.outcome == .deny)
        #expect(f.reason == .secondaryScreening)
        #expect(f.overridden == .fever)
    }
}

@Suite("Lane state machine")
struct LaneTests {
    func ctx(_ c: Community) -> Lane.Context { Lane.Context(registry: c.registry, config: c.config) }
    func decisions(_ a: [Lane.Action]) -> [Decision] { a.compactMap { if case .decided(let d, _) = $0 { d } else { nil } } }

    @Test("credential then reading within the window admits and pulses the relay after the decision")
    func credentialFirst() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        #expect(lane.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c)).isEmpty)
        let a = lane.handle(.reading(Reading(celsius: 36.4, device: "t", at: t + 3)), ctx(c))
        #expect(decisions(a).map(\.reason) == [.ok])
        #expect(a.count == 3)
        if case .decided = a[0] {} else { Issue.record("the decision must come first, before any output") }
        #expect(a.contains(.pulseRelay(milliseconds: 3000)))
        #expect(a.contains(.light(.green)))
    }

    @Test("reading then credential within the window pairs them")
    func readingFirst() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.reading(Reading(celsius: 36.4, device: "t", at: t)), ctx(c))
        #expect(decisions(lane.handle(.credential(.qr(c.pass("r1")), at: t + 10), ctx(c))).map(\.reason) == [.ok])
    }

    @Test("a stale reading is not paired; the credential then times out as no_temperature")
    func stale() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.reading(Reading(celsius: 36.4, device: "t", at: t)), ctx(c))
        #expect(lane.handle(.credential(.qr(c.pass("r1")), at: t + 40), ctx(c)).isEmpty)
        #expect(lane.handle(.tick(now: t + 50), ctx(c)).isEmpty)
        let a = lane.handle(.tick(now: t + 56), ctx(c))
        #expect(decisions(a).map(\.reason) == [.noTemperature])
        #expect(a.contains(.light(.red)))
        #expect(!a.contains(.pulseRelay(milliseconds: 3000)))
    }

    @Test("fever, then a retest below the threshold admits; every reading is kept")
    func retestPasses() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        let first = lane.handle(.reading(Reading(celsius: 37.6, device: "t", at: t + 1)), ctx(c))
        #expect(decisions(first).map(\.reason) == [.feverRetest])
        #expect(first.contains(.promptRetest))
        // A reading inside the cool-down is recorded but does not decide.
        #expect(lane.handle(.reading(Reading(celsius: 37.0, device: "t", at: t + 2)), ctx(c)).isEmpty)
        let second = lane.handle(.reading(Reading(celsius: 36.9, device: "t", at: t + 5)), ctx(c))
        #expect(decisions(second).map(\.reason) == [.ok])
        if case .decided(_, let s) = second[0] { #expect(s.readings.map(\.celsius) == [37.6, 37.0, 36.9]) }
    }

    @Test("fever, then a retest still above denies, sounds the alarm")
    func retestFails() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        _ = lane.handle(.reading(Reading(celsius: 37.6, device: "t", at: t + 1)), ctx(c))
        let a = lane.handle(.reading(Reading(celsius: 37.8, device: "t", at: t + 6)), ctx(c))
        #expect(decisions(a).map(\.reason) == [.fever])
        #expect(a.contains(.alarm))
        #expect(!lane.isBusy)
    }

    @Test("a retest that never comes ends as a fever denial")
    func retestTimeout() {
        var c = Community()
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        _ = lane.handle(.reading(Reading(celsius: 38.0, device: "t", at: t + 1)), ctx(c))
        #expect(decisions(lane.handle(.tick(now: t + 30), ctx(c))).map(\.reason) == [.fever])
    }

    @Test("stopping the kiosk closes a waiting passage: a deny stands, anything else becomes kiosk_stopped, nobody is let through")
    func stop() {
        var c = Community()
        let t = Community.day
        // No temperature yet: the rules' own deny.
        var a = Lane(id: "gate1", direction: .in)
        _ = a.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        let noTemp = a.handle(.stop(now: t + 3), ctx(c))
        #expect(decisions(noTemp).map(\.reason) == [.noTemperature])
        #expect(!a.isBusy)
        // A normal reading inside the retest cool-down would admit at the final decision: refused.
        var b = Lane(id: "gate1", direction: .in)
        _ = b.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        _ = b.handle(.reading(Reading(celsius: 37.6, device: "t", at: t + 1)), ctx(c))
        _ = b.handle(.reading(Reading(celsius: 36.8, device: "t", at: t + 2)), ctx(c))
        let stopped = b.handle(.stop(now: t + 3), ctx(c))
        #expect(decisions(stopped).map(\.outcome) == [.deny])
        #expect(decisions(stopped).map(\.reason) == [.kioskStopped])
        #expect(decisions(stopped).first?.personID == "r1")
        #expect(!stopped.contains(.pulseRelay(milliseconds: 3000)) && !stopped.contains(.light(.green)))
        if case .decided(_, let s) = stopped[0] { #expect(s.readings.map(\.celsius) == [37.6, 36.8]) }
        // Still feverish: the fever denial stands, with its alarm.
        var f = Lane(id: "gate1", direction: .in)
        _ = f.handle(.credential(.qr(c.pass("r1")), at: t), ctx(c))
        _ = f.handle(.reading(Reading(celsius: 38.0, device: "t", at: t + 1)), ctx(c))
        let fever = f.handle(.stop(now: t + 2), ctx(c))
        #expect(decisions(fever).map(\.reason) == [.fever])
        #expect(fever.contains(.alarm))
        // Nothing waiting: nothing to record.
        var idle = Lane(id: "gate1", direction: .in)
        #expect(idle.handle(.stop(now: t), ctx(c)).isEmpty)
    }

    @Test("an armed staff override applies to the next passage only")
    func override() {
        var c = Community()
        c.registry.lockdowns = [.compound]
        var lane = Lane(id: "gate2", direction: .out)
        let t = Community.day
        _ = lane.handle(.override(Override(staff: "s1", reason: "medical"), at: t), ctx(c))
        _ = lane.handle(.credential(.idCard(Community.wang.idNumber), at: t + 1), ctx(c))
        #expect(decisions(lane.handle(.reading(Reading(celsius: 36.5, device: "t", at: t + 2)), ctx(c))).map(\.reason) == [.override])
        _ = lane.handle(.credential(.idCard(Community.wang.idNumber), at: t + 10), ctx(c))
        #expect(decisions(lane.handle(.reading(Reading(celsius: 36.5, device: "t", at: t + 11)), ctx(c))).map(\.reason) == [.lockdown])
    }
}

@Suite("Lane: readings belong to the right person")
struct LaneAttributionTests {
    @Test("a reading just after a decision is not paired with the next credential")
    func holdoff() {
        var c = Community()
        let ctx = Lane.Context(registry: c.registry, config: c.config)
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        _ = lane.handle(.credential(.qr(c.pass("r2", id: 2)), at: t), ctx)
        _ = lane.handle(.reading(Reading(celsius: 36.5, device: "t", at: t + 1)), ctx)  // decided: admitted
        _ = lane.handle(.reading(Reading(celsius: 36.6, device: "t", at: t + 2)), ctx)  // the same person again
        let next = lane.handle(.credential(.qr(c.pass("r1")), at: t + 3), ctx)
        #expect(next.isEmpty, "the late reading must not be attributed to the next person")
        let a = lane.handle(.reading(Reading(celsius: 38.4, device: "t", at: t + 4)), ctx)
        if case .decided(let d, _)? = a.first { #expect(d.reason == .feverRetest) } else { Issue.record("no decision") }
    }
}

@Suite("Credentials: where an ID number may come from")
struct CredentialClassificationTests {
    @Test("a scanner line holding a valid ID number is a malformed pass, unless the lane opts into typed ID numbers")
    func scannerLines() {
        var c = Community()
        let number = Community.zhang.idNumber
        #expect(Credential.classify(number, source: .scanner) == .qr(number))
        #expect(c.decide(c.facts(Credential.classify(number, source: .scanner))).reason == .malformedCredential)
        #expect(c.decide(c.facts(Credential.classify(number.lowercased(), source: .scanner))).reason == .malformedCredential)
        let typed = Credential.classify(number, source: .scanner, typedIDNumbers: true)
        #expect(typed == .typedIDNumber(number) && typed.kindName == "typed_id_number")
        #expect(c.decide(c.facts(typed)).reason == .ok)
        #expect(c.decide(c.facts(Credential.classify(number, source: .idCardReader))).reason == .ok)
        #expect(c.decide(c.facts(Credential.classify(c.pass("r1"), source: .scanner))).reason == .ok)
    }

    @Test("an unreadable scan is refused at once; a burst is its first record plus one counted record")
    func junkBurst() {
        let c = Community()
        var cfg = c.config
        cfg.invalidCredentialCoalesceSeconds = 10
        let ctx = Lane.Context(registry: c.registry, config: cfg)
        var lane = Lane(id: "gate1", direction: .in)
        let t = Community.day
        func decisions(_ a: [Lane.Action]) -> [(Decision, Lane.Summary)] { a.compactMap { if case .decided(let d, let s) = $0 { (d, s) } else { nil } } }
        let first = decisions(lane.handle(.credential(.qr("garbage"), at: t), ctx))
        #expect(first.count == 1 && first[0].0.reason == .malformedCredential && first[0].1.attempts == nil)
        for i in 1...50 { #expect(decisions(lane.handle(.credential(.qr("garbage\(i)"), at: t + Timestamp(i / 10)), ctx)).isEmpty) }
        #expect(decisions(lane.handle(.tick(now: t + 9), ctx)).isEmpty)
        let flushed = decisions(lane.handle(.tick(now: t + 10), ctx))
        #expect(flushed.count == 1 && flushed[0].1.attempts == 50)
        #expect(decisions(lane.handle(.tick(now: t + 30), ctx)).isEmpty, "counted once")
        // Forged passes (well-formed, bad signature) are coalesced the same way, by reason.
        var forgedLane = Lane(id: "gate2", direction: .in)
        var cc = c
        let forged = (0..<20).map { cc.pass("r1", id: UInt64(100 + $0), signer: c.otherKey, register: false) }
        let firstForged = decisions(forgedLane.handle(.credential(.qr(forged[0]), at: t), ctx))
        #expect(firstForged.map(\.0.reason) == [.badSignature])
        for f in forged.dropFirst() { #expect(decisions(forgedLane.handle(.credential(.qr(f), at: t + 1), ctx)).isEmpty) }
        // Another reason starts its own burst (the forged one is flushed with its count).
        let other = decisions(forgedLane.handle(.credential(.qr("junk"), at: t + 2), ctx))
        #expect(other.map(\.0.reason) == [.badSignature, .malformedCredential] && other[0].1.attempts == 19)
        // Off: every scan is its own record.
        cfg.invalidCredentialCoalesceSeconds = 0
        let each = Lane.Context(registry: c.registry, config: cfg)
        for i in 0..<5 { #expect(decisions(lane.handle(.credential(.qr("x\(i)"), at: t + 100), each)).count == 1) }
    }
}
