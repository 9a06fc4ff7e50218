import ArgumentParser
import Foundation
import GateDaemon
import KioskUplink
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the kiosk daemon (systemd Type=notify).")

    @Option(name: .long, help: "Config file (TOML).")
    var config: String = "/etc/postern/postern.toml"

    @Option(name: .long, help: "Override the config's data_dir.")
    var dataDir: String?

    func run() async throws {
        try await guarded {
            Postern.bootstrapLogging()
            var (c, hash) = try KioskConfig.load(path: config)
            try c.checkServable(file: config)
            if let d = dataDir { c.dataDir = d }
            let logger = Logger(label: "postern")
            let kiosk: Kiosk
            KioskUplink.install()  // [central]: the uplink service, when the config asks for it
            var options = Kiosk.Options()
            options.extraServices = WebSetup.services(c, logger: logger) { url in logger.notice("web front at \(url)") }
            do { kiosk = try Kiosk.start(config: c, configPath: config, options: options, logger: logger) } catch {
                throw Exit.io("cannot start: \(error)")
            }
            logger.info("config \(config) sha256 \(hash.prefix(12))")
            try await kiosk.run()
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Config files.", subcommands: [Check.self, Parse.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a config file and print the effective config.")
        @Argument(help: "The config file.") var file: String
        func run() async throws {
            try await guarded {
                let (c, hash) = try KioskConfig.load(path: file)
                try c.checkServable(file: file)
                out(c.effectiveDescription)
                out("# ok: \(file) sha256 \(hash)")
            }
        }
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the configured devices: what is connected, which entry it matches, its state.")
    @Option(name: .long) var config: String = "/etc/postern/postern.toml"
    func run() async throws {
        try await guarded {
            let (c, _) = try KioskConfig.load(path: config)
            for line in DeviceInventory.describe(c) { out(line) }
        }
    }
}
