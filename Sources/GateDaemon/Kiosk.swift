import Crypto
import DeviceProtocols
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import Logging
import ServiceLifecycle
import UnixSignals

/// The whole kiosk, composed: event log, mirror, registry, devices, GPIO, lanes, reload and the
/// systemd notifier as services in one `ServiceGroup`. `start` does every fail-fast check (config,
/// data directory lock, GPIO chip, required devices) before anything runs; `run` serves until
/// SIGTERM, then leaves every output safe and the log flushed.
public final class Kiosk: @unchecked Sendable {
    public struct Options: Sendable {
        /// GPIO backends per lane (the demo and tests pass simulated chips).
        public var gpio: [String: any GpioBackend] = [:]
        public var notifier = SystemdNotifier()
        public var tickInterval = 0.2
        public var logClock: any LogClock = SystemClock()
        /// More services to run in the kiosk's group (the web front), made once the kiosk exists.
        /// They start after the kiosk's own and stop before them.
        public var extraServices: [@Sendable (Kiosk) throws -> any Service] = []
        /// The controller's clock (tests drive time by hand).
        public var clock: any GateClock = SystemGateClock()
        /// How often the checkpoint and retention services look at the config in force.
        public var servicePollSeconds = 60.0
        public init() {}
    }

    /// The config in force (reloads go through it); `config` reads it.
    public let settings: ConfigInForce
    public var config: KioskConfig { settings.current }
    public let configPath: String?
    public let writer: LogWriter
    public let journal: Journal
    public let store: Store
    let registryStore: Store
    public let controller: Controller
    /// The central uplink's state, for `/metrics` (set by the uplink while it runs).
    public let uplinkProbe = UplinkProbe()
    public let io: [String: GateIO]
    let devices: [SerialDevice]
    let mirror: Mirror
    let logger: Logger
    let options: Options
    let inputs: AsyncStream<Controller.Input>
    let feed: AsyncStream<Controller.Input>.Continuation
    let kioskKey: Curve25519.Signing.PrivateKey
    public var logDir: String { config.dataDir + "/log" }

    public struct StartError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func start(config: KioskConfig, configPath: String? = nil, options: Options = Options(), logger: Logger) throws -> Kiosk {
        try Kiosk(config: config, configPath: configPath, options: options, logger: logger)
    }

