import Crypto
import DeviceProtocols
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Logging
import ServiceLifecycle
import Testing
@testable import GateDaemon

func idn(_ body: String) -> String { body + String(IDNumber.checkCharacter(for: body)!) }

/// A kiosk on real ptys with simulated GPIO, a registry, and passes: the real object graph, with
/// only the GPIO chip simulated (real GPIO is the VM harness's job).
final class Harness: @unchecked Sendable {
    let dir: String
    let kiosk: Kiosk
    let thermoIn, scanIn, thermoOut, scanOut, idIn: DeviceSimulator
    let chipIn = SimulatedGpio(), chipOut = SimulatedGpio()
    var passes: [String: String] = [:]
    let admin: Admin
    var runner: Task<Void, any Error>?
    /// The log's last sequence number before this kiosk started (events after it are this run's).
    let startSeq: UInt64

    static func configText(dir: String, extra: String = "") -> String {
        """
        data_dir = "\(dir)"
        [rules]
        retest_cooldown_seconds = 1
        pairing_window_seconds = 3
        reading_holdoff_seconds = 1
        \(extra)
        [relay]
        pulse_ms = 400
        [gpio]
        chip = "simulated"
        [log]
        registry_poll_ms = 100
        [[device]]
        id = "thermo-in"
        kind = "thermometer"
        protocol = "gy-mcu90614"
        path = "\(dir)/dev/thermo-in"
        baud = 9600
        [[device]]
        id = "qr-in"
        kind = "scanner"
        protocol = "serial-line"
        path = "\(dir)/dev/qr-in"
        [[device]]
        id = "thermo-out"
        kind = "thermometer"
        protocol = "modbus-rtu"
        path = "\(dir)/dev/thermo-out"
        poll_ms = 50
        [[device]]
        id = "qr-out"
        kind = "scanner"
        protocol = "serial-line"
        path = "\(dir)/dev/qr-out"
        [[device]]
        id = "id-in"
        kind = "idcard"
        protocol = "ga467"
        path = "\(dir)/dev/id-in"
        [[lane]]
        id = "in"
        direction = "in"
        thermometer = "thermo-in"
        readers = ["qr-in", "id-in"]
        [lane.gpio]
        relay = 0
        green = 1
        red = 2
        amber = 3
        alarm = 4
        door = 5
        exit_button = 6
        [[lane]]
        id = "out"
        direction = "out"
        thermometer = "thermo-out"
        readers = ["qr-out"]
        [lane.gpio]
        relay = 8
        red = 10
        alarm = 12
        """
    }

    /// The four device simulators on their ptys, started.
    static func simulators(dir: String) throws -> [DeviceSimulator] {
        let sims = [
            try DeviceSimulator(kind: .gyMCU90614, link: dir + "/dev/thermo-in"),
            try DeviceSimulator(kind: .serialLine, link: dir + "/dev/qr-in"),
            try DeviceSimulator(kind: .modbusRTU, link: dir + "/dev/thermo-out"),
            try DeviceSimulator(kind: .serialLine, link: dir + "/dev/qr-out"),
            try DeviceSimulator(kind: .ga467, link: dir + "/dev/id-in"),
        ]
        for s in sims { s.start() }
        return sims
    }

    /// Registry, key and passes in `dir`, device simulators on ptys; nothing started.
    static func prepare(dir: String) throws -> (Admin, [String: String], [DeviceSimulator]) {
        try FileManager.default.createDirectory(atPath: dir + "/dev", withIntermediateDirectories: true)
        let admin = try Admin(dataDir: dir)
        try admin.store.importResidents([
            Resident(id: "r1", name: "张伟", sex: .male, idNumber: idn("15070219800101001"), household: "h1", address: Address(building: "1", unit: "1", room: "101")),
            Resident(id: "r2", name: "李娜", sex: .female, idNumber: idn("15070219820202002"), household: "h1", address: Address(building: "1", unit: "1", room: "101")),
            Resident(id: "r3", name: "王芳", sex: .female, idNumber: idn("15070219900303003"), household: "h2", address: Address(building: "2", unit: "1", room: "201")),
        ], actor: "test")
        let now = Timestamp(Date().timeIntervalSince1970)
        _ = try admin.generateKey(id: "k1", notBefore: now - 3600)
        var passes: [String: String] = [:]
        for p in ["r1", "r2", "r3"] { passes[p] = try admin.issuePass(person: p, days: 1, now: now - 60).1 }
        return (admin, passes, try simulators(dir: dir))
    }

