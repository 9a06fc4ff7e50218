import CentralServer
import CentralStore
import Foundation
import Synchronization
import Logging
import PostgresNIO
#if canImport(Glibc)
import Glibc
#endif

/// A real, throwaway PostgreSQL cluster for one suite (scripts/pg-cluster.sh: initdb in a temp
/// directory, a loopback port, run as the `postgres` user). No test of the central plane uses a
/// mock of the database.
final class PGCluster: @unchecked Sendable {
    let dir: String
    let port: Int
    private(set) var databases: [String] = []

    static var root: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") && FileManager.default.fileExists(atPath: url.path + "/scripts/pg-cluster.sh") { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }

    init() throws {
        Self.sweepStale()
        port = Self.freePort()
        dir = NSTemporaryDirectory() + "postern-pg-\(getpid())-\(port)"
        try Self.script(["start", dir, String(port)])
        Self.started.withLock { $0.append(dir) }
        if Self.started.withLock({ $0.count }) == 1 { atexit { PGCluster.destroyAll() } }
    }

    /// Clusters left by a test process that is gone (a run that was killed, or one whose exit
    /// skipped atexit): named postern-pg-PID-PORT, removed when PID no longer runs.
    static func sweepStale() {
        let tmp = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix("postern-pg-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = Int32(parts[2]), pid != getpid(), Glibc.kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? script(["destroy", tmp + name])
        }
    }

    /// Suites keep their cluster in a static; the process's exit removes them all.
    static let started = Mutex<[String]>([])
    static func destroyAll() {
        for d in started.withLock({ $0 }) { try? script(["destroy", d]) }
    }

    deinit { try? Self.script(["destroy", dir]) }

    func kill() throws { try Self.script(["kill", dir]) }
    func start() throws { try Self.script(["start", dir, String(port)]) }
    func stop() throws { try Self.script(["stop", dir]) }

    @discardableResult
    static func script(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root + "/scripts/pg-cluster.sh"] + args
        return try runCapturing(p, "pg-cluster.sh \(args.joined(separator: " "))")
    }

    /// Runs to exit with output in a temp file (a server the script starts must not inherit a
    /// pipe we wait on): posix_spawn and waitpid, nothing that needs a run loop.
    static func runCapturing(_ p: Process, _ what: String) throws -> String {
        let path = NSTemporaryDirectory() + "postern-pg-out-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let argv = [p.executableURL!.path] + (p.arguments ?? [])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw CentralError(.invalid, "\(what): spawn failed (\(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        if exited != 0 { throw CentralError(.invalid, "\(what): \(text)") }
        return text
    }

    /// A fresh database in the cluster and a config pointing at it.
    func database(_ name: String) throws -> CentralConfig {
        _ = try psql("CREATE DATABASE \(name)")
        databases.append(name)
        var c = CentralConfig()
        c.dbHost = "127.0.0.1"
        c.dbPort = port
        c.dbUser = "postgres"
        c.dbName = name
        c.dbTLS = "disable"
        c.listenHost = "127.0.0.1"
        c.listenPort = 0
        return c
    }

    func psql(_ sql: String, db: String = "postgres") throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]
        return try Self.runCapturing(p, "psql").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A CentralDB on a database of the cluster, with its pool running for the closure's duration.
func withCentralDB<T: Sendable>(_ cluster: PGCluster, _ name: String, _ body: @Sendable (CentralDB, CentralConfig) async throws -> T) async throws -> T {
    let cfg = try cluster.database(name)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let (pg, _) = try CentralServer.postgres(cfg, logger: logger)
    let db = CentralDB(client: pg, logger: logger, lateAfterSeconds: 60)
    return try await withThrowingTaskGroup(of: T?.self) { g in
        g.addTask {
            await pg.run()
            return nil
        }
        defer { g.cancelAll() }
        _ = try await db.migrate()
        return try await body(db, cfg)
    }
}
