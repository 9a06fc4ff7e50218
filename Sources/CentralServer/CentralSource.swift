import CentralStore
import EventLog
import Foundation
import GateCore
import GateStore
import PosternWeb

/// One community at central as the web front's `LiveSource`: its events and operators' actions
/// read from PostgreSQL by `community_seq` (committed rows only), heads woken by LISTEN/NOTIFY,
/// `late` as ingest set it, photos, ledger, seven counts and staff from central's registry and
/// reports. It keeps no copy of the history: every call reads the database.
public final class CentralSource: LiveSource, Sendable {
    public let community: String
    public let title: String
    let db: CentralDB
    let wakeups: Wakeups
    public var lanes: [String] { [] }
    public var devices: [String] { [] }

    public init(community: String, name: String, db: CentralDB, wakeups: Wakeups) {
        self.community = community
        title = name
        self.db = db
        self.wakeups = wakeups
    }

    final class Reader: LiveReader, @unchecked Sendable {
        let source: CentralSource
        var pos: Int64
        let decoder = JSONDecoder()
        init(_ s: CentralSource, after: UInt64) {
            source = s
            pos = Int64(clamping: after)
        }
        func next(limit: Int) async throws -> [LiveRecord] {
            let rows = try await source.db.liveRows(community: source.community, after: pos, limit: limit)
            if let l = rows.last { pos = l.communitySeq }
            return rows.map { r in
                let flags = RecordFlags(rawValue: UInt16(truncatingIfNeeded: r.flags))
                let isGate =
                    r.type == CentralDB.webActionType
                    || (r.type != Int(GapRecord.type) && r.type != Int(Checkpoint.type) && !flags.contains(.redacted))
                var event = isGate ? try? decoder.decode(GateEvent.self, from: Data(r.payload)) : nil
                if !r.gate.isEmpty, let e = event { event = CentralSource.atGate(e, r.gate) }
                return LiveRecord(
                    seq: UInt64(r.communitySeq), wallNs: r.wallNs, clockUnsynced: flags.contains(.clockUnsynced), late: r.late,
                    gate: r.gate.isEmpty ? "central" : r.gate, event: event, hasPhoto: r.hasPhoto)
            }
        }
    }

    public func reader(after: UInt64) async throws -> any LiveReader { Reader(self, after: after) }

    /// A community has several gates whose lanes and devices share names ("in", "thermo-in"):
    /// at central they are shown and counted as GATE/LANE and GATE/DEVICE.
    static func atGate(_ e: GateEvent, _ gate: String) -> GateEvent {
        var e = e
        if let l = e.lane { e.lane = gate + "/" + l }
        if let d = e.device { e.device = gate + "/" + d }
        if let rs = e.readings {
            e.readings = rs.map { r in
                var r = r
                r.device = gate + "/" + r.device
                return r
            }
        }
        return e
    }

    public func head() async throws -> UInt64 { UInt64(max(0, try await db.liveHead(community: community))) }

    /// Yields when PostgreSQL notifies a commit for this community (and every 30 s regardless).
    public func heads() -> AsyncStream<UInt64> {
        let (stream, cont) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let task = Task { [wakeups, community] in
            while !Task.isCancelled {
                let g = wakeups.current(community)
                cont.yield(g)
                await wakeups.wait(community, seen: g, limit: .seconds(30))
            }
            cont.finish()
        }
        cont.onTermination = { _ in task.cancel() }
        return stream
    }

    public func stateStart() async throws -> UInt64 { UInt64(max(1, try await db.liveStateStart(community: community))) }

    /// An operator's action is recorded in central's database (`web_actions`), in the community's
    /// sequence, with who and when. It is not sent to the kiosks.
    public func append(_ event: GateEvent) async throws -> UInt64 {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let payload = Array(try enc.encode(event))
        let seq = try await db.recordWebAction(
            community: community, actor: event.actor ?? "", action: event.action ?? event.kind.rawValue, payload: payload,
            wallNs: Int64(event.at * 1e9))
        return UInt64(seq)
    }

    public func photo(person: String) async -> [UInt8]? { try? await db.photo(community: community, person: person) }

    public func hasPhoto(person: String) async -> Bool { (try? await db.hasPhoto(community: community, person: person)) ?? false }

    public func ledger(day: String) async throws -> [LedgerRow] {
        try await db.ledger(communities: [community], day: day, unmask: false).map { r in
            LedgerRow(
                seq: UInt64(max(0, r.communitySeq)), time: Self.time(r.time), lane: r.lane, direction: r.direction, name: r.name, idNumber: r.person,
                pass: r.pass, temperature: r.temperature.map { String(format: "%.1f", $0) } ?? "", outcome: r.decision, reason: r.reason,
                staff: r.staff, clockUnsynced: false)
        }
    }

    public func sevenCounts(day: String, now: Timestamp) async throws -> SevenCounts {
        let r = try await db.seven(scope: "community " + community, communities: [community], day: day, now: Double(now))
        var c = SevenCounts()
        c.households = r.households
        c.rentalHouseholds = r.rentalHouseholds
        c.hubei = r.hubei
        c.wuhan = r.wuhan
        c.otherOutsiders = r.otherProvince
        c.returnees = r.returnees
        c.inIsolation = r.isolatedNow
        c.day = day
        c.passagesIn = r.passagesIn
        c.passagesOut = r.passagesOut
        c.denialsByReason = r.denialsByReason
        c.feverAlerts = r.feverAlerts
        return c
    }

    public func staff() async throws -> [Staff] { try await db.staff(community: community) }

    static func time(_ t: Double) -> String {
        var s = time_t(t)
        var tm = tm()
        localtime_r(&s, &tm)
        return String(format: "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}
