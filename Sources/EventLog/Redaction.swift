import Crypto

/// Privacy purge: replaces the payload of every matching record with the SHA-256 of that payload
/// (flag `redacted`). The chain covers the payload's hash, not the payload, so `verify` still checks
/// the whole chain and every signed checkpoint after a purge. Segments are rewritten atomically
/// (temporary file, fsync, rename, fsync of the directory) under the writer lock, so no daemon may
/// be running.
public enum LogRedaction {
    /// Returns how many records were redacted.
    public static func redact(directory: String, where match: @escaping (Record) -> Bool) throws -> Int {
        try redact(directory: directory, fileSystem: PosixFileSystem(), where: match)
    }

    package static func redact(directory: String, fileSystem fs: any LogFileSystem, where match: @escaping (Record) -> Bool) throws -> Int {
        let lock = try fs.lock(directory + "/LOCK")
        defer { lock.release() }
        var total = 0
        let names = try fs.list(directory).compactMap { n in Segment.firstSeq(ofFileName: n).map { (n, $0) } }.sorted { $0.1 < $1.1 }
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
        return total
    }
}
