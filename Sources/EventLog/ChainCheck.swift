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
