/// Pure decoders for infrared thermometers: bytes in, readings or faults out. No file descriptors.

/// What a decoder yields: a temperature, or a fault it resynchronised past.
public enum DecoderOutput: Sendable, Equatable {
    case temperature(object: Double, ambient: Double?)
    case line(String)
    case fault(String)
}

/// GY-MCU90614 UART module: 9-byte frames `5A 5A 45 04 TOh TOl TAh TAl SUM`, signed big-endian
/// 0.01 °C, SUM = low byte of the sum of bytes 0–7.
public struct GYMCU90614Decoder: Sendable {
    public static let continuousCommand: [UInt8] = [0xA5, 0x45, 0xEA]
    public static let queryCommand: [UInt8] = [0xA5, 0x15, 0xBA]
    public static let frameSize = 9
    var buf: [UInt8] = []

    public init() {}

    public static func frame(object: Double, ambient: Double) -> [UInt8] {
        let to = UInt16(bitPattern: Int16((object * 100).rounded()))
        let ta = UInt16(bitPattern: Int16((ambient * 100).rounded()))
        var f: [UInt8] = [0x5A, 0x5A, 0x45, 0x04, UInt8(to >> 8), UInt8(to & 0xFF), UInt8(ta >> 8), UInt8(ta & 0xFF)]
        f.append(UInt8(truncatingIfNeeded: f.reduce(0) { $0 + Int($1) }))
        return f
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [DecoderOutput] {
        buf.append(contentsOf: bytes)
        var out: [DecoderOutput] = []
        var i = 0
        var skipped = 0
        while buf.count - i >= 2 {
            guard buf[i] == 0x5A, buf[i + 1] == 0x5A else {
                i += 1
                skipped += 1
                continue
            }
            guard buf.count - i >= Self.frameSize else { break }
            let f = buf[i..<(i + Self.frameSize)]
            let sum = UInt8(truncatingIfNeeded: f.prefix(8).reduce(0) { $0 + Int($1) })
            guard f[i + 2] == 0x45, f[i + 3] == 0x04, sum == f[i + 8] else {
                out.append(.fault(f[i + 2] == 0x45 && f[i + 3] == 0x04 ? "gy-mcu90614: checksum mismatch" : "gy-mcu90614: bad frame type"))
                i += 1
                continue
            }
            if skipped > 0 {
                out.append(.fault("gy-mcu90614: skipped \(skipped) noise bytes"))
                skipped = 0
            }
            let to = Int16(bitPattern: UInt16(f[i + 4]) << 8 | UInt16(f[i + 5]))
            let ta = Int16(bitPattern: UInt16(f[i + 6]) << 8 | UInt16(f[i + 7]))
            out.append(.temperature(object: Double(to) / 100, ambient: Double(ta) / 100))
            i += Self.frameSize
        }
        if skipped > 0 { out.append(.fault("gy-mcu90614: skipped \(skipped) noise bytes")) }
        buf.removeFirst(i)
        return out
    }
}

/// Thermometers that print a line with a number: CR/LF/CRLF terminated, a configurable pattern
/// whose first capture group (or whole match) is the value, in °C or °F.
public struct AsciiLineDecoder: Sendable {
    public enum Unit: String, Sendable, Codable, CaseIterable { case celsius = "C", fahrenheit = "F" }
    var lines: LineFramer
    let pattern: String
    let unit: Unit

    public init(pattern: String = #"(-?\d+(?:\.\d+)?)"#, unit: Unit = .celsius, maxLength: Int = 256) throws {
        _ = try Regex(pattern)
        self.pattern = pattern
        self.unit = unit
        self.lines = LineFramer(maxLength: maxLength)
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [DecoderOutput] {
        lines.feed(bytes).map { item in
            switch item {
            case .fault(let f): return .fault("ascii-line: \(f)")
            case .line(let s):
                guard let value = Self.value(in: s, pattern: pattern) else { return .fault("ascii-line: no number in \"\(s.prefix(40))\"") }
                return .temperature(object: unit == .celsius ? value : (value - 32) * 5 / 9, ambient: nil)
            default: return item
            }
        }
    }

    static func value(in s: String, pattern: String) -> Double? {
        guard let re = try? Regex(pattern), let m = try? re.firstMatch(in: s) else { return nil }
        let text = m.output.count > 1 ? m.output[1].substring.map(String.init) : String(s[m.range])
        return text.flatMap { Double($0) }
    }
}

/// Rejects values outside what the sensor can physically report (a decoding or wiring fault) and
/// person-level values stuck at one number (a dead sensor repeats its last frame): such readings are
/// reported, not passed on as normal. Whether a value is plausible for a person is the policy's
/// business (rule 2), not the driver's. An empty scene repeating the ambient value is normal.
public struct ReadingSanity: Sendable {
    public var minimum: Double
    public var maximum: Double
    public var stuckCount: Int
    /// Only values at or above this are checked for being stuck.
    public var stuckAbove: Double
    var last: Double?
    var repeats = 0

    public init(minimum: Double = -40, maximum: Double = 125, stuckCount: Int = 200, stuckAbove: Double = 30) {
        self.stuckAbove = stuckAbove
        self.minimum = minimum
        self.maximum = maximum
        self.stuckCount = stuckCount
    }

    public enum Verdict: Sendable, Equatable { case ok, implausible(String), stuck(String) }

    public mutating func check(_ v: Double) -> Verdict {
        if v == last { repeats += 1 } else { repeats = 0 }
        last = v
        if v.isNaN || v < minimum || v > maximum { return .implausible("\(v) °C outside \(minimum)…\(maximum)") }
        if v >= stuckAbove && repeats >= stuckCount {
            // Report once per stuck run, then again every `stuckCount` frames.
            return repeats % stuckCount == 0 ? .stuck("\(v) °C repeated \(repeats + 1) times") : .ok
        }
        return .ok
    }
}