    init(config: KioskConfig, configPath: String?, options: Options, logger: Logger) throws {
        self.settings = ConfigInForce(config)
        self.configPath = configPath
        self.options = options
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        var lo = LogWriter.Options()
        lo.clock = options.logClock
        writer = try LogWriter.open(directory: config.dataDir + "/log", options: lo)
        journal = Journal(writer: writer)
        let (stream, cont) = AsyncStream<Controller.Input>.makeStream()
        inputs = stream
        feed = cont
        var opened: [GateIO] = []
        do {
            kioskKey = try KioskKey.loadOrCreate(dataDir: config.dataDir)
            store = try Store.open(dataDir: config.dataDir)
            // Before anything is appended: a log that ends below what the mirror has seen must
            // not hand out those numbers again.
            let behind = try store.reconcile(writer)
            for g in writer.recovery.gaps + (behind.map { [$0] } ?? []) {
                try store.markLost(from: g.lostFrom, to: g.lostTo)
            }
            _ = try store.drainAudit(into: writer)
            mirror = try Mirror(store: store, logDir: config.dataDir + "/log")
            try mirror.catchUp(upTo: writer.durableSeq)
            let snapshot = try store.snapshot(extraKeys: config.keys)
            // The passage history, replayed from the logged passages (the mirror is at the
            // log's durable end now) by the same code that records each new decision.
            let history = try Self.history(from: store, now: options.clock.wall())

            var ios: [String: GateIO] = [:]
            for lane in config.lanes {
                let backend: any GpioBackend
                if let b = options.gpio[lane.id] {
                    backend = b
                } else if config.gpioChip == "simulated" {
                    backend = SimulatedGpio()
                } else {
                    backend = try LibgpiodBackend(chip: config.gpioChip)
                }
                let laneID = lane.id
                let io = try GateIO(backend: backend, outputs: lane.outputs, inputs: lane.inputs, debounceMs: config.debounceMs) { e in
                    if case .input(let role, let a, let t) = e { cont.yield(.gpio(lane: laneID, role: role, active: a, at: t)) } else { cont.yield(.device(e)) }
                }
                opened.append(io)
                ios[lane.id] = io
            }
            io = ios
            let sink: DeviceSink = { cont.yield(.device($0)) }
            var devs: [SerialDevice] = []
            for d in config.devices {
                let driver = try Self.driver(for: d, rules: config.rules)
                if d.required {
                    // Fail fast: a required device that cannot be opened now is a start error.
                    if driver.node == .tty {
                        do { try SerialPort(path: d.path, settings: driver.settings).close() } catch {
                            throw StartError(message: "required device \(d.id): \(error)")
                        }
                    } else if access(d.path, R_OK) != 0 {
                        throw StartError(message: "required device \(d.id): cannot read \(d.path)")
                    }
                }
                devs.append(SerialDevice(path: d.path, driver: driver, sink: sink))
            }
            devices = devs
            // The registry poller gets its own connection: one connection per thread of work, so
            // no two transactions ever interleave.
            registryStore = try Store.open(dataDir: config.dataDir)
            controller = Controller(settings: settings, registry: snapshot, history: history, journal: journal, io: ios, logger: logger, clock: options.clock)
            var start = GateEvent(kind: .system, at: wallSeconds())
            let r = writer.recovery
            start.message = "started: log seq \(r.firstSeq)…\(r.lastSeq), \(r.truncatedBytes) torn bytes cut, \(r.gaps.count) damaged ranges set aside"
            _ = try journal.appendBlocking(start)
            for g in r.gaps {
                var e = GateEvent(kind: .alert, at: wallSeconds())
                e.alert = "log_damage"
                e.message = "records \(g.lostFrom)…\(g.lostTo) lost (\(g.reason))" + (g.keptAt.isEmpty ? "" : "; bytes kept in \(g.keptAt)")
                _ = try journal.appendBlocking(e)
                logger.critical("event log damage set aside: \(e.message!)")
            }
            if let g = behind {
                var e = GateEvent(kind: .alert, at: wallSeconds())
                e.alert = "log_truncated"
                e.message = "records \(g.lostFrom)…\(g.lostTo) are missing from the log (\(g.reason)); numbering continues after \(g.lostTo + 1)"
                _ = try journal.appendBlocking(e)
                logger.critical("event log shorter than the mirror: \(e.message!)")
            }
        } catch {
            for io in opened { io.shutdown() }
            writer.close()
            throw error
        }
    }

    /// The passage history at start: the logged passages replayed through `PassageHistory.record`
    /// (the mirror must be at the log's durable end). 31 days covers the longest quota window.
    static func history(from store: Store, now: Double) throws -> PassageHistory {
        PassageHistory.rebuild(try store.historyPassages(since: Timestamp(now) - Store.historyDays * 86_400))
    }

    static func driver(for d: KioskConfig.Device, rules: RulesConfig) throws -> any SerialDriver {
        let settings = SerialPort.Settings(baud: d.baud ?? 9600, parity: d.parity, stopBits: d.stopBits)
        let sanity = ReadingSanity()
        switch d.proto {
        case "gy-mcu90614": return GYMCU90614Driver(name: d.id, baud: d.baud, trigger: d.trigger, sanity: sanity)
        case "modbus-rtu": return ModbusDriver(name: d.id, settings: settings, slave: d.slave, map: d.registerMap, interval: Double(d.pollMs) / 1000, trigger: d.trigger, sanity: sanity)
        case "ascii-line": return try AsciiLineDriver(name: d.id, settings: settings, pattern: d.pattern, unit: d.unit, sanity: sanity)
        case "serial-line": return SerialScannerDriver(name: d.id, settings: settings, maxLength: d.maxLength)
        case "evdev": return EvdevScannerDriver(name: d.id, maxLength: d.maxLength)
        case "hid-pos": return HidPosScannerDriver(name: d.id, maxLength: d.maxLength)
        case "ga467": return GA467Driver(name: d.id, settings: SerialPort.Settings(baud: d.baud ?? 115_200, parity: d.parity, stopBits: d.stopBits))
        default: throw StartError(message: "device \(d.id): unknown protocol \(d.proto)")
        }
    }