    /// Waits until every device has been opened by the kiosk (a tty flushes input at open).
    func ready() async throws {
        for d in ["thermo-in", "qr-in", "thermo-out", "qr-out", "id-in"] {
            guard await waitEvent(timeout: 10, after: startSeq, { $0.kind == .deviceState && $0.device == d && ($0.message ?? "").hasPrefix("connected") }) != nil else {
                throw Kiosk.StartError(message: "device \(d) never connected; log: \(dump())")
            }
        }
    }

    func dump() -> String {
        let c = LogCursor(directory: dir + "/log", from: 1)
        let f = TailFormat()
        return ((try? c.next(limit: 4096)) ?? []).map { f.line($0) }.joined(separator: "\n")
    }

    /// A fresh kiosk, or (`continuing`) a restart of a stopped one on the same data directory.
    init(continuing old: Harness? = nil, dir newDir: String? = nil, configure: (String) -> String = { $0 }, extraServices: [@Sendable (Kiosk) throws -> any Service] = []) throws {
        let sims: [DeviceSimulator]
        if let old {
            dir = old.dir
            admin = old.admin
            passes = old.passes
            let c = LogCursor(directory: old.dir + "/log", from: 1)
            var last: UInt64 = 0
            while let recs = try? c.next(limit: 4096), let l = recs.last { last = l.seq }
            startSeq = last
            sims = try Self.simulators(dir: dir)
        } else {
            dir = newDir ?? tempPath("kiosk")
            (admin, passes, sims) = try Self.prepare(dir: dir)
            startSeq = 0
        }
        (thermoIn, scanIn, thermoOut, scanOut, idIn) = (sims[0], sims[1], sims[2], sims[3], sims[4])
        var o = Kiosk.Options()
        o.gpio = ["in": chipIn, "out": chipOut]
        o.tickInterval = 0.05
        o.extraServices = extraServices
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        o.servicePollSeconds = 0.1
        kiosk = try Kiosk.start(config: try KioskConfig.parse(configure(Self.configText(dir: dir))), options: o, logger: logger)
        let k = kiosk
        runner = Task { try await k.run(handleSignals: false) }
    }

    func stop() async {
        await kiosk.shutdown()
        _ = try? await runner?.value
        for s in [thermoIn, scanIn, thermoOut, scanOut, idIn] { s.stop() }
    }

    /// Waits for a logged event matching `match` (reading the log files like `postern tail`).
    func waitEvent(timeout: Double = 8, after: UInt64 = 0, _ match: (GateEvent) -> Bool) async -> GateEvent? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let c = LogCursor(directory: dir + "/log", from: after + 1)
            while let recs = try? c.next(limit: 4096), !recs.isEmpty {
                for r in recs { if let e = TailFormat.event(r), match(e) { return e } }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func passage(_ lane: String, _ reason: Reason, person: String? = nil) async -> GateEvent? {
        await waitEvent(after: startSeq) { $0.kind == .passage && $0.lane == lane && $0.decision?.reason == reason && (person == nil || $0.decision?.personID == person) }
    }
}

@Suite("The kiosk end to end (ptys, real log and SQLite, simulated GPIO)", .serialized)
struct KioskTests {
    @Test("admit pulses the relay after the decision is durable; a quota denial never moves it; the mirror has both")
    func admitAndDeny() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        let admitted = await h.passage("in", .ok, person: "r1")
        #expect(admitted?.decision?.outcome == .admit)
        try await Task.sleep(for: .milliseconds(800))
        let relay = h.chipIn.changes.filter { $0.line == "relay" }.map(\.active)
        #expect(relay == [false, true, false], "relay starts locked, opens once, locks again")

