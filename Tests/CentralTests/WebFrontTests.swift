import CentralServer
import CentralStore
import CentralWire
import CityHarness
import EventLog
import Foundation
import GateCore
import GateTestSupport
import HummingbirdBcrypt
import Logging
#if canImport(Glibc)
import Glibc
#endif
import Photos
import Testing
import Uplink

/// A central with its web front on free loopback ports, over a fresh database of the suite's
/// cluster, and the accounts the tests sign in with.
struct WebCentral {
    let central: RunningCentral
    let webPort: Int
    let config: CentralConfig
    static let password = "correct horse battery"

    static func config(_ cluster: PGCluster, _ name: String, window: Int = 4096, lateAfter: Double = 60) throws -> CentralConfig {
        var c = try cluster.database(name)
        var w = CentralConfig.Web()
        w.port = PGCluster.freePort()
        w.windowEvents = window
        w.heartbeatSeconds = 1
        c.web = w
        c.lateAfterSeconds = lateAfter
        return c
    }

    static func start(_ c: CentralConfig) async throws -> WebCentral {
        let central = try await RunningCentral(config: c)
        let deadline = Date().addingTimeInterval(30)
        while !RunningCentral.accepts(port: c.web!.port), Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return WebCentral(central: central, webPort: c.web!.port, config: c)
    }

    /// Org (c1, c2 under street jiankang), gates g1, g2 in c1 and g3 in c2, and accounts.
    static func seed(_ db: CentralDB) async throws -> [String: String] {
        try await seedOrg(db)
        var tokens: [String: String] = [:]
        for (g, c) in [("g1", "c1"), ("g2", "c1"), ("g3", "c2")] { tokens[g] = try await db.enrolGate(id: g, community: c, name: g, kioskKey: nil) }
        let hash = Bcrypt.hash(password, cost: 4)
        for (n, role, scope) in [
            ("op1", "operator", "c1"), ("op2", "operator", "c2"), ("cadmin1", "community_admin", "c1"), ("sup1", "street_supervisor", "jiankang"),
            ("root", "admin", nil),
        ] {
            try await db.addAccount(name: n, passwordHash: hash, role: role, scope: scope)
        }
        return tokens
    }

    func login(_ user: String, page: String = "/") async throws -> WebTestSession {
        let (s, r) = try await WebTestSession.login(port: webPort, user: user, password: Self.password, page: page)
        guard let s else { throw CentralError(.forbidden, "login \(user): \(r.status) \(r.text)") }
        return s
    }
}

/// A kiosk's log whose new records go to central as the uplink sends them: one transaction per
/// batch, acknowledged after commit.
final class ShippingLog: @unchecked Sendable {
    let log: KioskLog
    let gate: CentralDB.GateIdentity
    var shipped: UInt64 = 0
    init(_ name: String, gate: String, community: String) throws {
        log = try KioskLog(name)
        self.gate = .init(gate: gate, community: community)
    }
    func ship(_ db: CentralDB, now: Date = Date()) async throws {
        let recs = try log.records(from: shipped + 1)
        guard let last = recs.last else { return }
        _ = try await db.ingest(records: recs, durable: last.seq, gate: gate, now: now)
        shipped = last.seq
    }
    func alert(_ kind: String, message: String) throws {
        var e = GateEvent(kind: .alert, at: Date().timeIntervalSince1970)
        e.alert = kind
        e.message = message
        e.lane = "l1"
        try log.append(e)
    }
}

@Suite("Central's web front: per-community live view over PostgreSQL", .serialized)
struct WebFrontTests {
    static let cluster = try! PGCluster()

    /// The community sequence numbers the live view shows (passages and alerts), in order.
    static func shown(_ c: CentralConfig, community: String) throws -> [String] {
        try cluster.psql("SELECT community_seq FROM events WHERE community = '\(community)' AND kind IN ('passage', 'alert') ORDER BY community_seq", db: c.dbName)
            .split(separator: "\n").map(String.init)
    }

