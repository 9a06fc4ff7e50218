import Crypto
import Foundation
import GateTestSupport
import Testing
@testable import EventLog

// Helpers for the log-integrity suites (issue 11, items 6–10): reading and writing segment files
// directly, as an editor of the files would.

func segmentBytes(_ dir: String, _ name: String? = nil) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + (name ?? Segment.fileName(firstSeq: 1)))))
}

func storeSegment(_ dir: String, _ bytes: [UInt8], _ name: String? = nil) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + (name ?? Segment.fileName(firstSeq: 1))))
}

func decodeRecord(_ bytes: [UInt8], at offset: Int) -> Record {
    guard case .record(let r, _) = bytes.withUnsafeBytes({ RecordCodec.decode($0, at: offset) }) else { fatalError("no record at \(offset)") }
    return r
}

/// What an editor who knows the format does to hide records `from...to`: one gap record in their
/// place, chained to the record before, the records after left as they are.
func forgeGap(_ bytes: inout [UInt8], from: UInt64, to: UInt64, payload: [UInt8]) {
    let offs = recordOffsets(bytes)
    let before = decodeRecord(bytes, at: offs[Int(from) - 2])
    let chain = RecordCodec.chainHash(previous: before.chain, type: GapRecord.type, seq: to, wallNs: 0, monoNs: 0, payloadHash: SHA256Bytes(payload))
    var gap: [UInt8] = []
    RecordCodec.encode(Record(type: GapRecord.type, flags: [], seq: to, wallNs: 0, monoNs: 0, chain: chain, payload: payload), into: &gap)
    bytes.replaceSubrange(offs[Int(from) - 1]..<offs[Int(to)], with: gap)
}

func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

func checkpoint(_ w: LogWriter, _ key: Curve25519.Signing.PrivateKey) async throws {
    try await w.appendCheckpoint(keyID: "k", key: key)
}

