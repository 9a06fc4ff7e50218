import Testing
@testable import GateCore

/// Properties over seeded random sequences of passages (replayable by seed).
@Suite("Policy properties")
struct PropertyTests {
    struct Gen: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("no admitted passage has a final temperature at or above the threshold; quotas hold; one reason each", arguments: 0..<20)
    func randomDays(seed: UInt64) {
        var g = Gen(s: seed)
        var c = Community()
        c.config.feverThreshold = Double.random(in: 37.0...37.6, using: &g)
        c.config.quotaExits = Int.random(in: 1...2, using: &g)
        c.config.retests = Int.random(in: 0...2, using: &g)
        c.config.antiPassback = .off
        let people = [Community.zhang, Community.zhangWife, Community.wang, Community.zhao]
        var t = Community.day
        var exits: [String: [Timestamp]] = [:]
        for _ in 0..<500 {
            t += Timestamp.random(in: 60...7200, using: &g)
            let p = people.randomElement(using: &g)!
            let dir: Direction = Bool.random(using: &g) ? .in : .out
            let temps = (0..<Int.random(in: 0...3, using: &g)).map { _ in Double.random(in: 33...40, using: &g) }
            let f = c.facts(.idCard(p.idNumber), dir, temps: temps, retests: Int.random(in: 0...3, using: &g), final: Bool.random(using: &g), at: t)
            let d = c.decide(f)
            // Exactly one reason, and it matches the outcome class.
            #expect((d.outcome == .admit) == (d.reason == .ok || d.reason == .override))
            if d.outcome == .admit, let last = temps.last {
                #expect(last + c.config.compensation < c.config.feverThreshold)
            }
            if d.outcome == .admit && dir == .out {
                exits[p.household, default: []].append(t)
                let window = exits[p.household]!.filter { $0 > t - Timestamp(c.config.quotaDays) * 86_400 }
                #expect(window.count <= c.config.quotaExits)
            }
            c.history.record(d, direction: dir, at: t)
        }
    }

    @Test("pass payloads round-trip and any single-byte change is rejected", arguments: 0..<10)
    func passRoundTrip(seed: UInt64) {
        var g = Gen(s: seed)
        var c = Community()
        let text = c.pass("r1", id: UInt64.random(in: 1...UInt64.max, using: &g))
        guard case .success = PassCodec.verify(text, keys: c.registry.keys, now: Community.day) else {
            Issue.record("a freshly signed pass must verify")
            return
        }
        var raw = Base64URL.decode(String(text.dropFirst(2)))!
        let i = Int.random(in: 0..<raw.count, using: &g)
        raw[i] ^= UInt8.random(in: 1...255, using: &g)
        if case .success = PassCodec.verify("P1" + Base64URL.encode(raw), keys: c.registry.keys, now: Community.day) {
            Issue.record("altered byte \(i) was accepted")
        }
    }
}
