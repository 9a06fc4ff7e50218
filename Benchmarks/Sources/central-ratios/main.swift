// Central plane figures, ratios in one run (docs/PERFORMANCE.md, scripts/bench.sh central):
//   1. ingest of 100 simulated gates over HTTP vs a raw COPY of the same rows into the same table
//   2. a registry change → applied in the SQLite of 100 long-polling gates, p99
//   3. online quota claim over loopback, p99
//   4. a kiosk's scan→relay p99 for a non-quota passage, uplink on vs off
// PostgreSQL is a throwaway cluster (scripts/pg-cluster.sh) started and removed here.
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
import Logging
import NIOCore
import PostgresNIO
import Uplink

func now() -> Double { monoSeconds() }
func row(_ a: String, _ b: String, _ c: String, _ d: String, _ e: String) {
    FileHandle.standardOutput.write(Data("| \(a) | \(b) | \(c) | \(d) | \(e) |\n".utf8))
}
let repo = repoRoot
let base = NSTemporaryDirectory() + "postern-central-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
let pgPort = Int.random(in: 40_000...50_000)
try sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "start", base + "/pg", String(pgPort)])
// Torn down in reverse: central first (below), then the cluster, then the directory.
defer { try? FileManager.default.removeItem(atPath: base) }
defer { try? sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "destroy", base + "/pg"]) }
try sh(["/usr/bin/psql", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-c", "CREATE DATABASE bench"])

var logger = Logger(label: "bench")
logger.logLevel = .error
var cfg = CentralConfig()
cfg.dbHost = "127.0.0.1"
cfg.dbPort = pgPort
cfg.dbUser = "postgres"
cfg.dbName = "bench"
cfg.dbTLS = "disable"
cfg.dbMaxConnections = 40
cfg.listenPort = Int.random(in: 50_001...60_000)
let service = try CentralServer.make(config: cfg, logger: logger)
progress("central starting on \(cfg.listenPort)")
let serverTask = Task {
    do { try await service.run(handleSignals: false) } catch { progress("central stopped: \(error)") }
}
let url = "http://127.0.0.1:\(cfg.listenPort)"
let db = service.db
// Ready when the port accepts (migrations run before it opens).
for _ in 0..<300 {
    if accepts(cfg.listenPort) { break }
    try await Task.sleep(for: .milliseconds(100))
}
progress("central up")
try await Task.sleep(for: .milliseconds(500))

row("figure", "central", "baseline", "ratio", "goal")
row("---", "---", "---", "---", "---")

// Organisation: 10 communities × 10 gates.
try await db.addOrgUnit(kind: "city", id: "x", parent: nil, name: "x")
try await db.addOrgUnit(kind: "district", id: "d", parent: "x", name: "d")
try await db.addOrgUnit(kind: "street", id: "s", parent: "d", name: "s")
var tokens: [(gate: String, community: String, token: String)] = []
for c in 0..<10 {
    try await db.addCommunity(id: "c\(c)", street: "s", name: "c\(c)")
    for g in 0..<10 { tokens.append(("g\(c)-\(g)", "c\(c)", try await db.enrolGate(id: "g\(c)-\(g)", community: "c\(c)", name: "g", kioskKey: nil))) }
}

progress("organisation done")
// 1. Ingest: 100 gates × 300 records (3 batches of 100), concurrently, through HTTP.
let perGate = 300
var logs: [String: [Record]] = [:]
for t in tokens {
    let dir = base + "/logs/" + t.gate
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let w = try LogWriter.open(directory: dir)
    let enc = JSONEncoder()
    var entries: [LogEntry] = []
    for i in 0..<perGate {
        var d = Decision(outcome: .admit, reason: .ok, personID: "r\(i % 50)", personKind: .resident, personName: "张伟", household: "h\(i % 25)", temperature: 36.5)
        d.flags = []
        let e = GateEvent.passage(d, Lane.Summary(lane: "in", direction: .in, credentialKind: "qr", readings: [Reading(celsius: 36.5, device: "t", at: 0)], retests: 0), at: Date().timeIntervalSince1970)
        entries.append(LogEntry(type: 1, payload: Array(try enc.encode(e))))
    }
    _ = try w.appendBlocking(entries)
    logs[t.gate] = try LogCursor(directory: dir, from: 1).next(limit: 100_000)
    w.close()
}
let total = tokens.count * perGate
let clients = try tokens.map { t -> CentralClient in
    var link = CentralLink()
    link.urls = [url]
    link.requestTimeoutMs = 60_000
    return try CentralClient(link: link, token: t.token)
}
progress("logs written; ingesting")
/// Central's state for the gates reset: no events, every gate at seq 0.
/// The number of rows in `events`.
@MainActor func storedRows() async throws -> Int64 {
    var n: Int64 = 0
    for try await c in try await db.client.query("SELECT COUNT(*)::bigint FROM events").decode(Int64.self) { n = c }
    return n
}
@MainActor func resetCentral() async throws {
    try await db.client.query("TRUNCATE events")
    try await db.client.query("UPDATE gates SET acked_seq = 0, chain_head = decode(repeat('00', 32), 'hex'), durable_seq = 0")
    try await db.client.query("UPDATE communities SET next_seq = 0")
}
/// Every gate's log as framed batches of `size` (the kiosks' encoding is done before the clock).
@MainActor func bodies(batch size: Int) -> [[[UInt8]]] {
    tokens.map { t in
        let recs = logs[t.gate]!
        return stride(from: 0, to: recs.count, by: size).map { at in
            Wire.framedBatch(durableSeq: UInt64(recs.count), records: RecordFraming.encode(Array(recs[at..<min(recs.count, at + size)])))
        }
    }
}
/// Ingests every gate's log in batches of `size`, all gates at once, each gate's batches in
/// order: over HTTP (what a kiosk does), or straight into `CentralDB` (no HTTP: the store's own
/// part, by the optimistic path or the locked transaction). Returns the seconds.
enum Via { case http, store, storeLocked }
@MainActor func ingest(batch size: Int, via: Via) async throws -> Double {
    try await resetCentral()
    let all = bodies(batch: size)
    let store = db
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { g in
        for (i, t) in tokens.enumerated() {
            let client = clients[i], batches = all[i], id = CentralDB.GateIdentity(gate: t.gate, community: t.community)
            g.addTask {
                for b in batches {
                    switch via {
                    case .http:
                        let _: UploadAck = try await client.call(.POST, "/v1/gate/events", encoded: Data(b), contentType: Wire.framedContentType, timeout: .seconds(60), as: UploadAck.self)
                    case .store:
                        _ = try await store.ingest(framed: b, gate: id)
                    case .storeLocked:
                        let (durable, recs) = try CentralDB.decodeFramed(b)
                        _ = try await store.ingestLocked(records: recs, durable: durable, gate: id, notifyInside: true)
                    }
                }
            }
        }
        try await g.waitForAll()
    }
    let t = now() - start
    let stored = try await storedRows()
    guard stored == Int64(total) else { throw CocoaError(.featureUnsupported) }
    return t
}
_ = try await ingest(batch: 100, via: .http)  // warm-up, and the rows the baseline copies
// The baseline: a raw COPY of the rows central stored, into the same table (`events` itself,
// emptied: its primary key, both indexes and its foreign key to `gates`), in one statement.
let copyRows: [String] = try await {
    var out: [String] = []
    func esc(_ s: String?) -> String {
        guard let s else { return "\\N" }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
    }
    for try await (g, s, c, cs, ty, f, w, m, ch, p, l, k, ln, dir, o, r, pe, pk, h, te, al, fl, d) in try await db.client.query("""
        SELECT gate, seq, community, community_seq, type, flags, wall_ns, mono_ns, encode(chain, 'hex'), encode(payload, 'hex'), late,
               kind, lane, direction, outcome, reason, person, person_kind, household, temperature::text, alert, flags_text, day::text FROM events
        """).decode((String, Int64, String, Int64, Int32, Int32, Int64, Int64, String, String, Bool, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?).self) {
        out.append([g, String(s), c, String(cs), String(ty), String(f), String(w), String(m), "\\\\x" + ch, "\\\\x" + p, l ? "t" : "f", esc(k), esc(ln), esc(dir), esc(o), esc(r), esc(pe), esc(pk), esc(h), esc(te), esc(al), esc(fl), esc(d)].joined(separator: "\t") + "\n")
    }
    return out
}()
@MainActor func copyBaseline() async throws -> Double {
    try await db.client.query("TRUNCATE events")
    let start = now()
    try await db.client.withConnection { conn in
        try await conn.copyFrom(table: "events", columns: ["gate", "seq", "community", "community_seq", "type", "flags", "wall_ns", "mono_ns", "chain", "payload", "late", "kind", "lane", "direction", "outcome", "reason", "person", "person_kind", "household", "temperature", "alert", "flags_text", "day"], logger: logger) { w in
            var buf = ByteBuffer()
            for r in copyRows {
                buf.writeString(r)
                if buf.readableBytes > 1 << 20 {
                    try await w.write(buf)
                    buf.clear()
                }
            }
            if buf.readableBytes > 0 { try await w.write(buf) }
        }
    }
    let t = now() - start
    let copied = try await storedRows()
    guard copied == Int64(total), copyRows.count == total else { throw CocoaError(.featureUnsupported) }
    return t
}
/// CPU seconds (user + system) used so far by a process.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return 0 }
    let f = text[text.index(after: close)...].split(separator: " ")
    // After the name: state is field 3, utime 14, stime 15 (so indexes 11 and 12 here).
    guard f.count > 12, let u = Double(f[11]), let st = Double(f[12]) else { return 0 }
    return (u + st) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
/// The throwaway cluster's processes: its postmaster and every child of it.
func clusterPids() -> [Int32] {
    guard let text = try? String(contentsOfFile: base + "/pg/data/postmaster.pid", encoding: .utf8), let pm = Int32(text.split(separator: "\n").first ?? "") else { return [] }
    var out: [Int32] = [pm]
    for d in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(d), let st = try? String(contentsOfFile: "/proc/\(d)/stat", encoding: .utf8), let close = st.lastIndex(of: ")") else { continue }
        let f = st[st.index(after: close)...].split(separator: " ")
        if f.count > 1, Int32(f[1]) == pm { out.append(pid) }
    }
    return out
}
if ProcessInfo.processInfo.environment["POSTERN_DIAG"] != nil {
    // Where the CPU goes: this process (HTTP client and server, decoding, postgres-nio) and the
    // cluster's processes (backends, WAL writer), for each way of ingesting and for the COPY.
    for pass in 0..<2 {
        for (name, size, via) in [("http100", 100, Via.http), ("store100", 100, .store), ("locked100", 100, .storeLocked), ("copy", 0, .http)] {
            let pids = clusterPids()
            let me0 = cpuSeconds(getpid()), pg0 = pids.map(cpuSeconds).reduce(0, +)
            let t = size == 0 ? try await copyBaseline() : try await ingest(batch: size, via: via)
            let me = cpuSeconds(getpid()) - me0, pg = clusterPids().map(cpuSeconds).reduce(0, +) - pg0
            progress("diag \(pass) \(name): " + String(format: "%.2f s wall, %.2f s CPU here, %.2f s CPU in PostgreSQL", t, me, pg))
        }
    }
}
// Interleaved rounds: each ingest figure against the mean of the two COPYs around it.
let rounds = Int(ProcessInfo.processInfo.environment["POSTERN_ROUNDS"] ?? "") ?? 5
var ratios: [String: [Double]] = [:], rates: [String: [Double]] = [:], copyRates: [Double] = []
let kinds: [(String, Int, Via)] = [("http100", 100, .http), ("http300", 300, .http), ("store100", 100, .store), ("locked100", 100, .storeLocked)]
for round in 0..<rounds {
    var c0 = try await copyBaseline()
    for (name, size, via) in (round % 2 == 0 ? kinds : kinds.reversed()) {
        let t = try await ingest(batch: size, via: via)
        let c1 = try await copyBaseline()
        let base = Double(total) / ((c0 + c1) / 2)
        copyRates.append(Double(total) / c1)
        rates[name, default: []].append(Double(total) / t)
        ratios[name, default: []].append((Double(total) / t) / base)
        c0 = c1
    }
    progress("round \(round + 1)/\(rounds): " + kinds.map { k in k.0 + " " + String(format: "%.2f×", ratios[k.0]!.last!) }.joined(separator: ", "))
}
func range(_ xs: [Double], _ f: String) -> String {
    let s = xs.sorted()
    return String(format: "\(f)–\(f) (median \(f))", s.first ?? .nan, s.last ?? .nan, s[s.count / 2])
}
let copyRange = range(copyRates, "%.0f") + " rec/s"
row("ingest, 100 gates × \(perGate) records over HTTP, framed batches of 100 (live); \(rounds) rounds", range(rates["http100"]!, "%.0f") + " rec/s", "raw COPY into `events`: " + copyRange, range(ratios["http100"]!, "%.2f") + "×", "≥ 0.5×")
row("ingest, the same in one batch per gate (a backlog)", range(rates["http300"]!, "%.0f") + " rec/s", "same COPY", range(ratios["http300"]!, "%.2f") + "×", "≥ 0.5×")
row("… batches of 100 straight into the store (no HTTP): optimistic path", range(rates["store100"]!, "%.0f") + " rec/s", "same COPY", range(ratios["store100"]!, "%.2f") + "×", "-")
row("… the same by the locked transaction with NOTIFY inside (the path before)", range(rates["locked100"]!, "%.0f") + " rec/s", "same COPY", range(ratios["locked100"]!, "%.2f") + "×", "-")

progress("ingest measured")
// Which parts run (POSTERN_PARTS=1,4 for ingest and scan→relay only); all by default.
let parts = Set((ProcessInfo.processInfo.environment["POSTERN_PARTS"] ?? "1,2,3,4").split(separator: ",").compactMap { Int($0) })
// 2. Registry change → applied on 100 long-polling gates.
final class Applied: @unchecked Sendable {
    let lock = NSLock()
    var at: [Int64: [Double]] = [:]
}
let applied = Applied()
var pullers: [Task<Void, Never>] = []
var pullClients: [CentralClient] = []
let registryKey = try await db.registryPublicKey()
for (i, t) in tokens.enumerated() where parts.contains(2) {
    var link = CentralLink()
    link.urls = [url]
    link.longPollSeconds = 25
    link.registryKey = registryKey
    let client = try CentralClient(link: link, token: t.token)
    pullClients.append(client)
    let dir = base + "/stores/" + t.gate
    let store = try Store.open(dataDir: dir)
    try store.setCentral(url: url, community: t.community, now: 0)
    let puller = try RegistryPuller(client: client, dataDir: dir, logger: logger)
    let community = t.community
    pullers.append(Task { await puller.run(community: community, store: store) })
    // Watch the puller's version: the change is applied (committed to SQLite) when it moves.
    let watch = puller.status
    _ = i
    pullers.append(Task {
        var last: Int64 = -1
        while !Task.isCancelled {
            let v = watch.get().version
            if v != last {
                if last >= 0 { applied.lock.withLock { applied.at[v, default: []].append(now()) } }
                last = v
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
    })
}
if parts.contains(2) { try await Task.sleep(for: .seconds(3)) }
var regLat: [Double] = []
for round in 0..<(parts.contains(2) ? 10 : 0) {
    // One change in every community (each gate sees its own community's change).
    let t0 = now()
    var versions: [Int64] = []
    for c in 0..<10 {
        var e = GateEvent(kind: .registryChange, at: 0)
        e.entity = "lockdown"
        e.key = "compound"
        e.action = round % 2 == 0 ? "set" : "lift"
        e.after = round % 2 == 0 ? "{\"reason\":\"bench\",\"scope\":\"compound\",\"since\":0}" : nil
        versions.append(try await db.writeRegistry(RegistryWrite(community: "c\(c)", changes: [e]), actor: "bench"))
    }
    try await Task.sleep(for: .milliseconds(1500))
    let v = versions[0]
    applied.lock.withLock {
        for t in applied.at[v] ?? [] { regLat.append(t - t0) }
        applied.at = [:]
    }
}
for p in pullers { p.cancel() }
row("registry change → applied on 100 long-polling gates, p99 (\(regLat.count) applications)", ms(pct(regLat, 0.99, rank: .ofCount)), ms(pct(regLat, 0.5, rank: .ofCount)) + " p50", "-", "p99 ≤ 1 s")

progress("registry fan-out measured")
// 3. Online quota claim p99 over loopback.
let claimer = Claimer(client: clients[0])
var claimLat: [Double] = []
let nowTS = Timestamp(Date().timeIntervalSince1970)
for i in 0..<(parts.contains(3) ? 500 : 0) {
    let t0 = now()
    _ = await claimer.claim(.quota(household: "bench-h\(i)", person: "p\(i)", window: 172_800, allowed: 1), lane: "out", at: nowTS)
    claimLat.append(now() - t0)
}
row("online quota claim over loopback (500 claims)", ms(pct(claimLat, 0.99, rank: .ofCount)) + " p99", ms(pct(claimLat, 0.5, rank: .ofCount)) + " p50", "-", "p99 ≤ 20 ms")

progress("claims measured")
// 4. Scan → relay for a non-quota passage (an entry), uplink off vs on. Central runs as its own
// process (the real `postern-central serve`), so this process holds the kiosk alone; the rounds
// alternate off and on in the same run, each round a fresh start of the same kiosk directory.
/// A kiosk's data directory: one resident with a pass; with `central`, the same registry written
/// at central and the gate enrolled. Returns the config text's fixed part and the pass.
@MainActor func prepareKiosk(central: Bool) async throws -> (dir: String, centralSection: String, pass: String) {
    let kdir = base + "/kiosk-\(central)"
    try FileManager.default.createDirectory(atPath: kdir + "/dev", withIntermediateDirectories: true)
    let fixture = try BenchKiosk(dir: kdir)
    var centralSection = ""
    if central {
        _ = try await db.writeRegistry(RegistryWrite(community: "c0", changes: try fixture.registryUpserts()), actor: "bench")
        let token = try await db.enrolGate(id: "bench-kiosk", community: "c0", name: "k", kioskKey: nil)
        let tf = kdir + "/central.token"
        FileManager.default.createFile(atPath: tf, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
        centralSection = "[central]\nurls = [\"\(externalURL)\"]\ntoken_file = \"\(tf)\"\nregistry_key = \"\(registryKey)\"\n"
    }
    return (kdir, centralSection, fixture.pass)
}

/// One round: the kiosk started from its directory, `passages` entries through the pty scanner,
/// the kiosk stopped. Returns each passage's scan → relay time.
func scanRound(_ k: (dir: String, centralSection: String, pass: String), passages: Int, raw: inout [Double], logger: Logger) async throws -> [Double] {
    let kdir = k.dir
    let devices = try KioskDevices(dir: kdir)
    let thermo = devices.thermo, scanner = devices.scanner
    defer { devices.stop() }
    let text = kioskConfig(dir: kdir, extra: k.centralSection)
    let stamp = RelayStamps()
    let chip = stamp.chip()
    var opts = Kiosk.Options()
    opts.gpio = ["in": chip]
    let kiosk = try Kiosk.start(config: try KioskConfig.parse(text), options: opts, logger: logger)
    let runner = Task { try await kiosk.run(handleSignals: false) }
    // The same settling time with the uplink off and on (on: hello, registry pull, peers poll).
    try await Task.sleep(for: .seconds(2))
    var lat: [Double] = []
    let rawFD = open(kdir + "/raw-sync", O_WRONLY | O_CREAT | O_APPEND, 0o644)
    defer { close(rawFD) }
    let rawBytes = [UInt8](repeating: 0x61, count: 200)
    for i in 0..<passages {
        thermo.present(celsius: 36.5)
        try await Task.sleep(for: .milliseconds(40))
        let before = stamp.count
        let t = now()
        scanner.scan(k.pass)
        // Up to 5 s; a passage that opens nothing by then is counted as missed (reported).
        while stamp.count == before && now() - t < 5 {
            try await Task.sleep(for: .microseconds(200))
        }
        if let o = stamp.last, stamp.count > before { lat.append(o - t) }
        try await Task.sleep(for: .milliseconds(75 + (i % 3) * 5))
        // The disk's own noise in the same moments: one raw 200-byte append + fdatasync.
        let r0 = now()
        _ = rawBytes.withUnsafeBytes { write(rawFD, $0.baseAddress, 200) }
        _ = fdatasync(rawFD)
        raw.append(now() - r0)
        try await Task.sleep(for: .milliseconds(75 + (i % 3) * 5))
    }
    await kiosk.shutdown()
    _ = try? await runner.value
    return lat
}

// The real binary: next to this one when built from this package (scripts/bench.sh builds it),
// else the main package's release or debug build.
let selfDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let centralBin = ProcessInfo.processInfo.environment["POSTERN_CENTRAL_BIN"]
    ?? [selfDir + "/postern-central", repo + "/.build/release/postern-central", repo + "/.build/debug/postern-central"].first { FileManager.default.isExecutableFile(atPath: $0) }
    ?? "postern-central"
let externalPort = Int.random(in: 50_001...60_000)
let externalURL = "http://127.0.0.1:\(externalPort)"
let kOff = try await prepareKiosk(central: false)
let kOn = try await prepareKiosk(central: true)
// Nothing of central stays in this process: its clients and the in-process service stop here.
for c in clients + pullClients { await c.shutdown() }
await service.shutdown()
_ = try? await serverTask.value
let centralConf = base + "/central.toml"
try """
    listen = "127.0.0.1:\(externalPort)"
    [database]
    host = "127.0.0.1"
    port = \(pgPort)
    user = "postgres"
    name = "bench"
    tls = "disable"
    """.write(toFile: centralConf, atomically: true, encoding: .utf8)
let centralPid = try spawn([centralBin, "serve", "--config", centralConf], log: base + "/central.log")
defer {
    // SIGTERM, and SIGKILL if it has not ended within 10 s (this pid only).
    kill(centralPid, SIGTERM)
    var st: Int32 = 0
    var waited = 0
    while waitpid(centralPid, &st, WNOHANG) == 0 && waited < 100 {
        usleep(100_000)
        waited += 1
    }
    if waited >= 100 {
        progress("postern-central did not end within 10 s of SIGTERM; killed")
        kill(centralPid, SIGKILL)
        waitpid(centralPid, &st, 0)
    }
}
try await waitForPort(externalPort)
progress("postern-central (\(centralBin)) pid \(centralPid) on \(externalPort)")
KioskUplink.install()
let scanRounds = Int(ProcessInfo.processInfo.environment["POSTERN_SCAN_ROUNDS"] ?? "") ?? 6
let scanPassages = Int(ProcessInfo.processInfo.environment["POSTERN_SCAN_PASSAGES"] ?? "") ?? 60
var offAll: [Double] = [], onAll: [Double] = []
var offP50: [Double] = [], onP50: [Double] = [], offP99: [Double] = [], onP99: [Double] = []
var slowest: [String] = []
var rawSync: [Double] = []
for round in 0..<scanRounds {
    for central in (round % 2 == 0 ? [false, true] : [true, false]) {
        var raw: [Double] = []
        let lat = try await scanRound(central ? kOn : kOff, passages: scanPassages, raw: &raw, logger: logger)
        rawSync += raw
        // Which passages of the round were slow (their index: early ones overlap the start).
        let slow = lat.enumerated().filter { $0.element > 0.005 }.map { String(format: "#%d %.1f", $0.offset, $0.element * 1000) }
        slowest.append((central ? "on: " : "off: ") + slow.joined(separator: ", "))
        if central {
            onAll += lat; onP50.append(pct(lat, 0.5, rank: .ofCount)); onP99.append(pct(lat, 0.99, rank: .ofCount))
        } else {
            offAll += lat; offP50.append(pct(lat, 0.5, rank: .ofCount)); offP99.append(pct(lat, 0.99, rank: .ofCount))
        }
    }
    progress(String(format: "scan round %d/%d: off p50 %.2f p99 %.2f ms, on p50 %.2f p99 %.2f ms", round + 1, scanRounds, offP50.last! * 1000, offP99.last! * 1000, onP50.last! * 1000, onP99.last! * 1000))
    if ProcessInfo.processInfo.environment["POSTERN_DIAG"] != nil { for s in slowest.suffix(2) { progress("  over 5 ms, " + s) } }
}
func msRange(_ xs: [Double]) -> String {
    let s = xs.sorted()
    return s.isEmpty ? "-" : String(format: "%.2f–%.2f ms", s.first! * 1000, s.last! * 1000)
}
row("kiosk scan→relay p99, entry (no claim), uplink on vs off, central in its own process (\(onAll.count)/\(offAll.count) of \(scanRounds * scanPassages) passages opened within 5 s, \(scanRounds) interleaved rounds)", ms(pct(onAll, 0.99, rank: .ofCount)) + " (rounds " + msRange(onP99) + ")", ms(pct(offAll, 0.99, rank: .ofCount)) + " uplink off (rounds " + msRange(offP99) + ")", String(format: "%.2f×", pct(onAll, 0.99, rank: .ofCount) / pct(offAll, 0.99, rank: .ofCount)), "unchanged")
row("… in the same rounds, a raw 200-byte append + fdatasync in the kiosk's directory (\(rawSync.count), between passages): p50 / p99 / max", ms(pct(rawSync, 0.5, rank: .ofCount)) + " / " + ms(pct(rawSync, 0.99, rank: .ofCount)) + " / " + ms(rawSync.max() ?? .nan), "-", "-", "-")
row("kiosk scan→relay p50, uplink on vs off", ms(pct(onAll, 0.5, rank: .ofCount)) + " (rounds " + msRange(onP50) + ")", ms(pct(offAll, 0.5, rank: .ofCount)) + " (rounds " + msRange(offP50) + ")", String(format: "%.2f×", pct(onAll, 0.5, rank: .ofCount) / pct(offAll, 0.5, rank: .ofCount)), "-")
row("kiosk scan→relay p90 / max, uplink on vs off", ms(pct(onAll, 0.9, rank: .ofCount)) + " / " + ms(onAll.max() ?? .nan), ms(pct(offAll, 0.9, rank: .ofCount)) + " / " + ms(offAll.max() ?? .nan), "-", "-")