    @Test(
        "Last-Event-ID resume at central over about 80 random disconnects while two gates of the community (and one of another) ship batches: every event of the community once, in community_seq order; window of 16, so most resumes read PostgreSQL"
    )
    func resumeRandomDisconnects() async throws {
        let cfg = try WebCentral.config(Self.cluster, "webresume", window: 16)
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("wr-g1", gate: "g1", community: "c1")
        let g2 = try ShippingLog("wr-g2", gate: "g2", community: "c1")
        let g3 = try ShippingLog("wr-g3", gate: "g3", community: "c2")
        for i in 0..<40 { try g1.log.passage(person: "a\(i)", direction: i % 2 == 0 ? .in : .out) }
        try await g1.ship(db)
        let session = try await w.login("op1", page: "/c/c1/live")
        let producer = Task {
            var pg = SplitMix64(seed: 11)
            for i in 0..<150 {
                let g = [g1, g2, g3][i % 3]
                for k in 0..<Int.random(in: 1...4, using: &pg) {
                    if k == 2 { try g.alert("forced_open", message: "door \(i)") } else { try g.log.passage(person: "p\(i)-\(k)", direction: .in) }
                }
                try await g.ship(db)
                if Int.random(in: 0..<3, using: &pg) == 0 { try await Task.sleep(for: .milliseconds(Int.random(in: 1...15, using: &pg))) }
            }
        }
        var rng = SplitMix64(seed: 1405)
        var got: [String] = []
        var last: String? = nil
        var reconnects = 0
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let stream = try await session.stream("/c/c1/live/stream?after=0", lastEventID: last)
            #expect(stream.status == 200)
            for _ in 0..<Int.random(in: 1...10, using: &rng) {
                // Nothing within 2 s: caught up for now (the final comparison catches a loss).
                guard let e = (try? await stream.nextEvent(timeout: 2)) ?? nil else { break }
                got.append(e.id!)
                last = e.id
            }
            stream.cut()
            reconnects += 1
            let done = await WebTests_producerDone(producer)
            if done, got.count >= (try Self.shown(cfg, community: "c1")).count { break }
        }
        try await producer.value
        let want = try Self.shown(cfg, community: "c1")
        #expect(reconnects >= 40, "\(reconnects) reconnects")
        #expect(got.count == want.count, "got \(got.count), want \(want.count)")
        #expect(got == want)
        #expect(Set(got).count == got.count)
        // Nothing of community c2 reached c1's stream (its numbers are c2's own).
        #expect(try Self.cluster.psql("SELECT COUNT(*) FROM events WHERE community = 'c2'", db: cfg.dbName) != "0")
        await w.central.stop()
    }

    @Test("after a central outage, a kiosk's backlog arrives flagged late and is shown as late, never as live; what follows is live again; lanes are GATE/LANE")
    func lateAfterOutage() async throws {
        let cfg = try WebCentral.config(Self.cluster, "weblate", lateAfter: 2)
        var w = try await WebCentral.start(cfg)
        let tokens = try await WebCentral.seed(w.central.db)
        let log = try KioskLog("wl-g1")
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        // The kiosk's real shipper runs through the whole outage.
        let client = try makeClient(w.central.url, token: tokens["g1"]!)
        let shipper = EventShipper(client: client, logDir: log.dir, durableSeq: { [wr = log.writer] in wr.durableSeq }, logger: logger)
        let ship = Task { await shipper.run(wakeups: log.writer.durableUpdates()) }
        func shipped(_ n: UInt64) async throws {
            let end = Date().addingTimeInterval(30)
            while shipper.status.get().ackedSeq < n, Date() < end { try await Task.sleep(for: .milliseconds(20)) }
            #expect(shipper.status.get().ackedSeq == n)
        }
        try log.passage(person: "before", direction: .in)
        try await shipped(1)

        // Outage: central stops; the gate keeps deciding and logging.
        await w.central.stop()
        for i in 0..<3 { try log.passage(person: "during\(i)", direction: .in) }
        var alarm = GateEvent(kind: .alert, at: Date().timeIntervalSince1970)
        alarm.alert = "forced_open"
        alarm.message = "door forced during the outage"
        try log.append(alarm)
        // The outage lasts longer than late_after_seconds (a precondition, not an assertion).
        try await Task.sleep(for: .milliseconds(2500))
        let restarted = try await RunningCentral(config: cfg, onPort: w.central.port)
        w = WebCentral(central: restarted, webPort: cfg.web!.port, config: cfg)
        while !RunningCentral.accepts(port: w.webPort) { try await Task.sleep(for: .milliseconds(50)) }
        try await shipped(5)
        try log.passage(person: "after", direction: .in)
        try await shipped(6)

        let session = try await w.login("op1", page: "/c/c1/live")
        let s = try await session.stream("/c/c1/live/stream?after=0")
        var frames: [SSETestStream.Event] = []
        while frames.count < 6, let e = try await s.nextEvent(timeout: 10) { frames.append(e) }
        s.cut()
        #expect(frames.map(\.event) == ["entry", "entry", "entry", "entry", "alarm", "entry"])
        #expect(frames.map { $0.data.contains("\"late\":true") } == [false, true, true, true, true, false])
        // A community has several gates: lanes are shown as GATE/LANE.
        #expect(frames.first?.data.contains("\"lane\":\"g1/l1\"") == true)
        // The ledger's count of late records agrees with the stream.
        #expect(try Self.cluster.psql("SELECT COUNT(*) FROM events WHERE gate = 'g1' AND late", db: cfg.dbName) == "4")
        ship.cancel()
        _ = await ship.value
        await client.shutdown()
        await w.central.stop()
    }

    @Test("PostgreSQL restarts under a watching operator: the community's feed is rebuilt, resuming by Last-Event-ID misses nothing and repeats nothing, and the resumed stream is live")
    func databaseRestart() async throws {
        let cfg = try WebCentral.config(Self.cluster, "webpgrestart")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("wp-g1", gate: "g1", community: "c1")
        for i in 0..<5 { try g1.log.passage(person: "a\(i)", direction: .in) }
        try await g1.ship(db)
        let op1 = try await w.login("op1", page: "/c/c1/live")
        let first = try await op1.stream("/c/c1/live/stream?after=0")
        var got: [String] = []
        while got.count < 5, let e = try await first.nextEvent(timeout: 10) { got.append(e.id!) }
        try Self.cluster.stop()
        // The feed's next read fails while the database is down (it reads at least once a second).
        try await Task.sleep(for: .milliseconds(2500))
        try Self.cluster.start()
        first.cut()
        for i in 0..<5 { try g1.log.passage(person: "b\(i)", direction: .in) }
        var shipped = false
        for _ in 0..<150 where !shipped {
            do {
                try await g1.ship(db)
                shipped = true
            } catch { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(shipped)
        var resumed: SSETestStream? = nil
        for _ in 0..<100 where resumed == nil {
            // The first requests after the restart may fail or wait on the database: try again.
            if let s = try? await op1.stream("/c/c1/live/stream?after=0", lastEventID: got.last), s.status == 200 {
                resumed = s
            } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        if let s = resumed {
            while got.count < 10, let e = try await s.nextEvent(timeout: 10) { got.append(e.id!) }
            // And the resumed stream is live again: what is decided now arrives on it.
            for i in 0..<3 { try g1.log.passage(person: "c\(i)", direction: .in) }
            try await g1.ship(db)
            while got.count < 13, let e = try await s.nextEvent(timeout: 10) { got.append(e.id!) }
            s.cut()
        }
        #expect(got.count == 13)
        #expect(got == (try Self.shown(cfg, community: "c1")))
        await w.central.stop()
    }

    @Test("anonymous and forged sessions get nothing; each account sees only the communities in its scope; photos only for roles that may see them")
    func accessAndScope() async throws {
        let cfg = try WebCentral.config(Self.cluster, "webaccess")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        _ = try await db.writeRegistry(RegistryWrite(community: "c1", changes: [residentChange("r1", quarantine: nil)]), actor: "t")
        let n = try Photo.normalise(try Photo.encode(rgb: Photo.sample(seed: 3), width: 240, height: 320, png: true))
        try await db.setPhoto(community: "c1", person: "r1", jpeg: n.jpeg, sha256: n.sha256, actor: "t")
        let g1 = try ShippingLog("wa-g1", gate: "g1", community: "c1")
        try g1.log.passage(person: "r1", direction: .in)
        try await g1.ship(db)
        let g3 = try ShippingLog("wa-g3", gate: "g3", community: "c2")
        try g3.log.passage(person: "x1", direction: .in)
        try await g3.ship(db)

        let anon = WebTestSession(port: w.webPort, jar: [:], csrf: "")
        let forged = WebTestSession(port: w.webPort, jar: ["postern_session": String(repeating: "ab", count: 32)], csrf: "")
        for who in [anon, forged] {
            #expect(try await who.get("/").status == 303)
            for p in ["/c/c1/live", "/c/c1/ledger"] { #expect(try await who.get(p).status == 303, "\(p)") }
            for p in ["/c/c1/live/stream", "/c/c1/live/summary", "/c/c1/photo/1"] { #expect(try await who.get(p).status == 401, "\(p)") }
            #expect(try await who.post("/c/c1/alarms/1/ack", csrf: "x").status == 401)
        }

        // An operator of c1: c1 only. Another community, or one that does not exist, is refused alike.
        let op1 = try await w.login("op1", page: "/c/c1/live")
        #expect(try await op1.get("/").header("Location") == "/c/c1/live")
        #expect(try await op1.get("/c/c1/live").status == 200)
        for p in ["/c/c2/live", "/c/c2/live/stream", "/c/c2/ledger", "/c/c2/photo/1", "/c/nowhere/live"] { #expect(try await op1.get(p).status == 403, "\(p)") }
        #expect(try await op1.get("/c/c1/board").status == 404)
        let photo = try await op1.get("/c/c1/photo/1")
        #expect(photo.status == 200)
        #expect(photo.body == n.jpeg)
        let entry = try await op1.stream("/c/c1/live/stream?after=0")
        #expect(try await entry.nextEvent(timeout: 10)?.data.contains("\"photo\":true") == true)
        entry.cut()

        // An operator of c2 cannot read c1's stream or photos.
        let op2 = try await w.login("op2", page: "/c/c2/live")
        for p in ["/c/c1/live", "/c/c1/live/stream", "/c/c1/photo/1"] { #expect(try await op2.get(p).status == 403, "\(p)") }

        // A street supervisor: both communities of the street, masked names, no photos.
        let sup = try await w.login("sup1")
        let picker = try await sup.get("/")
        #expect(picker.status == 200)
        #expect(picker.text.contains("/c/c1/live") && picker.text.contains("/c/c2/live"))
        #expect(try await sup.get("/c/c2/live").status == 200)
        #expect(try await sup.get("/c/c1/photo/1").status == 403)
        await w.central.stop()
    }

    @Test("acknowledging an alarm needs a role that may, and the page's CSRF token; it is recorded at central with who and when and reaches every viewer")
    func acknowledge() async throws {
        let cfg = try WebCentral.config(Self.cluster, "weback")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("wk-g1", gate: "g1", community: "c1")
        try g1.alert("forced_open", message: "door 1")
        try await g1.ship(db)
        let op1 = try await w.login("op1", page: "/c/c1/live")
        let sup = try await w.login("sup1", page: "/c/c1/live")
        // The alarm is in the live page once the feed has read it.
        let watch = try await op1.stream("/c/c1/live/stream?after=0")
        #expect(try await watch.nextEvent(timeout: 10)?.event == "alarm")
        #expect(try await sup.post("/c/c1/alarms/1/ack", csrf: sup.csrf).status == 403)
        #expect(try await op1.post("/c/c1/alarms/1/ack", csrf: nil).status == 403)
        #expect(try await op1.post("/c/c1/alarms/1/ack", csrf: (op1.csrf.hasPrefix("0") ? "1" : "0") + op1.csrf.dropFirst()).status == 403)
        let ok = try await op1.post("/c/c1/alarms/1/ack", csrf: op1.csrf)
        #expect(ok.status == 200)
        let ack = try await watch.nextEvent(timeout: 10)
        #expect(ack?.event == "ack")
        #expect(ack?.data.contains("\"by\":\"op1\"") == true)
        #expect(ack?.data.contains("\"ackOf\":1") == true)
        watch.cut()
        #expect(try Self.cluster.psql("SELECT actor || ' ' || action || ' ' || community_seq FROM web_actions WHERE community = 'c1'", db: cfg.dbName) == "op1 alarm_ack 2")
        // The open alarm is gone from the page; a second acknowledgement finds nothing to acknowledge.
        #expect(try await op1.get("/c/c1/live").text.contains("data-seq=\"1\"") == false)
        #expect(try await op1.post("/c/c1/alarms/1/ack", csrf: op1.csrf).status == 404)
        await w.central.stop()
    }

    @Test("a community's feed lives while it is watched: an idle one is dropped by the sweep and rebuilt from the database on the next request")
    func idleSweep() async throws {
        let cfg = try WebCentral.config(Self.cluster, "websweep")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("ws-g1", gate: "g1", community: "c1")
        try g1.log.passage(person: "a", direction: .in)
        try await g1.ship(db)
        let sup = try await w.login("sup1")
        let web = try #require(w.central.service.web)
        let watching = try await sup.stream("/c/c1/live/stream?after=0")
        #expect(try await watching.nextEvent(timeout: 10)?.id == "1")
        #expect(try await sup.get("/c/c2/live").status == 200)
        #expect(web.communitiesServed == ["c1", "c2"])
        // c2 has no stream open: swept; c1 is watched: kept.
        web.sweep(idle: 0)
        #expect(web.communitiesServed == ["c1"])
        watching.cut()
        // The server notices the closed stream when it next writes (a heartbeat, within 1 s here).
        for _ in 0..<50 where web.communitiesServed != [] {
            try await Task.sleep(for: .milliseconds(100))
            web.sweep(idle: 0)
        }
        #expect(web.communitiesServed == [])
        // The next viewer gets a feed rebuilt from the database: the same event, the same id.
        let again = try await sup.stream("/c/c1/live/stream?after=0")
        #expect(try await again.nextEvent(timeout: 10)?.id == "1")
        again.cut()
        await w.central.stop()
    }

    @Test("hostile names render as text: a community named with <script> and escape sequences, on the picker, the live page and the ledger")
    func hostileNames() async throws {
        let cfg = try WebCentral.config(Self.cluster, "webxss")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let evil = "<script>alert(1)</script>\u{1B}[31m\"'&"
        try await db.addCommunity(id: "c3", street: "jiankang", name: evil)
        let sup = try await w.login("sup1")
        for p in ["/", "/c/c3/live", "/c/c3/ledger"] {
            let r = try await sup.get(p)
            #expect(r.status == 200, "\(p)")
            #expect(!r.text.contains("<script>alert"), "\(p)")
            #expect(r.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(p)")
        }
        await w.central.stop()
    }

    @Test("with TLS files the web front speaks HTTPS only: a browser trusting the certificate logs in and its session cookie is Secure; plain HTTP gets nothing")
    func tls() async throws {
        let dir = NSTemporaryDirectory() + "postern-webtls-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try runTool([
            "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
        ])
        var cfg = try WebCentral.config(Self.cluster, "webtls")
        cfg.web!.tlsCert = dir + "/cert.pem"
        cfg.web!.tlsKey = dir + "/key.pem"
        let w = try await WebCentral.start(cfg)
        _ = try await WebCentral.seed(w.central.db)
        let url = "https://127.0.0.1:\(w.webPort)"
        let jar = dir + "/jar"
        let page = try runTool(["/usr/bin/curl", "-sS", "--max-time", "10", "--cacert", dir + "/cert.pem", "-c", jar, url + "/login"])
        let csrf = try #require(WebTestSession.csrf(in: page))
        let head = try runTool([
            "/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", dir + "/cert.pem", "-b", jar, "-c", jar, "-D", "-", "-o", "/dev/null",
            "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "user=op1", "--data-urlencode", "password=\(WebCentral.password)", url + "/login",
        ])
        #expect(head.hasPrefix("HTTP/1.1 303"), "\(head)")
        let session = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: postern_session=") }
        #expect(session?.contains("Secure") == true && session?.contains("HttpOnly") == true, "\(head)")
        let live = try runTool(["/usr/bin/curl", "-sS", "--max-time", "10", "--cacert", dir + "/cert.pem", "-b", jar, "-o", "/dev/null", "-w", "%{http_code}", url + "/c/c1/live"])
        #expect(live == "200")
        #expect(throws: (any Error).self) { try runTool(["/usr/bin/curl", "-sS", "--max-time", "5", "http://127.0.0.1:\(w.webPort)/login"]) }
        await w.central.stop()
    }

    @Test("/metrics at central: the city admin over HTTP Basic gets each gate's upload state and today's events per community; anyone else gets 401")
    func metrics() async throws {
        let cfg = try WebCentral.config(Self.cluster, "webmetrics")
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("wm-g1", gate: "g1", community: "c1")
        for i in 0..<3 { try g1.log.passage(person: "a\(i)", direction: .in) }
        try await g1.ship(db)
        func basic(_ user: String, _ pw: String) -> [(String, String)] { [("Authorization", "Basic " + Data("\(user):\(pw)".utf8).base64EncodedString())] }
        let anon = WebTestSession(port: w.webPort, jar: [:], csrf: "")
        #expect(try await anon.get("/metrics").status == 401)
        #expect(try await anon.get("/metrics", headers: basic("op1", WebCentral.password)).status == 401)
        #expect(try await anon.get("/metrics", headers: basic("root", "not the password")).status == 401)
        let r = try await anon.get("/metrics", headers: basic("root", WebCentral.password))
        #expect(r.status == 200)
        #expect(r.text.contains("postern_central_gate_acked_seq{community=\"c1\",gate=\"g1\"} 3"), "\(r.text.prefix(2000))")
        #expect(r.text.contains("postern_central_gate_acked_seq{community=\"c2\",gate=\"g3\"} 0"))
        #expect(r.text.contains("postern_central_events_today{community=\"c1\",kind=\"passage\",outcome=\"admit\",late=\"false\"} 3"))
        #expect(r.text.contains("process_resident_memory_bytes"))
        await w.central.stop()
    }

    @Test("login is rate-limited per address: after 5 failures even the right password is refused (429)")
    func loginLimit() async throws {
        let cfg = try WebCentral.config(Self.cluster, "weblimit")
        let w = try await WebCentral.start(cfg)
        _ = try await WebCentral.seed(w.central.db)
        // Each web login is one check on the API's bounded bcrypt pool (off the event loops), an
        // unknown name too.
        let before = w.central.service.bcryptChecksRun
        #expect(try await WebTestSession.login(port: w.webPort, user: "nobody-here", password: "guess guess").0 == nil)
        #expect(w.central.service.bcryptChecksRun == before + 1)
        for _ in 0..<4 {
            let (s, r) = try await WebTestSession.login(port: w.webPort, user: "op1", password: "wrong password!")
            #expect(s == nil)
            #expect(r.status == 401)
        }
        let (s, r) = try await WebTestSession.login(port: w.webPort, user: "op1", password: WebCentral.password)
        #expect(s == nil)
        #expect(r.status == 429)
        await w.central.stop()
    }
}

extension WebFrontTests {
    @Test("the web listener closes a request held half-sent after the idle timeout, and never an open event stream")
    func idleTimeout() async throws {
        var cfg = try WebCentral.config(Self.cluster, "webidle")
        cfg.idleTimeoutSeconds = 1
        let w = try await WebCentral.start(cfg)
        let db = w.central.db
        _ = try await WebCentral.seed(db)
        let g1 = try ShippingLog("wi-g1", gate: "g1", community: "c1")
        let op1 = try await w.login("op1", page: "/c/c1/live")
        let stream = try await op1.stream("/c/c1/live/stream?after=0")
        // A slowloris: a request head that never ends.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(w.webPort).bigEndian
        #expect(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0)
        _ = "GET /login HTTP/1.1\r\nHost: x\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        try await Task.sleep(for: .seconds(4))
        // The held request was closed (EOF, or a reset); the stream, idle on the client's side
        // all this time, still delivers what is decided now.
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buf, buf.count, 0)
        let err = errno
        // Closed: EOF or a reset, not a read that timed out on a connection still open.
        #expect(n == 0 || (n < 0 && err != EAGAIN && err != EWOULDBLOCK), "recv \(n) errno \(err)")
        try g1.log.passage(person: "i1", direction: .in)
        try await g1.ship(db)
        var got: String? = nil
        while got == nil, let e = try await stream.nextEvent(timeout: 10) { if e.event == "entry" { got = e.id } }
        #expect(got != nil)
        stream.cut()
        await w.central.stop()
    }
}

/// Whether a task has finished, without waiting for it.
func WebTests_producerDone(_ t: Task<Void, any Error>) async -> Bool {
    await withTaskGroup(of: Bool.self) { g in
        g.addTask {
            _ = try? await t.value
            return true
        }
        g.addTask {
            try? await Task.sleep(for: .milliseconds(1))
            return false
        }
        let first = await g.next()!
        g.cancelAll()
        return first
    }
}
