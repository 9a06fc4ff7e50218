import CityHarness
import Foundation
import GateCore
import GateTestSupport
import Testing

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

    static func scrape(port: Int, auth: String) -> String? {
        guard let r = httpGet(port: port, path: "/metrics", headers: [("Authorization", "Basic \(auth)")]), r.status == 200 else { return nil }
        return r.text
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
        _ = try runTool(["/bin/sh", "-c", "printf 'guard-password-1' | \"$0\" web passwd guard1 --role guard --password-stdin --data-dir \"$1\"", PGCluster.root + "/.build/debug/postern", dir + "/data"])

        // Online: the registry applied (version > 0), everything durable acknowledged.
        let online = try await Self.waitMetrics(port: port, auth: auth, "the link up with nothing behind") { m in
            (Self.gauge(m, "postern_registry_version") ?? 0) > 0 && Self.gauge(m, "postern_uplink_up") == 1 && Self.gauge(m, "postern_uplink_backlog") == 0
                && Self.gauge(m, "postern_uplink_acked_seq") == Self.gauge(m, "postern_log_durable_seq")
        }
        #expect((Self.gauge(online, "postern_registry_age_seconds") ?? -1) >= 0)
        // The live view's status bar says it too (a guard's session).
        let (session, reply) = try await WebTestSession.login(port: port, user: "guard1", password: "guard-password-1")
        let guardSession = try #require(session, "login: \(reply.status)")
        let page = try await guardSession.get("/live")
        #expect(page.text.contains("central registry v\(Int(Self.gauge(online, "postern_registry_version") ?? 0)), confirmed"), "\(page.text.prefix(3000))")
        #expect(page.text.contains("class=\"link-ok\""))
        // `postern tail` says the same: which central, which version, confirmed how long ago.
        let version = Int(Self.gauge(online, "postern_registry_version") ?? 0)
        let tail = try runTool([PGCluster.root + "/.build/debug/postern", "tail", "--lang", "en", "--data-dir", dir + "/data"])
        #expect(tail.contains("Registry: central \(city.centralURLs[0]), version \(version), confirmed"), "\(tail)")

        // Central gone: a passage is decided and logged, and waits in the backlog.
        city.centrals[0].crash()
        city.kiosks["gA"]!.pass(pass, direction: .in)
        let offline = try await Self.waitMetrics(port: port, auth: auth, "the link down with a backlog") { m in
            Self.gauge(m, "postern_uplink_up") == 0 && (Self.gauge(m, "postern_uplink_backlog") ?? 0) >= 1
        }
        let acked = Self.gauge(offline, "postern_uplink_acked_seq") ?? 0
        let summary = try await guardSession.get("/live/summary")
        #expect(summary.text.contains("\"degraded\":true") && summary.text.contains("to upload"), "\(summary.text)")
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
