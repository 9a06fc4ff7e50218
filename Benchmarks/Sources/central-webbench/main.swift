// The live view through central (docs/PERFORMANCE.md, scripts/bench.sh central):
//   1. decision at a kiosk → event delivered to an SSE viewer of central's web front, paired with
//      the same decisions delivered by the kiosk's own web front (same run, same passages)
//   2. 1,000 concurrent SSE viewers of one community on one central instance: delivery p50/p99
//      and resident memory
// One process holds postern-central (with [web]), a kiosk on pty devices with its uplink and its
// own web front, and the viewers' sockets (read by one poll loop). PostgreSQL is a throwaway
// cluster (scripts/pg-cluster.sh) in its own processes.
//   central-webbench [--viewers N] [--passages N]
import CentralServer
import CentralStore
import CentralWire
import Devices
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore
import KioskUplink
import KioskWeb
import Logging
import PosternWeb

#if canImport(Glibc)
    import Glibc
#endif

var args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String, _ def: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return def }
    args.removeSubrange(i...(i + 1))
    return v
}
let viewers = option("--viewers", 1000)
let passages = option("--passages", 150)

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
func progress(_ s: String) { FileHandle.standardError.write(Data("· \(s)\n".utf8)) }
func sh(_ args: [String]) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var cargs = args.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, args[0], &actions, nil, &cargs, environ) == 0 else { throw CocoaError(.executableLoad) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
}
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: a.sin_port))
}

