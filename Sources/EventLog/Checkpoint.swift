import Crypto

/// Signed checkpoints: the kiosk's key signs (sequence, chain hash) of the record before the
/// checkpoint, so an edited, truncated-then-rechained or reordered log is detectable afterwards.
///
/// Version 2 also signs the gap records written since the previous checkpoint (their number and a
/// digest of their sequence numbers and chain hashes). A gap set aside at open breaks the chain
/// for the record after it, so without this a gap record put in place of deleted records before a
/// checkpoint would leave that checkpoint valid. Version 1 checkpoints (older logs) still verify.
public enum Checkpoint {
    public static let type: UInt16 = 0xFFFE

    /// The gap records since the previous checkpoint, as a v2 checkpoint signs them.
    public struct Gaps: Sendable, Equatable {
        public var count: UInt32 = 0
        public var digest = [UInt8](repeating: 0, count: 32)
        public init() {}

        /// digest' = SHA-256(digest ‖ seq ‖ chain) for each gap record, in log order.
        mutating func add(seq: UInt64, chain: [UInt8]) {
            var m = digest
            m.appendLE(seq)
            m.append(contentsOf: chain)
            digest = SHA256Bytes(m)
            count += 1
        }

        /// Folds one record in: a gap adds itself, any checkpoint starts a new interval.
        mutating func fold(type: UInt16, seq: UInt64, chain: [UInt8]) {
            if type == GapRecord.type { add(seq: seq, chain: chain) }
            if type == Checkpoint.type { self = Gaps() }
        }
    }

    public struct Parsed: Sendable {
        public var seq: UInt64
        public var chain: [UInt8]
        public var keyID: String
        public var signature: [UInt8]
        /// Present in version 2.
        public var gaps: Gaps?
    }

    /// The bytes that are signed: "postern-checkpoint" ‖ seq ‖ chain (v1), or
    /// "postern-checkpoint-v2" ‖ seq ‖ chain ‖ gap count u32 ‖ gap digest (v2).
    public static func message(seq: UInt64, chain: [UInt8], gaps: Gaps? = nil) -> [UInt8] {
        var m = Array((gaps == nil ? "postern-checkpoint" : "postern-checkpoint-v2").utf8)
        m.appendLE(seq)
        m.append(contentsOf: chain)
        if let gaps {
            m.appendLE(gaps.count)
            m.append(contentsOf: gaps.digest)
        }
        return m
    }

    /// `seq ‖ chain ‖ key id length u8 ‖ key id ‖ signature[64]`, then for v2 `gap count u32 ‖ gap digest[32]`.
    public static func payload(seq: UInt64, chain: [UInt8], keyID: String, signature: [UInt8], gaps: Gaps? = nil) -> [UInt8] {
        var p: [UInt8] = []
        p.appendLE(seq)
        p.append(contentsOf: chain)
        let k = Array(keyID.utf8.prefix(255))
        p.append(UInt8(k.count))
        p.append(contentsOf: k)
        p.append(contentsOf: signature)
        if let gaps {
            p.appendLE(gaps.count)
            p.append(contentsOf: gaps.digest)
        }
        return p
    }

    public static func parse(_ p: [UInt8]) -> Parsed? {
        guard p.count >= 41 else { return nil }
        let seq = p.withUnsafeBytes { $0.readLE(UInt64.self, at: 0) }
        let chain = Array(p[8..<40])
        let kl = Int(p[40])
        let end = 41 + kl + 64
        guard p.count == end || p.count == end + 36 else { return nil }
        let key = String(decoding: p[41..<(41 + kl)], as: UTF8.self)
        var out = Parsed(seq: seq, chain: chain, keyID: key, signature: Array(p[(41 + kl)..<end]))
        if p.count == end + 36 {
            var g = Gaps()
            g.count = p.withUnsafeBytes { $0.readLE(UInt32.self, at: end) }
            g.digest = Array(p[(end + 4)...])
            out.gaps = g
        }
        return out
    }

    /// Whether the signature holds for what the checkpoint states.
    public static func isValid(_ cp: Parsed, key: Curve25519.Signing.PublicKey) -> Bool {
        key.isValidSignature(cp.signature, for: message(seq: cp.seq, chain: cp.chain, gaps: cp.gaps))
    }

    /// Builds a v1 checkpoint entry for the record whose chain is `chain` (kept for callers that
    /// build their own; the writer's `appendCheckpoint` writes v2).
    public static func entry(seq: UInt64, chain: [UInt8], keyID: String, key: Curve25519.Signing.PrivateKey) throws -> LogEntry {
        try entry(seq: seq, chain: chain, gaps: nil, keyID: keyID, key: key)
    }

    public static func entry(seq: UInt64, chain: [UInt8], gaps: Gaps?, keyID: String, key: Curve25519.Signing.PrivateKey) throws -> LogEntry {
        let sig = try key.signature(for: message(seq: seq, chain: chain, gaps: gaps))
        return LogEntry(type: type, payload: payload(seq: seq, chain: chain, keyID: keyID, signature: Array(sig), gaps: gaps))
    }
}
