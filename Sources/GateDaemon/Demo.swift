import Crypto
import DeviceProtocols
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import Logging
import Photos
import ServiceLifecycle

/// `postern demo`: the whole kiosk on simulated devices. Two lanes (in: GY-MCU90614 thermometer,
/// serial QR scanner, GA 467 ID reader; out: Modbus pyrometer, serial QR scanner) on pty
/// simulators, a simulated GPIO chip per lane, and a scripted crowd: residents, a fever and
/// retests, a quarantined returnee, a household's second shopper, a visitor, a courier, a forged
/// pass. The live tail and GPIO changes print as they happen.
public struct Demo {
    public var dataDir: String
    public var duration: Double
    public var lang: Language
    public var print: @Sendable (String) -> Void
    public var pace: Double = 1.0
    /// More services for the kiosk (the web front).
    public var extraServices: [@Sendable (Kiosk) throws -> any Service] = []
    /// Play the scripted crowd again until `duration` has passed (the browser tests watch it).
    public var loop = false

    public init(dataDir: String, duration: Double, lang: Language = .en, print: @escaping @Sendable (String) -> Void) {
        self.dataDir = dataDir
        self.duration = duration
        self.lang = lang
        self.print = print
    }

    static func id(_ body: String) -> String { body + String(IDNumber.checkCharacter(for: body)!) }

    public func run() async throws -> SevenCounts {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDir + "/dev", withIntermediateDirectories: true)
        let now = Timestamp(Date().timeIntervalSince1970)

        // Registry: households in two buildings, a returnee in isolation, a visitor, a courier.
        let admin = try Admin(dataDir: dataDir)
        let residents = [
            Resident(id: "r1", name: "张伟", sex: .male, idNumber: Self.id("15070219800101001"), household: "1-1-101", address: Address(building: "1", unit: "1", room: "101")),
            Resident(id: "r2", name: "李娜", sex: .female, idNumber: Self.id("15070219820202002"), household: "1-1-101", address: Address(building: "1", unit: "1", room: "101")),
            Resident(id: "r3", name: "王芳", sex: .female, idNumber: Self.id("15070219900303003"), household: "1-2-201", address: Address(building: "1", unit: "2", room: "201"), rental: true, landlordContact: "13900000000"),
            Resident(id: "r4", name: "赵强", sex: .male, idNumber: Self.id("42010619850404004"), household: "2-1-301", address: Address(building: "2", unit: "1", room: "301"), origin: .wuhan, returnDate: now - 3 * 86_400, quarantineUntil: now + 11 * 86_400),
            Resident(id: "r5", name: "刘洋", sex: .male, idNumber: Self.id("15070219880808008"), household: "2-2-402", address: Address(building: "2", unit: "2", room: "402"), origin: .returnee),
        ]
        if try admin.store.residents().isEmpty {
            try admin.store.importResidents(residents, actor: "demo")
            try admin.store.addStaff(Staff(id: "s1", name: "陈主任", role: "cadre", idNumber: Self.id("15070219700707007")), actor: "demo")
            try admin.store.addVisitor(Visitor(id: "v1", name: "孙丽", idNumber: Self.id("15070219950505005"), phone: "13800000000", hostHousehold: "1-2-201", reason: "care for elderly parent", approver: "s1", validFrom: now - 60, validUntil: now + 86_400), actor: "demo")
            try admin.store.addCourier(Courier(id: "c1", name: "周杰", idNumber: Self.id("15070219960606006"), company: "顺丰", startMinute: 0, endMinute: 24 * 60), actor: "demo")
            if !fm.fileExists(atPath: admin.signingKeyPath) { _ = try admin.generateKey(id: "demo-k1", notBefore: now - 86_400) }
            // Placeholder faces (the real registry takes `residents import --photos DIR`).
            var photos: [(person: String, jpeg: [UInt8], record: PhotoRecord)] = []
            for (i, p) in ["r1", "r2", "r3", "r4", "r5", "v1", "c1", "s1"].enumerated() {
                let n = try Photo.normalise(try Photo.encode(rgb: Photo.sample(seed: i), width: 240, height: 320, png: i % 2 == 1))
                photos.append((p, n.jpeg, PhotoRecord(person: p, sha256: n.sha256, bytes: n.jpeg.count, width: n.width, height: n.height)))
            }
            try admin.store.setPhotos(photos, actor: "demo")
        }
        var passes: [String: String] = [:]
        for p in ["r1", "r2", "r3", "r4", "r5"] { passes[p] = try admin.issuePass(person: p, days: 30, now: now - 60).1 }
        let forger = Curve25519.Signing.PrivateKey()
        let forged = try PassCodec.encode(Pass(id: 42, kind: .resident, person: "r1", household: "1-1-101", issued: now - 60, expires: now + 86_400, keyID: "demo-k1"), signingKey: forger)

