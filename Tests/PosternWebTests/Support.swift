import Foundation
import GateCore
import GateStore
import GateTestSupport
import Logging
import PosternWeb
import ServiceLifecycle
import Synchronization

/// An in-memory `LiveSource`: the shape central's per-community sequence will have. Records are
/// "committed" when appended; a reader never sees more than `head()`.
final class MemorySource: LiveSource, @unchecked Sendable {
    let records = Mutex<[LiveRecord]>([])
    let conts = Mutex<[AsyncStream<UInt64>.Continuation]>([])
    var title = "test gate"
    var lanes = ["in", "out"]
    var devices = ["thermo-in"]
    var photos: [String: [UInt8]] = [:]
    var staffList: [Staff] = []
    var ledgerRows: [LedgerRow] = []

    final class Reader: LiveReader {
        let source: MemorySource
        var pos: UInt64
        init(_ s: MemorySource, after: UInt64) {
            source = s
            pos = after
        }
        func next(limit: Int) throws -> [LiveRecord] {
            let out = source.records.withLock { rs in Array(rs.lazy.filter { $0.seq > self.pos }.prefix(limit)) }
            if let l = out.last { pos = l.seq }
            return out
        }
    }

    func reader(after: UInt64) throws -> any LiveReader { Reader(self, after: after) }
    func head() -> UInt64 { records.withLock { $0.last?.seq ?? 0 } }
    func heads() -> AsyncStream<UInt64> {
        let (s, c) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        conts.withLock { $0.append(c) }
        return s
    }
    func stateStart() throws -> UInt64 { 1 }

    @discardableResult
    func add(_ e: GateEvent?, late: Bool = false) -> UInt64 {
        let seq = records.withLock { rs in
            let seq = (rs.last?.seq ?? 0) + 1
            rs.append(LiveRecord(seq: seq, wallNs: Int64(Date().timeIntervalSince1970 * 1e9), late: late, gate: title, event: e))
            return seq
        }
        for c in conts.withLock({ $0 }) { c.yield(seq) }
        return seq
    }

    func append(_ event: GateEvent) async throws -> UInt64 { add(event) }
    func photo(person: String) -> [UInt8]? { photos[person] }
    func ledger(day: String) throws -> [LedgerRow] { ledgerRows }
    func sevenCounts(day: String, now: Timestamp) throws -> SevenCounts { SevenCounts() }
    func staff() throws -> [Staff] { staffList }

    static func passage(_ name: String, person: String = "r1", outcome: Outcome = .admit, reason: Reason = .ok, lane: String = "in", temp: Double = 36.5)
        -> GateEvent
    {
        var e = GateEvent(kind: .passage, at: Date().timeIntervalSince1970)
        e.lane = lane
        e.direction = lane == "in" ? .in : .out
        e.decision = Decision(
            outcome: outcome, reason: reason, personID: person, personKind: .resident, personName: name, household: "h1", passID: "p1", temperature: temp)
        e.readings = [Reading(celsius: temp, ambient: nil, device: "thermo-in", at: 0)]
        return e
    }

    static func alert(_ kind: String, message: String, lane: String = "in") -> GateEvent {
        var e = GateEvent(kind: .alert, at: Date().timeIntervalSince1970)
        e.alert = kind
        e.message = message
        e.lane = lane
        return e
    }

    static func registry() -> GateEvent {
        var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
        e.entity = "resident"
        e.key = "r9"
        e.after = "{\"name\":\"secret\"}"
        return e
    }
}

/// A web server on a free loopback port over a source, in its own service group.
final class TestServer: @unchecked Sendable {
    let web: WebServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int
    let dir: String

    static let password = "correct horse battery"

    init(_ source: any LiveSource, configure: (inout WebOptions) -> Void = { _ in }) async throws {
        dir = tempPath("web")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let users = AccountFile(path: dir + "/web-users")
        for (n, r) in [("admin1", Role.admin), ("guard1", .guard), ("viewer1", .viewer), ("prom", .metrics)] {
            try users.set(name: n, role: r, password: Self.password, cost: 4)
        }
        var o = WebOptions(usersFile: dir + "/web-users", boardFile: dir + "/board.json")
        o.port = 0
        o.heartbeatSeconds = 1
        configure(&o)
        var logger = Logger(label: "web-test")
        logger.logLevel = .critical
        web = WebServer(source: source, options: o, logger: logger)
        let url = Mutex<String?>(nil)
        let service = try web.service { u in url.withLock { $0 = u } }
        group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let g = group
        task = Task { try await g.run() }
        let end = Date().addingTimeInterval(10)
        while url.withLock({ $0 }) == nil, Date() < end { try await Task.sleep(for: .milliseconds(10)) }
        guard let u = url.withLock({ $0 }), let p = Int(u.split(separator: ":").last!) else { throw WebError("server did not start") }
        port = p
    }

    func login(_ user: String) async throws -> WebTestSession {
        let (s, r) = try await WebTestSession.login(port: port, user: user, password: Self.password)
        guard let s else { throw WebError("login \(user): \(r.status) \(r.text)") }
        return s
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
