import Crypto

/// Bytes recovery set aside (`<segment>.damaged`, `.damaged.N`: a full copy of the segment as it
/// was found) and the commitment a gap record makes to them. A purge may rewrite such a file in a
/// redacted form that keeps the original commitment: `PSTRNRDX | original length u64 | original
/// SHA-256[32] | the copy, with personal payloads replaced by their hash and undated or old
/// damaged bytes zeroed`.
enum Evidence {
    static let redactedMagic = Array("PSTRNRDX".utf8)
    static let redactedHeader = 48

    struct Kept: Equatable {
        var name: String
        var bytes: Int
        var sha256: [UInt8]
        var hex: String { sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
    }

    static func kept(name: String, original: [UInt8]) -> Kept {
        Kept(name: name, bytes: original.count, sha256: SHA256Bytes(original))
    }

    static func isEvidenceName(_ n: String) -> Bool {
        !n.hasSuffix(".rewrite") && (n.hasSuffix(".damaged") || n.range(of: ".damaged.") != nil)
    }

    /// The original length and hash a file stands for: its own, or those a redacted form keeps.
    static func commitment(of file: [UInt8]) -> (bytes: Int, sha256: [UInt8], redacted: Bool) {
        if file.count >= redactedHeader, Array(file[0..<8]) == redactedMagic {
            let n = file.withUnsafeBytes { $0.readLE(UInt64.self, at: 8) }
            return (Int(clamping: n), Array(file[16..<48]), true)
        }
        return (file.count, SHA256Bytes(file), false)
    }

    /// The segment copy inside a file (after the redacted header, if any).
    static func body(of file: [UInt8]) -> ArraySlice<UInt8> {
        commitment(of: file).redacted ? file[redactedHeader...] : file[...]
    }

    static func redactedForm(original: (bytes: Int, sha256: [UInt8]), body: [UInt8]) -> [UInt8] {
        var out = redactedMagic
        out.appendLE(UInt64(original.bytes))
        out.append(contentsOf: original.sha256)
        return out + body
    }

    enum Check: Equatable {
        case matches
        case matchesRedacted
        case missing
        case different(String)
    }

    /// Checks the file a gap record names against its commitment.
    static func check(_ g: GapRecord.Info, fs: any LogFileSystem, directory: String) -> Check {
        guard let name = g.keptAt else { return .matches }
        guard !name.contains("/"), let f = try? fs.open(directory + "/" + name, create: false) else { return .missing }
        defer { f.close() }
        guard let size = try? f.size(), let bytes = try? f.read(at: 0, count: size) else { return .missing }
        guard let want = g.keptBytes, let hash = g.keptSHA256 else { return .matches }
        let c = commitment(of: bytes)
        let hex = c.sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        if c.bytes != want { return .different("\(c.bytes) bytes where the gap record says \(want)") }
        if hex != hash.lowercased() { return .different("SHA-256 differs from the gap record's") }
        return c.redacted ? .matchesRedacted : .matches
    }
}
