/// HID-POS barcode scanners (HID usage page 0x8C, usage 2) read through `/dev/hidraw*`, in the
/// Honeywell report layout: report ID 0x02, then `LEN | AIM(3) | DATA… | … | CODE@60 | … | MORE@62`,
/// 63 bytes after the ID. A report carries LEN − 1 data bytes from offset 4 (as the Honeywell
/// Voyager 1400g sends them, per WebHidBarcodeScanner); MORE ≠ 0 means the code continues in the
/// next report. hidraw delivers one whole report per read, so the decoder takes reports, not a
/// byte stream.
public struct HidPosDecoder: Sendable {
    public static let reportID: UInt8 = 0x02
    /// Bytes after the report ID.
    public static let bodySize = 63
    /// Data bytes one report can carry (offsets 4…59; the symbology code sits at 60).
    public static let maxChunk = 56
    public let maxLength: Int
    var buffer: [UInt8] = []
    var overflow = false

    public init(maxLength: Int = 4096) { self.maxLength = maxLength }

    /// Feeds one report as read from hidraw (report ID first). Other report IDs are ignored.
    public mutating func feed(report: [UInt8]) -> DecoderOutput? {
        guard let id = report.first, id == Self.reportID else { return nil }
        let body = report.dropFirst()
        guard body.count >= 5 else {
            buffer = []
            return .fault("hid-pos: report of \(report.count) bytes is too short")
        }
        let len = Int(body[body.startIndex])
        let count = max(0, len - 1)
        guard count <= Self.maxChunk, 4 + count <= body.count else {
            buffer = []
            overflow = false
            return .fault("hid-pos: length byte \(len) does not fit the report")
        }
        let start = body.startIndex + 4
        if buffer.count + count > maxLength { overflow = true } else { buffer += body[start..<(start + count)] }
        let more = body.count > 62 && body[body.startIndex + 62] != 0
        if more { return nil }
        defer {
            buffer = []
            overflow = false
        }
        if overflow { return .fault("hid-pos: code longer than \(maxLength) bytes discarded") }
        if buffer.isEmpty { return nil }
        guard let text = String(validating: buffer, as: UTF8.self) else { return .fault("hid-pos: code is not UTF-8") }
        return .line(text)
    }

    /// The reports a scanner sends for `text` (for tests and the simulator): 64 bytes each,
    /// report ID included, `aim` and the QR symbology code (0x73) in every one.
    public static func reports(for text: String, aim: String = "]Q1", codeID: UInt8 = 0x73) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        var chunks = stride(from: 0, to: bytes.count, by: maxChunk).map { Array(bytes[$0..<min(bytes.count, $0 + maxChunk)]) }
        if chunks.isEmpty { chunks = [[]] }
        return chunks.enumerated().map { i, chunk in
            var r = [UInt8](repeating: 0, count: 1 + bodySize)
            r[0] = reportID
            r[1] = UInt8(chunk.count + 1)
            for (j, a) in aim.utf8.prefix(3).enumerated() { r[2 + j] = a }
            for (j, b) in chunk.enumerated() { r[5 + j] = b }
            r[1 + 60] = codeID
            r[1 + 62] = i < chunks.count - 1 ? 1 : 0
            return r
        }
    }
}
