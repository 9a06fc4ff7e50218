import Crypto
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Logging
import Testing
@testable import GateDaemon

/// A clock the test moves by hand.
final class ManualClock: GateClock, @unchecked Sendable {
    private let lock = NSLock()
    private var t: Double
    init(_ t: Double) { self.t = t }
    func wall() -> Double { lock.lock(); defer { lock.unlock() }; return t }
    func advance(_ s: Double) { lock.lock(); t += s; lock.unlock() }
    func localMinute(at wall: Double) -> Int { 12 * 60 }
}

/// The controller on a real log and SQLite in `dir`, started the way the kiosk starts it (mirror
/// caught up, history replayed from the log), with inputs fed by hand and a hand-driven clock.
final class ControllerRig: @unchecked Sendable {
    let dir: String
    let writer: LogWriter
    let journal: Journal
    let store: Store
    let settings: ConfigInForce
    let controller: Controller
    let clock: ManualClock

    init(dir: String, config: KioskConfig, clock: ManualClock, io: [String: GateIO] = [:]) throws {
        self.dir = dir
        self.clock = clock
        writer = try LogWriter.open(directory: dir + "/log")
        journal = Journal(writer: writer)
        store = try Store.open(dataDir: dir)
        _ = try store.drainAudit(into: writer)
        try Mirror(store: store, logDir: dir + "/log").catchUp(upTo: writer.durableSeq)
        settings = ConfigInForce(config)
        var logger = Logger(label: "rig")
        logger.logLevel = .critical
        controller = Controller(settings: settings, registry: try store.snapshot(extraKeys: config.keys), history: try Kiosk.history(from: store, now: clock.wall()), journal: journal, io: io, logger: logger, clock: clock)
    }

    func close() { writer.close() }

    /// An admin change made: its audit event logged and the controller given the new snapshot.
    func registryChanged() async throws {
        _ = try store.drainAudit(into: writer)
        try await controller.handle(.registry(try store.snapshot(extraKeys: settings.current.keys)))
    }

    /// Scan, present a temperature, then let the pairing window pass: the passage's decisions.
    func passage(_ text: String, lane: String = "in", celsius: Double = 36.5, isID: Bool = false) async throws -> [Decision] {
        let before = writer.durableSeq
        let t = clock.wall()
        try await controller.handle(.device(.credential(device: isID ? "id-in" : "qr-\(lane)", text: text, isIDCard: isID, at: t)))
        try await controller.handle(.device(.reading(device: "thermo-\(lane)", celsius: celsius, ambient: nil, at: t)))
        clock.advance(30)
        try await controller.handle(.tick)
        return events(after: before).compactMap { $0.kind == .passage ? $0.decision : nil }
    }

    func events(after: UInt64 = 0) -> [GateEvent] {
        let c = LogCursor(directory: dir + "/log", from: after + 1)
        var out: [GateEvent] = []
        while let recs = try? c.next(limit: 4096), !recs.isEmpty { out += recs.compactMap(TailFormat.event) }
        return out
    }
}

/// A community in `dir`: three residents in two households, a staff member, a single-entry
/// visitor, a signing key and a pass for each person.
func prepareCommunity(_ dir: String, now: Timestamp) throws -> [String: String] {
    let admin = try Admin(dataDir: dir)
    try admin.store.importResidents([
        Resident(id: "r1", name: "张伟", sex: .male, idNumber: idn("15070219800101001"), household: "h1", address: Address(building: "1", unit: "1", room: "101")),
        Resident(id: "r2", name: "李娜", sex: .female, idNumber: idn("15070219820202002"), household: "h1", address: Address(building: "1", unit: "1", room: "101")),
        Resident(id: "r3", name: "王芳", sex: .female, idNumber: idn("15070219900303003"), household: "h2", address: Address(building: "2", unit: "1", room: "201")),
    ], actor: "test")
    try admin.store.addStaff(Staff(id: "s1", name: "陈主任", role: "cadre", idNumber: idn("15070219700707007")), actor: "test")
    try admin.store.addVisitor(Visitor(id: "v1", name: "孙丽", idNumber: idn("15070219950505005"), phone: "13800000000", hostHousehold: "h2", reason: "care", approver: "s1", validFrom: now, validUntil: now + 2 * 86_400), actor: "test")
    _ = try admin.generateKey(id: "k1", notBefore: now - 3600)
    var passes: [String: String] = [:]
    for p in ["r1", "r2", "r3", "v1"] { passes[p] = try admin.issuePass(person: p, days: 60, now: now - 60).1 }
    return passes
}

