import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Testing
@testable import GateDaemon
#if canImport(Glibc)
import Glibc
#endif

/// The real `postern` executable as a child process: signals, exit codes, SIGKILL mid-append.
enum Binary {
    static var root: String { packageRoot }
    static var path: String { root + "/.build/debug/postern" }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs to completion (bounded by `timeout`).
    static func run(_ args: [String], stdin: String? = nil, timeout: Double = 60) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        if let stdin {
            let i = Pipe()
            p.standardInput = i
            try p.run()
            i.fileHandleForWriting.write(Data(stdin.utf8))
            try i.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let outData = o.fileHandleForReading.readDataToEndOfFile()
        let errData = e.fileHandleForReading.readDataToEndOfFile()
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.01) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    static func spawn(_ args: [String], stdout: FileHandle? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = stdout ?? FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}

@Suite("The postern process", .serialized)
struct ProcessTests {
    @Test("a bad config is one clear error per problem and exit 1, before anything starts")
    func badConfig() throws {
        let f = tempPath("bad.toml")
        try "[rules]\nfever_treshold = 37\n".write(toFile: f, atomically: true, encoding: .utf8)
        let r = try Binary.run(["serve", "--config", f])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(f):2: rules.fever_treshold: unknown key"))
        let c = try Binary.run(["config", "check", f])
        #expect(c.status == 1)
    }

    @Test("serve: READY via sd_notify, SIGHUP with a good and a bad file, a second instance refused, SIGTERM exits cleanly")
    func serveLifecycle() throws {
        let dir = tempPath("serve")
        let (_, _, sims) = try Harness.prepare(dir: dir)
        defer { for s in sims { s.stop() } }
        let cfg = dir + "/postern.toml"
        try Harness.configText(dir: dir).write(toFile: cfg, atomically: true, encoding: .utf8)

        // A notify socket, as systemd would give.
        let sockPath = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in sockPath.utf8.enumerated() { p[i] = b } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        func messages(until match: String, timeout: Double = 20) -> [String] {
            var got: [String] = []
            let end = Date().addingTimeInterval(timeout)
            var buf = [UInt8](repeating: 0, count: 4096)
            while Date() < end {
                let n = recv(fd, &buf, buf.count, 0)
                if n > 0 {
                    got.append(String(decoding: buf[0..<n], as: UTF8.self))
                    if got.last!.contains(match) { return got }
                }
            }
            return got
        }

        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = ["serve", "--config", cfg]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = sockPath
        env["WATCHDOG_USEC"] = "2000000"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        #expect(messages(until: "READY=1").contains { $0.contains("READY=1") })
        #expect(messages(until: "WATCHDOG=1", timeout: 5).contains { $0.contains("WATCHDOG=1") })

        // A second daemon on the same data directory fails at once.
        let second = try Binary.run(["serve", "--config", cfg], timeout: 20)
        #expect(second.status != 0)
        #expect(second.stderr.contains("in use by another writer"))

        // SIGHUP with a changed, valid file: applied and logged with its hash.
        try Harness.configText(dir: dir, extra: "fever_threshold = 37.5").write(toFile: cfg, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        #expect(messages(until: "READY=1").contains { $0.contains("RELOADING=1") })
        // SIGHUP with a broken file: rejected, logged, old config kept.
        try "[rules]\nfever_threshold = \"hot\"\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        _ = messages(until: "READY=1")
        Thread.sleep(forTimeInterval: 0.5)

        kill(p.processIdentifier, SIGTERM)
        let end = Date().addingTimeInterval(20)
        while p.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)

        let events = try LogCursor(directory: dir + "/log", from: 1).next(limit: 10_000).compactMap(TailFormat.event)
        let reloads = events.filter { $0.kind == .configReload }
        #expect(reloads.count == 2)
        #expect(reloads.first?.configHash?.count == 64)
        #expect(reloads.last?.message?.hasPrefix("rejected") == true)
        let v = try Binary.run(["log", "verify", "--data-dir", dir])
        #expect(v.status == 0, "\(v.stdout)")
        #expect(v.stdout.contains("1 signed checkpoint(s) verified") || v.stdout.contains("checkpoint(s) verified"))
    }

