import Crypto

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
    /// Findings that do not fail verification (a gap record too old to commit to its evidence).
    public var warnings: [String] = []
    public var problems: [Problem] = []
    /// The chain hash of the last record (what a new checkpoint would sign).
    public var lastChain: [UInt8] = []
    public var ok: Bool { problems.isEmpty }
}

/// Reads every segment without changing anything; checks framing, dense sequence numbers, the
/// hash chain, signed checkpoints, and the evidence each gap record commits to.
///
/// A gap set aside at open (it names a kept file) breaks the chain for the record after it, so
/// that record's link is not checked; the gap must then show its evidence (the kept file, with the
/// length and SHA-256 it commits to), and a version 2 checkpoint after it must have been signed
/// over it. A gap appended for records found missing chains like any record.
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
        // Gap records since the last checkpoint, known once the log is read from its start or
        // from a checkpoint (retention may have removed the segments before).
        var gaps = Checkpoint.Gaps()
        var gapsKnown = false
        var sawV2Checkpoint = false
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
                    if rep.firstSeq == nil {
                        rep.firstSeq = r.seq
                        gapsKnown = r.seq == 1
                    }
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
                        if let g = GapRecord.parse(r.payload) {
                            rep.gaps.append("seq \(r.seq): \(g.description)")
                            afterGap = g.setAside
                            checkEvidence(g, seq: r.seq, seg: seg.name, sawV2Checkpoint: sawV2Checkpoint, rep: &rep, problems: &problems)
                        } else {
                            problems.append(.init(segment: seg.name, seq: r.seq, message: "malformed gap record"))
                        }
                        gaps.add(seq: r.seq, chain: r.chain)
                    }
                    if r.type == Checkpoint.type {
                        if verifyCheckpoint(r, prevChain: prevChain ?? (r.seq == 1 ? [UInt8](repeating: 0, count: 32) : nil), gaps: gapsKnown ? gaps : nil, seg: seg.name, rep: &rep, problems: &problems) { sawV2Checkpoint = true }
                        gaps = Checkpoint.Gaps()
                        gapsKnown = true
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

    /// The kept file a gap names must hold what the gap record commits to.
    private func checkEvidence(_ g: GapRecord.Info, seq: UInt64, seg: String, sawV2Checkpoint: Bool, rep: inout VerifyReport, problems: inout [VerifyReport.Problem]) {
        guard let name = g.keptAt else { return }
        switch Evidence.check(g, fs: fs, directory: directory) {
        case .missing:
            problems.append(.init(segment: seg, seq: seq, message: "gap evidence \(name) is missing: the records it names cannot be shown to have been damaged"))
        case .different(let why):
            problems.append(.init(segment: seg, seq: seq, message: "gap evidence \(name) differs from what the gap record commits to (\(why))"))
        case .matches, .matchesRedacted:
            guard g.oldFormat else { return }
            if sawV2Checkpoint {
                // This version writes a v2 checkpoint at every start and never an old-format gap.
                problems.append(.init(segment: seg, seq: seq, message: "gap record without an evidence commitment after a version 2 checkpoint: not written by the log"))
            } else {
                rep.warnings.append("seq \(seq): unverifiable gap (old format): records \(g.lostFrom)…\(g.lostTo), \(name) exists but the gap record does not commit to its contents")
            }
        }
    }

    /// Returns whether it was a valid version 2 checkpoint.
    private func verifyCheckpoint(_ r: Record, prevChain: [UInt8]?, gaps: Checkpoint.Gaps?, seg: String, rep: inout VerifyReport, problems: inout [VerifyReport.Problem]) -> Bool {
        guard let cp = Checkpoint.parse(r.payload) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "malformed checkpoint"))
            return false
        }
        guard cp.seq == r.seq - 1, cp.chain == prevChain else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint does not match the chain: the log before it was altered"))
            return false
        }
        guard let key = keys(cp.keyID) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint signed by unknown key \(cp.keyID)"))
            return false
        }
        guard Checkpoint.isValid(cp, key: key) else {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint signature invalid"))
            return false
        }
        if let signed = cp.gaps, let gaps, signed != gaps {
            problems.append(.init(segment: seg, seq: r.seq, message: "checkpoint was signed over \(signed.count) gap record(s) since the previous checkpoint; the log now has \(gaps.count) different: a gap was put in after signing, in place of records this signature covered"))
            return false
        }
        rep.checkpointsVerified += 1
        rep.lastCheckpointSeq = r.seq
        return cp.gaps != nil
    }
}
