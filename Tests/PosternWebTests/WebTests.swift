import Foundation
import GateCore
import GateStore
import GateTestSupport
import PosternWeb
import Testing

@Suite("Web front: stream resume, access, CSRF, escaping, board", .serialized)
struct WebTests {
    /// The ids of the shown events, in order, as the stream must deliver them.
    static func shown(_ s: MemorySource) -> [String] {
        s.records.withLock {
            $0.filter { r in
                guard let e = r.event else { return false }
                return e.kind == .passage || e.kind == .alert
            }.map { String($0.seq) }
        }
    }

    @Test(
        "Last-Event-ID resume over about 80 random disconnects while events keep coming: every event once, in order (window of 16, so most resumes read the source)"
    )
    func resumeRandomDisconnects() async throws {
        let src = MemorySource()
        let server = try await TestServer(src) { $0.windowEvents = 16 }
        let session = try await server.login("guard1")
        var g = SplitMix(seed: 1405)
        // Records the stream shows, and ones it must skip (registry changes, gaps).
        for i in 0..<150 { src.add(i % 5 == 4 ? MemorySource.registry() : MemorySource.passage("张\(i)")) }
        let producer = Task {
            var pg = SplitMix(seed: 7)
            for i in 0..<450 {
                switch i % 7 {
                case 3: src.add(MemorySource.registry())
                case 5: src.add(nil)
                case 6: src.add(MemorySource.alert("forced_open", message: "door \(i)"))
                default: src.add(MemorySource.passage("李\(i)"))
                }
                if Int.random(in: 0..<4, using: &pg) == 0 { try await Task.sleep(for: .milliseconds(Int.random(in: 1...8, using: &pg))) }
            }
        }
        var got: [String] = []
        var last: String? = nil
        var reconnects = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let stream = try await session.stream("/live/stream?after=0", lastEventID: last)
            #expect(stream.status == 200)
            let take = Int.random(in: 1...10, using: &g)
            for _ in 0..<take {
                // Nothing within 1.5 s: caught up for now (the final comparison catches a loss).
                guard let e = (try? await stream.nextEvent(timeout: 1.5)) ?? nil else { break }
                got.append(e.id!)
                last = e.id
            }
            stream.cut()
            reconnects += 1
            let done = await producerDone(producer)
            if done, got.count >= Self.shown(src).count { break }
        }
        try await producer.value
        let want = Self.shown(src)
        #expect(reconnects >= 50, "\(reconnects) reconnects")
        #expect(got.count == want.count, "got \(got.count), want \(want.count)")
        #expect(got == want)
        #expect(Set(got).count == got.count)
        await server.stop()
    }

    func producerDone(_ t: Task<Void, any Error>) async -> Bool {
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

    @Test("an idle stream gets heartbeat comments; an id that is not a number is ignored; a late event is marked late")
    func heartbeatsAndLate() async throws {
        let src = MemorySource()
        src.add(MemorySource.passage("王五"))
        let server = try await TestServer(src)
        let session = try await server.login("guard1")
        let s = try await session.stream("/live/stream?after=0", lastEventID: "1; DROP TABLE")
        let first = try await s.nextEvent(timeout: 5)
        #expect(first?.id == "1")
        let t0 = Date()
        src.add(MemorySource.passage("赵六"), late: true)
        let late = try await s.nextEvent(timeout: 5)
        #expect(late?.data.contains("\"late\":true") == true)
        try await Task.sleep(for: .milliseconds(2500))
        src.add(MemorySource.passage("钱七"))
        _ = try await s.nextEvent(timeout: 5)
        #expect(s.comments >= 1, "no heartbeat in \(Date().timeIntervalSince(t0)) s")
        s.cut()
        await server.stop()
    }

    @Test("every page and stream but the board refuses anonymous and wrong-role requests")
    func accessMatrix() async throws {
        let src = MemorySource()
        src.photos["r1"] = [0xFF, 0xD8, 0xFF, 0xE0]
        let seq = src.add(MemorySource.passage("张三"))
        let alarm = src.add(MemorySource.alert("forced_open", message: "door"))
        let server = try await TestServer(src)
        let anon = WebTestSession(port: server.port, jar: [:], csrf: "")
        // Anonymous: pages send to the login page; data, streams and actions are 401.
        for p in ["/live", "/ledger", "/board/edit"] { #expect(try await anon.get(p).status == 303, "\(p)") }
        for p in ["/live/stream", "/live/summary", "/photo/\(seq)", "/metrics"] { #expect(try await anon.get(p).status == 401, "\(p)") }
        #expect(try await anon.post("/alarms/\(alarm)/ack", csrf: "x").status == 401)
        #expect(try await anon.post("/board/edit", csrf: "x").status == 303)
        // A forged session cookie is anonymous.
        let forged = WebTestSession(port: server.port, jar: ["postern_session": String(repeating: "a", count: 64)], csrf: "")
        #expect(try await forged.get("/live/stream").status == 401)
        // The board needs nothing.
        #expect(try await anon.get("/board").status == 200)
        let b = try await HTTPTestClient.offPool { try SSETestStream(port: server.port, path: "/board/stream") }
        #expect(b.status == 200)
        b.cut()
        // Wrong roles.
        let viewer = try await server.login("viewer1")
        #expect(try await viewer.get("/live").status == 200)
        #expect(try await viewer.get("/photo/\(seq)").status == 403)
        #expect(try await viewer.post("/alarms/\(alarm)/ack", csrf: viewer.csrf).status == 403)
        #expect(try await viewer.get("/board/edit").status == 403)
        #expect(try await viewer.get("/metrics").status == 401)
        let prom = try await server.login("prom")
        for p in ["/live", "/ledger"] { #expect(try await prom.get(p).status == 403, "\(p)") }
        for p in ["/live/stream", "/live/summary", "/photo/\(seq)"] { #expect(try await prom.get(p).status == 403, "\(p)") }
        #expect(try await prom.get("/metrics").status == 200)
        let guardS = try await server.login("guard1")
        #expect(try await guardS.get("/photo/\(seq)").status == 200)
        #expect(try await guardS.get("/board/edit").status == 403)
        // Every response carries the security headers; cookies are HttpOnly and SameSite=Strict.
        let page = try await guardS.get("/live")
        #expect(page.header("content-security-policy")?.contains("script-src 'self'") == true)
        #expect(page.header("x-frame-options") == "DENY")
        let (_, login) = try await WebTestSession.login(port: server.port, user: "guard1", password: TestServer.password)
        #expect(login.headers("set-cookie").contains { $0.hasPrefix("postern_session=") && $0.contains("HttpOnly") && $0.contains("SameSite=Strict") })
        // No personal data in any URL the pages use: the photo is addressed by event number.
        #expect(!page.text.contains("/photo/r1"))
        await server.stop()
    }

    @Test("CSRF: acknowledging, logging out, editing the board and logging in each need the right token")
    func csrf() async throws {
        let src = MemorySource()
        src.staffList = [Staff(id: "s1", name: "陈主任", role: "cadre", idNumber: "x")]
        let alarm = src.add(MemorySource.alert("forced_open", message: "door"))
        let server = try await TestServer(src)
        let admin = try await server.login("admin1")
        #expect(try await admin.post("/alarms/\(alarm)/ack", csrf: nil).status == 403)
        #expect(try await admin.post("/alarms/\(alarm)/ack", csrf: admin.csrf.uppercased()).status == 403)
        #expect(try await admin.post("/board/edit", csrf: nil, form: [("publish", "s1"), ("phone.s1", "110")]).status == 403)
        #expect(try await admin.post("/board/edit", csrf: nil, form: [("csrf", "nope"), ("publish", "s1")]).status == 403)
        #expect(try await admin.post("/logout", csrf: nil, form: [("csrf", "nope")]).status == 403)
        #expect(try await admin.get("/live").status == 200)  // still signed in
        // Another session's token does not work here.
        let other = try await server.login("guard1")
        #expect(try await admin.post("/alarms/\(alarm)/ack", csrf: other.csrf).status == 403)
        #expect(try await admin.post("/alarms/\(alarm)/ack", csrf: admin.csrf).status == 200)
        // Login without the login page's cookie (a cross-site login form) is refused.
        let r = try await HTTPTestClient.fetch(
            port: server.port, "POST", "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: HTTPTestClient.formBody([("csrf", "x"), ("user", "admin1"), ("password", TestServer.password)]))
        #expect(r.status == 403)
        #expect(try await admin.post("/logout", csrf: nil, form: [("csrf", admin.csrf)]).status == 303)
        #expect(try await admin.get("/live").status == 303)
        await server.stop()
    }

    @Test("names, device messages, notices and staff names with <script> or terminal escapes render as text")
    func escaping() async throws {
        let src = MemorySource()
        let evil = "<script>alert(1)</script>\u{1B}[31m\u{202E}"
        src.staffList = [Staff(id: "s1", name: "<img src=x onerror=alert(2)>", role: "cadre", idNumber: "x")]
        src.add(MemorySource.passage(evil))
        src.add(MemorySource.alert("device_missing", message: "thermo-in: " + evil))
        src.ledgerRows = [
            LedgerRow(
                seq: 1, time: "08:00:00", lane: "<b>in</b>", direction: "in", name: "<script>x</script>", idNumber: "", pass: "", temperature: "36.5",
                outcome: "admit", reason: "ok", staff: "", clockUnsynced: false),
            LedgerRow(
                seq: 2, time: "08:00:05", lane: "in", direction: "in", name: "", idNumber: "", pass: "", temperature: "",
                outcome: "deny", reason: "malformed_credential", staff: "", clockUnsynced: false, attempts: 300),
        ]
        let server = try await TestServer(src)
        let admin = try await server.login("admin1")
        let live = try await admin.get("/live")
        #expect(!live.text.contains("<script>alert(1)"))
        #expect(live.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        let ledger = try await admin.get("/ledger")
        #expect(!ledger.text.contains("<script>x") && !ledger.text.contains("<b>in</b>"))
        #expect(ledger.text.contains("&lt;b&gt;in&lt;/b&gt;"))
        #expect(ledger.text.contains("×300"))  // a coalesced burst shows the attempts it stands for
        let edit = try await admin.post(
            "/board/edit", csrf: nil,
            form: [
                ("csrf", admin.csrf), ("publish", "s1"), ("duty.s1", "社区干部"), ("phone.s1", "0470-1234567"), ("onduty", "s1"),
                ("notices", "外出戴口罩\n<script>alert(3)</script>"),
            ])
        #expect(edit.status == 303)
        let board = try await HTTPTestClient.fetch(port: server.port, "GET", "/board")
        #expect(!board.text.contains("<script>alert(3)") && !board.text.contains("<img src=x"))
        #expect(board.text.contains("&lt;img src=x onerror=alert(2)&gt;") && board.text.contains("0470-1234567"))
        // In the stream, JSON carries the name as data (masked); the page's script sets it as text.
        let s = try await admin.stream("/live/stream?after=0")
        let e = try await s.nextEvent(timeout: 5)
        #expect(e?.data.contains("\\u001b") == true || e?.data.contains("\u{1B}") == false)
        s.cut()
        let js = try await HTTPTestClient.fetch(port: server.port, "GET", "/assets/live.js")
        #expect(!js.text.contains("innerHTML"))
        // A board edit with a bad phone is refused with a reason, and nothing changes.
        let bad = try await admin.post("/board/edit", csrf: nil, form: [("csrf", admin.csrf), ("publish", "s1"), ("phone.s1", "<script>")])
        #expect(bad.status == 200 && bad.text.contains("phone"))
        await server.stop()
    }

    @Test("login: five failures from one address in a minute, then even the right password gets 429")
    func loginRateLimit() async throws {
        let server = try await TestServer(MemorySource())
        for _ in 0..<5 {
            let (s, r) = try await WebTestSession.login(port: server.port, user: "guard1", password: "wrong password!")
            #expect(s == nil && r.status == 401)
            #expect(!r.text.contains("wrong password!"))
        }
        let (s, r) = try await WebTestSession.login(port: server.port, user: "guard1", password: TestServer.password)
        #expect(s == nil && r.status == 429)
        // A name that is not an account name at all costs the same and is refused.
        let (_, odd) = try await WebTestSession.login(port: server.port, user: "../../etc/passwd\u{0}", password: "x")
        #expect(odd.status == 429)
        await server.stop()
    }

    @Test("the board: roster and notices shown, the last decision updates live, and no personal data of the person passing in its HTML or stream")
    func board() async throws {
        let src = MemorySource()
        src.staffList = [
            Staff(id: "s1", name: "陈主任", role: "cadre", idNumber: "150702197007070079"),
            Staff(id: "s2", name: "刘警官", role: "police", idNumber: "150702197108080082"),
        ]
        let name = "张伟国"
        src.add(MemorySource.passage(name, person: "r-1-1-101", outcome: .deny, reason: .quarantined, lane: "out", temp: 36.6))
        let server = try await TestServer(src) {
            $0.community = "幸福里小区"
            $0.notices = ["外出必须戴口罩"]
        }
        let admin = try await server.login("admin1")
        _ = try await admin.post(
            "/board/edit", csrf: nil,
            form: [
                ("csrf", admin.csrf), ("publish", "s1"), ("duty.s1", "社区干部"), ("phone.s1", "13800000001"), ("onduty", "s1"), ("publish", "s2"),
                ("duty.s2", "社区民警"), ("phone.s2", "110"), ("notices", "外出必须戴口罩"),
            ])
        let page = try await HTTPTestClient.fetch(port: server.port, "GET", "/board")
        for want in ["非本小区人员禁止入内", "幸福里小区", "陈主任", "社区干部", "13800000001", "刘警官", "社区民警", "今日值班", "外出必须戴口罩", "禁止通行", "36.6"] {
            #expect(page.text.contains(want), "\(want)")
        }
        // Not the person passing: no name (full or masked), id, reason that reveals isolation, ID number.
        for never in [name, "张*", "r-1-1-101", "居家隔离", "quarantined", "150702197007070079"] {
            #expect(!page.text.contains(never), "\(never)")
        }
        let s = try await HTTPTestClient.offPool { try SSETestStream(port: server.port, path: "/board/stream?after=0") }
        let first = try await s.nextEvent(timeout: 5)
        src.add(MemorySource.passage("李四", person: "r2", outcome: .admit, reason: .ok, lane: "in", temp: 36.4))
        let second = try await s.nextEvent(timeout: 5)
        #expect(first?.event == "decision" && second?.event == "decision")
        #expect(second?.data.contains("体温正常，请通行") == true && second?.data.contains("36.4") == true)
        for e in [first, second].compactMap({ $0 }) {
            for never in [name, "李", "r2", "r-1-1-101", "quarantined", "张"] { #expect(!e.data.contains(never), "\(never) in \(e.data)") }
        }
        // Alarms and late events never reach the board.
        src.add(MemorySource.alert("fever", message: "fever (r2, 38.5)"))
        src.add(MemorySource.passage("王五", person: "r3"), late: true)
        src.add(MemorySource.passage("赵六", person: "r4", outcome: .retest, reason: .feverRetest, temp: 37.9))
        let third = try await s.nextEvent(timeout: 5)
        #expect(third?.data.contains("请重新测量") == true)
        #expect(third.map { !$0.data.contains("fever") && !$0.data.contains("王五") } == true)
        s.cut()
        await server.stop()
    }
}

@Suite("Web front: hostile requests and TLS", .serialized)
struct HostileWebTests {
    @Test("oversized bodies, broken encodings, absurd ids, traversal and huge headers get a 4xx, and the server keeps serving")
    func hostileRequests() async throws {
        let src = MemorySource()
        src.photos["r1"] = [0xFF, 0xD8, 0xFF, 0xE0]
        src.add(MemorySource.passage("张三"))
        let server = try await TestServer(src)
        let p = server.port
        let big = try await HTTPTestClient.fetch(
            port: p, "POST", "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: [UInt8](repeating: 0x61, count: 1 << 20))
        #expect((400..<500).contains(big.status), "\(big.status)")
        let (s, odd) = try await WebTestSession.login(port: p, user: "%ZZ%", password: "%")
        #expect(s == nil && odd.status == 401)
        let guardS = try await server.login("guard1")
        for path in [
            "/photo/abc", "/photo/0", "/photo/18446744073709551615", "/photo/99999999999999999999999", "/photo/-1", "/assets/..%2F..%2Fetc%2Fpasswd",
            "/assets/../../etc/passwd", "/nothing",
        ] {
            let r = try await guardS.get(path)
            #expect(r.status == 404, "\(path): \(r.status)")
        }
        let ledger = try await guardS.get("/ledger?day=../../etc/passwd%00")
        #expect(ledger.status == 200 && !ledger.text.contains("passwd"))
        let s1 = try await guardS.stream("/live/stream?after=-5", lastEventID: "99999999999999999999999999")
        #expect(s1.status == 200)
        s1.cut()
        let s2 = try await guardS.stream("/live/stream?after=18446744073709551615")
        #expect(s2.status == 200)  // far ahead of the source: starts at its head
        src.add(MemorySource.passage("李四"))
        #expect(try await s2.nextEvent(timeout: 5)?.id == "2")
        s2.cut()
        let junkCookie = try await HTTPTestClient.fetch(
            port: p, "GET", "/live/stream", headers: [("Cookie", String(repeating: "postern_session=\u{7F}x; ", count: 300))])
        #expect(junkCookie.status == 401 || (400..<500).contains(junkCookie.status))
        let longPath = try await HTTPTestClient.fetch(port: p, "GET", "/" + String(repeating: "a", count: 20_000))
        #expect((400..<500).contains(longPath.status), "\(longPath.status)")
        let bad = try await HTTPTestClient.fetch(port: p, "GET", "/board", headers: [("X-Junk", String(repeating: "\u{1B}[31m", count: 200))])
        #expect(bad.status < 500)
        #expect(try await HTTPTestClient.fetch(port: p, "GET", "/board").status == 200)
        await server.stop()
    }

    @Test("with tls_cert and tls_key the server speaks HTTPS only and its session cookie is Secure")
    func tls() async throws {
        let dir = tempPath("tls")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        gen.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1",
        ]
        gen.standardOutput = FileHandle.nullDevice
        gen.standardError = FileHandle.nullDevice
        try gen.run()
        gen.waitUntilExit()
        #expect(gen.terminationStatus == 0)
        let server = try await TestServer(MemorySource()) { o in
            o.tlsCert = dir + "/cert.pem"
            o.tlsKey = dir + "/key.pem"
        }
        #expect(server.web.url?.hasPrefix("https://") == true)
        func curl(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-s", "-D", "-", "-o", "/dev/null", "--max-time", "5"] + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let d = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: d, as: UTF8.self))
        }
        let (ok, head) = try curl(["--cacert", dir + "/cert.pem", "https://127.0.0.1:\(server.port)/login"])
        #expect(ok == 0 && head.hasPrefix("HTTP/1.1 200"), "\(head)")
        #expect(head.lowercased().contains("set-cookie: postern_login=") && head.contains("Secure"))
        let (plain, _) = try curl(["http://127.0.0.1:\(server.port)/login"])
        #expect(plain != 0)  // not HTTP in the clear
        await server.stop()
    }
}
