/// Entry points for the fuzzers: the record decoder and segment scan on arbitrary bytes.
public enum LogFuzzHooks {
    /// Scans `bytes` as a segment body (after a valid header); returns the records found.
    public static func scan(_ bytes: [UInt8]) -> Int {
        let seg = Segment.header(firstSeq: 1) + bytes
        return seg.withUnsafeBytes { buf in
            var n = 0
            _ = SegmentScan.scan(buf, firstSeq: 1)
            _ = SegmentScan.scan(buf, firstSeq: 1) { _ in n += 1 }
            return n
        }
    }
}