let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let base = NSTemporaryDirectory() + "postern-central-webbench-\(getpid())"
try FileManager.default.createDirectory(atPath: base + "/kiosk/dev", withIntermediateDirectories: true)
let pgPort = freePort()
try sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "start", base + "/pg", String(pgPort)])
defer {
    try? sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "destroy", base + "/pg"])
    try? FileManager.default.removeItem(atPath: base)
}
try sh(["/usr/bin/psql", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-c", "CREATE DATABASE bench"])

var logger = Logger(label: "bench")
logger.logLevel = .error
var cfg = CentralConfig()
cfg.dbHost = "127.0.0.1"
cfg.dbPort = pgPort
cfg.dbUser = "postgres"
cfg.dbName = "bench"
cfg.dbTLS = "disable"
cfg.dbMaxConnections = 20
cfg.listenPort = freePort()
var webCfg = CentralConfig.Web()
webCfg.port = freePort()
cfg.web = webCfg
let service = try CentralServer.make(config: cfg, logger: logger)
let serverTask = Task {
    do { try await service.run(handleSignals: false) } catch { progress("central stopped: \(error)") }
}
func accepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    a.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}
while !accepts(cfg.listenPort) || !accepts(webCfg.port) { try await Task.sleep(for: .milliseconds(100)) }
let db = service.db
progress("central up (API \(cfg.listenPort), web \(webCfg.port))")

// Organisation, the kiosk's registry at central, the gate, and an operator account.
try await db.addOrgUnit(kind: "city", id: "x", parent: nil, name: "x")
try await db.addOrgUnit(kind: "district", id: "d", parent: "x", name: "d")
try await db.addOrgUnit(kind: "street", id: "s", parent: "d", name: "s")
try await db.addCommunity(id: "c0", street: "s", name: "c0")
let kdir = base + "/kiosk"
let admin = try Admin(dataDir: kdir)
let key = try admin.generateKey(id: "k1", notBefore: 0)
let res = Resident(id: "r1", name: "张伟", sex: .male, idNumber: "15070219800101001" + String(IDNumber.checkCharacter(for: "15070219800101001")!), household: "h1", address: Address(building: "1", unit: "1", room: "1"))
try admin.store.importResidents([res], actor: "bench")
let kpass = try admin.issuePass(person: "r1", days: 1, now: Timestamp(Date().timeIntervalSince1970) - 60).1
let passRec = try admin.store.currentPass(person: "r1")!
var changes: [GateEvent] = []
for (entity, k, v) in [("key", "k1", String(decoding: try Wire.encoder.encode(key), as: UTF8.self)), ("resident", "r1", String(decoding: try Wire.encoder.encode(res), as: UTF8.self)), ("pass", passRec.pass.idString, String(decoding: try Wire.encoder.encode(passRec), as: UTF8.self))] {
    var e = GateEvent(kind: .registryChange, at: 0)
    e.entity = entity
    e.key = k
    e.action = "upsert"
    e.after = v
    changes.append(e)
}
_ = try await db.writeRegistry(RegistryWrite(community: "c0", changes: changes), actor: "bench")
let token = try await db.enrolGate(id: "g0", community: "c0", name: "g0", kioskKey: nil)
let tf = kdir + "/central.token"
FileManager.default.createFile(atPath: tf, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
let registryKey = try await db.registryPublicKey()
// The operator's bcrypt hash, made by the web module's account file (cost 4: a benchmark).
try AccountFile(path: base + "/users").set(name: "op", role: .guard, password: "bench-password", cost: 4)
try await db.addAccount(name: "op", passwordHash: AccountFile(path: base + "/users").load()[0].hash, role: "operator", scope: "c0")
try AccountFile(path: kdir + "/web-users").set(name: "op", role: .guard, password: "bench-password", cost: 4)

// The kiosk: pty devices, simulated GPIO, its uplink to central, its own web front.
let thermo = try DeviceSimulator(kind: .asciiLine, link: kdir + "/dev/t")
let scanner = try DeviceSimulator(kind: .serialLine, link: kdir + "/dev/q")
thermo.start()
scanner.start()
let text = """
    data_dir = "\(kdir)"
    [rules]
    anti_passback = "off"
    reading_holdoff_seconds = 0
    [relay]
    pulse_ms = 100
    [gpio]
    chip = "simulated"
    [central]
    urls = ["http://127.0.0.1:\(cfg.listenPort)"]
    token_file = "\(tf)"
    registry_key = "\(registryKey)"
    [[device]]
    id = "t"
    kind = "thermometer"
    protocol = "ascii-line"
    path = "\(kdir)/dev/t"
    [[device]]
    id = "q"
    kind = "scanner"
    protocol = "serial-line"
    path = "\(kdir)/dev/q"
    [[lane]]
    id = "in"
    direction = "in"
    thermometer = "t"
    readers = ["q"]
    [lane.gpio]
    relay = 0
    """
final class URLBox: @unchecked Sendable {
    let lock = NSLock()
    var url: String?
}
let box = URLBox()
var o = WebOptions(usersFile: kdir + "/web-users", boardFile: kdir + "/board.json")
o.port = 0
KioskUplink.install()
var opts = Kiosk.Options()
opts.gpio = ["in": SimulatedGpio()]
opts.extraServices = [KioskWeb.service(options: o, logger: logger, onRunning: { u in box.lock.withLock { box.url = u } })]
let kiosk = try Kiosk.start(config: try KioskConfig.parse(text), options: opts, logger: logger)
let runner = Task { try await kiosk.run(handleSignals: false) }
while box.lock.withLock({ box.url }) == nil { try await Task.sleep(for: .milliseconds(10)) }
let kioskWebPort = Int(box.lock.withLock { box.url! }.split(separator: ":").last!)!
try await Task.sleep(for: .seconds(3))
progress("kiosk up (web \(kioskWebPort)), uplinked")

// MARK: a minimal HTTP client

func connectLocal(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = in_port_t(UInt16(port).bigEndian)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    return fd
}
func request(_ port: Int, _ text: String) -> String {
    let fd = connectLocal(port)
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
func login(_ port: Int) -> String {
    let page = request(port, "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    let pre = cookie(page, "postern_login")!
    let csrf = String(page.components(separatedBy: "name=\"csrf\" value=\"")[1].prefix { $0 != "\"" })
    let body = "csrf=\(csrf)&user=op&password=bench-password"
    let r = request(port, "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: \(pre)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
    guard let s = cookie(r, "postern_session") else { fatalError("login failed: \(r.prefix(300))") }
    return s
}
let centralSession = login(webCfg.port)
let kioskSession = login(kioskWebPort)

/// Viewers: streams read on one thread with poll; when each event id first arrives.
final class Viewers: @unchecked Sendable {
    var fds: [Int32] = []
    var arrivals: [[UInt64: Double]] = []
    var partial: [[UInt8]] = []
    let lock = NSLock()
    var running = true

    func open(_ n: Int, port: Int, path: String, session: String) -> Range<Int> {
        let first = lock.withLock { fds.count }
        for _ in 0..<n {
            let fd = connectLocal(port)
            let req = "GET \(path) HTTP/1.1\r\nHost: x\r\nCookie: \(session)\r\n\r\n"
            _ = req.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
            lock.withLock {
                fds.append(fd)
                arrivals.append([:])
                partial.append([])
            }
        }
        return first..<(first + n)
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

func drive(_ n: Int) async throws {
    for i in 0..<n {
        thermo.present(celsius: 36.5)
        try await Task.sleep(for: .milliseconds(40))
        scanner.scan(kpass)
        try await Task.sleep(for: .milliseconds(120 + (i % 3) * 10))
    }
    // Let the last ones ship and reach every viewer.
    try await Task.sleep(for: .seconds(2))
}

/// Passage wall times by central's community sequence (the kiosk's own record wall time).
func centralStamps(after: Int64) async throws -> [UInt64: Double] {
    var out: [UInt64: Double] = [:]
    for r in try await db.liveRows(community: "c0", after: after, limit: 100_000) {
        if let e = try? JSONDecoder().decode(GateEvent.self, from: Data(r.payload)), e.kind == .passage { out[UInt64(r.communitySeq)] = Double(r.wallNs) / 1e9 }
    }
    return out
}
func kioskStamps(after: UInt64) -> [UInt64: Double] {
    let c = LogCursor(directory: kdir + "/log", from: after + 1)
    var out: [UInt64: Double] = [:]
    while let recs = try? c.next(limit: 4096), !recs.isEmpty {
        for r in recs where r.type == GateEvent.Kind.passage.recordType { out[r.seq] = Double(r.wallNs) / 1e9 }
    }
    return out
}
func latencies(_ stamps: [UInt64: Double], _ viewers: Range<Int>) -> (lat: [Double], missing: Int) {
    var lat: [Double] = []
    var missing = 0
    vs.lock.withLock {
        for i in viewers {
            for (seq, at) in stamps {
                if let got = vs.arrivals[i][seq] { lat.append(got - at) } else { missing += 1 }
            }
        }
    }
    return (lat, missing)
}

print("| measure | through central | kiosk's own web front (same passages) | goal |")
print("|---|---|---|---|")

// 1. One viewer at central, one at the kiosk, the same passages.
let cStart = try await db.liveHead(community: "c0")
let kStart = kiosk.writer.durableSeq
let cv = vs.open(1, port: webCfg.port, path: "/c/c0/live/stream?after=\(cStart)", session: centralSession)
let kv = vs.open(1, port: kioskWebPort, path: "/live/stream?after=\(kStart)", session: kioskSession)
try await Task.sleep(for: .milliseconds(500))
try await drive(passages)
let c1 = latencies(try await centralStamps(after: cStart), cv)
let k1 = latencies(kioskStamps(after: kStart), kv)
print("| decision → SSE delivered, 1 viewer, \(passages) passages: p50 / p99 / max | \(ms(pct(c1.lat, 0.5))) / \(ms(pct(c1.lat, 0.99))) / \(ms(pct(c1.lat, 1))) | \(ms(pct(k1.lat, 0.5))) / \(ms(pct(k1.lat, 0.99))) / \(ms(pct(k1.lat, 1))) | central p99 ≤ 250 ms (kiosk ≤ 50 ms) |")
if c1.missing + k1.missing > 0 { print("| … not delivered | \(c1.missing) | \(k1.missing) | 0 |") }

// 2. Many viewers of one community at central.
let before = rssMiB()
let cStart2 = try await db.liveHead(community: "c0")
let t0 = wall()
let many = vs.open(viewers, port: webCfg.port, path: "/c/c0/live/stream?after=\(cStart2)", session: centralSession)
try await Task.sleep(for: .milliseconds(Int(1500 + viewers)))
let opened = wall() - t0
let withViewers = rssMiB()
let n2 = max(30, passages / 3)
try await drive(n2)
let m = latencies(try await centralStamps(after: cStart2), many)
let after = rssMiB()
print("| \(viewers) concurrent viewers of one community at central: opened in | \(String(format: "%.1f s", opened)) | – | – |")
print("| decision → SSE delivered, \(viewers) viewers × \(n2) passages: p50 / p99 / max | \(ms(pct(m.lat, 0.5))) / \(ms(pct(m.lat, 0.99))) / \(ms(pct(m.lat, 1))) | – | p99 ≤ 250 ms |")
print("| resident memory (central, the kiosk and the viewers' sockets in one process): before / with \(viewers) viewers / after the passages | \(String(format: "%.0f / %.0f / %.0f MiB", before, withViewers, after)) (≈ \(String(format: "%.0f", (withViewers - before) * 1024 / Double(max(1, viewers)))) KiB a viewer) | – | – |")
if m.missing > 0 { print("| … deliveries missing | \(m.missing) of \(m.lat.count + m.missing) | – | 0 |") }

vs.lock.withLock { vs.running = false }
for fd in vs.fds { close(fd) }
await kiosk.shutdown()
_ = try? await runner.value
thermo.stop()
scanner.stop()
await service.shutdown()
_ = try? await serverTask.value