        // Simulated devices on ptys, at the paths the config names (udev would make these links).
        let dev = dataDir + "/dev"
        let thermoIn = try DeviceSimulator(kind: .gyMCU90614, link: dev + "/thermo-in")
        let scanIn = try DeviceSimulator(kind: .serialLine, link: dev + "/qr-in")
        let idIn = try DeviceSimulator(kind: .ga467, link: dev + "/id-in")
        let thermoOut = try DeviceSimulator(kind: .modbusRTU, link: dev + "/thermo-out")
        let scanOut = try DeviceSimulator(kind: .serialLine, link: dev + "/qr-out")
        let sims = [thermoIn, scanIn, idIn, thermoOut, scanOut]
        for s in sims { s.start() }
        defer { for s in sims { s.stop() } }

        let configText = Self.config(dataDir: dataDir, devDir: dev)
        try configText.write(toFile: dataDir + "/postern.toml", atomically: true, encoding: .utf8)
        let config = try KioskConfig.parse(configText, file: dataDir + "/postern.toml")
        var options = Kiosk.Options()
        options.extraServices = extraServices
        let chips = ["north-in": SimulatedGpio(), "north-out": SimulatedGpio()]
        let printer = print
        for (lane, chip) in chips {
            options.gpio[lane] = chip
            chip.onChange = { c in
                guard c.line == "relay" || c.line == "alarm" else { return }
                printer("        gpio \(lane) \(c.line) → \(c.active ? (c.line == "relay" ? "OPEN" : "ON") : (c.line == "relay" ? "locked" : "off"))")
            }
        }
        var logger = Logger(label: "postern-demo")
        logger.logLevel = .error
        let kiosk = try Kiosk.start(config: config, configPath: nil, options: options, logger: logger)
        let runner = Task { try await kiosk.run(handleSignals: true) }

        // The live tail, as `postern tail -f` shows it.
        let fmt = TailFormat(json: false, color: isatty(1) == 1, unmask: false, lang: lang)
        let tailDone = ManagedFlag()
        let logDir = dataDir + "/log"
        let from = kiosk.writer.durableSeq + 1
        let tail = Task.detached {
            let c = LogCursor(directory: logDir, from: from)
            while !tailDone.value {
                let recs = (try? c.next(limit: 256)) ?? []
                for r in recs where r.type != Checkpoint.type { printer(fmt.line(r)) }
                if recs.isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
            }
            for r in (try? c.next(limit: 4096)) ?? [] where r.type != Checkpoint.type { printer(fmt.line(r)) }
        }

