import Testing
@testable import DeviceProtocols

func hex(_ s: String) -> [UInt8] { s.split(separator: " ").map { UInt8($0, radix: 16)! } }
func chunks(_ b: [UInt8], _ n: Int) -> [[UInt8]] { stride(from: 0, to: b.count, by: n).map { Array(b[$0..<min(b.count, $0 + n)]) } }
let chunkSizes = [1, 2, 3, 7, 64]

@Suite("GY-MCU90614")
struct GYTests {
    let example = hex("5A 5A 45 04 0C 78 0D 19 A7")

    @Test("decodes the checked example at every chunk size, with noise before, between and inside", arguments: chunkSizes)
    func example(chunk: Int) {
        let stream = [0x00, 0x5A, 0xFF] + example + [0x13, 0x37] + example + hex("5A 5A 45 04 0C 78 0D 19 A8") + example
        var d = GYMCU90614Decoder()
        var temps: [DecoderOutput] = []
        var faults = 0
        for c in chunks(stream, chunk) {
            for o in d.feed(c) {
                if case .fault = o { faults += 1 } else { temps.append(o) }
            }
        }
        #expect(temps == Array(repeating: .temperature(object: 31.92, ambient: 33.53), count: 3))
        #expect(faults >= 2)  // the noise and the bad checksum were reported
    }

    @Test("encoder produces the example and negative values round-trip")
    func encode() {
        #expect(GYMCU90614Decoder.frame(object: 31.92, ambient: 33.53) == example)
        var d = GYMCU90614Decoder()
        #expect(d.feed(GYMCU90614Decoder.frame(object: -5.5, ambient: 20)) == [.temperature(object: -5.5, ambient: 20)])
    }

    @Test("a megabyte of noise never grows the buffer or crashes")
    func noise() {
        var d = GYMCU90614Decoder()
        var g = SystemRandomNumberGenerator()
        for _ in 0..<64 { _ = d.feed((0..<16_384).map { _ in UInt8.random(in: 0...255, using: &g) }) }
        #expect(d.buf.count < 9)
    }
}

@Suite("Modbus RTU")
struct ModbusTests {
    @Test("CRC-16/MODBUS check value and checked vectors")
    func crc() {
        #expect(ModbusRTU.crc16(Array("123456789".utf8)) == 0x4B37)
        for v in ["01 03 00 00 00 01 84 0A", "01 04 00 00 00 02 71 CB", "01 04 04 00 00 6E 8C D6 41", "0A 03 00 00 00 01 85 71", "01 84 02 C2 C1"] {
            let b = hex(v)
            #expect(ModbusRTU.withCRC(Array(b.dropLast(2))) == b)
        }
    }

    @Test("the Calex worked example: request and 36.7/36.8/24.5 °C reply at every chunk size", arguments: chunkSizes)
    func calex(chunk: Int) {
        #expect(ModbusRTU.readRequest(slave: 1, function: 4, address: 0x12, count: 3) == hex("01 04 00 12 00 03 10 0E"))
        var d = ModbusRTU.ResponseDecoder(slave: 1, function: 4, count: 3)
        var got: ModbusRTU.Response?
        for c in chunks(hex("FF 00 01 04 06 01 6F 01 70 00 F5 75 2B"), chunk) {
            let (r, _) = d.feed(c)
            if let r { got = r }
        }
        #expect(got == .registers([0x016F, 0x0170, 0x00F5]))
        var map = ModbusRTU.RegisterMap.calex
        map.ambientRegister = 0x14
        #expect(map.value([0x016F, 0x0170, 0x00F5], at: 0x12) == 36.7)
        #expect(map.value([0x016F, 0x0170, 0x00F5], at: 0x14) == 24.5)
    }

    @Test("exception replies are decoded, a bad CRC is skipped and reported")
    func exceptions() {
        var d = ModbusRTU.ResponseDecoder(slave: 1, function: 4, count: 1)
        let (r, _) = d.feed(hex("01 84 02 C2 C1"))
        #expect(r == .exception(2))
        var e = ModbusRTU.ResponseDecoder(slave: 1, function: 4, count: 3)
        let (bad, faults) = e.feed(hex("01 04 06 01 6F 01 70 00 F5 75 2C"))
        #expect(bad == nil)
        #expect(faults.contains { $0.contains("CRC") })
    }

    @Test("MI3-style float registers")
    func float() {
        let bits = Float(36.5).bitPattern
        #expect(ModbusRTU.RegisterMap.mi3.value([UInt16(bits >> 16), UInt16(bits & 0xFFFF), 0, 0], at: 1080) == 36.5)
    }
}

