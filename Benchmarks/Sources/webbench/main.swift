import Devices
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore
import KioskWeb
import Logging
import PosternWeb

#if canImport(Glibc)
    import Glibc
#endif

// The web front's delivery figures on a real kiosk: passages through pty devices (ASCII
// thermometer, serial QR scanner, simulated GPIO), the decision appended durably, then the event
// on Server-Sent Events streams read by plain sockets in this process.
//   webbench [DIR] [--viewers N] [--passages N]
// Decision → delivered = the client's wall-clock receipt minus the passage record's wall time
// (stamped when it is appended, right after the decision).

var args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String, _ def: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return def }
    args.removeSubrange(i...(i + 1))
    return v
}
let viewers = option("--viewers", 1000)
let passages = option("--passages", 150)
let base = (args.first ?? NSTemporaryDirectory()) + "/postern-webbench-\(getpid())"
try FileManager.default.createDirectory(atPath: base + "/dev", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: base) }

var lim = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
lim.rlim_cur = lim.rlim_max
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)

func wall() -> Double { Date().timeIntervalSince1970 }
func pct(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[min(s.count - 1, Int(Double(s.count - 1) * p))]
}
func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
func rssMiB() -> Double { Double(WebMetrics.residentBytes()) / 1_048_576 }

// MARK: a kiosk with its web front

let admin = try Admin(dataDir: base)
let idn = "150702198001010017"
try admin.store.importResidents(
    [Resident(id: "r1", name: "张伟", sex: .male, idNumber: idn, household: "h1", address: Address(building: "1", unit: "1", room: "1"))], actor: "bench")
_ = try admin.generateKey(id: "k1", notBefore: 0)
let pass = try admin.issuePass(person: "r1", days: 1, now: Timestamp(Date().timeIntervalSince1970) - 60).1
try AccountFile(path: base + "/web-users").set(name: "bench", role: .guard, password: "bench-password", cost: 4)
let thermo = try DeviceSimulator(kind: .asciiLine, link: base + "/dev/t")
let scanner = try DeviceSimulator(kind: .serialLine, link: base + "/dev/q")
thermo.start()
scanner.start()
let cfg = """
    data_dir = "\(base)"
    [rules]
    anti_passback = "off"
    reading_holdoff_seconds = 0
    [relay]
    pulse_ms = 100
    [gpio]
    chip = "simulated"
    [[device]]
    id = "t"
    kind = "thermometer"
    protocol = "ascii-line"
    path = "\(base)/dev/t"
    [[device]]
    id = "q"
    kind = "scanner"
    protocol = "serial-line"
    path = "\(base)/dev/q"
    [[lane]]
    id = "in"
    direction = "in"
    thermometer = "t"
    readers = ["q"]
    [lane.gpio]
    relay = 0
    """
var o = WebOptions(usersFile: base + "/web-users", boardFile: base + "/board.json")
o.port = 0
var logger = Logger(label: "webbench")
logger.logLevel = .critical
final class URLBox: @unchecked Sendable {
    let lock = NSLock()
    var url: String?
}
let box = URLBox()
var opts = Kiosk.Options()
opts.gpio = ["in": SimulatedGpio()]
opts.extraServices = [KioskWeb.service(options: o, logger: logger, onRunning: { u in box.lock.withLock { box.url = u } })]
let kiosk = try Kiosk.start(config: try KioskConfig.parse(cfg), options: opts, logger: logger)
let runner = Task { try await kiosk.run(handleSignals: false) }
while box.lock.withLock({ box.url }) == nil { try await Task.sleep(for: .milliseconds(10)) }
let port = Int(box.lock.withLock { box.url! }.split(separator: ":").last!)!
try await Task.sleep(for: .milliseconds(500))

// MARK: a minimal HTTP client

func connectLocal() -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = in_port_t(UInt16(port).bigEndian)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    return fd
}