    @Test("SIGKILL at random moments while appending: every acknowledged event survives (100 cycles)")
    func sigkill() throws {
        let dir = tempPath("kill")
        var acked: [UInt64: UInt32] = [:]
        for cycle in 0..<100 {
            let outPath = dir + ".out\(cycle)"
            FileManager.default.createFile(atPath: outPath, contents: nil)
            let out = FileHandle(forWritingAtPath: outPath)!
            let p = try Binary.spawn(["debug", "append-stress", "--data-dir", dir, "--writers", "8"], stdout: out)
            // Let it start and append for a random moment, then kill it without warning.
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.4))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try out.close()
            let text = try String(contentsOfFile: outPath, encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("ack ") {
                let f = line.split(separator: " ")
                if f.count == 3, let s = UInt64(f[1]), let c = UInt32(f[2]) { acked[s] = c }
            }
        }
        #expect(acked.count > 100)
        let w = try LogWriter.open(directory: dir + "/log")
        #expect(w.recovery.gaps.isEmpty)
        w.close()
        var got: [UInt64: UInt32] = [:]
        let c = LogCursor(directory: dir + "/log", from: 1)
        var expectSeq: UInt64 = 1
        while true {
            let recs = try c.next(limit: 10_000)
            if recs.isEmpty { break }
            for r in recs {
                #expect(r.seq == expectSeq)
                expectSeq = r.seq + 1
                got[r.seq] = CRC32C.checksum(r.payload)
            }
        }
        var lost = 0
        for (s, crc) in acked where got[s] != crc { lost += 1 }
        #expect(lost == 0, "\(lost) of \(acked.count) acknowledged events lost or changed")
        #expect(try LogVerifier(directory: dir + "/log").run().ok)
    }
}

