/// GA 467 ("SAM") second-generation ID card reader protocol: `AA AA AA 96 69 | LEN(2) | ... | CHK`,
/// LEN counts every byte after itself including CHK, CHK = XOR of LEN..last byte before CHK.
public enum GA467 {
    public static let preamble: [UInt8] = [0xAA, 0xAA, 0xAA, 0x96, 0x69]

    public static func command(_ cmd: UInt8, _ para: UInt8, data: [UInt8] = []) -> [UInt8] {
        let len = UInt16(2 + data.count + 1)
        var body: [UInt8] = [UInt8(len >> 8), UInt8(len & 0xFF), cmd, para] + data
        body.append(body.reduce(0, ^))
        return preamble + body
    }

    public static let find = command(0x20, 0x01)
    public static let select = command(0x20, 0x02)
    public static let read = command(0x30, 0x01)

    /// A reply frame (what the reader sends): `SW1 SW2 SW3 DATA`.
    public static func reply(sw3: UInt8, data: [UInt8] = []) -> [UInt8] {
        let len = UInt16(3 + data.count + 1)
        var body: [UInt8] = [UInt8(len >> 8), UInt8(len & 0xFF), 0x00, 0x00, sw3] + data
        body.append(body.reduce(0, ^))
        return preamble + body
    }

    public struct Frame: Sendable, Equatable {
        public var sw3: UInt8
        public var data: [UInt8]
        public var ok: Bool { sw3 == 0x90 || sw3 == 0x9F }
    }

    public static func statusText(_ sw3: UInt8) -> String {
        switch sw3 {
        case 0x90: "ok"
        case 0x9F: "card found"
        case 0x91: "no content"
        case 0x10: "checksum error"
        case 0x11: "length error"
        case 0x21: "bad command"
        case 0x23: "privilege error"
        case 0x31, 0x32: "authentication failed"
        case 0x33: "verification failed"
        case 0x40: "unknown card"
        case 0x41: "read failed"
        case 0x47: "random number failed"
        case 0x60: "SAM self-test failed"
        case 0x66: "SAM unauthorized"
        case 0x80: "no card"
        case 0x81: "select failed"
        default: String(format: "status 0x%02X", sw3)
        }
    }

    /// Reassembles reply frames from a byte stream; noise and bad checksums are skipped and reported.
    public struct Decoder: Sendable {
        var buf: [UInt8] = []
        public static let maxFrame = 4096
        public init() {}

        public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Result<Frame, DecodeFault>] {
            buf.append(contentsOf: bytes)
            var out: [Result<Frame, DecodeFault>] = []
            var skipped = 0
            while buf.count >= 5 {
                guard Array(buf[0..<5]) == preamble else {
                    buf.removeFirst()
                    skipped += 1
                    continue
                }
                guard buf.count >= 7 else { break }
                let len = Int(buf[5]) << 8 | Int(buf[6])
                guard len >= 4, len <= Self.maxFrame else {
                    out.append(.failure(DecodeFault("ga467: implausible length \(len)")))
                    buf.removeFirst()
                    continue
                }
                guard buf.count >= 7 + len else { break }
                let body = Array(buf[5..<(7 + len - 1)])
                let chk = buf[7 + len - 1]
                guard body.reduce(0, ^) == chk else {
                    out.append(.failure(DecodeFault("ga467: checksum mismatch")))
                    buf.removeFirst()
                    continue
                }
                out.append(.success(Frame(sw3: buf[9], data: Array(buf[10..<(7 + len - 1)]))))
                buf.removeFirst(7 + len)
            }
            if skipped > 0 { out.insert(.failure(DecodeFault("ga467: skipped \(skipped) noise bytes")), at: 0) }
            return out
        }
    }

    public struct DecodeFault: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// The text block of a card (256 bytes UCS-2LE, space padded).
    public struct CardText: Sendable, Equatable, Codable {
        public var name, sex, nation, birth, address, idNumber, issuer, validFrom, validTo: String
        public init(name: String, sex: String, nation: String, birth: String, address: String, idNumber: String, issuer: String, validFrom: String, validTo: String) {
            self.name = name
            self.sex = sex
            self.nation = nation
            self.birth = birth
            self.address = address
            self.idNumber = idNumber
            self.issuer = issuer
            self.validFrom = validFrom
            self.validTo = validTo
        }
    }

    /// Decodes the read reply's data: text length (BE), photo length (BE), text, photo.
    public static func parseRead(_ data: [UInt8]) -> Result<CardText, DecodeFault> {
        guard data.count >= 4 else { return .failure(DecodeFault("ga467: read reply too short")) }
        let textLen = Int(data[0]) << 8 | Int(data[1])
        guard textLen >= 256, data.count >= 4 + textLen else { return .failure(DecodeFault("ga467: text block truncated")) }
        let t = Array(data[4..<(4 + 256)])
        var fields: [String] = []
        var off = 0
        for size in [30, 2, 4, 16, 70, 36, 30, 16, 16] {
            guard let s = ucs2le(Array(t[off..<(off + size)])) else { return .failure(DecodeFault("ga467: invalid UCS-2 text at byte \(off)")) }
            fields.append(s)
            off += size
        }
        return .success(CardText(name: fields[0], sex: fields[1], nation: fields[2], birth: fields[3], address: fields[4], idNumber: fields[5], issuer: fields[6], validFrom: fields[7], validTo: fields[8]))
    }

    /// UCS-2LE to a trimmed string; nil for surrogates (UCS-2 has none) or NULs inside the text.
    static func ucs2le(_ b: [UInt8]) -> String? {
        var scalars = String.UnicodeScalarView()
        for i in stride(from: 0, to: b.count - 1, by: 2) {
            let u = UInt16(b[i]) | UInt16(b[i + 1]) << 8
            guard let s = Unicode.Scalar(u) else { return nil }
            scalars.append(s)
        }
        let str = String(scalars)
        let trimmed = str.trimmingCharacters(in: " \u{0}")
        if trimmed.contains("\u{0}") { return nil }
        return trimmed
    }

    public static func encodeText(_ c: CardText) -> [UInt8] {
        var out: [UInt8] = []
        for (s, size) in zip([c.name, c.sex, c.nation, c.birth, c.address, c.idNumber, c.issuer, c.validFrom, c.validTo], [30, 2, 4, 16, 70, 36, 30, 16, 16]) {
            var f: [UInt8] = []
            for u in s.utf16.prefix(size / 2) { f += [UInt8(u & 0xFF), UInt8(u >> 8)] }
            while f.count < size { f += [0x20, 0x00] }
            out += f
        }
        out += [UInt8](repeating: 0x20, count: 36).enumerated().map { $0.offset % 2 == 0 ? 0x20 : 0x00 }
        return out
    }

    /// The data of a read reply: lengths, text, a 1024-byte (opaque WLT) photo.
    public static func readReplyData(_ c: CardText) -> [UInt8] {
        [0x01, 0x00, 0x04, 0x00] + encodeText(c) + [UInt8](repeating: 0, count: 1024)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

private extension String {
    init(format: String, _ v: UInt8) {
        let h = String(v, radix: 16, uppercase: true)
        self = format.replacingOccurrences(of: "%02X", with: h.count == 1 ? "0" + h : h)
    }
    func replacingOccurrences(of a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return String(self[..<r.lowerBound]) + b + String(self[r.upperBound...])
    }
    func range(of a: String) -> Range<String.Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(a) { return i..<index(i, offsetBy: a.count) }
            i = index(after: i)
        }
        return nil
    }
}
