import BenchSupport
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

var args = BenchOptions()
let viewers = args.int("--viewers", 1000)
let passages = args.int("--passages", 150)
let base = (args.rest.first ?? NSTemporaryDirectory()) + "/postern-webbench-\(getpid())"
try FileManager.default.createDirectory(atPath: base + "/dev", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: base) }

raiseOpenFileLimit()

func rssMiB() -> Double { Double(WebMetrics.residentBytes()) / 1_048_576 }

// MARK: a kiosk with its web front

let pass = try BenchKiosk(dir: base, idNumber: "150702198001010017").pass
try AccountFile(path: base + "/web-users").set(name: "bench", role: .guard, password: "bench-password", cost: 4)
let devices = try KioskDevices(dir: base)
let cfg = kioskConfig(dir: base)
var o = WebOptions(usersFile: base + "/web-users", boardFile: base + "/board.json")
o.port = 0
var logger = Logger(label: "webbench")
logger.logLevel = .critical
let box = URLBox()
var opts = Kiosk.Options()
opts.gpio = ["in": SimulatedGpio()]
opts.extraServices = [KioskWeb.service(options: o, logger: logger, onRunning: { u in box.set(u) })]
let kiosk = try Kiosk.start(config: try KioskConfig.parse(cfg), options: opts, logger: logger)
let runner = Task { try await kiosk.run(handleSignals: false) }
let port = try await box.port()
try await Task.sleep(for: .milliseconds(500))

let session = login(port, user: "bench", password: "bench-password")

let vs = Viewers()
vs.start()

/// Latencies of passage events after `after`, over every viewer.
func latencies(after: UInt64) throws -> (lat: [Double], events: Int, missing: Int) {
    let stamp = passageStamps(logDir: base + "/log", after: after)
    let (lat, missing) = vs.latencies(stamp)
    return (lat, stamp.count, missing)
}

print("| measure | figure | goal |")
print("|---|---|---|")

// 1. One viewer.
let start1 = kiosk.writer.durableSeq
vs.open(1, port: port, path: "/live/stream?after=\(start1)", session: session)
try await Task.sleep(for: .milliseconds(300))
try await devices.drive(passages, pass: pass, settle: .milliseconds(800))
let one = try latencies(after: start1)
print(
    "| decision → SSE delivered, 1 viewer, \(one.events) passages: p50 / p99 / max | \(ms(pct(one.lat, 0.5))) / \(ms(pct(one.lat, 0.99))) / \(ms(pct(one.lat, 1))) | p99 ≤ 50 ms |"
)
if one.missing > 0 { print("| … events not delivered | \(one.missing) | 0 |") }

// 2. Many viewers.
let before = rssMiB()
let start2 = kiosk.writer.durableSeq
let t0 = wall()
vs.open(viewers - 1, port: port, path: "/live/stream?after=\(start2)", session: session)
vs.clearArrivals()
try await Task.sleep(for: .milliseconds(Int(1500 + viewers)))
let opened = wall() - t0
let withViewers = rssMiB()
try await devices.drive(max(30, passages / 3), pass: pass, settle: .milliseconds(800))
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

vs.stop()
await kiosk.shutdown()
_ = try? await runner.value
devices.stop()