@Suite("Admin commands as a user runs them", .serialized)
struct AdminCLITests {
    @Test("a CSV with a bad row imports nothing and names the line; a good one imports all")
    func importCSV() throws {
        let dir = tempPath("admin")
        let bad = tempPath("bad.csv")
        try "id,name,sex,id_number,building,unit,room\nr1,张伟,M,\(idn("15070219800101001")),1,1,101\nr2,李娜,X,\(idn("15070219820202002")),1,1,101\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try Binary.run(["residents", "import", bad, "--data-dir", dir])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(bad):3: sex"))
        #expect(r.stderr.contains("nothing imported"))
        #expect(try Binary.run(["residents", "list", "--data-dir", dir]).stdout.isEmpty)
        let good = tempPath("good.csv")
        try "\u{FEFF}id,name,sex,id_number,building,unit,room\r\nr1,张伟,M,\(idn("15070219800101001")),1,1,101\r\n".write(toFile: good, atomically: true, encoding: .utf8)
        let g = try Binary.run(["residents", "import", good, "--data-dir", dir])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(g.stdout.contains("1 audit event(s) written to the log"))
        let list = try Binary.run(["residents", "list", "--data-dir", dir]).stdout
        #expect(list.contains("张*"))
        #expect(!list.contains("张伟"))
    }

    @Test("pass issue / verify / revoke: verify exits 0 only when a kiosk would accept")
    func passes() throws {
        let dir = tempPath("passes")
        let csv = tempPath("p.csv")
        try "id,name,sex,id_number,building,unit,room\nr1,张伟,M,\(idn("15070219800101001")),1,1,101\n".write(toFile: csv, atomically: true, encoding: .utf8)
        _ = try Binary.run(["residents", "import", csv, "--data-dir", dir])
        #expect(try Binary.run(["keys", "generate", "--data-dir", dir]).status == 0)
        var st = stat()
        stat(dir + "/pass-signing.key", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        let issued = try Binary.run(["pass", "issue", "r1", "--data-dir", dir])
        let payload = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(payload.hasPrefix("P1"))
        #expect(try Binary.run(["pass", "verify", payload, "--data-dir", dir]).status == 0)
        var tampered = Array(payload)
        tampered[10] = tampered[10] == "A" ? "B" : "A"
        let t = try Binary.run(["pass", "verify", String(tampered), "--data-dir", dir])
        #expect(t.status == 1)
        #expect(t.stderr.contains("deny"))
        #expect(try Binary.run(["pass", "revoke", payload, "--data-dir", dir]).status == 0)
        let rv = try Binary.run(["pass", "verify", payload, "--data-dir", dir])
        #expect(rv.status == 1)
        #expect(rv.stderr.contains("revoked_pass"))
        // A signing key readable by others is refused.
        chmod(dir + "/pass-signing.key", 0o644)
        let wide = try Binary.run(["pass", "issue", "r1", "--data-dir", dir])
        #expect(wide.status != 0)
        #expect(wide.stderr.contains("must be 0600"))
    }

    @Test("purge redacts personal data before a date; the log still verifies, nothing after it is touched")
    func purge() throws {
        let dir = tempPath("purge")
        let w = try LogWriter.open(directory: dir + "/log")
        let j = Journal(writer: w)
        for _ in 0..<5 {
            // Denials: nothing the gate's rules read (those are kept; see OneOwnerTests).
            let d = Decision(outcome: .deny, reason: .fever, personID: "r1", personKind: .resident, personName: "张伟", household: "h1")
            _ = try j.appendBlocking(GateEvent.passage(d, Lane.Summary(lane: "a", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        }
        w.close()
        _ = try Store.open(dataDir: dir)
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let tomorrow = f.string(from: Date().addingTimeInterval(86_400))
        let r = try Binary.run(["purge", "--before", tomorrow, "--data-dir", dir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("5 record(s) redacted"))
        let v = try Binary.run(["log", "verify", "--data-dir", dir])
        #expect(v.status == 0, "\(v.stdout)")
        #expect(v.stdout.contains("5 redacted payload(s)"))
        let tail = try Binary.run(["tail", "--after", "0", "--json", "--unmask", "--data-dir", dir]).stdout
        #expect(!tail.contains("张伟"))
    }

    @Test("a printed card's QR, rendered to PNG and decoded by zbarimg, is the pass a kiosk accepts", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zbarimg") && FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert")))
    func printedCard() throws {
        let dir = tempPath("cards")
        let csv = tempPath("c.csv")
        try "id,name,sex,id_number,building,unit,room,household\nr1,张伟,M,\(idn("15070219800101001")),1,1,101,h1\nr2,李娜,F,\(idn("15070219820202002")),1,1,101,h1\n".write(toFile: csv, atomically: true, encoding: .utf8)
        _ = try Binary.run(["residents", "import", csv, "--data-dir", dir])
        _ = try Binary.run(["keys", "generate", "--data-dir", dir])
        let issued = try Binary.run(["pass", "issue", "r1", "--data-dir", dir]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let r = try Binary.run(["pass", "print", "--household", "h1", "--format", "png", "--out", dir + "/out", "--data-dir", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let z = Process()
        z.executableURL = URL(fileURLWithPath: "/usr/bin/zbarimg")
        z.arguments = ["-q", "--raw", dir + "/out/pass-r1.png"]
        let pipe = Pipe()
        z.standardOutput = pipe
        z.standardError = FileHandle.nullDevice
        try z.run()
        let decoded = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        z.waitUntilExit()
        // The card carries the very pass issued before (deterministic Ed25519), and it verifies.
        #expect(decoded == issued)
        #expect(try Binary.run(["pass", "verify", decoded, "--data-dir", dir]).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/out/pass-r2.png"))
    }

    @Test("tail -f in another process follows a live writer, records landing in its preallocated tail included, in order and once")
    func tailFollow() throws {
        let dir = tempPath("tailf")
        let w = try LogWriter.open(directory: dir + "/log")
        let j = Journal(writer: w)
        func passage(_ i: Int) throws {
            let d = Decision(outcome: .admit, reason: .ok, personID: "r\(i)", personKind: .resident)
            _ = try j.appendBlocking(GateEvent.passage(d, Lane.Summary(lane: "a", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        }
        try passage(0)
        let pipe = Pipe()
        let child = try Binary.spawn(["tail", "-f", "--json", "--after", "0", "--data-dir", dir], stdout: pipe.fileHandleForWriting)
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        try pipe.fileHandleForWriting.close()
        let reader = LineReader(pipe.fileHandleForReading)
        var seqs: [Int] = []
        func take(_ n: Int) {
            for line in reader.lines(n, timeout: 10) {
                if let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let s = o["seq"] as? Int { seqs.append(s) }
            }
        }
        take(1)
        // The writer keeps zeroed space after its records; these land inside the file.
        for i in 1...20 { try passage(i) }
        take(20)
        Thread.sleep(forTimeInterval: 0.3)
        for i in 21...25 { try passage(i) }
        take(5)
        w.close()
        #expect(seqs == Array(1...26))
    }

    @Test("tail resumes after a sequence number without repeats or gaps, masks names, and filters")
    func tail() throws {
        let dir = tempPath("tail")
        let (_, _, sims) = try Harness.prepare(dir: dir)
        for s in sims { s.stop() }
        _ = try Binary.run(["log", "salvage", "--data-dir", dir])  // drains nothing; opens the log
        let w = try LogWriter.open(directory: dir + "/log")
        let j = Journal(writer: w)
        for i in 0..<30 {
            let d = Decision(outcome: i % 2 == 0 ? .admit : .deny, reason: i % 2 == 0 ? .ok : .fever, personID: "r1", personKind: .resident, personName: "张伟")
            _ = try j.appendBlocking(GateEvent.passage(d, Lane.Summary(lane: i % 3 == 0 ? "a" : "b", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        }
        w.close()
        let all = try Binary.run(["tail", "--json", "--after", "0", "--data-dir", dir]).stdout.split(separator: "\n")
        let seqs = all.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["seq"] as? Int }
        #expect(seqs == Array(1...seqs.count))
        let half = seqs.count / 2
        let rest = try Binary.run(["tail", "--json", "--after", String(half), "--data-dir", dir]).stdout.split(separator: "\n")
        #expect(rest.count == seqs.count - half)
        #expect(!rest.joined().contains("张伟"))
        let denied = try Binary.run(["tail", "--after", "0", "--denied", "--lane", "b", "--data-dir", dir]).stdout.split(separator: "\n")
        #expect(denied.count == 10)
        #expect(denied.allSatisfy { $0.contains("fever") && $0.contains("张*") })
    }
}

/// Lines from a child's stdout, read on a thread so a test can wait with a deadline.
final class LineReader: @unchecked Sendable {
    private let lock = NSCondition()
    private var lines: [String] = []
    private var partial = ""

    init(_ h: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let d = h.availableData
                if d.isEmpty { break }
                lock.lock()
                partial += String(decoding: d, as: UTF8.self)
                while let nl = partial.firstIndex(of: "\n") {
                    lines.append(String(partial[..<nl]))
                    partial = String(partial[partial.index(after: nl)...])
                }
                lock.broadcast()
                lock.unlock()
            }
        }
    }

    /// The next `n` lines, or fewer if they do not arrive within `timeout` seconds.
    func lines(_ n: Int, timeout: Double) -> [String] {
        let end = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while lines.count < n && lock.wait(until: end) {}
        let out = Array(lines.prefix(n))
        lines.removeFirst(out.count)
        return out
    }
}
