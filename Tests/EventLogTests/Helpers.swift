import Foundation
@testable import EventLog

func tempDir(_ name: String = "log") -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("postern-test-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d + "/" + name
}

func payload(_ seq: UInt64) -> [UInt8] {
    Array("event \(seq) ".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: seq), count: Int(seq % 97))
}

func readAll(_ dir: String, fs: (any LogFileSystem)? = nil) throws -> [Record] {
    let c = fs.map { LogCursor(directory: dir, from: 1, fileSystem: $0) } ?? LogCursor(directory: dir, from: 1)
    var all: [Record] = []
    while true {
        let batch = try c.next(limit: 10_000)
        if batch.isEmpty { return all }
        all += batch
    }
}

func segmentPath(_ dir: String) -> String { dir + "/" + Segment.fileName(firstSeq: 1) }

func writeLog(_ dir: String, count: UInt64, options: LogWriter.Options = .init()) throws {
    let w = try LogWriter.open(directory: dir, options: options)
    for s in 1...count { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
    w.close()
}

/// Rewrites one record in place with a fresh CRC (what an editor who knows the format would do).
func rewriteRecord(_ bytes: inout [UInt8], at offset: Int, _ change: (inout Record) -> Void) -> Int {
    guard case .record(var r, let size) = bytes.withUnsafeBytes({ RecordCodec.decode($0, at: offset) }) else { fatalError("no record at \(offset)") }
    change(&r)
    var enc: [UInt8] = []
    RecordCodec.encode(r, into: &enc)
    bytes.replaceSubrange(offset..<offset + size, with: enc)
    return enc.count
}

func recordOffsets(_ bytes: [UInt8]) -> [Int] {
    bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: 1).entries.map(\.offset) }
}
