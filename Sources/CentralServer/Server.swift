/// `postern-central`'s HTTP service on Hummingbird 2: the gates' endpoints (hello, events up,
/// registry down, claims, peers), the accounts' endpoints (registry writes, organisation,
/// reports), TLS from certificate files, the LISTEN connection that wakes long polls and live
/// feeds, and (with `[web]`) the operators' web front (CentralWeb.swift). Stateless: everything it
/// knows is in PostgreSQL (a web session and a feed's window are per instance, rebuilt from the
/// database), so several instances can run side by side.
import CentralStore
import CentralWire
import Crypto
import Foundation
import GateCore
import Hummingbird
import HummingbirdCore
import HummingbirdBcrypt
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

public enum CentralServer {
    /// The PostgreSQL client a config describes.
    public static func postgres(_ c: CentralConfig, logger: Logger) throws -> (PostgresClient, PostgresConnection.Configuration) {
        var password: String? = nil
        if let f = c.dbPasswordFile {
            guard let d = FileManager.default.contents(atPath: f), let s = String(data: d, encoding: .utf8) else { throw CentralConfigError(lines: ["cannot read database.password_file \(f)"]) }
            password = s.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var cfg: PostgresClient.Configuration
        var conn: PostgresConnection.Configuration
        if let sock = c.dbSocket {
            cfg = .init(unixSocketPath: sock, username: c.dbUser, password: password, database: c.dbName)
            conn = .init(unixSocketPath: sock, username: c.dbUser, password: password, database: c.dbName)
        } else {
            let tls: PostgresClient.Configuration.TLS
            let ctls: PostgresConnection.Configuration.TLS
            switch c.dbTLS {
            case "disable":
                tls = .disable
                ctls = .disable
            case "require":
                tls = .require(.makeClientConfiguration())
                ctls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default:
                tls = .prefer(.makeClientConfiguration())
                ctls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            cfg = .init(host: c.dbHost ?? "127.0.0.1", port: c.dbPort, username: c.dbUser, password: password, database: c.dbName, tls: tls)
            conn = .init(host: c.dbHost ?? "127.0.0.1", port: c.dbPort, username: c.dbUser, password: password, database: c.dbName, tls: ctls)
        }
        cfg.options.maximumConnections = c.dbMaxConnections
        cfg.options.connectTimeout = .seconds(5)
        return (PostgresClient(configuration: cfg, backgroundLogger: logger), conn)
    }

    /// Builds the whole service: migrations run when `run` starts, before the port opens.
    public static func make(config: CentralConfig, logger: Logger, notifier: Notifier = Notifier()) throws -> CentralService {
        let (pg, listenConfig) = try postgres(config, logger: logger)
        let db = CentralDB(client: pg, logger: logger, lateAfterSeconds: config.lateAfterSeconds, registryKeep: config.registryKeep)
        return CentralService(config: config, db: db, postgres: pg, listenConfig: listenConfig, logger: logger, notifier: notifier)
    }
}

/// Wakes long polls by community when PostgreSQL notifies a commit. A waiter takes the
/// generation before it reads, so a notification between its read and its wait is not lost.
public final class Wakeups: @unchecked Sendable {
    private let lock = NSLock()
    private var generation: [String: UInt64] = [:]
    private var waiters: [String: [UUID: CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func current(_ key: String) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return generation[key] ?? 0
    }

    public func wake(_ key: String) {
        lock.lock()
        generation[key, default: 0] += 1
        let ws = waiters.removeValue(forKey: key) ?? [:]
        lock.unlock()
        for w in ws.values { w.resume() }
    }

    public func wakeAll() {
        lock.lock()
        for k in Set(generation.keys).union(waiters.keys) { generation[k, default: 0] += 1 }
        let all = waiters
        waiters = [:]
        lock.unlock()
        for ws in all.values { for w in ws.values { w.resume() } }
    }

    /// Returns when `key` moves past `seen`, or after `limit`.
    public func wait(_ key: String, seen: UInt64, limit: Duration) async {
        let id = UUID()
        let timer = Task {
            try? await Task.sleep(for: limit)
            self.cancel(key, id)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                lock.lock()
                if (generation[key] ?? 0) != seen || Task.isCancelled {
                    lock.unlock()
                    c.resume()
                    return
                }
                waiters[key, default: [:]][id] = c
                lock.unlock()
            }
        } onCancel: {
            self.cancel(key, id)
        }
    }

    private func cancel(_ key: String, _ id: UUID) {
        lock.lock()
        let c = waiters[key]?.removeValue(forKey: id)
        lock.unlock()
        c?.resume()
    }
}

/// The service group: the PostgreSQL pool, the LISTEN loop, registry pruning and the HTTP server.
public final class CentralService: Sendable {
    public let config: CentralConfig
    public let db: CentralDB
    let postgres: PostgresClient
    let listenConfig: PostgresConnection.Configuration
    let logger: Logger
    let notifier: Notifier
    public let registryWakeups = Wakeups()
    public let eventWakeups = Wakeups()
    let auth: AccountAuth

    init(config: CentralConfig, db: CentralDB, postgres: PostgresClient, listenConfig: PostgresConnection.Configuration, logger: Logger, notifier: Notifier) {
        self.config = config
        self.db = db
        self.postgres = postgres
        self.listenConfig = listenConfig
        self.logger = logger
        self.notifier = notifier
        auth = AccountAuth(db: db, config: config)
    }

    /// Runs until SIGTERM/SIGINT (or `shutdown`): migrate, listen, serve.
    /// `onWeb` gets the web front's URL once it listens (with `[web]` set).
    public func run(handleSignals: Bool = true, onListening: (@Sendable (Int) async -> Void)? = nil, onWeb: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let pgTask = Task { await postgres.run() }
        defer { pgTask.cancel() }
        let applied = try await migrateWithRetry()
        if applied > 0 { logger.notice("applied \(applied) schema migration(s)") }
        let router = Routes(service: self).router()
        let server: HTTPServerBuilder
        // Idle connections (a partial request held open) are closed; connections are capped to
        // what the open-file limit allows (Connections.swift).
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))
        // With the web front on, its listener takes half of the connections the limit allows.
        let allConnections = Connections.cap(config, fileLimit: Connections.raiseFileLimit())
        let webCap = config.web == nil ? 0 : allConnections / 2
        let connectionCap = allConnections - webCap
        if let cert = config.tlsCert, let key = config.tlsKey {
            let chain: [NIOSSLCertificateSource]
            do { chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) } } catch {
                throw CentralConfigError(lines: ["tls_cert \(cert): cannot read a PEM certificate chain from it (\(error))"])
            }
            guard !chain.isEmpty else { throw CentralConfigError(lines: ["tls_cert \(cert): no PEM certificate in it"]) }
            // PEM whatever the file is called: NIOSSL's `.file(path)` reads a `.key` file as DER, and
            // its own error names neither the file nor the reason.
            let privateKey: NIOSSLPrivateKey
            do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
                throw CentralConfigError(lines: ["tls_key \(key): cannot read a PEM private key from it (\(error))"])
            }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            server = try .tls(.http1(configuration: http1), tlsConfiguration: tls)
        } else {
            server = .http1(configuration: http1)
        }
        let notifier = self.notifier
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(config.listenHost, port: config.listenPort), serverName: "postern-central", availableConnectionsDelegate: MaximumAvailableConnections(connectionCap)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                notifier.notify("READY=1\nSTATUS=serving on port \(port)")
                await onListening?(port)
            },
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: ListenService(central: self), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: PruneService(central: self), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let w = config.web {
            let web = CentralWeb(db: db, auth: auth, wakeups: eventWakeups, config: w, logger: logger)
            webBox.withLock { $0 = web }
            services.append(.init(service: try web.service(http1: http1, connectionCap: webCap, onRunning: onWeb), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        groupBox.set(group)
        defer { notifier.notify("STOPPING=1") }
        try await group.run()
        await auth.bcrypt.shutdown()
    }

    let groupBox = CentralGroupBox()
    let webBox = Mutex<CentralWeb?>(nil)
    /// The web front, once `run` has made it (with `[web]` set).
    public var web: CentralWeb? { webBox.withLock { $0 } }

    public func shutdown() async {
        await groupBox.get()?.triggerGracefulShutdown()
    }

    /// PostgreSQL may still be starting (boot order, a failover): retry for a while.
    func migrateWithRetry() async throws -> Int {
        var wait = 0.2
        let deadline = Date().addingTimeInterval(60)
        while true {
            do { return try await db.migrate() } catch {
                if Date() > deadline { throw error }
                logger.notice("database not ready (\(String(reflecting: error).prefix(200))); retrying")
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                wait = min(wait * 2, 3)
            }
        }
    }
}

final class CentralGroupBox: @unchecked Sendable {
    private let lock = NSLock()
    private var g: ServiceGroup?
    func set(_ x: ServiceGroup) { lock.lock(); g = x; lock.unlock() }
    func get() -> ServiceGroup? { lock.lock(); defer { lock.unlock() }; return g }
}

/// One connection LISTENing on the registry and event channels; reconnects after a failure and
/// then wakes every waiter (a notification may have been missed while it was down).
struct ListenService: Service {
    let central: CentralService
    func run() async throws {
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                attempt += 1
                let conn = try await PostgresConnection.connect(configuration: central.listenConfig, id: 9000 + attempt, logger: central.logger)
                central.registryWakeups.wakeAll()
                central.eventWakeups.wakeAll()
                do {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        g.addTask {
                            for try await n in try await conn.listen("postern_registry") { central.registryWakeups.wake(n.payload) }
                        }
                        g.addTask {
                            for try await n in try await conn.listen("postern_events") { central.eventWakeups.wake(n.payload) }
                        }
                        g.addTask {
                            try await gracefulShutdown()
                            throw CancellationError()
                        }
                        try await g.next()
                        g.cancelAll()
                    }
                } catch {
                    // A connection must be closed before it goes away, whatever ended the loop.
                    try? await conn.close()
                    throw error
                }
                try? await conn.close()
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                central.logger.notice("LISTEN connection lost (\(error)); reconnecting")
                central.registryWakeups.wakeAll()
                central.eventWakeups.wakeAll()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}

/// Keeps `registry_keep` changes per community; older cursors get snapshots.
struct PruneService: Service {
    let central: CentralService
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await central.db.pruneRegistry(keep: central.config.registryKeep) } catch {
                central.logger.notice("registry prune: \(error)")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(600)) }
        }
    }
}

/// sd_notify without libsystemd (a no-op outside systemd).
public struct Notifier: Sendable {
    let socketPath: String?
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func notify(_ message: String) {
        guard let path = socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let msg = Array(message.utf8)
        _ = withUnsafePointer(to: &addr) { ap in
            ap.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                msg.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) }
            }
        }
    }
}
