/// KioskWeb: the standalone kiosk's side of the web front. Its `LiveSource` reads the kiosk's own
/// event log through `LogCursor`, never past the writer's durable sequence, and answers counts,
/// ledger and roster from the registry database; acknowledgements go into the log through the
/// kiosk's journal. Must not decide passages or write the registry.
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore
import Logging
import PosternWeb
import Prometheus
import ServiceLifecycle
import Synchronization

public final class KioskSource: LiveSource, @unchecked Sendable {
    let kiosk: Kiosk
    let store: Store
    let lock = NSLock()
    public let title: String
    public let lanes: [String]
    public let devices: [String]
    let decoder = JSONDecoder()

    public init(kiosk: Kiosk) throws {
        self.kiosk = kiosk
        store = try Store.open(dataDir: kiosk.config.dataDir)
        title = kiosk.config.gate
        lanes = kiosk.config.lanes.map(\.id)
        devices = kiosk.config.devices.map(\.id)
    }

    /// A reader over the log that stops at the durable end: a record the writer has written but
    /// not yet synced is never shown (it could still be lost in a power cut).
    final class Reader: LiveReader {
        let cursor: LogCursor
        let writer: LogWriter
        let gate: String
        let decoder = JSONDecoder()
        init(cursor: LogCursor, writer: LogWriter, gate: String) {
            self.cursor = cursor
            self.writer = writer
            self.gate = gate
        }
        func next(limit: Int) throws -> [LiveRecord] {
            try cursor.next(limit: limit, upTo: writer.durableSeq).map { r in
                let isGate = r.type != GapRecord.type && r.type != Checkpoint.type && !r.flags.contains(.redacted)
                return LiveRecord(
                    seq: r.seq, wallNs: r.wallNs, clockUnsynced: r.flags.contains(.clockUnsynced), gate: gate,
                    event: isGate ? try? decoder.decode(GateEvent.self, from: Data(r.payload)) : nil)
            }
        }
    }

    public func reader(after: UInt64) throws -> any LiveReader {
        Reader(cursor: LogCursor(directory: kiosk.logDir, from: after + 1), writer: kiosk.writer, gate: title)
    }

    public func head() -> UInt64 { kiosk.writer.durableSeq }

    /// With `[central]`: the registry copy's version and age (the store's), the upload backlog
    /// (the running uplink's), degraded past `registry_stale_seconds` or when central fails.
    public func link() async -> LinkStatus? {
        guard let c = centralRegistry() else { return nil }
        let age = max(0, Int(Date().timeIntervalSince1970) - Int(c.appliedAt))
        let u = kiosk.uplinkProbe.get()?()
        let limit = kiosk.config.central?.registryStaleSeconds ?? Int.max
        return LinkStatus(registryVersion: c.version, registryAgeSeconds: age, backlog: u?.backlog, degraded: age > limit || (u?.failing ?? false))
    }

    /// Central's registry as applied here (nil for a kiosk that keeps its own).
    func centralRegistry() -> (version: Int64, appliedAt: Timestamp)? {
        lock.lock()
        defer { lock.unlock() }
        return (try? store.centralState()).flatMap { $0 }.map { ($0.version, $0.appliedAt) }
    }

    public func heads() -> AsyncStream<UInt64> { kiosk.writer.durableUpdates() }

    /// The earlier of: the first record of the last 24 hours, the kiosk's last start (devices
    /// report their state after it). At most 200,000 records back.
    public func stateStart() throws -> UInt64 {
        let dayAgo = (Int64(Date().timeIntervalSince1970) - 86_400) * 1_000_000_000
        let (recent, started): (UInt64?, UInt64?) = try locked {
            let a = try store.db.query("SELECT MIN(seq) FROM events WHERE wall_ns >= ?", [.int(dayAgo)]) { $0.optInt(0) }.first ?? nil
            let b =
                try store.db.query("SELECT MAX(seq) FROM events WHERE kind = 'system' AND payload LIKE '%\"message\":\"started:%'") { $0.optInt(0) }.first
                ?? nil
            return (a.map(UInt64.init), b.map(UInt64.init))
        }
        let head = head()
        let floor = head > 200_000 ? head - 200_000 : 1
        return max(floor, min(recent ?? head + 1, started ?? head + 1, head + 1))
    }

    public func append(_ event: GateEvent) async throws -> UInt64 {
        try await kiosk.journal.append(event)
    }

