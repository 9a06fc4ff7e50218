/// Retention: whole closed segments are deleted oldest first when older than `maxAgeSeconds` (by
/// their last record's wall time) or while the log is larger than `maxBytes`, but never a segment
/// holding a record at or after `keepFrom` (what the slowest follower, the mirror, has not yet
/// consumed), and never the segment being written. Run by the single writer's process.
public struct RetentionPolicy: Sendable, Equatable {
    public var maxAgeSeconds: Int64?
    public var maxBytes: Int?
    public init(maxAgeSeconds: Int64? = nil, maxBytes: Int? = nil) {
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = maxBytes
    }
}

extension LogWriter {
    /// Applies `policy`; returns the names of the deleted segments.
    @discardableResult
    public func applyRetention(_ policy: RetentionPolicy, keepFrom: UInt64, nowNs: Int64) throws -> [String] {
        guard policy.maxAgeSeconds != nil || policy.maxBytes != nil else { return [] }
        let names = try fs.list(directory).compactMap { n in Segment.firstSeq(ofFileName: n).map { (name: n, first: $0) } }.sorted { $0.first < $1.first }
        guard names.count > 1 else { return [] }
        var sizes: [Int] = []
        var lastWall: [Int64] = []
        for seg in names {
            let f = try fs.open(directory + "/" + seg.name, create: false)
            let bytes = try f.read(at: 0, count: try f.size())
            f.close()
            sizes.append(bytes.count)
            var wall: Int64 = 0
            _ = bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: seg.first) { wall = $0.wallNs } }
            lastWall.append(wall)
        }
        var total = sizes.reduce(0, +)
        var deleted: [String] = []
        for i in 0..<(names.count - 1) {
            // Every record of segment i is below the next segment's first sequence number.
            guard names[i + 1].first <= keepFrom else { break }
            let tooOld = policy.maxAgeSeconds.map { nowNs - lastWall[i] > $0 * 1_000_000_000 } ?? false
            let tooBig = policy.maxBytes.map { total > $0 } ?? false
            guard tooOld || tooBig else { break }
            try fs.remove(directory + "/" + names[i].name)
            total -= sizes[i]
            deleted.append(names[i].name)
        }
        if !deleted.isEmpty { try fs.syncDirectory(directory) }
        return deleted
    }
}
