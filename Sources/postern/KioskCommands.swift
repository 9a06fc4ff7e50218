import ArgumentParser
import Devices
import Foundation
import GateCore
import GateDaemon
import Logging
import PosternWeb

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The whole kiosk on simulated devices with a scripted crowd and the live tail.")
    @Option(name: .long, help: "Keep the data here (default: a temporary directory, removed afterwards).") var dataDir: String?
    @Option(name: .long, help: "Run for at least this many seconds.") var duration: Double = 45
    @Option(name: .long, help: "zh or en") var lang: String = "en"
    @Option(name: .long, help: "The web front's HOST:PORT (port 0: any free port), or off.") var web: String = "127.0.0.1:0"
    @Flag(name: .long, help: "Play the scripted crowd again and again until --duration has passed.") var loop = false

    func run() async throws {
        try await guarded {
            let dir = dataDir ?? NSTemporaryDirectory() + "postern-demo-\(getpid())"
            out("Postern demo: data in \(dir); two lanes on simulated devices (ptys) and simulated GPIO\n")
            var demo = GateGateDemo(dataDir: dir, duration: duration, lang: Language(rawValue: lang) ?? .en, print: { out($0) })
            demo.loop = loop
            if web != "off" {
                guard WebListen.parse(web) != nil else { throw ValidationError("--web must be HOST:PORT or off") }
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
                var c = KioskConfig()
                c.dataDir = dir
                c.gate = "north gate (demo)"
                c.web.listen = web
                c.web.community = "幸福里小区 (demo)"
                c.web.notices = ["每户每两天可指派1名家庭成员外出采购", "外出必须戴口罩", "发热、咳嗽请第一时间向社区报告"]
                let users = AccountFile(path: dir + "/web-users")
                var note = "log in with an account you set: postern web passwd --data-dir \(dir)"
                if users.load().isEmpty {
                    let pw = String(Sessions.newToken().prefix(16))
                    try users.set(name: "admin", role: .admin, password: pw, cost: 10)
                    note = "log in as admin, password \(pw)"
                }
                var logger = Logger(label: "postern-web")
                logger.logLevel = .error
                let login = note
                demo.extraServices = WebSetup.services(c, logger: logger) { url in
                    out("\n  Live view: \(url)/live  (\(login))\n  Board at the gate: \(url)/board\n")
                }
            }
            let counts = try await demo.run()
            out("\nSeven counts: \(counts.households) households (\(counts.rentalHouseholds) rental), Hubei \(counts.hubei), Wuhan \(counts.wuhan), returnees \(counts.returnees), in isolation \(counts.inIsolation)")
            out("Today: \(counts.passagesIn) in, \(counts.passagesOut) out; denials \(counts.denialsByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); fever alerts \(counts.feverAlerts)")
            if dataDir == nil {
                try? FileManager.default.removeItem(atPath: dir)
            } else {
                out("Try: postern tail --data-dir \(dir) --lang zh;  postern report seven --data-dir \(dir);  postern log verify --data-dir \(dir)")
            }
        }
    }
}

typealias GateGateDemo = GateDaemon.Demo

struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A device simulator on a pty: the far end speaks the exact protocol.", discussion: """
        Script steps (one per line, # comments): wait S | reading C | ambient C | noise N |
        badchecksum [N] | unplug S | scan TEXT | card IDNUMBER [NAME] | remove.
        Without a script: a thermometer sees a person at a normal temperature every 4 s; an ID
        reader has a card on it; a scanner sends each line typed on standard input.
        """)
    @Argument(help: "thermometer, scanner or idcard") var device: String
    @Option(name: .long, help: "gy-mcu90614, modbus-rtu, ascii-line, serial-line, ga467") var `protocol`: String
    @Option(name: .long, help: "Path of the symlink to the pty (what the daemon's config names).") var link: String?
    @Option(name: .long, help: "Speak on this existing tty instead of a new pty (e.g. a USB gadget's /dev/ttyGS0).") var attach: String?
    @Option(name: .long) var script: String?
    @Option(name: .long, help: "Modbus slave id.") var slave: Int = 1

    func run() async throws {
        try await guarded {
            guard let kind = DeviceSimulator.ProtocolKind(rawValue: `protocol`) else { throw ValidationError("unknown protocol \(`protocol`)") }
            let allowed: [String: [DeviceSimulator.ProtocolKind]] = ["thermometer": [.gyMCU90614, .modbusRTU, .asciiLine], "scanner": [.serialLine], "idcard": [.ga467]]
            guard allowed[device]?.contains(kind) == true else { throw ValidationError("\(`protocol`) is not a \(device) protocol") }
            var steps: [DeviceSimulator.Step]? = nil
            if let script {
                guard let text = try? String(contentsOfFile: script, encoding: .utf8) else { throw Exit.io("cannot read \(script)") }
                do { steps = try DeviceSimulator.parse(script: text) } catch let e as DeviceSimulator.ScriptError { throw Exit.invalid("\(script):\(e.line): \(e.message)") }
            }
            let sim: DeviceSimulator
            if let attach {
                sim = try DeviceSimulator(kind: kind, attach: attach, slave: UInt8(slave))
            } else if let link {
                sim = try DeviceSimulator(kind: kind, link: link, slave: UInt8(slave))
            } else {
                throw ValidationError("give --link PATH (a new pty) or --attach TTY")
            }
            sim.start()
            out("\(device) simulator (\(kind.rawValue)) at \(sim.link)")
            if let steps {
                sim.run(steps)
                out("script done; still serving (Ctrl-C to stop)")
            } else if kind == .ga467 {
                sim.insertCard(DeviceSimulator.card(id: "11010519491231002X", name: "测试"))
            } else if kind == .serialLine {
                while let line = readLine() { sim.scan(line) }
                sim.stop()
                return
            } else {
                while true {
                    sim.present(celsius: Double.random(in: 36.2...36.9))
                    try await Task.sleep(for: .seconds(4))
                }
            }
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