        let start = Date()
        var round = 0
        repeat {
        round += 1
        if round > 1 { printer("  ▶ round \(round)") }
        func step(_ note: String, _ body: () -> Void) async {
            printer("  ▶ \(note)")
            body()
            try? await Task.sleep(for: .milliseconds(Int(2600 * pace)))
        }
        let card = { (id: String, name: String) in DeviceSimulator.card(id: id, name: name) }
        try? await Task.sleep(for: .milliseconds(800))
        await step("张伟 scans his pass at the entrance, 36.5 °C") {
            scanIn.scan(passes["r1"]!)
            thermoIn.present(celsius: 36.5)
        }
        await step("李娜 goes out shopping for household 1-1-101, 36.6 °C") {
            thermoOut.present(celsius: 36.6, seconds: 1.0)
            scanOut.scan(passes["r2"]!)
        }
        await step("张伟 also wants to go out: the household's shopping quota is used") {
            scanOut.scan(passes["r1"]!)
            thermoOut.present(celsius: 36.4, seconds: 1.0)
        }
        await step("王芳 arrives with 37.8 °C: asked to measure again") {
            scanIn.scan(passes["r3"]!)
            thermoIn.present(celsius: 37.8)
        }
        try? await Task.sleep(for: .milliseconds(Int(2500 * pace)))
        await step("王芳's retest: 36.9 °C") { thermoIn.present(celsius: 36.9) }
        await step("赵强 (returned from Wuhan, in home isolation) tries to go out") {
            scanOut.scan(passes["r4"]!)
            thermoOut.present(celsius: 36.5, seconds: 1.0)
        }
        await step("visitor 孙丽 shows her ID card (approved by 陈主任), 36.4 °C") {
            idIn.insertCard(card(Self.id("15070219950505005"), "孙丽"))
            thermoIn.present(celsius: 36.4)
        }
        idIn.removeCard()
        try? await Task.sleep(for: .milliseconds(Int(1200 * pace)))
        await step("courier 周杰 shows his ID card, 36.7 °C") {
            idIn.insertCard(card(Self.id("15070219960606006"), "周杰"))
            thermoIn.present(celsius: 36.7)
        }
        idIn.removeCard()
        await step("a photocopied pass re-signed by someone else") {
            scanIn.scan(forged)
            thermoIn.present(celsius: 36.5)
        }
        await step("刘洋 arrives with 38.4 °C") {
            scanIn.scan(passes["r5"]!)
            thermoIn.present(celsius: 38.4)
        }
        try? await Task.sleep(for: .milliseconds(Int(2500 * pace)))
        await step("刘洋's retest is still 38.3 °C: fever, alarm, alert") { thermoIn.present(celsius: 38.3) }
        await step("someone scans a pass and walks past the thermometer (times out as no_temperature)") { scanIn.scan(passes["r2"]!) }
        let inChip = chips["north-in"]!
        await step("staff press the exit button to let an elderly resident out") {
            inChip.drive(.exitButton, active: true)
            Thread.sleep(forTimeInterval: 0.2)
            inChip.drive(.exitButton, active: false)
        }
        try? await Task.sleep(for: .milliseconds(2000))
        await step("the door is pushed open while the gate is locked (forced open)") {
            inChip.drive(.door, active: true)
            Thread.sleep(forTimeInterval: 0.5)
            inChip.drive(.door, active: false)
        }
        } while loop && Date().timeIntervalSince(start) < duration - 40 * pace

        // Leave time for the last passage to time out, however short the duration asked.
        let remaining = max(duration - Date().timeIntervalSince(start), config.rules.pairingWindowSeconds + 2)
        if remaining > 0 { try? await Task.sleep(for: .milliseconds(Int(remaining * 1000))) }
        await kiosk.shutdown()
        _ = try? await runner.value
        tailDone.value = true
        _ = await tail.value
        let s = try Store.open(dataDir: dataDir)
        try Mirror(store: s, logDir: dataDir + "/log").catchUp()
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        return try s.sevenCounts(day: f.string(from: Date()), now: Timestamp(Date().timeIntervalSince1970))
    }

    static func config(dataDir: String, devDir: String) -> String {
        """
        # Generated by `postern demo`: simulated devices on ptys, simulated GPIO.
        data_dir = "\(dataDir)"
        gate = "north-gate"
        language = "en"

        [rules]
        fever_threshold = 37.3
        retests = 1
        retest_cooldown_seconds = 2
        pairing_window_seconds = 6
        quota_exits = 1
        quota_days = 2

        [relay]
        pulse_ms = 1500

        [gpio]
        chip = "simulated"

        [[device]]
        id = "thermo-in"
        kind = "thermometer"
        protocol = "gy-mcu90614"
        path = "\(devDir)/thermo-in"
        baud = 9600

        [[device]]
        id = "qr-in"
        kind = "scanner"
        protocol = "serial-line"
        path = "\(devDir)/qr-in"

        [[device]]
        id = "id-in"
        kind = "idcard"
        protocol = "ga467"
        path = "\(devDir)/id-in"

        [[device]]
        id = "thermo-out"
        kind = "thermometer"
        protocol = "modbus-rtu"
        path = "\(devDir)/thermo-out"
        slave = 1
        poll_ms = 100

        [[device]]
        id = "qr-out"
        kind = "scanner"
        protocol = "serial-line"
        path = "\(devDir)/qr-out"

        [[lane]]
        id = "north-in"
        direction = "in"
        thermometer = "thermo-in"
        readers = ["qr-in", "id-in"]
        [lane.gpio]
        relay = { offset = 0, active_low = true }
        green = 1
        red = 2
        amber = 3
        alarm = 4
        door = 5
        exit_button = 6

        [[lane]]
        id = "north-out"
        direction = "out"
        thermometer = "thermo-out"
        readers = ["qr-out"]
        [lane.gpio]
        relay = { offset = 8, active_low = true }
        green = 9
        red = 10
        amber = 11
        alarm = 12

        """
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = false
    var value: Bool {
        get { lock.lock(); defer { lock.unlock() }; return v }
        set { lock.lock(); v = newValue; lock.unlock() }
    }
}
