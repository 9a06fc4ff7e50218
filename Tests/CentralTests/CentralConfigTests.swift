import CentralServer
import CentralStore
import CentralWire
import CityHarness
import Foundation
import GateDaemon
import Testing
import Uplink
#if canImport(Glibc)
import Glibc
#endif

@Suite("Central config, TLS and systemd", .serialized)
struct CentralConfigTests {
    static let cluster = try! PGCluster()

    @Test("central's config: file:line: key errors, unknown keys with a suggestion, plain HTTP only on loopback")
    func centralConfig() throws {
        let ok = try CentralConfig.parse("listen = \"127.0.0.1:9000\"\n[database]\nhost = \"127.0.0.1\"\nname = \"p\"\n", file: "c.toml")
        #expect(ok.listenPort == 9000 && ok.dbName == "p")
        func errors(_ text: String) -> String {
            do {
                _ = try CentralConfig.parse(text, file: "c.toml")
                return ""
            } catch { return "\(error)" }
        }
        #expect(errors("listen = \"0.0.0.0:8443\"\n").contains("c.toml:1: listen: plain HTTP only on a loopback address"))
        #expect(errors("listne = \"127.0.0.1:1\"\n").contains("c.toml:1: listne: unknown key (did you mean `listen`?)"))
        #expect(errors("tls_cert = \"/x\"\n").contains("tls_cert and tls_key go together"))
        #expect(errors("[database]\nport = \"5432\"\n").contains("c.toml:2: database.port: must be an integer"))
        #expect(errors("[database]\ntls = \"maybe\"\n").contains("database.tls"))
        #expect(errors("listen = \"nonsense\"\n").contains("listen: must be HOST:PORT"))
        #expect(errors("late_after_seconds = -1\n").contains("out of range"))
        #expect(errors("x = [\n").contains("c.toml:"))
        // TLS anywhere is fine.
        #expect(errors("listen = \"0.0.0.0:8443\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n").isEmpty)
    }

    @Test("central's [web]: off unless set; plain HTTP only on loopback; central's certificate by default; file:line: key errors")
    func webSection() throws {
        #expect(try CentralConfig.parse("").web == nil)
        let w = try CentralConfig.parse("[web]\nlisten = \"127.0.0.1:8441\"\nsession_minutes = 60\nwindow_events = 100\n", file: "c.toml").web
        #expect(w?.port == 8441 && w?.sessionMinutes == 60 && w?.windowEvents == 100 && w?.tlsCert == nil)
        let inherited = try CentralConfig.parse("listen = \"0.0.0.0:8443\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n[web]\nlisten = \"0.0.0.0:8444\"\n").web
        #expect(inherited?.tlsCert == "/c" && inherited?.tlsKey == "/k")
        func errors(_ text: String) -> String {
            do {
                _ = try CentralConfig.parse(text, file: "c.toml")
                return ""
            } catch { return "\(error)" }
        }
        #expect(errors("[web]\nlisten = \"0.0.0.0:8444\"\n").contains("c.toml:2: web.listen: plain HTTP only on a loopback address"))
        #expect(errors("[web]\nlisten = \"0.0.0.0:8444\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n").isEmpty)
        #expect(errors("[web]\ntls_cert = \"/c\"\n").contains("c.toml:2: web.tls_cert: tls_cert and tls_key go together"))
        #expect(errors("[web]\nlisten = \"here\"\n").contains("c.toml:2: web.listen: must be HOST:PORT"))
        #expect(errors("[web]\nsesion_minutes = 5\n").contains("c.toml:2: web.sesion_minutes: unknown key (did you mean `session_minutes`?)"))
        #expect(errors("[web]\nlogin_attempts_per_minute = 0\n").contains("web.login_attempts_per_minute: 0 is out of range"))
        #expect(errors("[web]\nlanguage = \"fr\"\n").contains("web.language"))
        // The shipped example parses, its [web] on the example's certificate.
        let example = try CentralConfig.load(path: PGCluster.root + "/examples/postern-central.toml")
        #expect(example.web?.port == 8444 && example.web?.tlsCert == example.tlsCert)
    }

    @Test("the kiosk's [central] section: https, or http to loopback only; a token file is required; typos reported")
    func kioskSection() throws {
        let base = "[[device]]\nid = \"t\"\nkind = \"thermometer\"\nprotocol = \"ascii-line\"\npath = \"/dev/null\"\n[[device]]\nid = \"q\"\nkind = \"scanner\"\nprotocol = \"serial-line\"\npath = \"/dev/null\"\n[[lane]]\nid = \"in\"\ndirection = \"in\"\nthermometer = \"t\"\nreaders = [\"q\"]\n"
        func parse(_ central: String) -> String {
            do {
                let c = try KioskConfig.parse(base + central, file: "k.toml")
                return c.central.map { "ok \($0.urls.joined(separator: ",")) \($0.claimTimeoutMs)" } ?? "none"
            } catch { return "\(error)" }
        }
        #expect(parse("") == "none")
        #expect(parse("[central]\nurls = [\"https://c.example:8443/\", \"http://127.0.0.1:8440\"]\ntoken_file = \"/t\"\n") == "ok https://c.example:8443,http://127.0.0.1:8440 300")
        #expect(parse("[central]\nurls = [\"http://10.0.0.5:8440\"]\ntoken_file = \"/t\"\n").contains("plain http only to a loopback address"))
        #expect(parse("[central]\nurls = [\"ftp://x\"]\ntoken_file = \"/t\"\n").contains("scheme must be https"))
        #expect(parse("[central]\nurls = [\"https://c/x/y\"]\ntoken_file = \"/t\"\n").contains("is not a base URL"))
        #expect(parse("[central]\nurls = [\"https://c\"]\n").contains("central.token_file: is required"))
        #expect(parse("[central]\nurls = []\ntoken_file = \"/t\"\n").contains("needs at least one URL"))
        #expect(parse("[central]\nurls = [\"https://c\"]\ntoken_file = \"/t\"\nclaim_timeout_ms = 100000\n").contains("out of range"))
        #expect(parse("[central]\nurls = [\"https://c\"]\ntoken_file = \"/t\"\noffline_budgt = 1\n").contains("did you mean `offline_budget`"))
    }

