import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

@Suite("Purge covers the bytes set aside")
struct PurgeEvidenceTests {
    @Test("personal data in a .damaged file is redacted by purge; the gap's evidence still verifies")
    func purgeDamaged() throws {
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir)
        for s in 1...30 { try w.appendBlocking([LogEntry(type: 1, payload: Array("{\"name\":\"张伟\",\"n\":\(s)}".utf8))]) }
        w.close()
        var b = try segmentBytes(dir)
        b[recordOffsets(b)[9] + 75] ^= 0x01  // inside record 10's payload
        try storeSegment(dir, b)
        let r = try LogWriter.open(directory: dir)
        #expect(r.recovery.gaps.count == 1)
        r.close()
        let marker = Array("张伟".utf8)
        func holdsMarker(_ path: String) throws -> Bool {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            return bytes.indices.contains { i in bytes[i...].starts(with: marker) }
        }
        let damaged = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".damaged") }
        #expect(damaged.count == 1)
        #expect(try holdsMarker(dir + "/" + damaged[0]))
        _ = try LogRedaction.redact(directory: dir, where: { $0.type == 1 }, damagedRecordedBefore: Int64.max)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            #expect(try !holdsMarker(dir + "/" + name), "\(name) still holds personal data")
        }
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok, "\(rep.problems)")
    }
}
