import CityHarness
import Foundation
import GateCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The kiosk's `/metrics` reports its link to central (issue 14's metrics list): the acknowledged
/// sequence, the backlog of durable records central has not acknowledged, whether the link is up,
/// and the registry copy's version and age — read from a real `postern serve` process whose
/// central (a `postern-central` process over a real PostgreSQL) is killed and restarted.
@Suite("Uplink metrics", .serialized)
struct UplinkMetricsTests {
    static func gauge(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// `GET /metrics` with HTTP Basic, by a plain socket (the kiosk binds loopback).
    static func scrape(port: Int, auth: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else { return nil }
        let req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(auth)\r\nConnection: close\r\n\r\n"
        _ = req.withCString { write(fd, $0, strlen($0)) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        let text = String(decoding: out, as: UTF8.self)
        return text.hasPrefix("HTTP/1.1 200") ? text : nil
    }

    static func waitMetrics(port: Int, auth: String, _ what: String, timeout: Double = 30, until ok: (String) -> Bool) async throws -> String {
        let end = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < end {
            if let m = scrape(port: port, auth: auth) {
                last = m
                if ok(m) { return m }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("metrics never showed \(what); last scrape:\n\(last.split(separator: "\n").filter { $0.contains("uplink") || $0.contains("registry") || $0.contains("durable") }.joined(separator: "\n"))")
        throw CityError.failed(what)
    }

    @Test("acknowledged sequence, backlog, link up/down and registry age follow central going away and coming back")
    func uplinkGauges() async throws {
        let root = NSTemporaryDirectory() + "postern-uplink-metrics-\(UUID().uuidString.prefix(6))"
        let city = try City(root: root, repo: PGCluster.root)
        defer {
            city.stop()
            try? FileManager.default.removeItem(atPath: root)
        }
        try city.organise(communities: ["c1"])
        let r = Resident(id: "r1", name: "居民", sex: .female, idNumber: City.idNumber(1), household: "1-1-101", address: Address(building: "1", unit: "1", room: "101"), origin: .local)
        let (pass, passChange) = try city.issuePass(person: "r1", kind: .resident, household: "1-1-101")
        try city.registry("c1", [city.keyChange(), City.change("resident", "r1", r), passChange])
        let port = freeLoopbackPort()
        try city.addKiosk(.init(community: "c1", gate: "gA", webPort: port))
        let dir = city.kiosks["gA"]!.dir
        _ = try runTool(["/bin/sh", "-c", "printf 'prom-password-1' | \"$0\" web passwd prom --role metrics --password-stdin --data-dir \"$1\"", PGCluster.root + "/.build/debug/postern", dir + "/data"])
        let auth = Data("prom:prom-password-1".utf8).base64EncodedString()

        // Online: the registry applied (version > 0), everything durable acknowledged.
        let online = try await Self.waitMetrics(port: port, auth: auth, "the link up with nothing behind") { m in
            (Self.gauge(m, "postern_registry_version") ?? 0) > 0 && Self.gauge(m, "postern_uplink_up") == 1 && Self.gauge(m, "postern_uplink_backlog") == 0
                && Self.gauge(m, "postern_uplink_acked_seq") == Self.gauge(m, "postern_log_durable_seq")
        }
        #expect((Self.gauge(online, "postern_registry_age_seconds") ?? -1) >= 0)

        // Central gone: a passage is decided and logged, and waits in the backlog.
        city.centrals[0].crash()
        city.kiosks["gA"]!.pass(pass, direction: .in)
        let offline = try await Self.waitMetrics(port: port, auth: auth, "the link down with a backlog") { m in
            Self.gauge(m, "postern_uplink_up") == 0 && (Self.gauge(m, "postern_uplink_backlog") ?? 0) >= 1
        }
        let acked = Self.gauge(offline, "postern_uplink_acked_seq") ?? 0
        #expect(acked + (Self.gauge(offline, "postern_uplink_backlog") ?? 0) == Self.gauge(offline, "postern_log_durable_seq"))

        // Back: the backlog drains, the acknowledged sequence moves past where it stood.
        try city.startCentral(0)
        let back = try await Self.waitMetrics(port: port, auth: auth, "the backlog drained") { m in
            Self.gauge(m, "postern_uplink_up") == 1 && Self.gauge(m, "postern_uplink_backlog") == 0
        }
        #expect((Self.gauge(back, "postern_uplink_acked_seq") ?? 0) > acked)
        _ = try city.awaitPassage(gate: "gA", person: "r1", afterSeq: 0)
    }
}
