import Crypto

/// Privacy purge: replaces the payload of every matching record with the SHA-256 of that payload
/// (flag `redacted`). The chain covers the payload's hash, not the payload, so `verify` still checks
/// the whole chain and every signed checkpoint after a purge. Segments are rewritten atomically
/// (temporary file, fsync, rename, fsync of the directory) under the writer lock, so no daemon may
/// be running.
///
/// The bytes recovery set aside (`*.damaged`) are copies of segments and hold the same personal
/// data: their readable records are redacted the same way, and damaged bytes that cannot be read
/// as records are zeroed when they were recorded before `damagedRecordedBefore` (dated by the next
/// readable record, else the one before; undatable bytes are zeroed). Such a file is rewritten in
/// a redacted form that keeps the length and SHA-256 its gap record commits to.
public enum LogRedaction {
    /// Returns how many records were redacted (in segments and in kept evidence).
    public static func redact(directory: String, where match: @escaping (Record) -> Bool, damagedRecordedBefore cutoffNs: Int64? = nil) throws -> Int {
        try redact(directory: directory, fileSystem: PosixFileSystem(), where: match, damagedRecordedBefore: cutoffNs)
    }

    package static func redact(directory: String, fileSystem fs: any LogFileSystem, where match: @escaping (Record) -> Bool, damagedRecordedBefore cutoffNs: Int64? = nil) throws -> Int {
        let lock = try fs.lock(directory + "/LOCK")
        defer { lock.release() }
        var total = 0
        let listing = try fs.list(directory)
        let names = listing.compactMap { n in Segment.firstSeq(ofFileName: n).map { (n, $0) } }.sorted { $0.1 < $1.1 }
        for (name, first) in names {
            let path = directory + "/" + name
            let f = try fs.open(path, create: false)
            let bytes = try f.read(at: 0, count: try f.size())
            f.close()
            var out = Array(bytes.prefix(Segment.headerSize))
            var changed = 0
            var end = Segment.headerSize
            bytes.withUnsafeBytes { buf in
                _ = SegmentScan.scan(buf, firstSeq: first) { r in
                    var rec = r
                    if !r.flags.contains(.redacted), match(r) {
                        rec.payload = Array(SHA256.hash(data: r.payload))
                        rec.flags.insert(.redacted)
                        changed += 1
                    }
                    RecordCodec.encode(rec, into: &out)
                    end += r.encodedSize
                }
            }
            guard changed > 0 else { continue }
            out += bytes[end...]  // anything after the valid prefix is kept as it was
            try SegmentFiles.replace(fs: fs, dir: directory, path: path, with: out)
            total += changed
        }
        for name in listing where Evidence.isEvidenceName(name) {
            total += try redactEvidence(path: directory + "/" + name, name: name, fs: fs, directory: directory, match: match, cutoffNs: cutoffNs)
        }
        return total
    }

    /// Redacts one kept copy of a segment; returns how many records it redacted.
    static func redactEvidence(path: String, name: String, fs: any LogFileSystem, directory: String, match: (Record) -> Bool, cutoffNs: Int64?) throws -> Int {
        let f = try fs.open(path, create: false)
        let file = try f.read(at: 0, count: try f.size())
        f.close()
        let original = Evidence.commitment(of: file)
        let body = Array(Evidence.body(of: file))
        let first = name.split(separator: ".").first.flatMap { UInt64($0) } ?? 0
        var out = Array(body.prefix(Segment.headerSize))
        var redacted = 0
        var zeroed = 0
        var lastWall: Int64? = nil
        func damaged(_ run: Range<Int>, recordedBefore next: Int64?) {
            let bytes = body[run]
            let when = next ?? lastWall
            let old = cutoffNs.map { c in when.map { $0 < c } ?? true } ?? false
            if old && !bytes.allSatisfy({ $0 == 0 }) {
                out += [UInt8](repeating: 0, count: run.count)
                zeroed += run.count
            } else {
                out += bytes
            }
        }
        body.withUnsafeBytes { buf in
            var off = Segment.headerSize
            var runStart: Int? = nil
            while off < buf.count {
                // Sequence numbers near the segment's first one before a full decode: a damaged
                // region is walked a byte at a time.
                if off + Record.headerSize <= buf.count {
                    let seq = buf.readLE(UInt64.self, at: off + 12)
                    if seq >= first && seq < first &+ 100_000_000, case .record(var r, let size) = RecordCodec.decode(buf, at: off) {
                        if let s = runStart {
                            damaged(s..<off, recordedBefore: r.wallNs)
                            runStart = nil
                        }
                        lastWall = r.wallNs
                        if !r.flags.contains(.redacted), match(r) {
                            r.payload = SHA256Bytes(r.payload)
                            r.flags.insert(.redacted)
                            redacted += 1
                        }
                        RecordCodec.encode(r, into: &out)
                        off += size
                        continue
                    }
                }
                if runStart == nil { runStart = off }
                off += 1
            }
            if let s = runStart { damaged(s..<buf.count, recordedBefore: nil) }
        }
        guard redacted > 0 || zeroed > 0 else { return 0 }
        try SegmentFiles.replace(fs: fs, dir: directory, path: path, with: Evidence.redactedForm(original: (original.bytes, original.sha256), body: out))
        return redacted
    }
}