        h.thermoOut.present(celsius: 36.6, seconds: 1)
        h.scanOut.scan(h.passes["r2"]!)
        #expect(await h.passage("out", .ok, person: "r2") != nil)
        try await Task.sleep(for: .milliseconds(1500))
        let before = h.chipOut.changes.filter { $0.line == "relay" && $0.active }.count
        h.scanOut.scan(h.passes["r1"]!)
        h.thermoOut.present(celsius: 36.6, seconds: 1)
        #expect(await h.passage("out", .householdQuota, person: "r1") != nil)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.chipOut.changes.filter { $0.line == "relay" && $0.active }.count == before)
        await h.stop()
        let s = try Store.open(dataDir: h.dir)
        try Mirror(store: s, logDir: h.dir + "/log").catchUp()
        let reasons = try s.db.query("SELECT reason FROM events WHERE kind = 'passage' ORDER BY seq") { $0.text(0) }
        #expect(reasons == ["ok", "ok", "household_quota"])
        #expect(try LogVerifier(directory: h.dir + "/log", keys: { $0 == "kiosk" ? KioskKey.publicKey(dataDir: h.dir) : nil }).run().ok)
    }

    @Test("fever: retest still high denies, sounds the alarm and logs an alert")
    func fever() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r3"]!)
        h.thermoIn.present(celsius: 38.2)
        #expect(await h.passage("in", .feverRetest) != nil)
        try await Task.sleep(for: .milliseconds(1300))
        h.thermoIn.present(celsius: 38.1)
        #expect(await h.passage("in", .fever) != nil)
        #expect(await h.waitEvent { $0.kind == .alert && $0.alert == "fever" } != nil)
        #expect(h.chipIn.changes.contains { $0.line == "alarm" && $0.active })
        #expect(!h.chipIn.changes.contains { $0.line == "relay" && $0.active })
        await h.stop()
    }

    @Test("an admin lockdown reaches the running kiosk within a second and is audited in the log")
    func registryChange() async throws {
        let h = try Harness()
        try await h.ready()
        try h.admin.store.setLockdown(.building("2"), reason: "confirmed case", at: Timestamp(Date().timeIntervalSince1970), actor: "chen")
        #expect(await h.waitEvent(timeout: 3) { $0.kind == .registryChange && $0.entity == "lockdown" && $0.actor == "chen" } != nil, "\(h.dump())")
        h.scanOut.scan(h.passes["r3"]!)
        h.thermoOut.present(celsius: 36.5, seconds: 1)
        #expect(await h.passage("out", .lockdown, person: "r3") != nil)
        await h.stop()
    }

    @Test("a device unplugged mid-passage: fault and alert logged, the other lane keeps working, replug recovers")
    func unplug() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.unplug(for: 0.0)  // gone…
        #expect(await h.waitEvent { $0.kind == .alert && $0.alert == "device_missing" && ($0.message ?? "").hasPrefix("thermo-in") } != nil)
        // …the out lane is unaffected meanwhile.
        h.thermoOut.present(celsius: 36.6, seconds: 1)
        h.scanOut.scan(h.passes["r2"]!)
        #expect(await h.passage("out", .ok, person: "r2") != nil)
        // The half-done passage on the in lane times out as no_temperature.
        #expect(await h.passage("in", .noTemperature, person: "r1") != nil)
        // Back: reconnected without a restart, and a passage works again.
        #expect(await h.waitEvent { $0.kind == .deviceState && $0.device == "thermo-in" && ($0.message ?? "").hasPrefix("connected") } != nil)
        try await Task.sleep(for: .milliseconds(1200))
        h.scanIn.scan(h.passes["r3"]!)
        h.thermoIn.present(celsius: 36.4)
        #expect(await h.passage("in", .ok, person: "r3") != nil)
        await h.stop()
    }

    @Test("shutdown mid-pulse leaves every output safe and the log flushed")
    func shutdownMidPulse() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        #expect(await h.passage("in", .ok) != nil)
        #expect(h.chipIn.value(.relay) == true)
        await h.stop()
        for role in OutputRole.allCases {
            if let v = h.chipIn.value(role) { #expect(v == false, "\(role) left active") }
        }
        #expect(try LogVerifier(directory: h.dir + "/log", keys: { $0 == "kiosk" ? KioskKey.publicKey(dataDir: h.dir) : nil }).run().ok)
    }

    @Test("a shutdown with passages waiting records each of them and lets nobody through")
    func shutdownPending() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r1"]!)  // scanned, no temperature yet
        h.scanOut.scan(h.passes["r3"]!)
        h.thermoOut.present(celsius: 38.2, seconds: 1)  // fever: waiting for the retest
        #expect(await h.passage("out", .feverRetest, person: "r3") != nil)
        try await Task.sleep(for: .milliseconds(300))
        await h.stop()
        let s = try Store.open(dataDir: h.dir)
        try Mirror(store: s, logDir: h.dir + "/log").catchUp()
        let rows = try s.db.query("SELECT lane, person, outcome, reason FROM events WHERE kind = 'passage' ORDER BY seq") { "\($0.text(0) ?? "") \($0.text(1) ?? "") \($0.text(2) ?? "") \($0.text(3) ?? "")" }
        #expect(rows == ["out r3 retest fever_retest", "in r1 deny no_temperature", "out r3 deny fever"])
        let alerts = try s.db.query("SELECT alert FROM events WHERE kind = 'alert'") { $0.text(0) ?? "" }
        #expect(alerts.contains("fever"))
        #expect(!h.chipIn.changes.contains { $0.line == "relay" && $0.active })
        #expect(!h.chipOut.changes.contains { $0.line == "relay" && $0.active })
    }

    @Test("a single-entry visitor approval stays used up after a restart, even from a rebuilt database")
    func visitorAcrossRestart() async throws {
        let h = try Harness()
        let now = Timestamp(Date().timeIntervalSince1970)
        let visitorID = idn("15070219850505005")
        try h.admin.store.addVisitor(Visitor(id: "v1", name: "赵六", idNumber: visitorID, phone: "13800000000", hostHousehold: "h1", reason: "family care", approver: "chen", validFrom: now - 60, validUntil: now + 3600), actor: "chen")
        let visitorPass = try h.admin.issuePass(person: "v1", days: 1, now: now - 60).1
        try await h.ready()
        try await Task.sleep(for: .milliseconds(700))  // the registry poll picks the approval up
        h.scanIn.scan(visitorPass)
        h.thermoIn.present(celsius: 36.5)
        #expect(await h.passage("in", .ok, person: "v1") != nil, "\(h.dump())")
        await h.stop()
        // The database is a mirror: rebuilt from the log, the count comes back from the passages.
        _ = try Mirror.rebuild(dataDir: h.dir, logDir: h.dir + "/log")

        let again = try Harness(continuing: h)
        try await again.ready()
        try await Task.sleep(for: .milliseconds(1200))  // past the reading hold-off
        again.scanIn.scan(visitorPass)
        again.thermoIn.present(celsius: 36.5)
        let second = await again.waitEvent(after: again.startSeq) { $0.kind == .passage && $0.lane == "in" }
        #expect(second?.decision?.outcome == .deny, "\(again.dump())")
        await again.stop()
    }

    @Test("an ID number from a QR scanner is malformed on a QR+ID lane and on a QR-only lane; the ID card itself admits")
    func idNumberAsQR() async throws {
        let h = try Harness()
        try await h.ready()
        let number = idn("15070219800101001")  // r1's, valid check digit
        h.scanIn.scan(number)
        h.thermoIn.present(celsius: 36.5)
        let qrIn = await h.passage("in", .malformedCredential)
        #expect(qrIn?.credentialKind == "qr" && qrIn?.decision?.personID == nil, "\(h.dump())")
        h.scanOut.scan(number.lowercased())
        h.thermoOut.present(celsius: 36.5)
        #expect(await h.passage("out", .malformedCredential) != nil, "\(h.dump())")
        try await Task.sleep(for: .milliseconds(1200))  // past the reading hold-off
        h.idIn.insertCard(GA467.CardText(name: "张伟", sex: "1", nation: "01", birth: "19800101", address: "x", idNumber: number, issuer: "x", validFrom: "20200101", validTo: "20400101"))
        h.thermoIn.present(celsius: 36.5)
        let card = await h.passage("in", .ok, person: "r1")
        #expect(card?.credentialKind == "id_card", "\(h.dump())")
        #expect(!h.chipOut.changes.contains { $0.line == "relay" && $0.active })
        await h.stop()
    }

    @Test("a burst of unreadable scans is recorded as its first attempt and one counted record")
    func junkCoalesced() async throws {
        let h = try Harness()
        try await h.ready()
        for i in 0..<300 { h.scanOut.scan("junk-\(i)") }
        #expect(await h.passage("out", .malformedCredential) != nil)
        try await Task.sleep(for: .milliseconds(1500))  // the rest of the burst is read
        await h.stop()  // ends the burst: the rest are one record with their count
        let c = LogCursor(directory: h.dir + "/log", from: h.startSeq + 1)
        var denials: [GateEvent] = []
        while let recs = try? c.next(limit: 4096), !recs.isEmpty {
            denials += recs.compactMap(TailFormat.event).filter { $0.kind == .passage && $0.decision?.reason == .malformedCredential }
        }
        #expect(denials.count == 2, "\(h.dump())")
        #expect(denials.reduce(0) { $0 + ($1.attempts ?? 1) } == 300, "every scan is counted")
        // The reports count attempts, not records.
        let s = try Store.open(dataDir: h.dir)
        try Mirror(store: s, logDir: h.dir + "/log").catchUp()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let day = f.string(from: Date())
        #expect(try s.sevenCounts(day: day, now: Timestamp(Date().timeIntervalSince1970)).denialsByReason["malformed_credential"] == 300)
        #expect(try s.ledger(day: day, lane: "out", unmask: false).map(\.attempts).reduce(0, +) == 300)
    }

    @Test("the same pass at two lanes within an impossible interval raises an alert")
    func impossibleTravel() async throws {
        let h = try Harness()
        try await h.ready()
        h.scanIn.scan(h.passes["r1"]!)
        h.scanOut.scan(h.passes["r1"]!)
        #expect(await h.waitEvent(timeout: 10) { $0.kind == .alert && $0.alert == "impossible_travel" } != nil, "\(h.dump())")
        await h.stop()
    }

    @Test("door forced open and the exit button are logged; the exit button opens the relay")
    func door() async throws {
        let h = try Harness()
        try await h.ready()
        try await Task.sleep(for: .milliseconds(300))
        h.chipIn.drive(.door, active: true)
        #expect(await h.waitEvent { $0.kind == .alert && $0.alert == "forced_open" } != nil)
        h.chipIn.drive(.door, active: false)
        h.chipIn.drive(.exitButton, active: true)
        #expect(await h.waitEvent { $0.kind == .door && $0.message == "exit button pressed" } != nil)
        #expect(h.chipIn.changes.contains { $0.line == "relay" && $0.active })
        await h.stop()
    }
}
