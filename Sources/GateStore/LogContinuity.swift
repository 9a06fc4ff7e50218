import EventLog

/// The mirror as a witness of how far the log went. Rows are inserted by sequence number, so a log
/// that lost its last records (cut, restored from an older copy) and then numbered new events from
/// where it now ends would hand the mirror numbers it already holds: those events would be dropped.
/// Every writer of a data directory reconciles before appending (the daemon at start, admin
/// commands through `drainAudit`): a log behind the mirror gets a gap record past the highest number
/// the mirror has seen, and numbering continues after it.
extension Store {
    /// The highest sequence number the mirror has seen: its cursor, or any row it holds.
    public func highestMirroredSeq() throws -> UInt64 {
        let cursor = try db.query("SELECT last_seq FROM mirror_cursor WHERE id = 1") { $0.int(0) }.first ?? 0
        let row = try db.query("SELECT COALESCE(MAX(seq), 0) FROM events") { $0.int(0) }.first ?? 0
        return UInt64(max(0, max(cursor, row)))
    }

    /// Records the loss if the log ends below what the mirror has seen; returns the gap appended.
    @discardableResult
    public func reconcile(_ log: LogWriter) throws -> RecoveryReport.Gap? {
        let high = try highestMirroredSeq()
        guard high > 0 else { return nil }
        return try log.recordLoss(through: high, reason: "the log ends below seq \(high), which the mirror (postern.db) had seen")
    }

    /// Marks the mirror rows of records the log no longer holds. They stay: each was durable and
    /// mirrored once, and quota, presence and the ledger counted it.
    public func markLost(from: UInt64, to: UInt64, except gapSeq: UInt64? = nil) throws {
        guard from <= to else { return }
        try db.run("UPDATE events SET lost_from_log = 1 WHERE seq BETWEEN ? AND ? AND seq IS NOT ?", [.int(Int64(from)), .int(Int64(to)), gapSeq.map { .int(Int64($0)) } ?? .null])
    }
}
