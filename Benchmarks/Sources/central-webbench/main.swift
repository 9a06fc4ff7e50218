// The live view through central (docs/PERFORMANCE.md, scripts/bench.sh central):
//   1. decision at a kiosk → event delivered to an SSE viewer of central's web front, paired with
//      the same decisions delivered by the kiosk's own web front (same run, same passages)
//   2. 1,000 concurrent SSE viewers of one community on one central instance: delivery p50/p99
//      and resident memory
// One process holds postern-central (with [web]), a kiosk on pty devices with its uplink and its
// own web front, and the viewers' sockets (read by one poll loop). PostgreSQL is a throwaway
// cluster (scripts/pg-cluster.sh) in its own processes.
//   central-webbench [--viewers N] [--passages N]
import BenchSupport
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

var args = BenchOptions()
let viewers = args.int("--viewers", 1000)
let passages = args.int("--passages", 150)

raiseOpenFileLimit()

func rssMiB() -> Double { Double(WebMetrics.residentBytes()) / 1_048_576 }

let repo = repoRoot
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
while !accepts(cfg.listenPort) || !accepts(webCfg.port) { try await Task.sleep(for: .milliseconds(100)) }
let db = service.db
progress("central up (API \(cfg.listenPort), web \(webCfg.port))")

// Organisation, the kiosk's registry at central, the gate, and an operator account.
try await db.addOrgUnit(kind: "city", id: "x", parent: nil, name: "x")
try await db.addOrgUnit(kind: "district", id: "d", parent: "x", name: "d")
try await db.addOrgUnit(kind: "street", id: "s", parent: "d", name: "s")
try await db.addCommunity(id: "c0", street: "s", name: "c0")
let kdir = base + "/kiosk"
let fixture = try BenchKiosk(dir: kdir)
let kpass = fixture.pass
_ = try await db.writeRegistry(RegistryWrite(community: "c0", changes: try fixture.registryUpserts()), actor: "bench")
let token = try await db.enrolGate(id: "g0", community: "c0", name: "g0", kioskKey: nil)
let tf = kdir + "/central.token"
FileManager.default.createFile(atPath: tf, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
let registryKey = try await db.registryPublicKey()
// The operator's bcrypt hash, made by the web module's account file (cost 4: a benchmark).
try AccountFile(path: base + "/users").set(name: "op", role: .guard, password: "bench-password", cost: 4)
try await db.addAccount(name: "op", passwordHash: AccountFile(path: base + "/users").load()[0].hash, role: "operator", scope: "c0")
try AccountFile(path: kdir + "/web-users").set(name: "op", role: .guard, password: "bench-password", cost: 4)

// The kiosk: pty devices, simulated GPIO, its uplink to central, its own web front.
let devices = try KioskDevices(dir: kdir)
let text = kioskConfig(dir: kdir, extra: """
    [central]
    urls = ["http://127.0.0.1:\(cfg.listenPort)"]
    token_file = "\(tf)"
    registry_key = "\(registryKey)"
    """)
let box = URLBox()
var o = WebOptions(usersFile: kdir + "/web-users", boardFile: kdir + "/board.json")
o.port = 0
KioskUplink.install()
var opts = Kiosk.Options()
opts.gpio = ["in": SimulatedGpio()]
opts.extraServices = [KioskWeb.service(options: o, logger: logger, onRunning: { u in box.set(u) })]
let kiosk = try Kiosk.start(config: try KioskConfig.parse(text), options: opts, logger: logger)
let runner = Task { try await kiosk.run(handleSignals: false) }
let kioskWebPort = try await box.port()
try await Task.sleep(for: .seconds(3))
progress("kiosk up (web \(kioskWebPort)), uplinked")

let centralSession = login(webCfg.port, user: "op", password: "bench-password")
let kioskSession = login(kioskWebPort, user: "op", password: "bench-password")

let vs = Viewers()
vs.start()

/// Drives `n` passages, then lets the last ones ship and reach every viewer.
func drive(_ n: Int) async throws { try await devices.drive(n, pass: kpass, settle: .seconds(2)) }

/// Passage wall times by central's community sequence (the kiosk's own record wall time).
func centralStamps(after: Int64) async throws -> [UInt64: Double] {
    var out: [UInt64: Double] = [:]
    for r in try await db.liveRows(community: "c0", after: after, limit: 100_000) {
        if let e = try? JSONDecoder().decode(GateEvent.self, from: Data(r.payload)), e.kind == .passage { out[UInt64(r.communitySeq)] = Double(r.wallNs) / 1e9 }
    }
    return out
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
let c1 = vs.latencies(try await centralStamps(after: cStart), cv)
let k1 = vs.latencies(passageStamps(logDir: kdir + "/log", after: kStart), kv)
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
let m = vs.latencies(try await centralStamps(after: cStart2), many)
let after = rssMiB()
print("| \(viewers) concurrent viewers of one community at central: opened in | \(String(format: "%.1f s", opened)) | – | – |")
print("| decision → SSE delivered, \(viewers) viewers × \(n2) passages: p50 / p99 / max | \(ms(pct(m.lat, 0.5))) / \(ms(pct(m.lat, 0.99))) / \(ms(pct(m.lat, 1))) | – | p99 ≤ 250 ms |")
print("| resident memory (central, the kiosk and the viewers' sockets in one process): before / with \(viewers) viewers / after the passages | \(String(format: "%.0f / %.0f / %.0f MiB", before, withViewers, after)) (≈ \(String(format: "%.0f", (withViewers - before) * 1024 / Double(max(1, viewers)))) KiB a viewer) | – | – |")
if m.missing > 0 { print("| … deliveries missing | \(m.missing) of \(m.lat.count + m.missing) | – | 0 |") }

vs.stop()
await kiosk.shutdown()
_ = try? await runner.value
devices.stop()
await service.shutdown()
_ = try? await serverTask.value
