import CQRencode
import Foundation
import GateCore

/// Printable 出入证 cards: the QR from libqrencode (a well-kept encoder, not ours), laid out as
/// SVG at ID-1 card size (85.6 × 54 mm) or as an A4 sheet of ten cards; PNG through rsvg-convert.
public struct PassCard: Sendable {
    public var payload: String
    public var name: String
    public var sex: String
    public var address: String
    public var maskedID: String
    public var passID: String
    public var validFrom: String
    public var validTo: String
    public var community: String
    /// The holder's photo as stored by the registry (a normalised JPEG); nil prints a placeholder.
    public var photoJPEG: [UInt8]?

    public init(payload: String, name: String, sex: String, address: String, maskedID: String, passID: String, validFrom: String, validTo: String, community: String, photoJPEG: [UInt8]? = nil) {
        self.photoJPEG = photoJPEG
        self.payload = payload
        self.name = name
        self.sex = sex
        self.address = address
        self.maskedID = maskedID
        self.passID = passID
        self.validFrom = validFrom
        self.validTo = validTo
        self.community = community
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    /// The QR modules (true = dark), error correction M, byte mode.
    public static func qr(_ text: String) throws -> [[Bool]] {
        guard let code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M) else {
            throw Error(description: "libqrencode could not encode \(text.utf8.count) bytes")
        }
        defer { QRcode_free(code) }
        let w = Int(code.pointee.width)
        return (0..<w).map { y in (0..<w).map { x in code.pointee.data[y * w + x] & 1 == 1 } }
    }

    /// Text for SVG: control characters (not allowed in XML 1.0) shown escaped, then XML-escaped.
    static func esc(_ s: String) -> String {
        Printable.escaped(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The card's SVG elements, in millimetres, placed at (x, y).
    func body(x: Double, y: Double) throws -> String {
        let m = try Self.qr(payload)
        let quiet = 4
        let size = 40.0
        let cell = size / Double(m.count + 2 * quiet)
        var dark = ""
        for (r, row) in m.enumerated() {
            for (c, on) in row.enumerated() where on {
                dark += "M\(Double(c + quiet) * cell) \(Double(r + quiet) * cell)h\(cell)v\(cell)h-\(cell)z"
            }
        }
        let qx = x + 85.6 - size - 3, qy = y + 7
        let font = "font-family=\"WenQuanYi Zen Hei, Noto Sans CJK SC, sans-serif\""
        return """
        <g>
        <rect x="\(x)" y="\(y)" width="85.6" height="54" rx="3" fill="#fff" stroke="#b22" stroke-width="0.6"/>
        <rect x="\(x)" y="\(y)" width="85.6" height="7" fill="#b22"/>
        <text x="\(x + 3)" y="\(y + 5.2)" font-size="4.2" fill="#fff" \(font)>出入证 · \(Self.esc(community))</text>
        \(photo(x: x + 3, y: y + 9))
        <text x="\(x + 19)" y="\(y + 12)" font-size="3.6" \(font)>\(Self.esc(name))  \(Self.esc(sex))</text>
        <text x="\(x + 19)" y="\(y + 17)" font-size="2.6" \(font)>住址 \(Self.esc(address))</text>
        <text x="\(x + 3)" y="\(y + 31)" font-size="2.4" \(font)>证件 \(Self.esc(maskedID))</text>
        <text x="\(x + 3)" y="\(y + 35)" font-size="2.4" \(font)>通行证 \(Self.esc(passID))</text>
        <text x="\(x + 3)" y="\(y + 39)" font-size="2.4" \(font)>有效期 \(Self.esc(validFrom)) — \(Self.esc(validTo))</text>
        <text x="\(x + 3)" y="\(y + 50)" font-size="2.2" fill="#555" \(font)>一人一证 · 凭证出入 · 测温通行</text>
        <rect x="\(qx)" y="\(qy)" width="\(size)" height="\(size)" fill="#fff"/>
        <path transform="translate(\(qx) \(qy))" d="\(dark)" fill="#000"/>
        </g>
        """
    }

    /// The photo box (14 × 18 mm): the registry's JPEG embedded as a data URI (only bytes the
    /// registry re-encoded itself reach a card), or the grey placeholder.
    func photo(x: Double, y: Double) -> String {
        guard let jpeg = photoJPEG, jpeg.starts(with: [0xFF, 0xD8, 0xFF]) else {
            return """
            <rect x="\(x)" y="\(y)" width="14" height="18" fill="#eee" stroke="#999" stroke-width="0.2"/>
            <text x="\(x + 2)" y="\(y + 10)" font-size="2.6" fill="#999" font-family="WenQuanYi Zen Hei, sans-serif">照片</text>
            """
        }
        return """
        <image x="\(x)" y="\(y)" width="14" height="18" preserveAspectRatio="xMidYMid slice" href="data:image/jpeg;base64,\(Data(jpeg).base64EncodedString())"/>
        <rect x="\(x)" y="\(y)" width="14" height="18" fill="none" stroke="#999" stroke-width="0.2"/>
        """
    }

    /// One card at card size.
    public func svg() throws -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"85.6mm\" height=\"54mm\" viewBox=\"0 0 85.6 54\">\n\(try body(x: 0, y: 0))\n</svg>\n"
    }

    /// Up to ten cards on an A4 sheet (2 × 5), with cutting margins.
    public static func sheet(_ cards: [PassCard]) throws -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"210mm\" height=\"297mm\" viewBox=\"0 0 210 297\">\n"
        for (i, c) in cards.prefix(10).enumerated() {
            out += try c.body(x: 15 + Double(i % 2) * 95, y: 12 + Double(i / 2) * 57) + "\n"
        }
        return out + "</svg>\n"
    }

    /// Renders SVG to PNG with rsvg-convert (librsvg2-bin) at `dpi`.
    public static func png(svgPath: String, pngPath: String, dpi: Int = 300) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["rsvg-convert", "--dpi-x", "\(dpi)", "--dpi-y", "\(dpi)", "--background-color", "white", "-o", pngPath, svgPath]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Error(description: "rsvg-convert failed (install librsvg2-bin)") }
    }
}
