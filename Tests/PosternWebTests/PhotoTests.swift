import Foundation
import Photos
import Testing

/// Photos are hostile input: every file is decoded with limits and re-encoded; nothing of it is
/// kept as given.
@Suite("Photos: decode with limits, re-encode bounded")
struct PhotoTests {
    static func rgb(_ w: Int, _ h: Int) -> [UInt8] {
        (0..<(w * h)).flatMap { i in [UInt8(i % 251), UInt8((i / w) % 253), 128] }
    }

    @Test("a large JPEG and a large PNG come out as a JPEG of at most 300×400, aspect kept, no metadata", arguments: [false, true])
    func normalises(png: Bool) throws {
        let file = try Photo.encode(rgb: Self.rgb(1200, 900), width: 1200, height: 900, png: png)
        let n = try Photo.normalise(file)
        #expect(n.width == 300 && n.height == 225)
        #expect(n.jpeg.starts(with: [0xFF, 0xD8, 0xFF, 0xE0]))  // JFIF, no APP1 (EXIF)
        #expect(!n.jpeg.contains(0xE1) || !Self.hasMarker(n.jpeg, 0xE1))
        #expect(n.jpeg.count < 60_000)
        // Stable: normalising the result again changes nothing of its size.
        let again = try Photo.normalise(n.jpeg)
        #expect(again.width == n.width && again.height == n.height)
    }

    static func hasMarker(_ b: [UInt8], _ m: UInt8) -> Bool {
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            if b[i + 1] == m { return true }
            if b[i + 1] == 0xDA { return false }
            i += 2 + Int(b[i + 2]) << 8 + Int(b[i + 3])
        }
        return false
    }

    @Test("small photos are not enlarged; a portrait fits the height")
    func bounds() throws {
        let small = try Photo.normalise(try Photo.encode(rgb: Self.rgb(120, 160), width: 120, height: 160, png: true))
        #expect(small.width == 120 && small.height == 160)
        let tall = try Photo.normalise(try Photo.encode(rgb: Self.rgb(600, 1600), width: 600, height: 1600, png: false))
        #expect(tall.height == 400 && tall.width == 150)
    }

    @Test("not an image, empty, truncated, or too big a file is refused with a reason")
    func refusals() throws {
        let png = try Photo.encode(rgb: Self.rgb(64, 64), width: 64, height: 64, png: true)
        let jpeg = try Photo.encode(rgb: Self.rgb(64, 64), width: 64, height: 64, png: false)
        for (bytes, why) in [
            (Array("<svg onload=alert(1)>".utf8), "neither"), ([], "neither"), (Array("GIF89a".utf8), "neither"),
            (Array(png.prefix(png.count / 2)), "PNG"), (Array(jpeg.prefix(40)), "JPEG"),
            (Array(png.prefix(8)) + [UInt8](repeating: 0x41, count: 200), "PNG"),
        ] {
            #expect(throws: Photo.Refused.self) { try Photo.normalise(bytes) }
            do { _ = try Photo.normalise(bytes) } catch { #expect("\(error)".contains(why), "\(error)") }
        }
        var limits = Photo.Limits()
        limits.maxFileBytes = 100
        #expect(throws: Photo.Refused.self) { try Photo.normalise(png, limits: limits) }
    }

    /// A header may claim any size: the decoder must refuse before allocating pixels.
    @Test("a PNG or JPEG header claiming 30000×30000 pixels (a decompression bomb) is refused at the header")
    func bombs() throws {
        var png = try Photo.encode(rgb: Self.rgb(8, 8), width: 8, height: 8, png: true)
        // IHDR data starts at byte 16: width, height (big-endian), then its CRC at 29.
        for (i, b) in [UInt8(0), 0, 0x75, 0x30, 0, 0, 0x75, 0x30].enumerated() { png[16 + i] = b }
        let crc = CRC32.checksum(Array(png[12..<29]))
        for i in 0..<4 { png[29 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
        let t0 = Date()
        do {
            _ = try Photo.normalise(png)
            Issue.record("bomb accepted")
        } catch {
            // libpng's own user limit refuses it while reading IHDR.
            #expect("\(error)".contains("IHDR") || "\(error)".contains("30000"), "\(error)")
        }
        var jpeg = try Photo.encode(rgb: Self.rgb(8, 8), width: 8, height: 8, png: false)
        // SOF0 (FF C0): length(2) precision(1) height(2) width(2).
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        (jpeg[sof + 5], jpeg[sof + 6], jpeg[sof + 7], jpeg[sof + 8]) = (0x75, 0x30, 0x75, 0x30)
        do {
            _ = try Photo.normalise(jpeg)
            Issue.record("bomb accepted")
        } catch {
            #expect("\(error)".contains("30000"), "\(error)")
        }
        #expect(Date().timeIntervalSince(t0) < 1)
    }

    @Test("300 seeded mutations of a PNG and a JPEG never crash the decoder; any accepted one is a bounded JPEG")
    func mutations() throws {
        var g = SplitMix(seed: 14)
        for png in [true, false] {
            let base = try Photo.encode(rgb: Self.rgb(40, 30), width: 40, height: 30, png: png)
            for _ in 0..<300 {
                var b = base
                for _ in 0..<Int.random(in: 1...8, using: &g) { b[Int.random(in: 0..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
                if let n = try? Photo.normalise(b) {
                    #expect(n.width <= Photo.maxWidth && n.height <= Photo.maxHeight)
                    #expect(n.jpeg.starts(with: [0xFF, 0xD8]))
                }
            }
        }
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// CRC-32 (PNG's), to forge chunk headers in tests.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    static func checksum(_ b: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for x in b { c = table[Int((c ^ UInt32(x)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
