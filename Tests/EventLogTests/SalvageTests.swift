import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

@Suite("Salvage handles any damage")
struct SalvageTests {
    func segmented() throws -> (String, [String]) {
        let dir = tempDir()
        var o = LogWriter.Options()
        o.maxSegmentBytes = 2048
        try writeLog(dir, count: 120, options: o)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        #expect(names.count >= 4)
        return (dir, names)
    }

    @Test("one damaged byte in a segment header, middle or last: the writer opens and every record is kept", arguments: [1, -1])
    func damagedHeader(which: Int) throws {
        let (dir, names) = try segmented()
        let name = which < 0 ? names.last! : names[which]
        var b = try segmentBytes(dir, name)
        b[17] ^= 0x40  // the first-sequence field: the header's checksum no longer matches
        try storeSegment(dir, b, name)
        let w = try LogWriter.open(directory: dir)
        let s = try w.appendBlocking([LogEntry(type: 1, payload: payload(121))])
        w.close()
        #expect(s == [121])
        #expect(try readAll(dir).map(\.seq) == Array(1...121))
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok, "\(rep.problems)")
    }

    @Test("two segments with swapped contents: the writer opens, every record is kept in order")
    func swapped() throws {
        let (dir, names) = try segmented()
        let a = try segmentBytes(dir, names[1]), c = try segmentBytes(dir, names[2])
        try storeSegment(dir, c, names[1])
        try storeSegment(dir, a, names[2])
        let w = try LogWriter.open(directory: dir)
        w.close()
        #expect(try readAll(dir).map(\.seq) == Array(1...120))
        #expect(try LogVerifier(directory: dir).run().ok)
    }

    @Test("a segment whose header and first records are garbage: set aside behind a gap, every other segment kept")
    func garbageSegment() throws {
        let (dir, names) = try segmented()
        let b = try segmentBytes(dir, names[1])
        try storeSegment(dir, [UInt8](repeating: 0xA5, count: b.count), names[1])
        let w = try LogWriter.open(directory: dir)
        #expect(w.recovery.gaps.count == 1)
        w.close()
        let recs = try readAll(dir)
        let lostFrom = Segment.firstSeq(ofFileName: names[1])!, lostTo = Segment.firstSeq(ofFileName: names[2])! - 1
        #expect(recs.map(\.seq) == Array(1..<lostFrom) + [lostTo] + Array((lostTo + 1)...120))
        #expect(try LogVerifier(directory: dir).run().ok)
    }
}
