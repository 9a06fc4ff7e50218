/// Reads records from the segment files by sequence number, from this process or another one
/// (like `journalctl -f`). A cursor never repeats or skips: it stops at the first byte it cannot
/// yet read as a valid record and resumes there. While a writer holds the directory it returns
/// only records the writer has published as durable (`DURABLE`): a record written but not yet
/// synced may vanish in a power cut and its number be given to another event.
public final class LogCursor {
    let directory: String
    let fs: any LogFileSystem
    /// The next sequence number this cursor will return.
    public private(set) var nextSeq: UInt64
    private var segFirst: UInt64?
    private var file: (any LogFile)?
    private var offset = 0
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private var lastPublished: UInt64?

    public convenience init(directory: String, from seq: UInt64) {
        self.init(directory: directory, from: seq, fileSystem: PosixFileSystem())
    }

    package init(directory: String, from seq: UInt64, fileSystem: any LogFileSystem) {
        self.directory = directory
        self.fs = fileSystem
        self.nextSeq = max(seq, 1)
    }

    deinit { file?.close() }

    /// Returns up to `limit` records that are available now (possibly none), none above `upTo`
    /// (a follower that must see only durable records passes the writer's durable sequence).
    public func next(limit: Int = 1024, upTo: UInt64 = .max) throws -> [Record] {
        let upTo = min(upTo, DurableEnd.readerBound(fs: fs, directory: directory, lastKnown: &lastPublished))
        var out: [Record] = []
        while out.count < limit {
            if file == nil {
                guard try openSegment() else { return out }
            }
            let mark = offset
            if let r = try readOne() {
                if r.seq > upTo {
                    // Not durable yet: those bytes may still change (a power cut, then another
                    // event under that number), so they are read again next time, not kept.
                    offset = mark
                    buffer.removeLast(max(0, bufferStart + buffer.count - mark))
                    return out
                }
                if r.seq >= nextSeq {
                    out.append(r)
                    nextSeq = r.seq + 1
                }
                continue
            }
            // End of what is readable in this segment: move on if the next segment continues it.
            let names = try segmentList()
            if let n = names.first(where: { $0.first > segFirst! }), n.first <= nextSeq {
                file?.close()
                file = nil
                continue
            }
            return out
        }
        return out
    }

    private func segmentList() throws -> [(name: String, first: UInt64)] {
        try fs.list(directory).compactMap { n in Segment.firstSeq(ofFileName: n).map { (n, $0) } }.sorted { $0.first < $1.first }
    }

    private func openSegment() throws -> Bool {
        let names = try segmentList()
        guard let seg = names.last(where: { $0.first <= nextSeq }) ?? names.first else { return false }
        if seg.first > nextSeq { nextSeq = seg.first }  // older records were removed by retention
        let f = try fs.open(directory + "/" + seg.name, create: false)
        let h = try f.read(at: 0, count: Segment.headerSize)
        guard case .success = h.withUnsafeBytes({ Segment.parseHeader($0) }) else {
            f.close()
            return false
        }
        file = f
        segFirst = seg.first
        offset = Segment.headerSize
        buffer = []
        bufferStart = offset
        return true
    }

    private func readOne() throws -> Record? {
        var reread = false
        while true {
            let rel = offset - bufferStart
            let decoded = buffer.withUnsafeBytes { RecordCodec.decode($0, at: rel) }
            switch decoded {
            case .record(let r, let size):
                offset += size
                return r
            case .incomplete, .invalid:
                // Re-read from this record on, once: new bytes arrive at the end of the file or
                // over the zeroed space the writer preallocates inside it. Still nothing: stop here.
                let size = try file!.size()
                var more = !reread && size > offset
                if case .incomplete = decoded, bufferStart + buffer.count < size { more = true }  // longer than the last read
                guard more else { return nil }
                reread = true
                // At preallocated zeros (the live end of the log) a small read is enough.
                let atZeros = rel < buffer.count && buffer[rel...].prefix(Record.headerSize).allSatisfy { $0 == 0 }
                buffer = try file!.read(at: offset, count: min(size - offset, atZeros ? 64 << 10 : 4 << 20))
                bufferStart = offset
            }
        }
    }
}