    public func photo(person: String) -> [UInt8]? { store.photo(person: person) }

    public func ledger(day: String) throws -> [LedgerRow] {
        try locked { try store.ledger(day: day, lane: nil, unmask: false) }
    }

    public func sevenCounts(day: String, now: Timestamp) throws -> SevenCounts {
        try locked { try store.sevenCounts(day: day, now: now) }
    }

    public func staff() throws -> [Staff] {
        try locked { Array(try store.snapshot().staff.values) }
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// The web front for a kiosk from its config: nil when `[web] listen` is not set.
public enum KioskWeb {
    public static func options(_ c: KioskConfig) -> WebOptions? {
        guard let listen = c.web.listen, let (host, port) = WebListen.parse(listen) else { return nil }
        var o = WebOptions(usersFile: c.web.usersFile ?? c.dataDir + "/web-users", boardFile: c.dataDir + "/board.json")
        o.host = host
        o.port = port
        o.tlsCert = c.web.tlsCert
        o.tlsKey = c.web.tlsKey
        o.community = c.web.community
        o.notices = c.web.notices
        o.loginAttemptsPerMinute = c.web.loginAttemptsPerMinute
        o.sessionMinutes = c.web.sessionMinutes
        o.language = c.language
        return o
    }

    /// A service maker for `Kiosk.Options.extraServices`. `metrics` also feeds the log's write
    /// statistics into `/metrics`; `onRunning` gets the URL.
    public static func service(
        options: WebOptions, metrics: WebMetrics = WebMetrics(), logger: Logger, onRunning: @escaping @Sendable (String) -> Void = { _ in },
        server: @escaping @Sendable (WebServer) -> Void = { _ in }
    ) -> @Sendable (Kiosk) throws -> any Service {
        { kiosk in
            let source = try KioskSource(kiosk: kiosk)
            let writer = kiosk.writer
            metrics.addSampler { reg in
                let s = writer.stats
                reg.makeGauge(descriptor: .named("postern_log_batches", "Group-commit batches written (write + fdatasync).")).set(Int64(s.batches))
                reg.makeGauge(descriptor: .named("postern_log_records", "Records written in those batches (records / batches = mean batch size).")).set(
                    Int64(s.records))
                reg.makeGauge(descriptor: .named("postern_log_write_sync_seconds", "Time spent in write + fdatasync.")).set(Double(s.writeSyncNs) / 1e9)
                reg.makeGauge(descriptor: .named("postern_log_durable_seq", "Highest durable sequence number.")).set(Int64(writer.durableSeq))
                // The central link (issue 13), when `[central]` is set: the shipper's cursor and
                // the registry copy's version and age as the store keeps them.
                if let u = kiosk.uplinkProbe.get()?() {
                    reg.makeGauge(descriptor: .named("postern_uplink_acked_seq", "Highest sequence central has acknowledged.")).set(Int64(u.ackedSeq))
                    reg.makeGauge(descriptor: .named("postern_uplink_backlog", "Durable records central has not acknowledged yet.")).set(Int64(u.backlog))
                    reg.makeGauge(descriptor: .named("postern_uplink_up", "1 while the last exchange with central succeeded.")).set(Int64(u.failing ? 0 : 1))
                    reg.makeGauge(descriptor: .named("postern_uplink_records", "Records central acknowledged since the uplink started.")).set(Int64(u.records))
                }
                if let c = source.centralRegistry() {
                    reg.makeGauge(descriptor: .named("postern_registry_version", "Version of central's registry applied here.")).set(c.version)
                    reg.makeGauge(descriptor: .named("postern_registry_age_seconds", "Seconds since central last confirmed the registry copy.")).set(
                        max(0, Date().timeIntervalSince1970 - Double(c.appliedAt)))
                }
            }
            let web = WebServer(source: source, options: options, metrics: metrics, logger: logger)
            server(web)
            do {
                return try web.service(onRunning: onRunning)
            } catch {
                // A bad certificate or key file must not stop the gate: the web front stays off.
                logger.critical("web front not started: \(error); the gate goes on without it")
                web.noteFailure("\(error)")
                return Idle()
            }
        }
    }

    /// Stands in for a web front that could not start: waits for shutdown.
    struct Idle: Service {
        func run() async throws { try? await gracefulShutdown() }
    }
}
