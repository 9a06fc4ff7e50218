import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

@Suite("A shortened log never reuses a sequence number")
struct ShortenedLogTests {
    @Test("records cut from the end while the writer was stopped: the loss is recorded and numbering continues after the highest durable number")
    func cutEnd() throws {
        let dir = tempDir()
        try writeLog(dir, count: 30)
        let b = try segmentBytes(dir)
        try storeSegment(dir, Array(b[..<recordOffsets(b)[25]]))  // records 26...30 gone
        let w = try LogWriter.open(directory: dir)
        let s = try w.appendBlocking([LogEntry(type: 1, payload: Array("after the cut".utf8))])
        w.close()
        #expect(s[0] > 30, "seq \(s[0]) was already issued before the cut")
        let recs = try readAll(dir)
        let gap = recs.first { $0.type == GapRecord.type }
        #expect(gap != nil)
        #expect(gap.map { String(decoding: $0.payload, as: UTF8.self).contains("\"lost_from\":26,\"lost_to\":30") } == true)
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok, "\(rep.problems)")
        #expect(rep.gaps.contains { $0.contains("26") && $0.contains("30") })
    }
}
