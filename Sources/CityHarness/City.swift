/// A whole city on one machine, for the end-to-end tests and `postern-city demo`: a throwaway
/// PostgreSQL cluster (scripts/pg-cluster.sh), `postern-central` as a process, and `postern
/// serve` kiosk processes on simulated devices (pty thermometers and scanners, simulated GPIO),
/// each enrolled with its own token. Everything real but the devices; every process is ours
/// and stopped by pid.
import CentralStore
import CentralWire
import Crypto
import Devices
import Foundation
import GateCore
import Logging
import PostgresNIO
#if canImport(Glibc)
import Glibc
#endif

public enum CityError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String { if case .failed(let s) = self { return s }; return "" }
}

/// A child process started with posix_spawn, output to a file, stopped by its pid.
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String

    public init(_ argv: [String], log: String, env: [String: String] = [:]) throws {
        logPath = log
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        for (k, v) in env { environment[k] = v }
        var cenv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in cenv { free(e) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, argv[0], &actions, nil, &cargs, &cenv)
        guard rc == 0 else { throw CityError.failed("cannot start \(argv[0]): \(rc)") }
        pid = p
    }

    public var running: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; reaps the child.
    public func stop(grace: Double = 10) {
        kill(pid, SIGTERM)
        let end = Date().addingTimeInterval(grace)
        var status: Int32 = 0
        while Date() < end {
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    /// SIGKILL at once (a crash, a power cut of the process).
    public func crash() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Runs a command to completion; throws with its output when it fails.
@discardableResult
public func runTool(_ argv: [String], env: [String: String] = [:]) throws -> String {
    let out = NSTemporaryDirectory() + "postern-city-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: out) }
    let c = try Child(argv, log: out, env: env)
    var status: Int32 = 0
    while waitpid(c.pid, &status, 0) < 0 && errno == EINTR {}
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    if (status & 0x7f) != 0 || (status >> 8) & 0xff != 0 { throw CityError.failed("\(argv.joined(separator: " ")): \(text)") }
    return text
}

public final class City: @unchecked Sendable {
    public struct KioskSpec: Sendable {
        public var community: String
        public var gate: String
        /// A loopback port for the kiosk's web front (`[web] listen`); nil: web off.
        public var webPort: Int?
        public init(community: String, gate: String, webPort: Int? = nil) {
            self.community = community
            self.gate = gate
            self.webPort = webPort
        }
    }

    /// One kiosk: its process, its simulated devices, its data directory.
    public final class Kiosk: @unchecked Sendable {
        public let spec: KioskSpec
        public let dir: String
        public let configPath: String
        public var process: Child?
        public let thermoIn: DeviceSimulator, qrIn: DeviceSimulator, thermoOut: DeviceSimulator, qrOut: DeviceSimulator
        var lock = NSLock()

        init(spec: KioskSpec, dir: String) throws {
            self.spec = spec
            self.dir = dir
            configPath = dir + "/postern.toml"
            try FileManager.default.createDirectory(atPath: dir + "/dev", withIntermediateDirectories: true)
            thermoIn = try DeviceSimulator(kind: .gyMCU90614, link: dir + "/dev/thermo-in")
            qrIn = try DeviceSimulator(kind: .serialLine, link: dir + "/dev/qr-in")
            thermoOut = try DeviceSimulator(kind: .gyMCU90614, link: dir + "/dev/thermo-out")
            qrOut = try DeviceSimulator(kind: .serialLine, link: dir + "/dev/qr-out")
            for s in [thermoIn, qrIn, thermoOut, qrOut] { s.start() }
        }

        /// One person at one lane: a reading, then the pass (one passage; the lane pairs them).
        public func pass(_ payload: String, direction: Direction, celsius: Double = 36.5) {
            lock.lock()
            defer { lock.unlock() }
            let (t, q) = direction == .in ? (thermoIn, qrIn) : (thermoOut, qrOut)
            q.scan(payload)
            t.present(celsius: celsius, seconds: 0.8)
        }

        public func stopDevices() { for s in [thermoIn, qrIn, thermoOut, qrOut] { s.stop() } }
    }

    public let root: String
    public let pgDir: String
    public let pgPort: Int
    public var centralPorts: [Int] = []
    /// Each central instance's web front (`[web] listen`, loopback, plain HTTP).
    public var webPorts: [Int] = []
    public var centrals: [Child] = []
    public var kiosks: [String: Kiosk] = [:]
    public let repo: String
    public let signingKey = Curve25519.Signing.PrivateKey()
    public let keyID = "city-k1"
    var passIDs: UInt64 = 1000
    public var registryKey = ""
    public var claimTimeoutMs = 300
    public var offlineBudget = 1

    public var centralURLs: [String] { centralPorts.map { "http://127.0.0.1:\($0)" } }
    public var webURLs: [String] { webPorts.map { "http://127.0.0.1:\($0)" } }
    var postern: String { repo + "/.build/debug/postern" }
    var posternCentral: String { repo + "/.build/debug/postern-central" }

    /// Starts PostgreSQL and `instances` central services sharing it.
    public init(root: String, repo: String, instances: Int = 1) throws {
        self.root = root
        self.repo = repo
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        pgDir = root + "/pg"
        pgPort = freeLoopbackPort()
        try runTool(["/bin/bash", repo + "/scripts/pg-cluster.sh", "start", pgDir, String(pgPort)])
        _ = try psql("CREATE DATABASE postern", db: "postgres")
        for i in 0..<instances {
            let port = freeLoopbackPort()
            centralPorts.append(port)
            webPorts.append(freeLoopbackPort())
            try centralConfig(port: port, web: webPorts[i]).write(toFile: root + "/central-\(i).toml", atomically: true, encoding: .utf8)
        }
        for i in 0..<instances { try startCentral(i) }
    }

    func centralConfig(port: Int, web: Int) -> String {
        """
        listen = "127.0.0.1:\(port)"
        late_after_seconds = 30
        long_poll_max_seconds = 30
        [web]
        listen = "127.0.0.1:\(web)"
        [database]
        host = "127.0.0.1"
        port = \(pgPort)
        user = "postgres"
        name = "postern"
        tls = "disable"
        max_connections = 16
        """
    }

    public func startCentral(_ i: Int) throws {
        let c = try Child([posternCentral, "serve", "--config", root + "/central-\(i).toml"], log: root + "/central-\(i).log", env: ["LOG_LEVEL": "warning"])
        if centrals.count > i { centrals[i] = c } else { centrals.append(c) }
        try waitHealthy(i)
    }

    public func waitHealthy(_ i: Int, timeout: Double = 60) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if httpOK(port: centralPorts[i], path: "/healthz") { return }
            usleep(100_000)
        }
        throw CityError.failed("central \(i) did not come up:\n\(centrals[i].log.suffix(2000))")
    }

    public func psql(_ sql: String, db: String = "postern") throws -> String {
        try runTool(["/usr/bin/psql", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-d", db, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func centralCLI(_ args: [String], env: [String: String] = [:]) throws -> String {
        try runTool([posternCentral] + args + ["--config", root + "/central-0.toml"], env: env)
    }

    /// `postern ARGS` (the kiosk/admin CLI).
    public func posternCLI(_ args: [String], env: [String: String] = [:]) throws -> String {
        try runTool([postern] + args, env: env)
    }

    /// Organisation: one city, one district, one street per community.
    public func organise(communities: [String]) throws {
        _ = try centralCLI(["org", "city", "hlbe", "--name", "呼伦贝尔市"])
        _ = try centralCLI(["org", "district", "hailar", "--name", "海拉尔区", "--parent", "hlbe"])
        for (i, c) in communities.enumerated() {
            let street = "street\(i % 2)"
            _ = try centralCLI(["org", "street", street, "--name", "街道\(i % 2)", "--parent", "hailar"])
            _ = try centralCLI(["community", c, "--street", street, "--name", "社区" + c])
        }
        registryKey = String(try centralCLI(["registry-key"]).split(separator: "\n").last ?? "").trimmingCharacters(in: .whitespaces)
    }

    /// Enrols and starts a kiosk process.
    public func addKiosk(_ spec: KioskSpec) throws {
        let dir = root + "/kiosk-" + spec.gate
        let k = try Kiosk(spec: spec, dir: dir)
        kiosks[spec.gate] = k
        _ = try centralCLI(["gate", "enrol", spec.gate, "--community", spec.community, "--token-out", dir + "/central.token"])
        try kioskConfig(k).write(toFile: k.configPath, atomically: true, encoding: .utf8)
        try startKiosk(spec.gate)
    }

    /// Starts the kiosk process and waits until it serves (with `wait`).
    public func startKiosk(_ gate: String, wait: Bool = true) throws {
        let k = kiosks[gate]!
        let before = k.process.map { _ in (try? String(contentsOfFile: k.dir + "/kiosk.log", encoding: .utf8))?.components(separatedBy: "postern serving").count ?? 0 } ?? 0
        k.process = try Child([postern, "serve", "--config", k.configPath], log: k.dir + "/kiosk.log", env: ["LOG_LEVEL": "warning"])
        guard wait else { return }
        let end = Date().addingTimeInterval(30)
        while Date() < end {
            let n = ((try? String(contentsOfFile: k.dir + "/kiosk.log", encoding: .utf8)) ?? "").components(separatedBy: "postern serving").count
            if n > max(before, 1) { return }
            if !(k.process?.running ?? false) { throw CityError.failed("kiosk \(gate) exited:\n\(k.process?.log.suffix(2000) ?? "")") }
            usleep(50_000)
        }
        throw CityError.failed("kiosk \(gate) did not start serving:\n\(k.process?.log.suffix(2000) ?? "")")
    }

    func kioskConfig(_ k: Kiosk) -> String {
        let lanes = """
            [[device]]
            id = "thermo-in"
            kind = "thermometer"
            protocol = "gy-mcu90614"
            path = "\(k.dir)/dev/thermo-in"
            [[device]]
            id = "qr-in"
            kind = "scanner"
            protocol = "serial-line"
            path = "\(k.dir)/dev/qr-in"
            [[device]]
            id = "thermo-out"
            kind = "thermometer"
            protocol = "gy-mcu90614"
            path = "\(k.dir)/dev/thermo-out"
            [[device]]
            id = "qr-out"
            kind = "scanner"
            protocol = "serial-line"
            path = "\(k.dir)/dev/qr-out"
            [[lane]]
            id = "in"
            direction = "in"
            thermometer = "thermo-in"
            readers = ["qr-in"]
            [lane.gpio]
            relay = 0
            green = 1
            red = 2
            [[lane]]
            id = "out"
            direction = "out"
            thermometer = "thermo-out"
            readers = ["qr-out"]
            [lane.gpio]
            relay = 8
            green = 9
            red = 10
            """
        return """
            data_dir = "\(k.dir)/data"
            gate = "\(k.spec.gate)"
            [rules]
            pairing_window_seconds = 4
            reading_holdoff_seconds = 0
            impossible_travel_seconds = 0
            retests = 0
            [gpio]
            chip = "simulated"
            [log]
            registry_poll_ms = 100
            [central]
            urls = [\(centralURLs.map { "\"\($0)\"" }.joined(separator: ", "))]
            token_file = "\(k.dir)/central.token"
            registry_key = "\(registryKey)"
            claim_timeout_ms = \(claimTimeoutMs)
            offline_budget = \(offlineBudget)
            connect_timeout_ms = 500
            request_timeout_ms = 3000
            long_poll_seconds = 5
            \(k.spec.webPort.map { "[web]\nlisten = \"127.0.0.1:\($0)\"" } ?? "")
            \(lanes)

            """
    }

    // MARK: registry at central

    /// Writes registry changes for a community at central (as an admin command would).
    public func registry(_ community: String, _ changes: [GateEvent]) throws {
        let f = root + "/registry-\(UUID().uuidString.prefix(8)).json"
        try Wire.encoder.encode(changes).write(to: URL(fileURLWithPath: f))
        _ = try centralCLI(["registry", "--community", community, f])
    }

    public static func change<T: Encodable>(_ entity: String, _ key: String, _ v: T?, action: String = "upsert") -> GateEvent {
        var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
        e.entity = entity
        e.key = key
        e.action = action
        e.after = v.map { String(decoding: try! Wire.encoder.encode($0), as: UTF8.self) }
        return e
    }

    /// The public half of the city's pass-signing key, for a community's registry.
    public func keyChange() -> GateEvent {
        Self.change("key", keyID, TrustedKey(id: keyID, publicKey: Array(signingKey.publicKey.rawRepresentation), notBefore: 0))
    }

    /// Issues a pass (signed here, off the kiosks) and the registry change that makes it current.
    public func issuePass(person: String, kind: PersonKind, household: String) throws -> (String, GateEvent) {
        passIDs += 1
        let now = Timestamp(Date().timeIntervalSince1970)
        let p = Pass(id: passIDs, kind: kind, person: person, household: household, issued: now - 60, expires: now + 30 * 86_400, keyID: keyID)
        struct Rec: Encodable {
            var pass: Pass
            var revoked: Bool
        }
        return (try PassCodec.encode(p, signingKey: signingKey), Self.change("pass", p.idString, Rec(pass: p, revoked: false), action: "issue"))
    }

    public static func idNumber(_ n: Int) -> String {
        let body = "150702198\(String(format: "%08d", 1_010_000 + n))"
        return body + String(IDNumber.checkCharacter(for: body)!)
    }

    // MARK: observing

    /// Waits until central holds a passage of `person` at `gate` newer than `after` (its wall
    /// time); returns (outcome, reason).
    public func awaitPassage(gate: String, person: String, afterSeq: Int64, timeout: Double = 20) throws -> (String, String, Int64) {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let r = try psql("SELECT outcome || '|' || reason || '|' || seq FROM events WHERE gate = '\(gate)' AND person = '\(person)' AND kind = 'passage' AND seq > \(afterSeq) ORDER BY seq LIMIT 1")
            if !r.isEmpty {
                let p = r.split(separator: "|").map(String.init)
                return (p[0], p[1], Int64(p[2]) ?? 0)
            }
            usleep(100_000)
        }
        throw CityError.failed("no passage of \(person) at \(gate) reached central within \(timeout) s\n--- kiosk log ---\n\(kiosks[gate]?.process?.log.suffix(3000) ?? "")")
    }

    /// Residents in the kiosk's local copy of the registry (what `postern residents list` reads).
    public func localResidents(_ gate: String) -> Int {
        ((try? runTool([postern, "residents", "list", "--data-dir", kiosks[gate]!.dir + "/data"])) ?? "").split(separator: "\n").count
    }

    public func ackedSeq(_ gate: String) throws -> Int64 { Int64(try psql("SELECT acked_seq FROM gates WHERE id = '\(gate)'")) ?? 0 }

    /// The kiosk's own durable end (its log, read from another process as `postern tail` does).
    public func kioskLogEnd(_ gate: String) throws -> UInt64 {
        let out = try runTool([postern, "tail", "--data-dir", kiosks[gate]!.dir + "/data", "--json"])
        return out.split(separator: "\n").compactMap { line -> UInt64? in
            guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
            return (o["seq"] as? NSNumber)?.uint64Value
        }.max() ?? 0
    }

    public func stop() {
        for k in kiosks.values {
            k.process?.stop()
            k.stopDevices()
        }
        for c in centrals { c.stop() }
        _ = try? runTool(["/bin/bash", repo + "/scripts/pg-cluster.sh", "destroy", pgDir])
    }
}

public func freeLoopbackPort() -> Int {
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

/// A plain blocking GET on loopback: true on a 200 answer.
func httpOK(port: Int, path: String) -> Bool { httpGet(port: port, path: path, timeout: 2)?.status == 200 }

/// A plain blocking `GET` on loopback with `Connection: close`: the status and the whole answer
/// (headers and body), or nil when nothing answers.
public func httpGet(port: Int, path: String, headers: [(String, String)] = [], timeout: Int = 5) -> (status: Int, text: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return nil }
    let head = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
    let req = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(head)Connection: close\r\n\r\n".utf8)
    _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    let text = String(decoding: out, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 "), let code = Int(text.dropFirst(9).prefix(3)) else { return nil }
    return (code, text)
}
