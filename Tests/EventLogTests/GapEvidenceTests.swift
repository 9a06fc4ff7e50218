import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

@Suite("Gap records commit to their evidence")
struct GapEvidenceTests {
    @Test("a gap record forged over deleted records, its evidence file missing, is reported")
    func forgedWithoutEvidence() throws {
        let dir = tempDir()
        try writeLog(dir, count: 20)
        var b = try segmentBytes(dir)
        let fake = Array(repeating: UInt8(7), count: 100)
        forgeGap(&b, from: 5, to: 8, payload: Array("{\"lost_from\":5,\"lost_to\":8,\"kept_at\":\"00000000000000000001.seg.damaged\",\"kept_bytes\":100,\"kept_sha256\":\"\(hex(SHA256Bytes(fake)))\"}".utf8))
        try storeSegment(dir, b)
        let rep = try LogVerifier(directory: dir).run()
        #expect(!rep.ok)
        #expect(rep.problems.contains { $0.seq == 8 && $0.message.contains("evidence") }, "\(rep.problems)")
    }

    @Test("a gap record forged with made-up evidence before a signed checkpoint is caught by the checkpoint")
    func forgedBeforeCheckpoint() async throws {
        let dir = tempDir()
        let key = Curve25519.Signing.PrivateKey()
        try writeLog(dir, count: 20)
        let w = try LogWriter.open(directory: dir)
        try await checkpoint(w, key)
        for s in UInt64(22)...25 { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
        w.close()
        var b = try segmentBytes(dir)
        // The editor keeps "evidence" too: bytes of their choosing, with a matching commitment.
        let fake = Array(b[..<200])
        try Data(fake).write(to: URL(fileURLWithPath: dir + "/00000000000000000001.seg.damaged"))
        forgeGap(&b, from: 5, to: 8, payload: Array("{\"lost_from\":5,\"lost_to\":8,\"kept_at\":\"00000000000000000001.seg.damaged\",\"kept_bytes\":200,\"kept_sha256\":\"\(hex(SHA256Bytes(fake)))\"}".utf8))
        try storeSegment(dir, b)
        let rep = try LogVerifier(directory: dir, keys: { $0 == "k" ? key.publicKey : nil }).run()
        #expect(!rep.ok)
        #expect(rep.problems.contains { $0.seq == 21 && $0.message.contains("gap") }, "\(rep.problems)")
    }

    @Test("a real gap verifies with its evidence; evidence changed or removed afterwards is reported")
    func evidenceChecked() throws {
        let dir = tempDir()
        try writeLog(dir, count: 30)
        var b = try segmentBytes(dir)
        b[recordOffsets(b)[9] + 70] ^= 0x10  // a payload byte of record 10
        try storeSegment(dir, b)
        let w = try LogWriter.open(directory: dir)
        #expect(w.recovery.gaps.count == 1)
        w.close()
        let ok = try LogVerifier(directory: dir).run()
        #expect(ok.ok, "\(ok.problems)")
        let evidence = dir + "/" + Segment.fileName(firstSeq: 1) + ".damaged"
        var kept = [UInt8](try Data(contentsOf: URL(fileURLWithPath: evidence)))
        kept[40] ^= 1
        try Data(kept).write(to: URL(fileURLWithPath: evidence))
        let changed = try LogVerifier(directory: dir).run()
        #expect(changed.problems.contains { $0.seq == 10 && $0.message.contains("evidence") }, "\(changed.problems)")
        try FileManager.default.removeItem(atPath: evidence)
        let missing = try LogVerifier(directory: dir).run()
        #expect(missing.problems.contains { $0.seq == 10 && $0.message.contains("evidence") }, "\(missing.problems)")
    }

    @Test("a gap record in the old format (no commitment) verifies with a warning, but not after a version 2 checkpoint")
    func oldFormat() async throws {
        let dir = tempDir()
        try writeLog(dir, count: 20)
        var b = try segmentBytes(dir)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/00000000000000000001.seg.damaged"))
        forgeGap(&b, from: 5, to: 8, payload: Array("{\"lost_from\":5,\"lost_to\":8,\"kept_at\":\"00000000000000000001.seg.damaged\"}".utf8))
        try storeSegment(dir, b)
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok, "\(rep.problems)")
        #expect(rep.warnings.contains { $0.contains("unverifiable gap (old format)") })

        // The same forgery in a log this version wrote (a v2 checkpoint before it) is a problem.
        let key = Curve25519.Signing.PrivateKey()
        let dir2 = tempDir()
        let w = try LogWriter.open(directory: dir2)
        for s in UInt64(1)...3 { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
        try await checkpoint(w, key)
        for s in UInt64(5)...20 { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
        w.close()
        var b2 = try segmentBytes(dir2)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir2 + "/00000000000000000001.seg.damaged"))
        forgeGap(&b2, from: 5, to: 8, payload: Array("{\"lost_from\":5,\"lost_to\":8,\"kept_at\":\"00000000000000000001.seg.damaged\"}".utf8))
        try storeSegment(dir2, b2)
        let rep2 = try LogVerifier(directory: dir2, keys: { $0 == "k" ? key.publicKey : nil }).run()
        #expect(rep2.problems.contains { $0.seq == 8 && $0.message.contains("evidence commitment") }, "\(rep2.problems)")
    }
}
