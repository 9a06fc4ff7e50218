/// Opening a log for writing: finds the longest valid prefix, cuts a torn tail, and sets damage
/// aside (a full copy of the damaged segment is kept, the lost range is marked by a gap record that
/// commits to that copy, and every valid record after the damage is kept in place). Any damage is
/// handled here, so `log salvage` and the daemon's start never stop at it: a damaged segment
/// header is rewritten from the file name, a segment whose header names another first sequence
/// number is moved to its own name (swapped files), a duplicate or overlapping segment is set
/// aside. Each change keeps the original bytes in a `.damaged` file first.
struct Recovery {
    let fs: any LogFileSystem
    let dir: String
    /// The durable end the previous writer published, if readable.
    var witness: UInt64? = nil

    struct Result {
        var report: RecoveryReport
        var tailFile: any LogFile
        /// Where the next record goes (the end of the valid records).
        var tailSize: Int
        /// The tail file's size: records plus the zeroed space preallocated after them.
        var tailAllocated: Int
        var nextSeq: UInt64
        var chain: [UInt8]
        /// Gap records since the last checkpoint (what the next checkpoint signs).
        var gaps: Checkpoint.Gaps
        /// Bytes cut from the end of the last segment although the witness says they were durable.
        var cutDurable: Evidence.Kept?
        /// The log ends below what was published durable: a gap must be recorded before anything else.
        var behindWitness: Bool { (witness ?? 0) >= nextSeq }
        var witness: UInt64? = nil
    }

    func segmentNames() throws -> [(name: String, first: UInt64)] {
        try fs.list(dir).compactMap { n in Segment.firstSeq(ofFileName: n).map { (n, $0) } }.sorted { $0.first < $1.first }
    }

    func readAll(_ path: String) throws -> [UInt8] {
        let f = try fs.open(path, create: false)
        defer { f.close() }
        return try f.read(at: 0, count: try f.size())
    }