@Suite("Line framing and ASCII thermometers")
struct LineTests {
    @Test("CR, LF and CRLF each end a line, at every chunk size", arguments: chunkSizes)
    func endings(chunk: Int) {
        var f = LineFramer(maxLength: 64)
        var out: [DecoderOutput] = []
        for c in chunks(Array("P1abc\rP1def\nP1ghi\r\nP1jkl".utf8), chunk) { out += f.feed(c) }
        if let last = f.flush() { out.append(last) }
        #expect(out == [.line("P1abc"), .line("P1def"), .line("P1ghi"), .line("P1jkl")])
    }

    @Test("an overlong line, a NUL and invalid UTF-8 are reported and dropped; the next line is fine")
    func bad() {
        var f = LineFramer(maxLength: 8)
        let out = f.feed(Array("0123456789\r".utf8) + [0x61, 0x00, 0x0D] + [0xFF, 0xFE, 0x0D] + Array("ok\r".utf8))
        #expect(out.count == 4)
        #expect(out.last == .line("ok"))
        for o in out.dropLast() { if case .fault = o {} else { Issue.record("expected a fault, got \(o)") } }
    }

    @Test("a 10 MB line never buffers more than the limit")
    func huge() {
        var f = LineFramer(maxLength: 4096)
        for _ in 0..<160 { _ = f.feed([UInt8](repeating: 0x41, count: 65_536)) }
        #expect(f.current.count <= 4096)
        if case .fault = f.feed([0x0D]).first {} else { Issue.record("overflow must be reported") }
    }

    @Test("ASCII thermometer lines in °C and °F with a pattern", arguments: chunkSizes)
    func ascii(chunk: Int) throws {
        var d = try AsciiLineDecoder(pattern: #"T=(-?\d+\.\d+)"#, unit: .celsius)
        var out: [DecoderOutput] = []
        for c in chunks(Array("T=36.6\r\ngarbage\r\nT=37.4\n".utf8), chunk) { out += d.feed(c) }
        #expect(out.count == 3)
        #expect(out[0] == .temperature(object: 36.6, ambient: nil))
        #expect(out[2] == .temperature(object: 37.4, ambient: nil))
        var f = try AsciiLineDecoder(unit: .fahrenheit)
        guard case .temperature(let c, _) = f.feed(Array("98.6\r".utf8)).first else { Issue.record("no reading"); return }
        #expect(abs(c - 37) < 1e-9)
        #expect(throws: (any Error).self) { try AsciiLineDecoder(pattern: "(unclosed") }
    }

    @Test("implausible and stuck readings are reported")
    func sanity() {
        var s = ReadingSanity(stuckCount: 3, stuckAbove: 30)
        for _ in 0..<10 { #expect(s.check(25.0) == .ok) }  // an empty scene repeats the ambient value
        #expect(s.check(-300) != .ok)
        #expect(s.check(36.5) == .ok)
        #expect(s.check(36.5) == .ok)
        #expect(s.check(36.5) == .ok)
        if case .stuck = s.check(36.5) {} else { Issue.record("stuck value not reported") }
    }
}

@Suite("GA 467 ID card readers")
struct GA467Tests {
    @Test("commands carry the checked checksums")
    func commands() {
        #expect(GA467.find == hex("AA AA AA 96 69 00 03 20 01 22"))
        #expect(GA467.select == hex("AA AA AA 96 69 00 03 20 02 21"))
        #expect(GA467.read == hex("AA AA AA 96 69 00 03 30 01 32"))
        #expect(GA467.command(0x11, 0xFF) == hex("AA AA AA 96 69 00 03 11 FF ED"))
    }

    @Test("no-card and find replies decode; the read reply is 1295 bytes and its text decodes", arguments: chunkSizes)
    func replies(chunk: Int) throws {
        let card = GA467.CardText(name: "张伟", sex: "1", nation: "01", birth: "19800101", address: "内蒙古呼伦贝尔市海拉尔区", idNumber: "15070219800101001X", issuer: "海拉尔公安局", validFrom: "20150101", validTo: "20350101")
        let readReply = GA467.reply(sw3: 0x90, data: GA467.readReplyData(card))
        #expect(readReply.count == 1295)
        #expect(Array(readReply[5..<7]) == [0x05, 0x08])
        let stream = hex("AA AA AA 96 69 00 04 00 00 80 84") + [0x42] + hex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97") + readReply
        var d = GA467.Decoder()
        var frames: [GA467.Frame] = []
        for c in chunks(stream, chunk) { for r in d.feed(c) { if case .success(let f) = r { frames.append(f) } } }
        try #require(frames.map(\.sw3) == [0x80, 0x9F, 0x90])
        #expect(try GA467.parseRead(frames[2].data).get() == card)
    }

    @Test("a bad checksum is reported and the stream resynchronises")
    func badChecksum() {
        var d = GA467.Decoder()
        let out = d.feed(hex("AA AA AA 96 69 00 04 00 00 80 85") + hex("AA AA AA 96 69 00 04 00 00 80 84"))
        #expect(out.contains { if case .failure = $0 { true } else { false } })
        #expect(out.contains { if case .success(let f) = $0 { f.sw3 == 0x80 } else { false } })
    }

    @Test("invalid UCS-2 (a lone surrogate) is rejected, not decoded")
    func badText() {
        var data: [UInt8] = [0x01, 0x00, 0x04, 0x00] + [UInt8](repeating: 0x20, count: 256)
        data[4] = 0x00
        data[5] = 0xD8
        #expect((try? GA467.parseRead(data).get()) == nil)
    }
}

@Suite("Keyboard-wedge key decoding")
struct KeyTests {
    @Test("US map with shift; Enter ends the line; releases and autorepeat ignored")
    func keys() {
        var k = KeyDecoder()
        var out: [DecoderOutput] = []
        func key(_ code: UInt16, _ v: Int32 = 1) { if let o = k.feed(type: 1, code: code, value: v) { out.append(o) } }
        key(42); key(25); key(42, 0); key(2); key(2, 0); key(2, 2); key(42); key(3); key(42, 0); key(30); key(28)
        #expect(out == [.line("P1@a")])
        _ = k.feed(type: 4, code: 4, value: 458_792)  // EV_MSC ignored
        key(16); key(28)
        #expect(out.last == .line("q"))
    }
}

@Suite("HID-POS scanners (hidraw, Honeywell layout)")
struct HidPosTests {
    /// One report as a Honeywell scanner sends it: ID 02, LEN = data + 1, AIM "]Q1", the data from
    /// offset 4 of the body, symbology code 0x73 (QR) at body offset 60, MORE at 62.
    func report(_ data: String, more: Bool = false, len: Int? = nil) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: 64)
        r[0] = 0x02
        r[1] = UInt8(len ?? data.utf8.count + 1)
        r[2] = 0x5D; r[3] = 0x51; r[4] = 0x31  // "]Q1"
        for (i, b) in data.utf8.enumerated() { r[5 + i] = b }
        r[61] = 0x73
        r[63] = more ? 1 : 0
        return r
    }