@Suite("One owner for each truth: history, config in force, durable outputs", .serialized)
struct OneOwnerTests {
    func config(_ dir: String, _ extra: String = "") throws -> KioskConfig {
        try KioskConfig.parse(Harness.configText(dir: dir, extra: extra))
    }

    @Test("an exit made under a quota exemption does not count against the household after a restart")
    func exemptExitAfterRestart() async throws {
        let dir = tempPath("exempt")
        let now = Timestamp(Date().timeIntervalSince1970)
        let passes = try prepareCommunity(dir, now: now)
        try Store.open(dataDir: dir).setExemption(Exemption(person: "r1", reason: "dialysis", until: now + 86_400), actor: "test")
        let clock = ManualClock(Double(now))
        var rig = try ControllerRig(dir: dir, config: try config(dir), clock: clock)
        #expect(try await rig.passage(passes["r1"]!, lane: "out").map(\.reason) == [.ok])
        rig.close()
        rig = try ControllerRig(dir: dir, config: try config(dir), clock: clock)
        let second = try await rig.passage(passes["r2"]!, lane: "out")
        #expect(second.map(\.reason) == [.ok], "the exempt exit was not the household's quota")
        #expect(try await rig.passage(passes["r2"]!, lane: "out").map(\.reason) == [.householdQuota])
        rig.close()
    }

    /// Random passages, admin changes, restarts and mirror rebuilds: every decision equals that of
    /// a kiosk that never restarted.
    @Test("restart equivalence: decisions across restarts and mirror rebuilds equal those of a kiosk that never restarted", arguments: 0..<12)
    func restartEquivalence(seed: UInt64) async throws {
        var g = SplitMix64(seed: seed &+ 0x5EED)
        let base = tempPath("equiv-\(seed)")
        let now = Timestamp(Date().timeIntervalSince1970)
        let passes = try prepareCommunity(base + "/a", now: now)
        try FileManager.default.copyItem(atPath: base + "/a", toPath: base + "/b")
        let clockA = ManualClock(Double(now)), clockB = ManualClock(Double(now))
        let cfgA = try config(base + "/a", "anti_passback = \"hard\""), cfgB = try config(base + "/b", "anti_passback = \"hard\"")
        let a = try ControllerRig(dir: base + "/a", config: cfgA, clock: clockA)
        var b = try ControllerRig(dir: base + "/b", config: cfgB, clock: clockB)
        var restarts = 0
        var decisions = 0
        for step in 0..<40 {
            let gap = Double.random(in: 600...(20 * 3600), using: &g)
            clockA.advance(gap)
            clockB.advance(gap)
            let t = Timestamp(clockA.wall())
            switch Int.random(in: 0..<10, using: &g) {
            case 0:
                let who = ["r1", "r2", "r3"].randomElement(using: &g)!
                let until = t + Timestamp.random(in: 3600...(3 * 86_400), using: &g)
                for rig in [a, b] { try rig.store.setExemption(Exemption(person: who, reason: "care", until: until), actor: "t") }
                try await a.registryChanged()
                try await b.registryChanged()
            case 1:
                let until = Bool.random(using: &g) ? t + 86_400 : nil
                for rig in [a, b] { try rig.store.setQuarantine(person: "r3", until: until, actor: "t") }
                try await a.registryChanged()
                try await b.registryChanged()
            case 2:
                // A re-approval: a new approval counts its entries afresh.
                let v = Visitor(id: "v1", name: "孙丽", idNumber: idn("15070219950505005"), phone: "13800000000", hostHousehold: "h2", reason: "care", approver: "s1", validFrom: t, validUntil: t + 86_400, maxEntries: Int.random(in: 1...2, using: &g))
                for rig in [a, b] { try rig.store.addVisitor(v, actor: "t") }
                try await a.registryChanged()
                try await b.registryChanged()
            case 3 where step > 0:
                b.close()
                if Bool.random(using: &g) {
                    _ = try Mirror.rebuild(dataDir: b.dir, logDir: b.dir + "/log")
                }
                b = try ControllerRig(dir: base + "/b", config: cfgB, clock: clockB)
                restarts += 1
            default:
                let who = ["r1", "r2", "r3", "v1"].randomElement(using: &g)!
                let lane = Bool.random(using: &g) ? "in" : "out"
                let temp = Int.random(in: 0..<8, using: &g) == 0 ? 38.5 : 36.5
                let da = try await a.passage(passes[who]!, lane: lane, celsius: temp)
                let db = try await b.passage(passes[who]!, lane: lane, celsius: temp)
                #expect(da.map { "\($0.outcome) \($0.reason) \($0.flags)" } == db.map { "\($0.outcome) \($0.reason) \($0.flags)" }, "seed \(seed) step \(step): \(who) \(lane)")
                decisions += da.count
            }
        }
        #expect(decisions >= 15)
        a.close()
        b.close()
        print("restart equivalence seed \(seed): \(decisions) decisions, \(restarts) restarts")
    }

