import Crypto

/// The pass (出入证) QR payload: compact, offline-verifiable, Ed25519-signed.
///
/// Text form: `P1` + base64url(body ‖ signature). Body: version u8 | pass id u64 | kind u8 |
/// issued u32 | expires u32 | person, household, key id (each u8 length + UTF-8). The signature
/// (64 bytes) covers the body. A kiosk holds only public keys.
public struct Pass: Sendable, Equatable, Codable {
    public var id: UInt64
    public var kind: PersonKind
    public var person: String
    public var household: String
    public var issued: Timestamp
    public var expires: Timestamp
    public var keyID: String

    public init(id: UInt64, kind: PersonKind, person: String, household: String, issued: Timestamp, expires: Timestamp, keyID: String) {
        self.id = id
        self.kind = kind
        self.person = person
        self.household = household
        self.issued = issued
        self.expires = expires
        self.keyID = keyID
    }

    public var idString: String {
        let h = String(id, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }
}

/// A public key a kiosk trusts, with its validity window (rotation keeps the old key valid until
/// its passes are reissued; retiring sets `notAfter`).
public struct TrustedKey: Sendable, Equatable, Codable {
    public var id: String
    public var publicKey: [UInt8]
    public var notBefore: Timestamp
    public var notAfter: Timestamp?
    public init(id: String, publicKey: [UInt8], notBefore: Timestamp = 0, notAfter: Timestamp? = nil) {
        self.id = id
        self.publicKey = publicKey
        self.notBefore = notBefore
        self.notAfter = notAfter
    }
}

public enum PassCodec {
    static let prefix = "P1"
    static let kinds: [PersonKind] = [.resident, .visitor, .courier, .staff]

    public static func body(_ p: Pass) -> [UInt8] {
        var b: [UInt8] = [1]
        for i in (0..<8).reversed() { b.append(UInt8(truncatingIfNeeded: p.id >> (UInt64(i) * 8))) }
        b.append(UInt8(kinds.firstIndex(of: p.kind)!))
        for v in [p.issued, p.expires] {
            let u = UInt32(clamping: max(0, v))
            for i in (0..<4).reversed() { b.append(UInt8(truncatingIfNeeded: u >> (UInt32(i) * 8))) }
        }
        for s in [p.person, p.household, p.keyID] {
            let u = Array(s.utf8.prefix(255))
            b.append(UInt8(u.count))
            b += u
        }
        return b
    }

    /// Signs a pass with the admin's private key and returns the QR text.
    public static func encode(_ p: Pass, signingKey: Curve25519.Signing.PrivateKey) throws -> String {
        let b = body(p)
        let sig = try signingKey.signature(for: b)
        return prefix + Base64URL.encode(b + Array(sig))
    }

    public enum Failure: String, Error, Sendable {
        case malformed = "malformed_credential"
        case unknownKey = "unknown_key"
        case badSignature = "bad_signature"
        case expired = "expired_pass"
        case notYetValid = "not_yet_valid"
    }

    /// Parses without checking the signature (for explaining what a payload claims).
    public static func parse(_ text: String) -> (pass: Pass, body: [UInt8], signature: [UInt8])? {
        guard text.hasPrefix(prefix), text.utf8.count < 1024, let raw = Base64URL.decode(String(text.dropFirst(prefix.count))) else { return nil }
        guard raw.count > 64 + 19 else { return nil }
        let body = Array(raw.dropLast(64))
        let sig = Array(raw.suffix(64))
        guard body[0] == 1 else { return nil }
        var id: UInt64 = 0
        for i in 1...8 { id = id << 8 | UInt64(body[i]) }
        guard Int(body[9]) < kinds.count else { return nil }
        func u32(_ at: Int) -> Timestamp { Timestamp(body[at]) << 24 | Timestamp(body[at + 1]) << 16 | Timestamp(body[at + 2]) << 8 | Timestamp(body[at + 3]) }
        var off = 18
        var strings: [String] = []
        for _ in 0..<3 {
            guard off < body.count else { return nil }
            let n = Int(body[off])
            guard off + 1 + n <= body.count, let s = String(validating: body[(off + 1)..<(off + 1 + n)], as: UTF8.self) else { return nil }
            strings.append(s)
            off += 1 + n
        }
        guard off == body.count else { return nil }
        let p = Pass(id: id, kind: kinds[Int(body[9])], person: strings[0], household: strings[1], issued: u32(10), expires: u32(14), keyID: strings[2])
        return (p, body, sig)
    }

    /// Verifies the signature against the trusted keys and the validity window at `now`.
    public static func verify(_ text: String, keys: [TrustedKey], now: Timestamp) -> Result<Pass, Failure> {
        guard let (p, body, sig) = parse(text) else { return .failure(.malformed) }
        guard let k = keys.first(where: { $0.id == p.keyID }), let pub = try? Curve25519.Signing.PublicKey(rawRepresentation: k.publicKey) else {
            return .failure(.unknownKey)
        }
        guard pub.isValidSignature(sig, for: body) else { return .failure(.badSignature) }
        // A retired key stops working; a pass signed before the key's window began was forged.
        if let na = k.notAfter, now > na { return .failure(.unknownKey) }
        if p.issued < k.notBefore { return .failure(.badSignature) }
        if now >= p.expires { return .failure(.expired) }
        if now < p.issued - 300 { return .failure(.notYetValid) }
        return .success(p)
    }
}

/// RFC 4648 §5 base64url without padding.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let reverse: [Int8] = {
        var r = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { r[Int(c)] = Int8(i) }
        return r
    }()

    public static func encode(_ b: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((b.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= b.count {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], alphabet[Int(v & 63)]]
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let v = UInt32(b[i]) << 16
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)]]
        } else if rest == 2 {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for c in s.utf8 {
            let v = reverse[Int(c)]
            guard v >= 0 else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        guard bits < 6, acc & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