    func run() throws -> Result {
        var report = RecoveryReport()
        try repairHeaders(&report)
        var names = try segmentNames()
        if names.isEmpty {
            let f = try fs.open(dir + "/" + Segment.fileName(firstSeq: 1), create: true)
            try f.truncate(to: 0)
            try f.write(Segment.header(firstSeq: 1), at: 0)
            try f.sync()
            try fs.syncDirectory(dir)
            return Result(report: report, tailFile: f, tailSize: Segment.headerSize, tailAllocated: Segment.headerSize, nextSeq: 1, chain: [UInt8](repeating: 0, count: 32), gaps: .init(), cutDurable: nil, witness: witness)
        }
        var chain = [UInt8](repeating: 0, count: 32)
        var gaps = Checkpoint.Gaps()
        var cutDurable: Evidence.Kept? = nil
        var expected: UInt64? = nil
        var i = 0
        while i < names.count {
            var seg = names[i]
            var path = dir + "/" + seg.name
            let isLast = i == names.count - 1
            var bytes = try readAll(path)
            if let e = expected, seg.first < e {
                // Overlaps the segment before: its records below `e` were already kept there.
                var kept: Evidence.Kept? = nil
                try keepAside(path: path, original: bytes, kept: &kept)
                if !isLast && names[i + 1].first <= e {
                    try fs.remove(path)
                    try fs.syncDirectory(dir)
                    report.setAside.append("\(kept!.name): \(seg.name) repeats sequence numbers kept in other segments")
                    names.remove(at: i)
                    continue
                }
                let scan = bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: seg.first) }
                let from = scan.entries.first { $0.seq >= e }?.offset ?? scan.validEnd
                let moved = Segment.header(firstSeq: e) + bytes[from...]
                let newName = Segment.fileName(firstSeq: e)
                try SegmentFiles.replace(fs: fs, dir: dir, path: dir + "/" + newName, with: moved)
                try fs.remove(path)
                try fs.syncDirectory(dir)
                report.setAside.append("\(kept!.name): \(seg.name) overlapped the segment before it; its records from \(e) on kept as \(newName)")
                seg = (newName, e)
                names[i] = seg
                path = dir + "/" + newName
                bytes = moved
            }
            var f = try fs.open(path, create: false)
            let nextFirst = isLast ? nil : names[i + 1].first
            var kept: Evidence.Kept? = nil
            var dataEnd = bytes.count
            while true {
                var scan = bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: seg.first) }
                if scan.lastChain == nil { scan.lastChain = chain }
                let lastGood = scan.lastSeq ?? (seg.first - 1)
                guard let damage = scan.damage else {
                    if let nextFirst, nextFirst != lastGood + 1 {
                        // Records missing at the end of a closed segment.
                        bytes = try mark(gapFrom: lastGood + 1, to: nextFirst - 1, after: bytes, scan: scan, kept: &kept, path: path, original: bytes, report: &report, reason: "segment ends early")
                        try replace(path: path, with: bytes)
                        f.close()
                        f = try fs.open(path, create: false)
                        continue
                    }
                    chain = scan.lastChain!
                    dataEnd = scan.validEnd
                    for e in scan.entries where e.type == GapRecord.type || e.type == Checkpoint.type {
                        gaps.fold(type: e.type, seq: e.seq, chain: Array(bytes[(e.offset + 36)..<(e.offset + 68)]))
                    }
                    report.records += scan.entries.count
                    if report.firstSeq == 0, let s = scan.entries.first?.seq { report.firstSeq = s }
                    expected = lastGood + 1
                    break
                }
                switch damage {
                case .tornTail(let why):
                    if isLast {
                        // Durable records at the end cannot be told from a torn write by the bytes
                        // alone; the published durable end can. Keep such bytes as evidence.
                        if let w = witness, w > lastGood, !SegmentScan.allZeroBytes(bytes[scan.validEnd...]) {
                            var k: Evidence.Kept? = nil
                            try keepAside(path: path, original: bytes, kept: &k)
                            cutDurable = k
                            report.setAside.append("\(k!.name): damaged records at the end of the log (\(why))")
                        }
                        report.truncatedBytes += bytes.count - scan.validEnd
                        bytes.removeLast(bytes.count - scan.validEnd)
                        try f.truncate(to: scan.validEnd)
                        try f.sync()
                        continue
                    }
                    let lostTo = nextFirst! - 1
                    var head = Array(bytes[..<scan.validEnd])
                    if lostTo >= lastGood + 1 {
                        head = try mark(gapFrom: lastGood + 1, to: lostTo, after: head, scan: scan, kept: &kept, path: path, original: bytes, report: &report, reason: why)
                    } else {
                        try keepAside(path: path, original: bytes, kept: &kept)
                        report.setAside.append("\(kept!.name): damaged bytes after the last record of \(seg.name) (\(why)); no record lost")
                    }
                    bytes = head
                    try replace(path: path, with: bytes)
                    f.close()
                    f = try fs.open(path, create: false)
                case .corrupt(let why, let resumeOffset, let resumeSeq):
                    var head = Array(bytes[..<scan.validEnd])
                    if resumeSeq - 1 >= lastGood + 1 {
                        head = try mark(gapFrom: lastGood + 1, to: resumeSeq - 1, after: head, scan: scan, kept: &kept, path: path, original: bytes, report: &report, reason: why)
                    } else {
                        try keepAside(path: path, original: bytes, kept: &kept)
                        report.gaps.append(.init(lostFrom: resumeSeq, lostTo: lastGood, keptAt: kept!.name, reason: why + " (no record lost)"))
                    }
                    bytes = head + bytes[resumeOffset...]
                    try replace(path: path, with: bytes)
                    f.close()
                    f = try fs.open(path, create: false)
                }
            }
            if isLast {
                report.lastSeq = expected! - 1
                report.segments = names.count
                return Result(report: report, tailFile: f, tailSize: dataEnd, tailAllocated: bytes.count, nextSeq: expected!, chain: chain, gaps: gaps, cutDurable: cutDurable, witness: witness)
            }
            f.close()
            i += 1
        }
        fatalError("unreachable: the loop returns at the last segment")
    }

    /// Makes every segment header valid and every file named after the first sequence number its
    /// header declares, before any record is read.
    private func repairHeaders(_ report: inout RecoveryReport) throws {
        let names = try segmentNames()
        var misnamed: [(name: String, declared: UInt64, bytes: [UInt8])] = []
        for (i, seg) in names.enumerated() {
            let path = dir + "/" + seg.name
            var bytes = try readAll(path)
            let parsed = bytes.withUnsafeBytes { Segment.parseHeader($0) }
            switch parsed {
            case .success(let declared) where declared == seg.first:
                continue
            case .success(let declared):
                misnamed.append((seg.name, declared, bytes))
            case .failure(let e):
                var kept: Evidence.Kept? = nil
                let holdsRecords = bytes.count > Segment.headerSize && bytes.withUnsafeBytes {
                    if case .corrupt = SegmentScan.damageAt($0, Segment.headerSize - 1, after: seg.first &- 1, reason: "") { return true }
                    return false
                }
                if i == names.count - 1 && !holdsRecords {
                    // The header is synced before any record goes into a segment, so a bad header
                    // on the last one with no synced record in it is a torn segment creation.
                    if !bytes.allSatisfy({ $0 == 0 }) {
                        try keepAside(path: path, original: bytes, kept: &kept)
                        report.setAside.append(kept!.name + ": torn segment creation (no record in it was acknowledged)")
                    }
                    try fs.remove(path)
                    try fs.syncDirectory(dir)
                    continue
                }
                // Records may follow a damaged header: rewrite it from the file name and let the
                // scan judge the records (they carry their own sequence numbers and checksums).
                try keepAside(path: path, original: bytes, kept: &kept)
                let body = bytes.count > Segment.headerSize ? Array(bytes[Segment.headerSize...]) : []
                bytes = Segment.header(firstSeq: seg.first) + body
                try SegmentFiles.replace(fs: fs, dir: dir, path: path, with: bytes)
                report.setAside.append("\(kept!.name): \(seg.name) header damaged (\(e.message)); rewritten from the file name")
            }
        }
        guard !misnamed.isEmpty else { return }
        // A header that names another first sequence number: the file belongs under that name
        // (two segments with swapped contents, a copy put back under the wrong name). Keep every
        // original first, then write each where it belongs; a name already holding its own segment
        // keeps it, and the stray copy stays only in the kept file.
        let correct = Set(names.map(\.name)).subtracting(misnamed.map(\.name))
        var written: Set<String> = []
        var keptNames: [String] = []
        for m in misnamed {
            var kept: Evidence.Kept? = nil
            try keepAside(path: dir + "/" + m.name, original: m.bytes, kept: &kept)
            keptNames.append(kept!.name)
        }
        for (m, keptName) in zip(misnamed, keptNames) {
            let kept: Evidence.Kept? = Evidence.Kept(name: keptName, bytes: 0, sha256: [])
            let target = Segment.fileName(firstSeq: m.declared)
            if correct.contains(target) || written.contains(target) {
                report.setAside.append("\(kept!.name): \(m.name) holds the segment starting at \(m.declared), which is already there")
                continue
            }
            try SegmentFiles.replace(fs: fs, dir: dir, path: dir + "/" + target, with: m.bytes)
            written.insert(target)
            report.setAside.append("\(kept!.name): \(m.name) holds the segment starting at \(m.declared); moved to \(target)")
        }
        for m in misnamed where !written.contains(m.name) {
            try fs.remove(dir + "/" + m.name)
        }
        try fs.syncDirectory(dir)
    }

    /// Keeps a copy of the damaged segment (once) and appends a gap record for `[from, to]` that
    /// commits to the copy.
    private func mark(gapFrom from: UInt64, to: UInt64, after head: [UInt8], scan: SegmentScan, kept: inout Evidence.Kept?, path: String, original: [UInt8], report: inout RecoveryReport, reason: String) throws -> [UInt8] {
        try keepAside(path: path, original: original, kept: &kept)
        let k = kept!
        let payload = GapRecord.payload(.init(lostFrom: from, lostTo: to, keptAt: k.name, keptBytes: k.bytes, keptSHA256: k.hex))
        let prev = scan.lastChain ?? [UInt8](repeating: 0, count: 32)
        let c = RecordCodec.chainHash(previous: prev, type: GapRecord.type, seq: to, wallNs: 0, monoNs: 0, payloadHash: SHA256Bytes(payload))
        var out = head
        RecordCodec.encode(Record(type: GapRecord.type, flags: [], seq: to, wallNs: 0, monoNs: 0, chain: c, payload: payload), into: &out)
        report.gaps.append(.init(lostFrom: from, lostTo: to, keptAt: k.name, reason: reason))
        return out
    }

    private func keepAside(path: String, original: [UInt8], kept: inout Evidence.Kept?) throws {
        guard kept == nil else { return }
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
        kept = Evidence.kept(name: String(name.split(separator: "/").last!), original: original)
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
