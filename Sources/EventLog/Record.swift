import Crypto

/// One record of the log as the reader sees it.
///
/// Layout on disk (little-endian), 68-byte header then payload:
/// `len u32 | crc u32 | type u16 | flags u16 | seq u64 | wallNs i64 | monoNs u64 | chain[32] | payload`.
/// The CRC32C covers everything after itself. `chain` = SHA-256(previous chain ‖ type ‖ seq ‖ wall ‖
/// mono ‖ SHA-256(payload)), so a payload can be redacted (replaced by its own hash, flag bit 0)
/// without breaking the chain.
public struct Record: Sendable, Equatable {
    public var type: UInt16
    public var flags: RecordFlags
    public var seq: UInt64
    public var wallNs: Int64
    public var monoNs: UInt64
    public var chain: [UInt8]
    public var payload: [UInt8]

    public static let headerSize = 68
    /// Largest payload accepted; anything claiming more is damage, not data.
    public static let maxPayload = 1 << 20

    /// SHA-256 of the original payload (for a redacted record, stored in place of the payload).
    public var payloadHash: [UInt8] {
        flags.contains(.redacted) ? payload : Array(SHA256.hash(data: payload))
    }

    public var encodedSize: Int { Record.headerSize + payload.count }
}

public struct RecordFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Payload replaced by its SHA-256 (privacy purge); the chain still verifies.
    public static let redacted = RecordFlags(rawValue: 1)
    /// Wall clock was not synchronised when the record was written.
    public static let clockUnsynced = RecordFlags(rawValue: 2)
    /// First record of a group-commit batch. At most one batch is ever unsynced, so damage with a
    /// valid batch start after it hit synced data (corruption); otherwise it is a torn last batch.
    public static let batchStart = RecordFlags(rawValue: 4)
}

enum RecordCodec {
    static func chainHash(previous: [UInt8], type: UInt16, seq: UInt64, wallNs: Int64, monoNs: UInt64, payloadHash: [UInt8]) -> [UInt8] {
        var h = SHA256()
        var buf = previous
        buf.appendLE(type)
        buf.appendLE(seq)
        buf.appendLE(wallNs)
        buf.appendLE(monoNs)
        buf.append(contentsOf: payloadHash)
        h.update(data: buf)
        return Array(h.finalize())
    }

    /// Appends the encoded record to `out`.
    static func encode(_ r: Record, into out: inout [UInt8]) {
        let start = out.count
        out.appendLE(UInt32(r.payload.count))
        out.appendLE(UInt32(0))
        out.appendLE(r.type)
        out.appendLE(r.flags.rawValue)
        out.appendLE(r.seq)
        out.appendLE(r.wallNs)
        out.appendLE(r.monoNs)
        out.append(contentsOf: r.chain)
        out.append(contentsOf: r.payload)
        let crc = out.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[(start + 8)...])) }
        Swift.withUnsafeBytes(of: crc.littleEndian) { b in
            for i in 0..<4 { out[start + 4 + i] = b[i] }
        }
    }

    enum Decoded {
        case record(Record, size: Int)
        /// Not enough bytes for the record the header announces (maybe still being written).
        case incomplete
        /// The bytes here are not a valid record.
        case invalid(String)
    }

    static func decode(_ buf: UnsafeRawBufferPointer, at offset: Int) -> Decoded {
        switch check(buf, at: offset) {
        case .incomplete: return .incomplete
        case .invalid(let why): return .invalid(why)
        case .valid(let seq, let type, let flags, let total):
            let r = Record(
                type: type, flags: flags, seq: seq,
                wallNs: buf.readLE(Int64.self, at: offset + 20),
                monoNs: buf.readLE(UInt64.self, at: offset + 28),
                chain: Array(buf[(offset + 36)..<(offset + 68)]),
                payload: Array(buf[(offset + 68)..<(offset + total)])
            )
            return .record(r, size: total)
        }
    }

    /// Checks framing and CRC without building a `Record` (recovery's hot loop).
    /// Returns (seq, type, flags, size), `nil` size for incomplete, or an invalid reason.
    enum Checked {
        case valid(seq: UInt64, type: UInt16, flags: RecordFlags, size: Int)
        case incomplete
        case invalid(String)
    }

    static func check(_ buf: UnsafeRawBufferPointer, at offset: Int) -> Checked {
        let avail = buf.count - offset
        if avail < Record.headerSize { return avail == 0 ? .incomplete : (allZero(buf, offset) ? .invalid("zero-filled") : .incomplete) }
        let len = Int(buf.readLE(UInt32.self, at: offset))
        if len > Record.maxPayload { return .invalid("length \(len) exceeds maximum") }
        if len == 0 && buf.readLE(UInt32.self, at: offset + 4) == 0 && buf.readLE(UInt64.self, at: offset + 12) == 0 {
            return .invalid("zero-filled")
        }
        let total = Record.headerSize + len
        if avail < total { return .incomplete }
        let crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buf[(offset + 8)..<(offset + total)]))
        if crc != buf.readLE(UInt32.self, at: offset + 4) { return .invalid("checksum mismatch") }
        return .valid(seq: buf.readLE(UInt64.self, at: offset + 12), type: buf.readLE(UInt16.self, at: offset + 8), flags: RecordFlags(rawValue: buf.readLE(UInt16.self, at: offset + 10)), size: total)
    }

    static func allZero(_ buf: UnsafeRawBufferPointer, _ offset: Int) -> Bool {
        for i in offset..<buf.count where buf[i] != 0 { return false }
        return true
    }
}
