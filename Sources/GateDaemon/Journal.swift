import EventLog
import Devices
import Foundation
import GateCore
import Metrics

/// The event log as the gate uses it: typed events in, sequence numbers out once durable — and
/// the proof of that durability, which every gate output asks for.
public final class Journal: Sendable {
    public let writer: LogWriter
    let encoder: JSONEncoder

    public init(writer: LogWriter) {
        self.writer = writer
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder = e
    }

    func entry(_ e: GateEvent) throws -> LogEntry { LogEntry(type: e.kind.recordType, payload: Array(try encoder.encode(e))) }

    /// `postern_log_append_seconds`: from the call to the records being durable (encoding,
    /// group commit, fdatasync). A no-op unless a metrics backend was bootstrapped before the
    /// journal was made (the web front's /metrics).
    let appendTimer = Metrics.Timer(label: "postern_log_append_seconds")

    public func append(_ e: GateEvent) async throws -> UInt64 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let seq = try await writer.append(type: e.kind.recordType, payload: Array(try encoder.encode(e)))
        appendTimer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - t0)
        return seq
    }

    /// Appends the events as one batch (one sync) and returns their sequence numbers with the
    /// proof that they are durable.
    func appendDurably(_ events: [GateEvent]) async throws -> (seqs: [UInt64], proof: Durable) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let seqs = try await writer.append(try events.map(entry))
        appendTimer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - t0)
        return (seqs, Durable(through: seqs.last ?? writer.durableSeq))
    }

    public func appendBlocking(_ e: GateEvent) throws -> UInt64 {
        try writer.appendBlocking([try entry(e)])[0]
    }
}

/// Proof that the records behind an output are in the log durably. Only `Journal` makes one
/// (its initialiser is private to this file), and `GateOutputs` moves nothing without one: so
/// "the decision is durable before any output moves" holds by construction, whatever the order
/// of a lane's actions.
public struct Durable: Sendable, Equatable {
    public let through: UInt64
    fileprivate init(through: UInt64) { self.through = through }
}

/// A lane's outputs as the controller may drive them: every call needs a `Durable`.
struct GateOutputs: Sendable {
    let io: GateIO

    func pulse(_ role: OutputRole, ms: Int, after _: Durable) { io.pulse(role, ms: ms) }
    func set(_ role: OutputRole, _ active: Bool, after _: Durable) { io.set(role, active) }
}

/// Where the controller reads time: the system clocks in the kiosk, a hand-driven clock in tests.
public protocol GateClock: Sendable {
    /// Wall-clock seconds since the epoch (with fraction).
    func wall() -> Double
    /// Minutes since local midnight at `wall`.
    func localMinute(at wall: Double) -> Int
}

public struct SystemGateClock: GateClock {
    public init() {}
    public func wall() -> Double { wallSeconds() }
    public func localMinute(at wall: Double) -> Int {
        let c = Calendar.current.dateComponents([.hour, .minute], from: Date(timeIntervalSince1970: wall))
        return (c.hour ?? 0) * 60 + (c.minute ?? 0)
    }
}
