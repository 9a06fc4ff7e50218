import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import KioskWeb
import Logging
import Metrics
import Photos
import PosternWeb
import Testing

@testable import GateDaemon

/// The web front on a real kiosk: simulated devices on ptys, the real log, the HTTP server on a
/// loopback port, a plain-socket client.
@Suite("Web front on the kiosk (live stream, photos, alarms, metrics)", .serialized)
struct WebKioskTests {
    static let password = "correct horse battery"

    /// One Prometheus registry for the whole test process, bootstrapped once (swift-metrics
    /// allows one backend per process), before any kiosk of this suite starts.
    static let metrics: WebMetrics = {
        let m = WebMetrics()
        MetricsSystem.bootstrap(m.factory())
        return m
    }()

    /// A kiosk with its web front on a free port; returns the harness, the port and the server.
    static func start() async throws -> (Harness, Int, WebServer) {
        let dir = tempPath("kiosk-web")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AccountFile(path: dir + "/web-users").set(name: "guard1", role: .guard, password: password, cost: 4)
        try AccountFile(path: dir + "/web-users").set(name: "viewer1", role: .viewer, password: password, cost: 4)
        var o = WebOptions(usersFile: dir + "/web-users", boardFile: dir + "/board.json")
        o.port = 0
        o.heartbeatSeconds = 1
        var logger = Logger(label: "web-test")
        logger.logLevel = .critical
        let box = ServerBox()
        let h = try Harness(dir: dir, extraServices: [KioskWeb.service(options: o, metrics: metrics, logger: logger, server: { box.set($0) })])
        try await h.ready()
        let photo = try Photo.normalise(try Photo.encode(rgb: Photo.sample(seed: 1), width: 240, height: 320, png: false))
        try h.admin.store.setPhotos(
            [("r1", photo.jpeg, PhotoRecord(person: "r1", sha256: photo.sha256, bytes: photo.jpeg.count, width: photo.width, height: photo.height))],
            actor: "test")
        let end = Date().addingTimeInterval(10)
        while box.get()?.url == nil, Date() < end { try await Task.sleep(for: .milliseconds(20)) }
        guard let web = box.get(), let url = web.url, let port = Int(url.split(separator: ":").last!) else {
            throw Kiosk.StartError(message: "web never listened")
        }
        return (h, port, web)
    }

    @Test("a passage appears on the live stream with its photo within 2 s of the decision; the fever alarm is acknowledged and recorded with who")
    func liveStream() async throws {
        let (h, port, _) = try await Self.start()
        defer { Task { await h.stop() } }
        let (s, r) = try await WebTestSession.login(port: port, user: "guard1", password: Self.password)
        #expect(r.status == 303, "login failed: \(r.status) \(r.text)")
        let session = try #require(s)
        let stream = try await session.stream("/live/stream?after=\(h.kiosk.writer.durableSeq)")
        #expect(stream.status == 200)
        #expect(stream.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/event-stream") })

        let t0 = Date()
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        var entry: SSETestStream.Event?
        while let e = try await stream.nextEvent(timeout: 8) {
            if e.event == "entry" {
                entry = e
                break
            }
        }
        let got = try #require(entry)
        let elapsed = Date().timeIntervalSince(t0)
        #expect(elapsed < 4, "entry after \(elapsed) s")
        let v = try JSONSerialization.jsonObject(with: Data(got.data.utf8)) as! [String: Any]
        #expect(v["outcome"] as? String == "admit")
        #expect(v["name"] as? String == "张*")  // masked: the stream never carries the full name
        #expect(v["photo"] as? Bool == true)
        #expect(!got.data.contains("r1") && !got.data.contains("150702"))
        let photo = try await session.get("/photo/\(got.id!)")
        #expect(photo.status == 200 && photo.header("content-type") == "image/jpeg" && photo.body.starts(with: [0xFF, 0xD8]))
        // A viewer (supervisor) sees the stream but not photos.
        let (viewer, _) = try await WebTestSession.login(port: port, user: "viewer1", password: Self.password)
        #expect(try await viewer!.get("/photo/\(got.id!)").status == 403)

        // Fever twice → deny + alert; the alarm shows on the stream and is acknowledged.
        h.scanIn.scan(h.passes["r2"]!)
        h.thermoIn.present(celsius: 38.6)
        try await Task.sleep(for: .milliseconds(1500))
        h.thermoIn.present(celsius: 38.5)
        var alarm: SSETestStream.Event?
        while let e = try await stream.nextEvent(timeout: 10) {
            if e.event == "alarm" {
                alarm = e
                break
            }
        }
        let a = try #require(alarm)
        #expect(a.data.contains("\"alert\":\"fever\""))
        #expect(try await viewer!.post("/alarms/\(a.id!)/ack", csrf: viewer!.csrf).status == 403)
        let noToken = try await session.post("/alarms/\(a.id!)/ack", csrf: Optional<String>.none)
        #expect(noToken.status == 403)
        let wrongToken = try await session.post("/alarms/\(a.id!)/ack", csrf: String(repeating: "0", count: 64))
        #expect(wrongToken.status == 403)
        let ack = try await session.post("/alarms/\(a.id!)/ack", csrf: session.csrf)
        #expect(ack.status == 200, "\(ack.text)")
        var acked: SSETestStream.Event?
        while let e = try await stream.nextEvent(timeout: 5) {
            if e.event == "ack" {
                acked = e
                break
            }
        }
        #expect(acked?.data.contains("\"by\":\"guard1\"") == true)
        #expect(acked?.data.contains("\"ackOf\":\(a.id!)") == true)
        let logged = await h.waitEvent(after: h.startSeq) { $0.kind == GateEvent.Kind.system && $0.action == "alarm_ack" }
        #expect(logged?.actor == "guard1" && logged?.key == a.id)
        // Acknowledged alarms are gone from the page; a second acknowledgement finds nothing.
        let page = try await session.get("/live")
        #expect(!page.text.contains("data-seq=\"\(a.id!)\""))
        #expect(try await session.post("/alarms/\(a.id!)/ack", csrf: session.csrf).status == 404)
        stream.cut()
    }