    @Test("TLS from certificate files: a kiosk trusting the CA talks to central; one that does not, does not")
    func tls() async throws {
        let dir = NSTemporaryDirectory() + "postern-tls-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try runTool(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                     "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/central.key", "-out", dir + "/cert.pem"])
        var cfg = try Self.cluster.database("tls")
        cfg.tlsCert = dir + "/cert.pem"
        // A PEM key named like the example's (central.key): NIOSSL alone would read a .key file as DER.
        cfg.tlsKey = dir + "/central.key"
        let central = try await RunningCentral(config: cfg, scheme: "https", caFile: dir + "/cert.pem")
        defer { Task { await central.stop() } }
        try await seedOrg(central.db)
        let token = try await central.db.enrolGate(id: "g1", community: "c1", name: "n", kioskKey: nil)
        var link = CentralLink()
        link.urls = ["https://127.0.0.1:\(central.port)"]
        link.caFile = dir + "/cert.pem"
        let trusted = try CentralClient(link: link, token: token)
        let st: GateStatus = try await trusted.call(.POST, "/v1/gate/hello", body: Hello(durableSeq: 0, registryVersion: 0), timeout: .seconds(5), as: GateStatus.self)
        #expect(st.gate == "g1")
        link.caFile = nil
        let untrusted = try CentralClient(link: link, token: token)
        await #expect(throws: (any Error).self) { let _: GateStatus = try await untrusted.call(.POST, "/v1/gate/hello", body: Hello(durableSeq: 0, registryVersion: 0), timeout: .seconds(5), as: GateStatus.self) }
        await trusted.shutdown()
        await untrusted.shutdown()
    }

    @Test("postern-central serve: migrations at start, READY=1 to systemd once it listens, SIGTERM ends it cleanly")
    func notify() throws {
        let cfg = try Self.cluster.database("notify")
        let dir = NSTemporaryDirectory() + "postern-notify-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sockPath = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in sockPath.utf8.enumerated() { p[i] = b } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let port = PGCluster.freePort()
        try "listen = \"127.0.0.1:\(port)\"\n[database]\nhost = \"127.0.0.1\"\nport = \(cfg.dbPort)\nuser = \"postgres\"\nname = \"\(cfg.dbName)\"\ntls = \"disable\"\n".write(toFile: dir + "/c.toml", atomically: true, encoding: .utf8)
        let child = try Child([PGCluster.root + "/.build/debug/postern-central", "serve", "--config", dir + "/c.toml"], log: dir + "/log", env: ["NOTIFY_SOCKET": sockPath])
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, 512, 0)
        let msg = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        #expect(msg.hasPrefix("READY=1"), "\(child.log)")
        #expect(try Self.cluster.psql("SELECT COUNT(*) FROM schema_migrations", db: cfg.dbName) == "2")  // 1: the central plane, 2: the web front
        kill(child.pid, SIGTERM)
        var status: Int32 = 0
        let end = Date().addingTimeInterval(20)
        while waitpid(child.pid, &status, WNOHANG) == 0 && Date() < end { usleep(20_000) }
        #expect((status >> 8) & 0xff == 0 && (status & 0x7f) == 0, "\(child.log)")
        child.stop(grace: 1)
    }
}

extension CentralConfigTests {
    @Test("an admin command whose database cannot be reached says which database, where, as whom, and what to check (exit 3)")
    func databaseUnreachable() throws {
        let dir = NSTemporaryDirectory() + "postern-central-nodb-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = PGCluster.freePort()
        try """
            listen = "127.0.0.1:\(PGCluster.freePort())"
            [database]
            host = "127.0.0.1"
            port = \(port)
            user = "nobody"
            name = "nodb"
            tls = "disable"
            """.write(toFile: dir + "/central.toml", atomically: true, encoding: .utf8)
        do {
            _ = try runTool([PGCluster.root + "/.build/debug/postern-central", "findings", "--config", dir + "/central.toml"])
            Issue.record("an admin command without a database succeeded")
        } catch let e as CityError {
            #expect("\(e)".contains("cannot use database nodb at 127.0.0.1:\(port) as nobody"), "\(e)")
        }
    }
}
