import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

@Suite("Other processes see only durable records")
struct DurableEndTests {
    @Test("power cut between a batch's write and its fdatasync with a follower attached: the follower never shows the record that was lost")
    func powerCutWithFollower() throws {
        var lostOnce = false
        for seed in UInt64(1)...40 {
            let fs = CrashFileSystem()
            let dir = "/data/log"
            var o = LogWriter.Options()
            o.fileSystem = fs
            o.preallocateBytes = 0
            let w = try LogWriter.open(directory: dir, options: o)
            for s in UInt64(1)...3 { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
            let follower = LogCursor(directory: dir, from: 1, fileSystem: fs)
            var shown = try follower.next()
            #expect(shown.map(\.seq) == [1, 2, 3])
            fs.powerFails(afterOps: 1)  // the write lands in the page cache; its fdatasync never happens
            #expect(throws: LogError.self) { try w.appendBlocking([LogEntry(type: 1, payload: Array("admit r9".utf8))]) }
            shown += try follower.next()  // polling while the record sits written but not durable
            #expect(shown.count == 3, "seed \(seed): the follower showed a record that was never durable")
            w.close()
            var rng = SplitMix64(seed: seed)
            fs.crash(using: &rng)
            let again = try LogWriter.open(directory: dir, options: o)
            if again.recovery.lastSeq == 3 { lostOnce = true }
            try again.appendBlocking([LogEntry(type: 1, payload: Array("deny r7".utf8))])
            shown += try follower.next()
            again.close()
            let log = try readAll(dir, fs: fs)
            #expect(shown.map(\.seq) == log.map(\.seq), "seed \(seed)")
            #expect(shown.map(\.payload) == log.map(\.payload), "seed \(seed): the follower showed an event the log does not hold")
        }
        #expect(lostOnce)
    }
}
