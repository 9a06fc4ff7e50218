import Crypto

/// Signed checkpoints: the kiosk's key signs (sequence, chain hash) of the record before the
/// checkpoint, so an edited, truncated-then-rechained or reordered log is detectable afterwards.
public enum Checkpoint {
    public static let type: UInt16 = 0xFFFE

    /// The bytes that are signed: "postern-checkpoint" ‖ seq ‖ chain.
    public static func message(seq: UInt64, chain: [UInt8]) -> [UInt8] {
        var m = Array("postern-checkpoint".utf8)
        m.appendLE(seq)
        m.append(contentsOf: chain)
        return m
    }

    public static func payload(seq: UInt64, chain: [UInt8], keyID: String, signature: [UInt8]) -> [UInt8] {
        var p: [UInt8] = []
        p.appendLE(seq)
        p.append(contentsOf: chain)
        let k = Array(keyID.utf8.prefix(255))
        p.append(UInt8(k.count))
        p.append(contentsOf: k)
        p.append(contentsOf: signature)
        return p
    }

    public static func parse(_ p: [UInt8]) -> (seq: UInt64, chain: [UInt8], keyID: String, signature: [UInt8])? {
        guard p.count >= 41 else { return nil }
        let seq = p.withUnsafeBytes { $0.readLE(UInt64.self, at: 0) }
        let chain = Array(p[8..<40])
        let kl = Int(p[40])
        guard p.count >= 41 + kl + 64 else { return nil }
        let key = String(decoding: p[41..<(41 + kl)], as: UTF8.self)
        return (seq, chain, key, Array(p[(41 + kl)..<(41 + kl + 64)]))
    }

    /// Builds a checkpoint entry for the record whose chain is `chain`, signed with `key`.
    public static func entry(seq: UInt64, chain: [UInt8], keyID: String, key: Curve25519.Signing.PrivateKey) throws -> LogEntry {
        let sig = try key.signature(for: message(seq: seq, chain: chain))
        return LogEntry(type: type, payload: payload(seq: seq, chain: chain, keyID: keyID, signature: Array(sig)))
    }
}

/// What `postern log verify` finds.
public struct VerifyReport: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public var segment: String
        public var seq: UInt64?
        public var message: String
        public var description: String { "\(segment)\(seq.map { " seq \($0)" } ?? ""): \(message)" }
    }
    public var segments = 0
    public var records = 0
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var redacted = 0
    public var checkpointsVerified = 0
    public var lastCheckpointSeq: UInt64?
    public var tornTailBytes = 0
    public var gaps: [String] = []
    public var problems: [Problem] = []
    /// The chain hash of the last record (what a new checkpoint would sign).
    public var lastChain: [UInt8] = []
    public var ok: Bool { problems.isEmpty }
}

/// Reads every segment without changing anything; checks framing, dense sequence numbers, the
/// hash chain and signed checkpoints.
public struct LogVerifier {
    public typealias KeyLookup = (String) -> Curve25519.Signing.PublicKey?
    let directory: String
    let fs: any LogFileSystem
    let keys: KeyLookup

    public init(directory: String, keys: @escaping KeyLookup = { _ in nil }) {
        self.init(directory: directory, keys: keys, fileSystem: PosixFileSystem())
    }

    package init(directory: String, keys: @escaping KeyLookup, fileSystem: any LogFileSystem) {
        self.directory = directory
        self.keys = keys
        self.fs = fileSystem
    }

    public func run() throws -> VerifyReport {
        var rep = VerifyReport()
        let names = try fs.list(directory).compactMap { n in Segment.firstSeq(ofFileName: n).map { (name: n, first: $0) } }.sorted { $0.first < $1.first }
        rep.segments = names.count
        var prevChain: [UInt8]? = nil
        var expected: UInt64? = nil
        var afterGap = false
        for (i, seg) in names.enumerated() {
            let f = try fs.open(directory + "/" + seg.name, create: false)
            let bytes = try f.read(at: 0, count: try f.size())
            f.close()
            if case .failure(let e) = bytes.withUnsafeBytes({ Segment.parseHeader($0) }) {
                rep.problems.append(.init(segment: seg.name, seq: nil, message: e.message))
                continue
            }
            if let e = expected, seg.first != e {
                rep.problems.append(.init(segment: seg.name, seq: seg.first, message: "segment starts at \(seg.first), expected \(e): records missing or reordered"))
                prevChain = nil
            }
            var problems: [VerifyReport.Problem] = []
            let scan = bytes.withUnsafeBytes { buf in
                SegmentScan.scan(buf, firstSeq: seg.first) { r in
                    rep.records += 1
                    if rep.firstSeq == nil { rep.firstSeq = r.seq }
                    if r.flags.contains(.redacted) { rep.redacted += 1 }
                    let prev = prevChain ?? (r.seq == 1 ? [UInt8](repeating: 0, count: 32) : nil)
                    if let prev {
                        let want = RecordCodec.chainHash(previous: prev, type: r.type, seq: r.seq, wallNs: r.wallNs, monoNs: r.monoNs, payloadHash: r.payloadHash)
                        if want != r.chain && !afterGap {
                            problems.append(.init(segment: seg.name, seq: r.seq, message: "hash chain broken: record edited, removed or reordered"))
                        }
                    }
                    afterGap = false
                    if r.type == GapRecord.type {
                        rep.gaps.append("seq \(r.seq): " + String(decoding: r.payload, as: UTF8.self))
                        afterGap = true
                    }
                    if r.type == Checkpoint.type {
                        verifyCheckpoint(r, prevChain: prevChain, seg: seg.name, rep: &rep, problems: &problems)
                    }
                    prevChain = r.chain
                }
            }
            rep.problems += problems
            if let d = scan.damage {
                switch d {
                case .tornTail(let why) where i == names.count - 1:
                    rep.tornTailBytes = bytes.count - scan.validEnd
                    _ = why
                case .tornTail(let why):
                    rep.problems.append(.init(segment: seg.name, seq: scan.lastSeq.map { $0 + 1 }, message: "damaged end of segment: \(why)"))
                case .corrupt(let why, _, let resumeSeq):
                    rep.problems.append(.init(segment: seg.name, seq: (scan.lastSeq ?? seg.first - 1) + 1, message: "corrupt: \(why); valid records resume at seq \(resumeSeq) (`postern log salvage` recovers them)"))
                }
            }
            if let l = scan.lastSeq { rep.lastSeq = l }
            expected = (scan.lastSeq ?? seg.first - 1) + 1
        }
        rep.lastChain = prevChain ?? []
        return rep
    }

    private func verifyCheckpoint(_ r: Record, prevChain: [UInt8]?, seg: String, rep: inout VerifyReport, problems: inout [VerifyReport.Problem]) {
        guard let cp = Checkpoint.parse(r.payload) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "malformed checkpoint"))
            return
        }
        guard cp.seq == r.seq - 1, cp.chain == prevChain else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint does not match the chain: the log before it was altered"))
            return
        }
        guard let key = keys(cp.keyID) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint signed by unknown key \(cp.keyID)"))
            return
        }
        guard key.isValidSignature(cp.signature, for: Checkpoint.message(seq: cp.seq, chain: cp.chain)) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint signature invalid"))
            return
        }
        rep.checkpointsVerified += 1
        rep.lastCheckpointSeq = r.seq
    }
}
