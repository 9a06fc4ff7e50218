/// Splits a byte stream into lines ending in CR, LF or CRLF (a serial/CDC QR scanner, an ASCII
/// thermometer). An idle gap ends a line too: the I/O shell calls `flush()` after its timeout.
/// A line longer than `maxLength` is reported and discarded up to its end, never grown without bound.
public struct LineFramer: Sendable {
    public let maxLength: Int
    var current: [UInt8] = []
    var overflow = false
    var lastWasCR = false

    public init(maxLength: Int = 4096) { self.maxLength = maxLength }

    public var hasPartial: Bool { !current.isEmpty || overflow }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [DecoderOutput] {
        var out: [DecoderOutput] = []
        for b in bytes {
            if b == 0x0A && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = b == 0x0D
            if b == 0x0D || b == 0x0A {
                if let o = take() { out.append(o) }
                continue
            }
            if overflow { continue }
            if current.count >= maxLength {
                overflow = true
                current = []
                continue
            }
            current.append(b)
        }
        return out
    }

    /// Ends the current line (idle gap).
    public mutating func flush() -> DecoderOutput? { take() }

    mutating func take() -> DecoderOutput? {
        defer {
            current = []
            overflow = false
        }
        if overflow { return .fault("line longer than \(maxLength) bytes discarded") }
        if current.isEmpty { return nil }
        if current.contains(0) { return .fault("line with NUL byte discarded") }
        guard let s = String(validating: current, as: UTF8.self) else { return .fault("line is not valid UTF-8, discarded") }
        return .line(s)
    }
}
