/// Segment files: `<firstSeq, 20 digits>.seg`, a 32-byte header then records.
///
/// Header: magic `PSTRNLOG` | version u32 | header size u32 | first seq u64 | reserved u32 | crc32c u32.
enum Segment {
    static let magic: [UInt8] = Array("PSTRNLOG".utf8)
    static let version: UInt32 = 1
    static let headerSize = 32
    static let suffix = ".seg"

    static func fileName(firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    static func firstSeq(ofFileName name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.count == 20 + suffix.count else { return nil }
        return UInt64(name.prefix(20))
    }

    static func header(firstSeq: UInt64) -> [UInt8] {
        var h = magic
        h.appendLE(version)
        h.appendLE(UInt32(headerSize))
        h.appendLE(firstSeq)
        h.appendLE(UInt32(0))
        h.appendLE(CRC32C.checksum(h))
        return h
    }

    /// Returns the first sequence number the header declares, or why it is not a valid header.
    static func parseHeader(_ buf: UnsafeRawBufferPointer) -> Result<UInt64, LogError> {
        guard buf.count >= headerSize else { return .failure(LogError(.badSegment, "segment header truncated (\(buf.count) bytes)")) }
        guard Array(buf[0..<8]) == magic else { return .failure(LogError(.badSegment, "bad segment magic")) }
        let crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buf[0..<28]))
        guard crc == buf.readLE(UInt32.self, at: 28) else { return .failure(LogError(.badSegment, "segment header checksum mismatch")) }
        let v = buf.readLE(UInt32.self, at: 8)
        guard v == version else { return .failure(LogError(.badSegment, "unsupported segment version \(v)")) }
        return .success(buf.readLE(UInt64.self, at: 16))
    }
}
