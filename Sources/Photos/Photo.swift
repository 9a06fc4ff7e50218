/// Photos of the people in the registry (the notice's 出入证 carries one). Owns turning an
/// untrusted JPEG or PNG into a bounded, metadata-free JPEG; never keeps or serves a file as given.
/// Decoding is libjpeg-turbo and libpng (through `CImageShim`) with every limit checked against
/// the header before pixel memory is allocated.
import CImageShim
import Crypto
import Foundation

public enum Photo {
    /// Why a photo was refused.
    public struct Refused: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Limits for files given to `normalise`.
    public struct Limits: Sendable {
        /// Largest input file.
        public var maxFileBytes = 10 << 20
        /// Largest side and pixel count the header may claim (a 12 MP phone photo passes).
        public var maxSide = 8_192
        public var maxPixels = 40_000_000
        /// Progressive JPEG scans (each one a full pass over the coefficients: a CPU bomb).
        public var maxScans = 64
        /// Largest ancillary PNG chunk libpng may inflate.
        public var maxChunkBytes = 1 << 20
        public init() {}
    }

    /// The size every stored photo fits in (portrait, 3:4 like an ID photo), and its quality.
    public static let maxWidth = 300
    public static let maxHeight = 400
    public static let quality = 85

    /// The stored form of a photo: a baseline JPEG of at most `maxWidth` × `maxHeight`, no metadata.
    public struct Normalised: Sendable, Equatable {
        public var jpeg: [UInt8]
        public var width: Int
        public var height: Int
        public var sha256: String {
            SHA256.hash(data: jpeg).map { String(format: "%02x", $0) }.joined()
        }
    }

    /// Decodes `data` (JPEG or PNG, by its signature, never by its name), checks it against
    /// `limits`, scales it down to fit the stored size, and re-encodes it.
    public static func normalise(_ data: [UInt8], limits: Limits = Limits()) throws -> Normalised {
        guard data.count <= limits.maxFileBytes else {
            throw Refused(description: "file is \(data.count) bytes; at most \(limits.maxFileBytes)")
        }
        guard postern_image_kind(data, data.count) != 0 else { throw Refused(description: "neither a JPEG nor a PNG") }
        var lim = postern_image_limits(
            max_side: Int32(limits.maxSide), max_pixels: limits.maxPixels, max_scans: Int32(limits.maxScans), max_chunk: limits.maxChunkBytes)
        var img = postern_image()
        var err = [CChar](repeating: 0, count: 256)
        guard postern_image_decode(data, data.count, &lim, &img, &err, err.count) == 0 else {
            throw Refused(description: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { postern_image_free(img.rgb) }
        let (w, h) = (Int(img.width), Int(img.height))
        let scale = min(1.0, Double(maxWidth) / Double(w), Double(maxHeight) / Double(h))
        let dw = max(1, Int((Double(w) * scale).rounded()))
        let dh = max(1, Int((Double(h) * scale).rounded()))
        var pixels = img.rgb!
        var scaled: UnsafeMutablePointer<UInt8>?
        if dw != w || dh != h {
            guard let s = postern_image_scale(img.rgb, img.width, img.height, Int32(dw), Int32(dh)) else { throw Refused(description: "out of memory") }
            scaled = s
            pixels = s
        }
        defer { if let s = scaled { postern_image_free(s) } }
        return Normalised(jpeg: try encodeJPEG(pixels, width: dw, height: dh), width: dw, height: dh)
    }

    static func encodeJPEG(_ rgb: UnsafePointer<UInt8>, width: Int, height: Int) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len: UInt = 0
        var err = [CChar](repeating: 0, count: 256)
        guard postern_image_encode_jpeg(rgb, Int32(width), Int32(height), Int32(quality), &out, &len, &err, err.count) == 0, let out else {
            throw Refused(description: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { postern_image_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(len)))
    }

    /// Makes an image file from RGB pixels (width × height × 3 bytes): for tests, the demo and
    /// bench data. `png` false gives a JPEG.
    public static func encode(rgb: [UInt8], width: Int, height: Int, png: Bool) throws -> [UInt8] {
        precondition(rgb.count == width * height * 3)
        if !png { return try rgb.withUnsafeBufferPointer { try encodeJPEG($0.baseAddress!, width: width, height: height) } }
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        var err = [CChar](repeating: 0, count: 256)
        guard postern_image_encode_png(rgb, Int32(width), Int32(height), &out, &len, &err, err.count) == 0, let out else {
            throw Refused(description: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { postern_image_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }

    /// A recognisable placeholder face (the demo's residents have no real photos): a coloured
    /// background and a simple head-and-shoulders silhouette, the hue from `seed`.
    public static func sample(seed: Int, width: Int = 240, height: Int = 320) -> [UInt8] {
        let hues: [(UInt8, UInt8, UInt8)] = [
            (0x6f, 0xa8, 0xdc), (0xe0, 0x9f, 0x5a), (0x7c, 0xc2, 0x8b), (0xc0, 0x84, 0xd0), (0xd8, 0x6a, 0x6a), (0x9a, 0xa5, 0xb1),
        ]
        let bg = hues[abs(seed) % hues.count]
        var px = [UInt8](repeating: 0, count: width * height * 3)
        let cx = Double(width) / 2
        let headY = Double(height) * 0.38
        let r = Double(width) * 0.2
        for y in 0..<height {
            for x in 0..<width {
                let dx = Double(x) - cx
                let dy = Double(y) - headY
                let head = dx * dx + dy * dy < r * r
                let sy = Double(y) - Double(height) * 1.02
                let shoulders = dx * dx / (Double(width) * 0.42 * Double(width) * 0.42) + sy * sy / (Double(height) * 0.4 * Double(height) * 0.4) < 1
                let c: (UInt8, UInt8, UInt8) = head ? (0xf1, 0xd2, 0xb6) : shoulders ? (0x33, 0x3d, 0x4a) : bg
                let i = (y * width + x) * 3
                (px[i], px[i + 1], px[i + 2]) = c
            }
        }
        return px
    }
}
