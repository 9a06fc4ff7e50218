/// The writer's durable end, published for readers in other processes (`postern tail -f`, a report
/// that catches the mirror up): `DURABLE` in the log directory, 16 bytes, `seq u64 | crc32c u32 |
/// zero u32`, the CRC over "PSTRNDUR" ‖ seq. The writer rewrites it in place after every
/// `fdatasync` and at open; it is never synced itself, so after a power cut it may be older than
/// the log or unreadable, never ahead of it. A reader trusts it only while a writer holds the
/// directory's lock: a record above it may still vanish in a power cut and its number be reused.
/// At open it is also a witness: a log that ends below it lost records that readers may have seen.
enum DurableEnd {
    static let fileName = "DURABLE"
    static let size = 16

    enum Published: Equatable {
        /// No file: a log written before the file existed, or a writer still opening a new log.
        case missing
        /// Torn or garbled (a power cut while it was rewritten).
        case unreadable
        case seq(UInt64)
    }

    static func encode(_ seq: UInt64) -> [UInt8] {
        var b: [UInt8] = []
        b.appendLE(seq)
        b.appendLE(check(seq))
        b.appendLE(UInt32(0))
        return b
    }

    static func decode(_ b: [UInt8]) -> Published {
        guard b.count == size else { return .unreadable }
        let seq = b.withUnsafeBytes { $0.readLE(UInt64.self, at: 0) }
        let crc = b.withUnsafeBytes { $0.readLE(UInt32.self, at: 8) }
        return crc == check(seq) ? .seq(seq) : .unreadable
    }

    static func check(_ seq: UInt64) -> UInt32 {
        var m = Array("PSTRNDUR".utf8)
        m.appendLE(seq)
        return CRC32C.checksum(m)
    }

    static func read(fs: any LogFileSystem, directory: String) -> Published {
        guard let f = try? fs.open(directory + "/" + fileName, create: false) else { return .missing }
        defer { f.close() }
        guard let b = try? f.read(at: 0, count: size + 1) else { return .unreadable }
        return decode(b)
    }

    /// The highest sequence number a reader outside the writer may show now.
    static func readerBound(fs: any LogFileSystem, directory: String, lastKnown: inout UInt64?) -> UInt64 {
        guard fs.isLocked(directory + "/LOCK") else { return .max }  // no writer: what is there stays
        switch read(fs: fs, directory: directory) {
        case .seq(let s):
            lastKnown = s
            return s
        case .missing: return .max  // a writer that does not publish (older version)
        case .unreadable: return lastKnown ?? 0
        }
    }
}