func request(_ text: String) -> String {
    let fd = connectLocal()
    defer { close(fd) }
    _ = text.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buf[..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

func cookie(_ reply: String, _ name: String) -> String? {
    for line in reply.split(separator: "\r\n") where line.lowercased().hasPrefix("set-cookie: \(name)=") {
        return String(line.dropFirst("set-cookie: ".count).split(separator: ";")[0])
    }
    return nil
}

let page = request("GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
let pre = cookie(page, "postern_login")!
let csrf = String(page.components(separatedBy: "name=\"csrf\" value=\"")[1].prefix { $0 != "\"" })
let body = "csrf=\(csrf)&user=bench&password=bench-password"
let login = request(
    "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: \(pre)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
)
guard let session = cookie(login, "postern_session") else { fatalError("login failed: \(login.prefix(200))") }

/// Viewers: open streams, read on one thread with poll, note when each event id first arrives.
final class Viewers: @unchecked Sendable {
    var fds: [Int32] = []
    var arrivals: [[UInt64: Double]] = []
    var partial: [[UInt8]] = []
    let lock = NSLock()
    var running = true

    func open(_ n: Int, after: UInt64, session: String) {
        for _ in 0..<n {
            let fd = connectLocal()
            let req = "GET /live/stream?after=\(after) HTTP/1.1\r\nHost: x\r\nCookie: \(session)\r\n\r\n"
            _ = req.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
            lock.withLock {
                fds.append(fd)
                arrivals.append([:])
                partial.append([])
            }
        }
    }

    func run() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while lock.withLock({ running }) {
            var pfds = lock.withLock { fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            guard poll(&pfds, nfds_t(pfds.count), 100) > 0 else { continue }
            let t = wall()
            for (i, p) in pfds.enumerated() where p.revents & Int16(POLLIN) != 0 {
                let n = buf.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { continue }
                lock.withLock {
                    partial[i] += buf[..<n]
                    while let nl = partial[i].firstIndex(of: 0x0A) {
                        let line = partial[i][..<nl]
                        if line.starts(with: Array("id: ".utf8)), let id = UInt64(String(decoding: line.dropFirst(4), as: UTF8.self)), arrivals[i][id] == nil {
                            arrivals[i][id] = t
                        }
                        partial[i].removeSubrange(...nl)
                    }
                }
            }
        }
    }
}

let vs = Viewers()
let reader = Thread { vs.run() }
reader.stackSize = 1 << 20
reader.start()

/// Drives `n` passages through the pty devices, ~6 a second.
func drive(_ n: Int) async throws {
    for i in 0..<n {
        thermo.present(celsius: 36.5)
        try await Task.sleep(for: .milliseconds(40))
        scanner.scan(pass)
        try await Task.sleep(for: .milliseconds(120 + (i % 3) * 10))
    }
    try await Task.sleep(for: .milliseconds(800))
}

/// Latencies of passage events after `after`, over every viewer.
func latencies(after: UInt64) throws -> (lat: [Double], events: Int, missing: Int) {
    let c = LogCursor(directory: base + "/log", from: after + 1)
    var stamp: [UInt64: Double] = [:]
    while let recs = try? c.next(limit: 4096), !recs.isEmpty {
        for r in recs where r.type == GateEvent.Kind.passage.recordType { stamp[r.seq] = Double(r.wallNs) / 1e9 }
    }
    var lat: [Double] = []
    var missing = 0
    vs.lock.withLock {
        for a in vs.arrivals {
            for (seq, at) in stamp {
                if let got = a[seq] { lat.append(got - at) } else { missing += 1 }
            }
        }
    }
    return (lat, stamp.count, missing)
}

print("| measure | figure | goal |")
print("|---|---|---|")

// 1. One viewer.
let start1 = kiosk.writer.durableSeq
vs.open(1, after: start1, session: session)
try await Task.sleep(for: .milliseconds(300))
try await drive(passages)
let one = try latencies(after: start1)
print(
    "| decision → SSE delivered, 1 viewer, \(one.events) passages: p50 / p99 / max | \(ms(pct(one.lat, 0.5))) / \(ms(pct(one.lat, 0.99))) / \(ms(pct(one.lat, 1))) | p99 ≤ 50 ms |"
)
if one.missing > 0 { print("| … events not delivered | \(one.missing) | 0 |") }

// 2. Many viewers.
let before = rssMiB()
let start2 = kiosk.writer.durableSeq
let t0 = wall()
vs.open(viewers - 1, after: start2, session: session)
vs.lock.withLock { for i in 0..<vs.arrivals.count { vs.arrivals[i] = [:] } }
try await Task.sleep(for: .milliseconds(Int(1500 + viewers)))
let opened = wall() - t0
let withViewers = rssMiB()
try await drive(max(30, passages / 3))
let many = try latencies(after: start2)
let after = rssMiB()
print("| \(viewers) concurrent viewers: opened in | \(String(format: "%.1f s", opened)) | – |")
print(
    "| decision → SSE delivered, \(viewers) viewers × \(many.events) passages: p50 / p99 / max | \(ms(pct(many.lat, 0.5))) / \(ms(pct(many.lat, 0.99))) / \(ms(pct(many.lat, 1))) | – (central goal 250 ms) |"
)
print(
    "| resident memory (server and these clients in one process): before viewers / with \(viewers) / after the passages | \(String(format: "%.0f / %.0f / %.0f MiB", before, withViewers, after)) (≈ \(String(format: "%.0f", (withViewers - before) * 1024 / Double(max(1, viewers - 1)))) KiB per viewer) | – |"
)
if many.missing > 0 { print("| … deliveries missing | \(many.missing) of \(many.events * viewers) | 0 |") }

vs.lock.withLock { vs.running = false }
for fd in vs.fds { close(fd) }
await kiosk.shutdown()
_ = try? await runner.value
thermo.stop()
scanner.stop()