    @Test("every output moves only after the decision that caused it is durable")
    func durableBeforeOutputs() async throws {
        let dir = tempPath("durable")
        let now = Timestamp(Date().timeIntervalSince1970)
        let passes = try prepareCommunity(dir, now: now)
        let cfg = try config(dir, "retests = 1")
        let chip = SimulatedGpio()
        let lane = cfg.lanes.first { $0.id == "in" }!
        let io = try GateIO(backend: chip, outputs: lane.outputs, inputs: [:]) { _ in }
        let rig = try ControllerRig(dir: dir, config: cfg, clock: ManualClock(Double(now)), io: ["in": io])
        // At each activation, the most recent durable passage as the log shows it right then.
        let seen = Locked<[(String, Outcome?)]>([])
        chip.onChange = { change in
            guard change.active else { return }
            let c = LogCursor(directory: dir + "/log", from: 1)
            var last: Outcome?
            while let recs = try? c.next(limit: 4096), !recs.isEmpty {
                for r in recs where r.seq <= rig.writer.durableSeq { if let e = TailFormat.event(r), e.kind == .passage { last = e.decision?.outcome } }
            }
            seen.mutate { $0.append((change.line, last)) }
        }
        _ = try await rig.passage(passes["r1"]!)                 // admit: relay, green
        _ = try await rig.passage(passes["r2"]!, celsius: 39.0)  // retest (amber), then fever: red, alarm
        let byLine = seen.value
        #expect(byLine.contains { $0.0 == "relay" } && byLine.contains { $0.0 == "alarm" } && byLine.contains { $0.0 == "amber" })
        for (line, outcome) in byLine {
            let expected: Outcome = switch line {
            case "relay", "green": .admit
            case "amber": .retest
            default: .deny
            }
            #expect(outcome == expected, "\(line) moved when the last durable passage was \(String(describing: outcome))")
        }
        io.shutdown()
        rig.close()
    }

    @Test("a reload applies every changed key or names it as waiting for a restart", arguments: ["fever_threshold = 37.3|fever_threshold = 37.0", "pulse_ms = 3000|pulse_ms = 1500", "registry_poll_ms = 500|registry_poll_ms = 200", "checkpoint_hours = 24|checkpoint_hours = 2", "retention_days = 0|retention_days = 90", "door_held_open_seconds = 30|door_held_open_seconds = 45", "typed_id_numbers = false|typed_id_numbers = true", "quota_days = 2|quota_days = 3", "alarm_seconds = 10|alarm_seconds = 20", "language = \"zh\"|language = \"en\"", "path = \"/dev/postern/qr-out\"|path = \"/dev/postern/qr-2\"", "direction = \"in\"|direction = \"out\"", "chip = \"/dev/gpiochip0\"|chip = \"/dev/gpiochip1\""])
    func reloadEachKey(change: String) throws {
        let example = try String(contentsOfFile: packageRoot + "/examples/postern.toml", encoding: .utf8)
        let parts = change.components(separatedBy: "|")
        let (from, to) = (parts[0], parts[1])
        #expect(example.contains(from), "example has \(from)")
        let old = try KioskConfig.parse(example)
        let at = example.range(of: from)!
        let new = try KioskConfig.parse(example.replacingCharacters(in: at, with: to))
        let holder = ConfigInForce(old)
        let outcome = holder.apply(new)
        let key = from.components(separatedBy: " = ")[0]
        let listed = outcome.applied + outcome.waitingForRestart
        #expect(listed.count == 1 && listed[0].hasSuffix(key), "\(outcome.summary)")
        if outcome.waitingForRestart.isEmpty {
            #expect(holder.current == new, "applied keys are in force")
        } else {
            #expect(holder.current == old, "restart-only keys keep their started values")
        }
        #expect(outcome.summary.contains(key))
    }

