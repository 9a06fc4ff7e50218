/// The hash chain as another machine checks it: central recomputes each uploaded record's chain
/// from the previous one it holds, so a kiosk log edited, truncated or rewritten after upload
/// cannot continue the chain central has.
extension Record {
    /// The chain value a record with these fields must carry after `previous` (32 zero bytes
    /// before seq 1).
    public static func expectedChain(previous: [UInt8], type: UInt16, seq: UInt64, wallNs: Int64, monoNs: UInt64, payloadHash: [UInt8]) -> [UInt8] {
        RecordCodec.chainHash(previous: previous, type: type, seq: seq, wallNs: wallNs, monoNs: monoNs, payloadHash: payloadHash)
    }

    /// True when this record continues `previous`.
    public func continues(_ previous: [UInt8]) -> Bool {
        Record.expectedChain(previous: previous, type: type, seq: seq, wallNs: wallNs, monoNs: monoNs, payloadHash: payloadHash) == chain
    }

    /// A record as received from elsewhere (central builds these from an upload).
    public init(seq: UInt64, type: UInt16, flags: RecordFlags, wallNs: Int64, monoNs: UInt64, chain: [UInt8], payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.seq = seq
        self.wallNs = wallNs
        self.monoNs = monoNs
        self.chain = chain
        self.payload = payload
    }
}

/// Records on the wire in the log's own framing (length, CRC32C, header, payload): what the
/// kiosk's uplink sends to central, so central neither base64- nor JSON-decodes a batch, and
/// every record's CRC is checked on arrival.
public enum RecordFraming {
    public static func encode(_ records: [Record]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(records.reduce(0) { $0 + $1.encodedSize })
        for r in records { RecordCodec.encode(r, into: &out) }
        return out
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let offset: Int
        public let why: String
        public var description: String { "record framing at byte \(offset): \(why)" }
    }

    /// Every record in `bytes`, or the first place they are not valid records.
    public static func decode(_ bytes: [UInt8]) throws -> [Record] {
        var out: [Record] = []
        try bytes.withUnsafeBytes { buf in
            var at = 0
            while at < buf.count {
                switch RecordCodec.decode(buf, at: at) {
                case .record(let r, let size):
                    out.append(r)
                    at += size
                case .incomplete: throw Invalid(offset: at, why: "truncated record")
                case .invalid(let why): throw Invalid(offset: at, why: why)
                }
            }
        }
        return out
    }
}