    @Test("an ID number in one report, written out byte by byte")
    func single() {
        var d = HidPosDecoder()
        let r = report("11010519491231002X")
        #expect(Array(r[0..<8]) == hex("02 13 5D 51 31 31 31 30"))
        #expect(r[61] == 0x73 && r[63] == 0x00 && r.count == 64)
        #expect(d.feed(report: r) == .line("11010519491231002X"))
    }

    @Test("a pass longer than one report continues while MORE is set; the encoder produces what the decoder reads")
    func multi() {
        let pass = "P1" + String(repeating: "AbCd-_09", count: 16)  // 130 characters: three reports
        let reports = HidPosDecoder.reports(for: pass)
        #expect(reports.count == 3)
        #expect(reports.allSatisfy { $0.count == 64 && $0[0] == 0x02 && $0[61] == 0x73 })
        #expect(reports.map { $0[63] } == [1, 1, 0])
        var d = HidPosDecoder()
        #expect(d.feed(report: reports[0]) == nil)
        #expect(d.feed(report: reports[1]) == nil)
        #expect(d.feed(report: reports[2]) == .line(pass))
        #expect(d.feed(report: report("next")) == .line("next"), "the buffer starts afresh")
    }

    @Test("other report IDs are ignored; a length that does not fit, a too-short report, non-UTF-8 and an overlong code are faults, and the next code still reads")
    func hostile() {
        var d = HidPosDecoder(maxLength: 60)
        var other = report("x")
        other[0] = 0x01
        #expect(d.feed(report: other) == nil)
        #expect(d.feed(report: report("abc", len: 200)) == .fault("hid-pos: length byte 200 does not fit the report"))
        #expect(d.feed(report: [0x02, 0x05]) == .fault("hid-pos: report of 2 bytes is too short"))
        var bad = report("ab")
        bad[5] = 0xFF
        #expect(d.feed(report: bad) == .fault("hid-pos: code is not UTF-8"))
        _ = d.feed(report: report(String(repeating: "a", count: 56), more: true))
        #expect(d.feed(report: report(String(repeating: "b", count: 10))) == .fault("hid-pos: code longer than 60 bytes discarded"))
        #expect(d.feed(report: report("ok")) == .line("ok"))
        #expect(d.feed(report: report("", len: 0)) == nil, "an empty report is no code")
    }
}