    /// Queues a staff override for the next passage on `lane`.
    public func override(lane: String, _ o: Override) { feed.yield(.override(lane: lane, o)) }

    /// Serves until SIGTERM/SIGINT (or `shutdown()`), then stops in reverse order.
    public func run(handleSignals: Bool = true) async throws {
        var services: [any Service] = [
            MirrorService(kiosk: self),
            DeviceService(kiosk: self),
            LaneService(kiosk: self),
            TickService(kiosk: self),
            RegistryService(kiosk: self),
            ReloadService(kiosk: self, enabled: handleSignals),
            CheckpointService(kiosk: self),
            RetentionService(kiosk: self),
            NotifierService(kiosk: self),
            AnnouncementService(kiosk: self),
        ]
        services += try options.extraServices.map { try $0(self) }
        if let uplink = try centralUplink() { services.append(uplink) }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        groupBox.set(group)
        defer {
            options.notifier.notify("STOPPING=1")
            writer.close()
        }
        options.notifier.notify("READY=1\nSTATUS=serving \(config.lanes.count) lane(s)")
        logger.notice("postern serving gate \(config.gate): \(config.lanes.count) lane(s), \(config.devices.count) device(s), GPIO \(io.values.first?.backendDescription ?? "none")")
        try await group.run()
    }

    let groupBox = GroupBox()

    /// Graceful shutdown from inside the process (the demo's end, tests).
    public func shutdown() async {
        await groupBox.get()?.triggerGracefulShutdown()
    }
}

final class GroupBox: @unchecked Sendable {
    private let lock = NSLock()
    private var g: ServiceGroup?
    func set(_ x: ServiceGroup) { lock.lock(); g = x; lock.unlock() }
    func get() -> ServiceGroup? { lock.lock(); defer { lock.unlock() }; return g }
}

/// The kiosk's own signing key for log checkpoints: `kiosk.key` (0600) and `kiosk.pub` in the data
/// directory. A key file readable by others is refused.
public enum KioskKey {
    public static func loadOrCreate(dataDir: String) throws -> Curve25519.Signing.PrivateKey {
        let path = dataDir + "/kiosk.key"
        if let data = FileManager.default.contents(atPath: path) {
            var st = stat()
            if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
                throw Kiosk.StartError(message: "\(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
            }
            return try Curve25519.Signing.PrivateKey(rawRepresentation: data)
        }
        let k = Curve25519.Signing.PrivateKey()
        try AtomicFile.write(Data(k.rawRepresentation), to: path, mode: 0o600)
        try AtomicFile.write(Data((Base64URL.encode(Array(k.publicKey.rawRepresentation)) + "\n").utf8), to: dataDir + "/kiosk.pub", mode: 0o644)
        return k
    }

    public static func publicKey(dataDir: String) -> Curve25519.Signing.PublicKey? {
        guard let d = FileManager.default.contents(atPath: dataDir + "/kiosk.pub"), let s = String(data: d, encoding: .utf8), let raw = Base64URL.decode(s.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }
}

/// Write, fsync, rename, fsync the directory: a reader sees the old file or the new, never half.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o640) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Kiosk.StartError(message: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == data.count
        ok = ok && fchmod(fd, mode) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw Kiosk.StartError(message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