    @Test("/metrics: passages by lane/direction/outcome/reason, decision and scan→relay histograms, append latency, device state, RSS")
    func metrics() async throws {
        let (h, port, _) = try await Self.start()
        defer { Task { await h.stop() } }
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        _ = await h.passage("in", Reason.ok)
        try await Task.sleep(for: .milliseconds(1200))
        #expect(try await HTTPTestClient.fetch(port: port, "GET", "/metrics").status == 401)
        try AccountFile(path: h.dir + "/web-users").set(name: "prom", role: .metrics, password: Self.password, cost: 4)
        let basic = Data("prom:\(Self.password)".utf8).base64EncodedString()
        let m = try await HTTPTestClient.fetch(port: port, "GET", "/metrics", headers: [("Authorization", "Basic " + basic)])
        #expect(m.status == 200)
        for name in [
            "postern_passages_total{", "lane=\"in\"", "outcome=\"admit\"", "reason=\"ok\"", "postern_device_connected{device=\"thermo-in\"} 1",
            "process_resident_memory_bytes", "postern_log_batches", "postern_log_durable_seq", "postern_web_viewers",
            "postern_decision_seconds_bucket", "postern_scan_to_relay_seconds_bucket", "postern_log_append_seconds_bucket",
        ] {
            #expect(m.text.contains(name), "\(name)")
        }
        // A kiosk on its own has no central link to report.
        #expect(!m.text.contains("postern_uplink_") && !m.text.contains("postern_registry_age_seconds"))
        let wrong = Data("prom:nope-nope-nope".utf8).base64EncodedString()
        #expect(try await HTTPTestClient.fetch(port: port, "GET", "/metrics", headers: [("Authorization", "Basic " + wrong)]).status == 401)
    }
}

extension WebKioskTests {
    @Test("a web front that cannot listen (port taken) fails alone: the gate keeps deciding")
    func webFailsAlone() async throws {
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, len) } }
        listen(taken, 1)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &len) } }
        defer { close(taken) }
        let dir = tempPath("kiosk-web-taken")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var o = WebOptions(usersFile: dir + "/web-users", boardFile: dir + "/board.json")
        o.port = Int(UInt16(bigEndian: addr.sin_port))
        var logger = Logger(label: "web-test")
        logger.logLevel = .critical
        let box = ServerBox()
        let h = try Harness(dir: dir, extraServices: [KioskWeb.service(options: o, logger: logger, server: { box.set($0) })])
        defer { Task { await h.stop() } }
        try await h.ready()
        let end = Date().addingTimeInterval(5)
        while box.get()?.failed == nil, Date() < end { try await Task.sleep(for: .milliseconds(20)) }
        #expect(box.get()?.failed != nil)
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        #expect(await h.passage("in", Reason.ok) != nil)
    }

    @Test("a web front whose TLS files cannot be read stays off and the gate keeps deciding")
    func badTLSFailsAlone() async throws {
        let dir = tempPath("kiosk-web-tls")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "not a certificate".write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
        var o = WebOptions(usersFile: dir + "/web-users", boardFile: dir + "/board.json")
        o.port = 0
        o.tlsCert = dir + "/cert.pem"
        o.tlsKey = dir + "/missing.pem"
        var logger = Logger(label: "web-test")
        logger.logLevel = .critical
        let box = ServerBox()
        let h = try Harness(dir: dir, extraServices: [KioskWeb.service(options: o, logger: logger, server: { box.set($0) })])
        defer { Task { await h.stop() } }
        try await h.ready()
        #expect(box.get()?.failed != nil)
        h.scanIn.scan(h.passes["r1"]!)
        h.thermoIn.present(celsius: 36.5)
        #expect(await h.passage("in", Reason.ok) != nil)
    }
}

final class ServerBox: @unchecked Sendable {
    let lock = NSLock()
    var server: WebServer?
    func set(_ s: WebServer) {
        lock.lock()
        server = s
        lock.unlock()
    }
    func get() -> WebServer? {
        lock.lock()
        defer { lock.unlock() }
        return server
    }
}