    @Test("every key of the example config, changed alone, is either in force after the reload or named as waiting for a restart")
    func reloadEveryKey() throws {
        let example = try String(contentsOfFile: packageRoot + "/examples/postern.toml", encoding: .utf8)
        let old = try KioskConfig.parse(example)
        var lines = example.components(separatedBy: "\n")
        var tried = 0, applied = 0, restart = 0
        for (i, line) in lines.enumerated() {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !code.trimmingCharacters(in: .whitespaces).hasPrefix("["), let eq = code.firstIndex(of: "=") else { continue }
            let value = code[code.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            let keyPart = code[..<eq].trimmingCharacters(in: .whitespaces)
            var candidates: [String] = []
            if let n = Int(value) { candidates = [String(n + 1), String(n - 1), String(n * 2)] }
            else if let d = Double(value) { candidates = [String(d + 0.1), String(d - 0.1)] }
            else if value == "true" || value == "false" { candidates = [value == "true" ? "false" : "true"] }
            else if value.hasPrefix("\"") { candidates = [value.dropLast() + "x\"", "\"en\"", "\"hard\"", "\"off\"", "\"soft\"", "\"none\"", "\"even\"", "\"fahrenheit\""] }
            else if value.hasPrefix("[") { candidates = ["[]", value.replacingOccurrences(of: "]", with: ", \"extra\"]")] }
            else if value.hasPrefix("{") { candidates = [value.replacingOccurrences(of: "true", with: "false"), value.replacingOccurrences(of: "= 1", with: "= 31")] }
            for c in candidates {
                var edited = lines
                edited[i] = "\(keyPart) = \(c)"
                guard let new = try? KioskConfig.parse(edited.joined(separator: "\n")), new != old else { continue }
                let holder = ConfigInForce(old)
                let outcome = holder.apply(new)
                let listed = outcome.applied + outcome.waitingForRestart
                #expect(listed.count == 1 && listed[0].hasSuffix(keyPart) || listed.contains { $0.hasSuffix(keyPart) || $0.contains(keyPart + ".") }, "line \(i + 1) \(keyPart): \(outcome.summary)")
                if outcome.waitingForRestart.isEmpty {
                    #expect(holder.current == new, "line \(i + 1) \(keyPart) applied but not in force")
                    applied += 1
                } else {
                    var expected = new
                    (expected.dataDir, expected.gpioChip, expected.debounceMs, expected.devices) = (old.dataDir, old.gpioChip, old.debounceMs, old.devices)
                    expected.lanes = old.lanes.map { l in var l = l; if let n = new.lanes.first(where: { $0.id == l.id }) { (l.doorHeldOpenSeconds, l.typedIDNumbers) = (n.doorHeldOpenSeconds, n.typedIDNumbers) }; return l }
                    #expect(holder.current == expected, "line \(i + 1) \(keyPart): restart-only values must stay as started")
                    restart += 1
                }
                tried += 1
                break
            }
        }
        lines = []
        #expect(tried >= 40, "keys exercised: \(tried)")
        print("reload: \(tried) keys of the example changed one at a time: \(applied) applied, \(restart) wait for a restart")
    }

    @Test("reload, observed: fever threshold, removing a [[key]] denies its passes at once, typed ID numbers, held-open time")
    func reloadObserved() async throws {
        let dir = tempPath("reload")
        let now = Timestamp(Date().timeIntervalSince1970)
        _ = try prepareCommunity(dir, now: now)
        // A pass signed by a key the config (not the registry) trusts.
        let cfgKey = Curve25519.Signing.PrivateKey()
        let store = try Store.open(dataDir: dir)
        let current = try store.currentPass(person: "r1")!.pass
        var p = current
        p.keyID = "cfg"
        let pass = try PassCodec.encode(p, signingKey: cfgKey)
        let keyTable = "\n[[key]]\nid = \"cfg\"\npublic_key = \"\(Base64URL.encode(Array(cfgKey.publicKey.rawRepresentation)))\"\n"
        let withKey = try KioskConfig.parse(Harness.configText(dir: dir) + keyTable)
        let clock = ManualClock(Double(now))
        let rig = try ControllerRig(dir: dir, config: withKey, clock: clock)
        #expect(try await rig.passage(pass).map(\.reason) == [.ok])
        // Reload without the key, a lower fever threshold, typed ID numbers on lane "in".
        let text = Harness.configText(dir: dir, extra: "fever_threshold = 37.0").replacingOccurrences(of: "readers = [\"qr-in\", \"id-in\"]", with: "readers = [\"qr-in\", \"id-in\"]\ntyped_id_numbers = true\ndoor_held_open_seconds = 5")
        try await rig.controller.handle(.config(try KioskConfig.parse(text), hash: "h2"))
        let reload = rig.events().last { $0.kind == .configReload }
        #expect(reload?.message?.contains("rules.fever_threshold") == true && reload?.message?.contains("key") == true, "\(reload?.message ?? "")")
        #expect(try await rig.passage(pass).map(\.reason) == [.unknownKey], "a removed key stops admitting at once")
        #expect(try await rig.passage(idn("15070219820202002"), celsius: 37.1).first?.reason == .feverRetest)
        clock.advance(60)
        #expect(try await rig.passage(idn("15070219820202002")).map(\.reason) == [.ok], "typed ID number accepted after the reload")
        #expect(rig.events().last { $0.kind == .passage }?.credentialKind == "typed_id_number")
        // Door held open: 5 s now.
        try await rig.controller.handle(.gpio(lane: "in", role: .door, active: true, at: clock.wall()))
        clock.advance(6)
        try await rig.controller.handle(.tick)
        #expect(rig.events().contains { $0.kind == .alert && $0.alert == "held_open" })
        rig.close()
    }

    @Test("a [[key]] removed by reload while its pass waits for a temperature denies that very passage; scanning cannot hold a reload back")
    func reloadMidPassage() async throws {
        let dir = tempPath("reload-mid")
        let now = Timestamp(Date().timeIntervalSince1970)
        _ = try prepareCommunity(dir, now: now)
        let cfgKey = Curve25519.Signing.PrivateKey()
        var p = try Store.open(dataDir: dir).currentPass(person: "r1")!.pass
        p.keyID = "cfg"
        let pass = try PassCodec.encode(p, signingKey: cfgKey)
        let keyTable = "\n[[key]]\nid = \"cfg\"\npublic_key = \"\(Base64URL.encode(Array(cfgKey.publicKey.rawRepresentation)))\"\n"
        let clock = ManualClock(Double(now))
        let rig = try ControllerRig(dir: dir, config: try KioskConfig.parse(Harness.configText(dir: dir) + keyTable), clock: clock)
        try await rig.controller.handle(.device(.credential(device: "qr-in", text: pass, isIDCard: false, at: clock.wall())))
        try await rig.controller.handle(.config(try config(dir), hash: "no-key"))  // while the passage waits
        try await rig.controller.handle(.device(.reading(device: "thermo-in", celsius: 36.5, ambient: nil, at: clock.wall())))
        #expect(rig.events().last { $0.kind == .passage }?.decision?.reason == .unknownKey, "\(rig.events().map { "\($0.kind) \($0.decision?.reason.rawValue ?? $0.message ?? "")" })")
        rig.close()
    }

    @Test("a courier inside when the kiosk restarts still raises the overstay alert")
    func courierStayAcrossRestart() async throws {
        let dir = tempPath("courier-stay")
        let now = Timestamp(Date().timeIntervalSince1970)
        _ = try prepareCommunity(dir, now: now)
        let number = idn("15070219960606006")
        try Store.open(dataDir: dir).addCourier(Courier(id: "c1", name: "周杰", idNumber: number, company: "SF", startMinute: 0, endMinute: 24 * 60), actor: "t")
        let cfg = try config(dir, "courier_stay_minutes = 1")
        let clock = ManualClock(Double(now))
        var rig = try ControllerRig(dir: dir, config: cfg, clock: clock)
        #expect(try await rig.passage(number, isID: true).map(\.reason) == [.ok])  // 30 s pass inside it
        rig.close()
        rig = try ControllerRig(dir: dir, config: cfg, clock: clock)
        clock.advance(35)
        try await rig.controller.handle(.tick)
        let alert = rig.events().first { $0.kind == .alert && $0.alert == "overstay" }
        #expect(alert?.message?.contains("c1") == true && alert?.message?.contains("周杰") == false, "masked name, id shown")
        try await rig.controller.handle(.tick)
        #expect(rig.events().filter { $0.alert == "overstay" }.count == 1, "once per stay")
        rig.close()
    }

    @Test("purge keeps the passages the rules read: a household's used quota survives a purge of everything")
    func purgeKeepsHistory() async throws {
        let dir = tempPath("purge-history")
        let now = Timestamp(Date().timeIntervalSince1970)
        let passes = try prepareCommunity(dir, now: now)
        let clock = ManualClock(Double(now))
        var rig = try ControllerRig(dir: dir, config: try config(dir), clock: clock)
        #expect(try await rig.passage(passes["r1"]!, lane: "out").map(\.reason) == [.ok])
        #expect(try await rig.passage(passes["r3"]!, lane: "in", celsius: 38.9).last?.reason == .fever)  // nothing the rules read
        rig.close()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let purge = try Binary.run(["purge", "--before", "2099-01-01", "--data-dir", dir])
        #expect(purge.status == 0 && purge.stdout.contains("kept"), "\(purge.stdout) \(purge.stderr)")
        rig = try ControllerRig(dir: dir, config: try config(dir), clock: clock)
        #expect(try await rig.passage(passes["r2"]!, lane: "out").map(\.reason) == [.householdQuota])
        rig.close()
        let tail = try Binary.run(["tail", "--after", "0", "--json", "--unmask", "--data-dir", dir]).stdout
        #expect(!tail.contains("\"fever\""), "the fever denial (nothing the rules read) was purged")
        #expect(tail.contains("\"household_quota\""), "what came after the purge is there")
    }

    @Test("reload, observed by the running services: registry_poll_ms from a long wait, checkpoint_hours")
    func reloadServices() async throws {
        let h = try Harness { $0.replacingOccurrences(of: "registry_poll_ms = 100", with: "registry_poll_ms = 60000\ncheckpoint_hours = 168") }
        try await h.ready()
        try await Task.sleep(for: .milliseconds(300))
        try h.admin.store.setQuarantine(person: "r3", until: Timestamp(Date().timeIntervalSince1970) + 86_400, actor: "t")
        try await Task.sleep(for: .milliseconds(1000))
        let checkpoints = { () -> Int in
            let c = LogCursor(directory: h.dir + "/log", from: 1)
            var n = 0
            while let recs = try? c.next(limit: 4096), !recs.isEmpty { n += recs.filter { $0.type == Checkpoint.type }.count }
            return n
        }
        #expect(await h.waitEvent(timeout: 0.5, after: h.startSeq) { $0.kind == .registryChange && $0.action == "quarantine_set" } == nil, "a 60 s poll has not run yet")
        let before = checkpoints()
        h.kiosk.feed.yield(.config(try KioskConfig.parse(Harness.configText(dir: h.dir).replacingOccurrences(of: "registry_poll_ms = 100", with: "registry_poll_ms = 100\ncheckpoint_hours = 1")), hash: "x"))
        #expect(await h.waitEvent(timeout: 3, after: h.startSeq) { $0.kind == .registryChange && $0.action == "quarantine_set" } != nil, "the shorter poll applies at once")
        #expect(checkpoints() == before, "one hour has not passed")
        await h.stop()
    }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
