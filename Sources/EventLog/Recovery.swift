/// Opening a log for writing: finds the longest valid prefix, cuts a torn tail, and sets damage
/// aside (a full copy of the damaged segment is kept, the lost range is marked by a gap record, and
/// every valid record after the damage is kept in place).
struct Recovery {
    let fs: any LogFileSystem
    let dir: String

    struct Result {
        var report: RecoveryReport
        var tailFile: any LogFile
        /// Where the next record goes (the end of the valid records).
        var tailSize: Int
        /// The tail file's size: records plus the zeroed space preallocated after them.
        var tailAllocated: Int
        var nextSeq: UInt64
        var chain: [UInt8]
    }

    func segmentNames() throws -> [(name: String, first: UInt64)] {
        try fs.list(dir).compactMap { n in Segment.firstSeq(ofFileName: n).map { (n, $0) } }.sorted { $0.first < $1.first }
    }

    func run() throws -> Result {
        var report = RecoveryReport()
        var names = try segmentNames()
        // A last segment whose header never became durable held no acknowledged record.
        if let last = names.last {
            let f = try fs.open(dir + "/" + last.name, create: false)
            let bytes = try f.read(at: 0, count: Segment.headerSize)
            f.close()
            let bad = bytes.withUnsafeBytes { if case .failure = Segment.parseHeader($0) { return true } else { return false } }
            if bad {
                // The header is synced before any record goes into a segment, so a bad header on
                // the last one means its creation was torn. Keep the bytes aside all the same.
                var kept: String? = nil
                let path = dir + "/" + last.name
                let g = try fs.open(path, create: false)
                let all = try g.read(at: 0, count: try g.size())
                g.close()
                let holdsRecords = all.count > Segment.headerSize && all.withUnsafeBytes {
                    if case .corrupt = SegmentScan.damageAt($0, Segment.headerSize - 1, after: last.first &- 1, reason: "") { return true }
                    return false
                }
                if holdsRecords {
                    throw LogError(.corrupt, "\(last.name): segment header damaged but it holds synced records; run `postern log salvage`")
                }
                if !all.allSatisfy({ $0 == 0 }) {
                    try keepAside(path: path, original: all, keptAt: &kept)
                    report.setAside.append(kept! + ": torn segment creation (no record in it was acknowledged)")
                }
                try fs.remove(path)
                try fs.syncDirectory(dir)
                names.removeLast()
            }
        }
        if names.isEmpty {
            let f = try fs.open(dir + "/" + Segment.fileName(firstSeq: 1), create: true)
            try f.truncate(to: 0)
            try f.write(Segment.header(firstSeq: 1), at: 0)
            try f.sync()
            try fs.syncDirectory(dir)
            return Result(report: report, tailFile: f, tailSize: Segment.headerSize, tailAllocated: Segment.headerSize, nextSeq: 1, chain: [UInt8](repeating: 0, count: 32))
        }
        var chain = [UInt8](repeating: 0, count: 32)
        var expected: UInt64? = nil
        report.segments = names.count
        for (i, seg) in names.enumerated() {
            let path = dir + "/" + seg.name
            let isLast = i == names.count - 1
            var f = try fs.open(path, create: false)
            var bytes = try f.read(at: 0, count: try f.size())
            let declared = try bytes.withUnsafeBytes { try Segment.parseHeader($0).get() }
            guard declared == seg.first else {
                throw LogError(.corrupt, "\(seg.name): header says first sequence \(declared); run `postern log salvage`")
            }
            if let expected, expected != seg.first {
                throw LogError(.corrupt, "\(seg.name) starts at \(seg.first) but the previous segment ends at \(expected - 1); run `postern log salvage`")
            }
            let nextFirst = isLast ? nil : names[i + 1].first
            var keptAt: String? = nil
            var dataEnd = bytes.count
            while true {
                var scan = bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: seg.first) }
                if scan.lastChain == nil { scan.lastChain = chain }
                let lastGood = scan.lastSeq ?? (seg.first - 1)
                guard let damage = scan.damage else {
                    if let nextFirst, nextFirst != lastGood + 1 {
                        // Records missing at the end of a closed segment.
                        bytes = try mark(gapFrom: lastGood + 1, to: nextFirst - 1, after: bytes, scan: scan, keptAt: &keptAt, path: path, original: bytes, report: &report, reason: "segment ends early")
                        try replace(path: path, with: bytes)
                        f.close()
                        f = try fs.open(path, create: false)
                        continue
                    }
                    chain = scan.lastChain!
                    dataEnd = scan.validEnd
                    report.records += scan.entries.count
                    if report.firstSeq == 0, let s = scan.entries.first?.seq { report.firstSeq = s }
                    expected = lastGood + 1
                    break
                }
                switch damage {
                case .tornTail(let why):
                    if isLast {
                        report.truncatedBytes += bytes.count - scan.validEnd
                        bytes.removeLast(bytes.count - scan.validEnd)
                        try f.truncate(to: scan.validEnd)
                        try f.sync()
                        continue
                    }
                    let lostTo = nextFirst! - 1
                    var head = Array(bytes[..<scan.validEnd])
                    if lostTo >= lastGood + 1 {
                        head = try mark(gapFrom: lastGood + 1, to: lostTo, after: head, scan: scan, keptAt: &keptAt, path: path, original: bytes, report: &report, reason: why)
                    } else {
                        try keepAside(path: path, original: bytes, keptAt: &keptAt)
                    }
                    bytes = head
                    try replace(path: path, with: bytes)
                    f.close()
                    f = try fs.open(path, create: false)
                case .corrupt(let why, let resumeOffset, let resumeSeq):
                    var head = Array(bytes[..<scan.validEnd])
                    if resumeSeq - 1 >= lastGood + 1 {
                        head = try mark(gapFrom: lastGood + 1, to: resumeSeq - 1, after: head, scan: scan, keptAt: &keptAt, path: path, original: bytes, report: &report, reason: why)
                    } else {
                        try keepAside(path: path, original: bytes, keptAt: &keptAt)
                        report.gaps.append(.init(lostFrom: resumeSeq, lostTo: lastGood, keptAt: keptAt!, reason: why + " (no record lost)"))
                    }
                    bytes = head + bytes[resumeOffset...]
                    try replace(path: path, with: bytes)
                    f.close()
                    f = try fs.open(path, create: false)
                }
            }
            if isLast {
                report.lastSeq = expected! - 1
                return Result(report: report, tailFile: f, tailSize: dataEnd, tailAllocated: bytes.count, nextSeq: expected!, chain: chain)
            }
            f.close()
        }
        fatalError("unreachable: the loop returns at the last segment")
    }

    /// Keeps a copy of the damaged segment (once) and appends a gap record for `[from, to]`.
    private func mark(gapFrom from: UInt64, to: UInt64, after head: [UInt8], scan: SegmentScan, keptAt: inout String?, path: String, original: [UInt8], report: inout RecoveryReport, reason: String) throws -> [UInt8] {
        try keepAside(path: path, original: original, keptAt: &keptAt)
        let payload = GapRecord.payload(lostFrom: from, lostTo: to, keptAt: keptAt!)
        let prev = scan.lastChain ?? [UInt8](repeating: 0, count: 32)
        let c = RecordCodec.chainHash(previous: prev, type: GapRecord.type, seq: to, wallNs: 0, monoNs: 0, payloadHash: SHA256Bytes(payload))
        var out = head
        RecordCodec.encode(Record(type: GapRecord.type, flags: [], seq: to, wallNs: 0, monoNs: 0, chain: c, payload: payload), into: &out)
        report.gaps.append(.init(lostFrom: from, lostTo: to, keptAt: keptAt!, reason: reason))
        return out
    }

    private func keepAside(path: String, original: [UInt8], keptAt: inout String?) throws {
        guard keptAt == nil else { return }
        var n = 0
        var name = path + ".damaged"
        while (try? fs.open(name, create: false)).map({ $0.close(); return true }) ?? false {
            n += 1
            name = path + ".damaged.\(n)"
        }
        let f = try fs.open(name, create: true)
        try f.write(original, at: 0)
        try f.sync()
        f.close()
        try fs.syncDirectory(dir)
        keptAt = String(name.split(separator: "/").last!)
    }

    private func replace(path: String, with bytes: [UInt8]) throws {
        try SegmentFiles.replace(fs: fs, dir: dir, path: path, with: bytes)
    }
}

/// Atomic whole-file replacement for segments: write a temporary file, sync, rename over the
/// segment, sync the directory. Used by recovery and by the privacy purge.
enum SegmentFiles {
    static func replace(fs: any LogFileSystem, dir: String, path: String, with bytes: [UInt8]) throws {
        let tmp = path + ".rewrite"
        let f = try fs.open(tmp, create: true)
        try f.truncate(to: 0)
        try f.write(bytes, at: 0)
        try f.sync()
        f.close()
        try fs.rename(tmp, path)
        try fs.syncDirectory(dir)
    }
}
