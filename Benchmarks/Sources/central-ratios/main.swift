// Central plane figures, ratios in one run (docs/PERFORMANCE.md, scripts/bench.sh central):
//   1. ingest of 100 simulated gates over HTTP vs a raw COPY of the same rows into the same table
//   2. a registry change → applied in the SQLite of 100 long-polling gates, p99
//   3. online quota claim over loopback, p99
//   4. a kiosk's scan→relay p99 for a non-quota passage, uplink on vs off
// PostgreSQL is a throwaway cluster (scripts/pg-cluster.sh) started and removed here.
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
func pct(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[min(s.count - 1, Int(Double(s.count) * p))]
}
func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
func row(_ a: String, _ b: String, _ c: String, _ d: String, _ e: String) {
    FileHandle.standardOutput.write(Data("| \(a) | \(b) | \(c) | \(d) | \(e) |\n".utf8))
}
/// Runs a command to its end (posix_spawn + waitpid: Foundation's Process waits on a run loop
/// that top-level code never turns).
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

let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let base = NSTemporaryDirectory() + "postern-central-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
let pgPort = Int.random(in: 40_000...50_000)
try sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "start", base + "/pg", String(pgPort)])
defer { try? sh(["/bin/bash", repo + "/scripts/pg-cluster.sh", "destroy", base + "/pg"]) }
try sh(["/usr/bin/psql", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-c", "CREATE DATABASE bench"])

func progress(_ s: String) { FileHandle.standardError.write(Data("· \(s)\n".utf8)) }
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
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(cfg.listenPort).bigEndian
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    close(fd)
    if ok { break }
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
/// Ingests every gate's log in batches of `size` (the kiosks' encoding done before the clock);
/// returns the seconds. Central's state for the gates is reset first.
@MainActor func ingest(batch size: Int) async throws -> Double {
    try await db.client.query("TRUNCATE events")
    try await db.client.query("UPDATE gates SET acked_seq = 0, chain_head = decode(repeat('00', 32), 'hex'), durable_seq = 0")
    try await db.client.query("UPDATE communities SET next_seq = 0")
    var bodies: [[Data]] = []
    for t in tokens {
        let recs = logs[t.gate]!
        bodies.append(stride(from: 0, to: recs.count, by: size).map { at in
            Data(Wire.framedBatch(durableSeq: UInt64(recs.count), records: RecordFraming.encode(Array(recs[at..<min(recs.count, at + size)]))))
        })
    }
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { g in
        for (i, _) in tokens.enumerated() {
            let client = clients[i], batches = bodies[i]
            g.addTask {
                for b in batches {
                    let _: UploadAck = try await client.call(.POST, "/v1/gate/events", encoded: b, contentType: Wire.framedContentType, timeout: .seconds(60), as: UploadAck.self)
                }
            }
        }
        try await g.waitForAll()
    }
    return now() - start
}
let ingestBig = try await ingest(batch: 300)
let ingestT = try await ingest(batch: 100)
// Raw COPY of the same rows into a table like events.
let copyRows: [String] = try await {
    var out: [String] = []
    func esc(_ s: String?) -> String {
        guard let s else { return "\\N" }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
    }
    for try await (g, s, c, cs, ty, f, w, m, ch, p, l, k, ln, dir, o, r, pe, pk, h, te, fl, d) in try await db.client.query("""
        SELECT gate, seq, community, community_seq, type, flags, wall_ns, mono_ns, encode(chain, 'hex'), encode(payload, 'hex'), late,
               kind, lane, direction, outcome, reason, person, person_kind, household, temperature::text, flags_text, day::text FROM events
        """).decode((String, Int64, String, Int64, Int32, Int32, Int64, Int64, String, String, Bool, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?).self) {
        out.append([g, String(s), c, String(cs), String(ty), String(f), String(w), String(m), "\\\\x" + ch, "\\\\x" + p, l ? "t" : "f", esc(k), esc(ln), esc(dir), esc(o), esc(r), esc(pe), esc(pk), esc(h), esc(te), esc(fl), esc(d)].joined(separator: "\t") + "\n")
    }
    return out
}()
try await db.client.query("CREATE TABLE events_copy (LIKE events INCLUDING ALL)")
let copyStart = now()
try await db.client.withConnection { conn in
    try await conn.copyFrom(table: "events_copy", columns: ["gate", "seq", "community", "community_seq", "type", "flags", "wall_ns", "mono_ns", "chain", "payload", "late", "kind", "lane", "direction", "outcome", "reason", "person", "person_kind", "household", "temperature", "flags_text", "day"], logger: logger) { w in
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
let copyT = now() - copyStart
let copied = (try? await db.client.query("SELECT COUNT(*)::bigint FROM events_copy").decode(Int64.self).reduce(into: Int64(0)) { $0 += $1 }) ?? 0
row("ingest, 100 gates × \(perGate) records over HTTP (framed batches of 100: live)", String(format: "%.0f rec/s", Double(total) / ingestT), String(format: "%.0f rec/s raw COPY (%lld rows)", Double(copied) / copyT, copied), String(format: "%.2f×", (Double(total) / ingestT) / (Double(copied) / copyT)), "≥ 0.5×")
row("ingest, the same in one batch per gate (a backlog)", String(format: "%.0f rec/s", Double(total) / ingestBig), "same COPY", String(format: "%.2f×", (Double(total) / ingestBig) / (Double(copied) / copyT)), "≥ 0.5×")

progress("ingest measured")
// 2. Registry change → applied on 100 long-polling gates.
final class Applied: @unchecked Sendable {
    let lock = NSLock()
    var at: [Int64: [Double]] = [:]
}
let applied = Applied()
var pullers: [Task<Void, Never>] = []
var pullClients: [CentralClient] = []
let registryKey = try await db.registryPublicKey()
for (i, t) in tokens.enumerated() {
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
try await Task.sleep(for: .seconds(3))
var regLat: [Double] = []
for round in 0..<10 {
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
row("registry change → applied on 100 long-polling gates, p99 (\(regLat.count) applications)", ms(pct(regLat, 0.99)), ms(pct(regLat, 0.5)) + " p50", "-", "p99 ≤ 1 s")

progress("registry fan-out measured")
// 3. Online quota claim p99 over loopback.
let claimer = Claimer(client: clients[0])
var claimLat: [Double] = []
let nowTS = Timestamp(Date().timeIntervalSince1970)
for i in 0..<500 {
    let t0 = now()
    _ = await claimer.claim(.quota(household: "bench-h\(i)", person: "p\(i)", window: 172_800, allowed: 1), lane: "out", at: nowTS)
    claimLat.append(now() - t0)
}
row("online quota claim over loopback (500 claims)", ms(pct(claimLat, 0.99)) + " p99", ms(pct(claimLat, 0.5)) + " p50", "-", "p99 ≤ 20 ms")

progress("claims measured")
// 4. Scan → relay for a non-quota passage (an entry), uplink off vs on.
func scanToRelay(central: Bool, logger: Logger) async throws -> [Double] {
    let kdir = base + "/kiosk-\(central)"
    try FileManager.default.createDirectory(atPath: kdir + "/dev", withIntermediateDirectories: true)
    let admin = try Admin(dataDir: kdir)
    let key = try admin.generateKey(id: "k1", notBefore: 0)
    let res = Resident(id: "r1", name: "张伟", sex: .male, idNumber: "15070219800101001" + String(IDNumber.checkCharacter(for: "15070219800101001")!), household: "h1", address: Address(building: "1", unit: "1", room: "1"))
    try admin.store.importResidents([res], actor: "bench")
    let kpass = try admin.issuePass(person: "r1", days: 1, now: Timestamp(Date().timeIntervalSince1970) - 60).1
    var centralSection = ""
    if central {
        // The same registry at central, and the gate enrolled.
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
        let token = try await db.enrolGate(id: "bench-kiosk", community: "c0", name: "k", kioskKey: nil)
        let tf = kdir + "/central.token"
        FileManager.default.createFile(atPath: tf, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
        centralSection = "[central]\nurls = [\"\(url)\"]\ntoken_file = \"\(tf)\"\nregistry_key = \"\(registryKey)\"\n"
    }
    let thermo = try DeviceSimulator(kind: .asciiLine, link: kdir + "/dev/t")
    let scanner = try DeviceSimulator(kind: .serialLine, link: kdir + "/dev/q")
    thermo.start()
    scanner.start()
    defer {
        thermo.stop()
        scanner.stop()
    }
    let text = """
        data_dir = "\(kdir)"
        [rules]
        anti_passback = "off"
        reading_holdoff_seconds = 0
        [relay]
        pulse_ms = 100
        [gpio]
        chip = "simulated"
        \(centralSection)
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
    final class Stamp: @unchecked Sendable {
        let lock = NSLock()
        var opened: [Double] = []
    }
    let stamp = Stamp()
    let chip = SimulatedGpio()
    chip.onChange = { c in if c.line == "relay" && c.active { stamp.lock.withLock { stamp.opened.append(monoSeconds()) } } }
    var opts = Kiosk.Options()
    opts.gpio = ["in": chip]
    let kiosk = try Kiosk.start(config: try KioskConfig.parse(text), options: opts, logger: logger)
    let runner = Task { try await kiosk.run(handleSignals: false) }
    try await Task.sleep(for: .seconds(central ? 3 : 1))
    var lat: [Double] = []
    for i in 0..<80 {
        thermo.present(celsius: 36.5)
        try await Task.sleep(for: .milliseconds(40))
        let before = stamp.lock.withLock { stamp.opened.count }
        let t = now()
        scanner.scan(kpass)
        var waited = 0
        while stamp.lock.withLock({ stamp.opened.count }) == before && waited < 2000 {
            try await Task.sleep(for: .microseconds(200))
            waited += 1
        }
        if let o = stamp.lock.withLock({ stamp.opened.last }), stamp.lock.withLock({ stamp.opened.count }) > before { lat.append(o - t) }
        try await Task.sleep(for: .milliseconds(150 + (i % 3) * 10))
    }
    await kiosk.shutdown()
    _ = try? await runner.value
    return lat
}
KioskUplink.install()
let off = try await scanToRelay(central: false, logger: logger)
let on = try await scanToRelay(central: true, logger: logger)
row("kiosk scan→relay p99, entry (no claim), uplink on vs off (\(on.count)/\(off.count) passages)", ms(pct(on, 0.99)), ms(pct(off, 0.99)) + " uplink off", String(format: "%.2f×", pct(on, 0.99) / pct(off, 0.99)), "unchanged")
row("kiosk scan→relay p50, uplink on vs off", ms(pct(on, 0.5)), ms(pct(off, 0.5)), String(format: "%.2f×", pct(on, 0.5) / pct(off, 0.5)), "-")

for c in clients + pullClients { await c.shutdown() }
await service.shutdown()
_ = try? await serverTask.value
try? FileManager.default.removeItem(atPath: base)
