import Crypto
import Foundation
import Synchronization

/// One entry to append: the log assigns its sequence number, timestamps and chain hash.
public struct LogEntry: Sendable {
    public var type: UInt16
    public var payload: [UInt8]
    public init(type: UInt16, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }
}

/// What opening the log found and did.
public struct RecoveryReport: Sendable, Equatable {
    public var segments = 0
    public var records = 0
    public var firstSeq: UInt64 = 0
    public var lastSeq: UInt64 = 0
    /// Bytes cut from a torn tail (a crash mid-write; none of it was ever acknowledged).
    public var truncatedBytes = 0
    /// Damage set aside: each with the lost range and the file the bytes were kept in.
    public var gaps: [Gap] = []
    /// Files kept aside that held no acknowledged record (a torn segment creation).
    public var setAside: [String] = []
    public struct Gap: Sendable, Equatable {
        public var lostFrom: UInt64
        public var lostTo: UInt64
        /// The file the damaged bytes were kept in; empty when nothing was left to keep.
        public var keptAt: String
        public var reason: String
    }
}

/// The single writer of a log directory: group commit (one write and one fdatasync per batch),
/// an append returns only once its record is durable. A failed write or sync stops the writer for
/// good; reopening re-verifies the tail.
public final class LogWriter: @unchecked Sendable {
    public struct Options: Sendable {
        public var maxSegmentBytes = 16 << 20
        /// The tail segment is extended with zeros, written and synced, this many bytes ahead of the
        /// records. A batch then overwrites space the file already has, so its `fdatasync` flushes
        /// data only; one that grows the file also commits the file-system journal (ext4), which
        /// made every sync ~1.5x slower here. Readers and recovery treat a zero tail as the end of
        /// the data. 0 turns it off.
        public var preallocateBytes = 256 << 10
        public var clock: any LogClock = SystemClock()
        package var fileSystem: any LogFileSystem = PosixFileSystem()
        public init() {}
    }

    public let directory: String
    /// What opening found and did (set before `open` returns, never after).
    public private(set) var recovery: RecoveryReport
    let options: Options
    let fs: any LogFileSystem
    let lockToken: any LogLock

    // Everything below is guarded by `cond`.
    private let cond = NSCondition()
    private var file: any LogFile
    private var segmentSize: Int
    private var nextSeq: UInt64
    private var chain: [UInt8]
    private var pendingBytes: [UInt8] = []
    private var pendingFirstSeq: UInt64 = 0
    private var pendingWaiters: [(last: UInt64, done: @Sendable (Result<Void, LogError>) -> Void)] = []
    private var failure: LogError?
    private var closing = false
    private var flusherDone = false
    private var durable: UInt64
    private var observers: [Int: AsyncStream<UInt64>.Continuation] = [:]
    private var nextObserver = 0
    private var thread: Thread?
    /// Bytes the tail segment file holds (records plus zeroed space ahead of them).
    private var allocated: Int
    private var counters = FlushStats()
    /// Gap records since the last checkpoint (what the next checkpoint signs).
    private var gaps: Checkpoint.Gaps
    /// `DURABLE`: the durable end for readers in other processes (written by the flusher only).
    private let published: (any LogFile)?

    /// What group commit has done so far: how many batches (one write and one fdatasync each)
    /// carried how many records, and the time spent writing and syncing them.
    public struct FlushStats: Sendable, Equatable {
        public var batches = 0
        public var records = 0
        public var bytes = 0
        public var writeSyncNs: UInt64 = 0
        /// Zeroed space written ahead of the records, and how many times.
        public var preallocations = 0
    }

    /// Group-commit counters since open.
    public var stats: FlushStats {
        cond.lock()
        defer { cond.unlock() }
        return counters
    }

    /// Opens (creating if needed) the log in `directory`, recovering its tail.
    public static func open(directory: String, options: Options = Options()) throws -> LogWriter {
        let fs = options.fileSystem
        try fs.makeDirectory(directory)
        let lock = try fs.lock(directory + "/LOCK")
        let w: LogWriter
        let recovered: Recovery.Result
        do {
            // What the previous writer last published as durable: the log must reach it.
            var witness: UInt64? = nil
            if case .seq(let s) = DurableEnd.read(fs: fs, directory: directory), s < LogWriter.maxSeq { witness = s }
            recovered = try Recovery(fs: fs, dir: directory, witness: witness).run()
            w = LogWriter(directory: directory, options: options, lock: lock, recovered: recovered)
            if let witness, recovered.behindWitness {
                if let g = try w.recordLoss(through: witness, reason: "the log ends at \(recovered.nextSeq - 1) but seq \(witness) had been published durable", evidence: recovered.cutDurable) {
                    w.recovery.gaps.append(g)
                }
            }
        } catch {
            lock.release()
            throw error
        }
        return w
    }

    private init(directory: String, options: Options, lock: any LogLock, recovered r: Recovery.Result) {
        self.directory = directory
        self.options = options
        self.fs = options.fileSystem
        self.lockToken = lock
        self.recovery = r.report
        self.file = r.tailFile
        self.segmentSize = r.tailSize
        self.allocated = r.tailAllocated
        self.nextSeq = r.nextSeq
        self.chain = r.chain
        self.durable = r.nextSeq - 1
        self.gaps = r.gaps
        published = try? options.fileSystem.open(directory + "/" + DurableEnd.fileName, create: true)
        // Reset to the recovered end; a log found behind its witness keeps the witness published
        // until the gap record is durable, so a crash before that does not forget the loss.
        if !r.behindWitness { publish(r.nextSeq - 1) }
        let t = Thread { [unowned self] in self.flushLoop() }
        t.name = "postern-log-flusher"
        t.qualityOfService = .userInteractive
        thread = t
        t.start()
    }

    /// The highest sequence number known durable.
    public var durableSeq: UInt64 {
        cond.lock()
        defer { cond.unlock() }
        return durable
    }

    /// Why the writer stopped, if it did.
    public var failed: LogError? {
        cond.lock()
        defer { cond.unlock() }
        return failure
    }

    /// Appends one entry and waits until it is durable; returns its sequence number.
    @discardableResult
    public func append(type: UInt16, payload: [UInt8]) async throws -> UInt64 {
        try await append([LogEntry(type: type, payload: payload)])[0]
    }

    /// Appends entries as one batch and waits until durable; returns their sequence numbers.
    public func append(_ entries: [LogEntry]) async throws -> [UInt64] {
        let box = SeqBox()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            do {
                box.seqs = try enqueue(entries) { result in c.resume(with: result.mapError { $0 as any Error }) }
            } catch {
                c.resume(throwing: error)
            }
        }
        return box.seqs
    }

    /// Appends one entry built from the sequence number and chain hash of the record just before
    /// it, atomically with respect to other appends (signed checkpoints).
    @discardableResult
    public func appendChained(_ build: @escaping (UInt64, [UInt8]) throws -> LogEntry) async throws -> UInt64 {
        let box = SeqBox()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            do {
                box.seqs = try enqueue(nil, build: build) { result in c.resume(with: result.mapError { $0 as any Error }) }
            } catch {
                c.resume(throwing: error)
            }
        }
        return box.seqs[0]
    }

    /// Appends a signed (version 2) checkpoint over the record before it and the gap records
    /// since the previous checkpoint, atomically with respect to other appends.
    @discardableResult
    public func appendCheckpoint(keyID: String, key: Curve25519.Signing.PrivateKey) async throws -> UInt64 {
        let box = SeqBox()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            do {
                box.seqs = try enqueue(nil, buildCheckpoint: { seq, chain, gaps in try Checkpoint.entry(seq: seq, chain: chain, gaps: gaps, keyID: keyID, key: key) }) { result in c.resume(with: result.mapError { $0 as any Error }) }
            } catch {
                c.resume(throwing: error)
            }
        }
        return box.seqs[0]
    }

    /// Makes sure no sequence number up to `highest` is issued again. If the log ends below it —
    /// records that a reader, the mirror or the durable-end file saw are gone — appends a gap
    /// record at `highest + 1` naming the lost range (a number nobody downstream has seen), and
    /// numbering continues after it. Returns the gap, or nil if the log is not behind. Blocking.
    @discardableResult
    public func recordLoss(through highest: UInt64, reason: String) throws -> RecoveryReport.Gap? {
        try recordLoss(through: highest, reason: reason, evidence: nil)
    }

    func recordLoss(through highest: UInt64, reason: String, evidence: Evidence.Kept?) throws -> RecoveryReport.Gap? {
        let sem = DispatchSemaphore(value: 0)
        let box = ResultBox()
        var gap: RecoveryReport.Gap? = nil
        let wall = options.clock.wallNs(), mono = options.clock.monoNs()
        do {
            cond.lock()
            defer { cond.unlock() }
            if let failure { throw failure }
            if closing { throw LogError(.closed, "log writer is closed") }
            guard nextSeq <= highest else { return nil }
            guard highest < LogWriter.maxSeq else { throw LogError(.corrupt, "sequence number \(highest) is implausibly high") }
            let info = GapRecord.Info(lostFrom: nextSeq, lostTo: highest, keptAt: evidence?.name, keptBytes: evidence?.bytes, keptSHA256: evidence?.hex, reason: reason)
            let p = GapRecord.payload(info)
            let seq = highest + 1
            if pendingBytes.isEmpty { pendingFirstSeq = nextSeq }
            let flags: RecordFlags = pendingBytes.isEmpty ? .batchStart : []
            let c = RecordCodec.chainHash(previous: chain, type: GapRecord.type, seq: seq, wallNs: wall, monoNs: mono, payloadHash: SHA256Bytes(p))
            RecordCodec.encode(Record(type: GapRecord.type, flags: flags, seq: seq, wallNs: wall, monoNs: mono, chain: c, payload: p), into: &pendingBytes)
            chain = c
            gaps.fold(type: GapRecord.type, seq: seq, chain: c)
            nextSeq = seq + 1
            pendingWaiters.append((last: seq, done: { r in
                box.result = r
                sem.signal()
            }))
            gap = RecoveryReport.Gap(lostFrom: info.lostFrom, lostTo: highest, keptAt: evidence?.name ?? "", reason: reason)
            cond.signal()
        }
        sem.wait()
        if case .failure(let e) = box.result { throw e }
        return gap
    }

    /// Sequence numbers stay far below this (a witness claiming more is ignored or refused).
    public static let maxSeq: UInt64 = 1 << 62

    /// Blocking variant for command-line tools and threads outside Swift concurrency.
    @discardableResult
    public func appendBlocking(_ entries: [LogEntry]) throws -> [UInt64] {
        let sem = DispatchSemaphore(value: 0)
        let box = ResultBox()
        let seqs = try enqueue(entries) { r in
            box.result = r
            sem.signal()
        }
        sem.wait()
        if case .failure(let e) = box.result { throw e }
        return seqs
    }

    /// A stream of durable sequence numbers (the latest after each flush), for in-process followers.
    public func durableUpdates() -> AsyncStream<UInt64> {
        let (stream, cont) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        cond.lock()
        let id = nextObserver
        nextObserver += 1
        observers[id] = cont
        cont.yield(durable)
        if flusherDone { cont.finish() }
        cond.unlock()
        cont.onTermination = { [weak self] _ in
            guard let self else { return }
            self.cond.lock()
            self.observers[id] = nil
            self.cond.unlock()
        }
        return stream
    }

    /// Flushes what is pending, stops the flusher, trims the preallocated space and releases the
    /// lock. Appends after this fail.
    public func close() {
        cond.lock()
        if closing {
            cond.unlock()
            return
        }
        closing = true
        cond.broadcast()
        while !flusherDone { cond.wait() }
        let obs = observers.values
        observers = [:]
        cond.unlock()
        for o in obs { o.finish() }
        // A log closed cleanly keeps exactly its records: cut the unused zeroed space (best
        // effort; after a crash, recovery and readers treat a zero tail as the end anyway).
        if failure == nil && allocated > segmentSize {
            try? file.truncate(to: segmentSize)
            try? file.sync()
        }
        file.close()
        published?.close()
        lockToken.release()
    }

    deinit { close() }

    private func enqueue(_ given: [LogEntry]?, build: ((UInt64, [UInt8]) throws -> LogEntry)? = nil, buildCheckpoint: ((UInt64, [UInt8], Checkpoint.Gaps) throws -> LogEntry)? = nil, done: @escaping @Sendable (Result<Void, LogError>) -> Void) throws -> [UInt64] {
        var entries = given ?? []
        for e in entries where e.payload.count > Record.maxPayload {
            throw LogError(.tooLarge, "payload of \(e.payload.count) bytes exceeds \(Record.maxPayload)")
        }
        let clock = options.clock
        let wall = clock.wallNs()
        let mono = clock.monoNs()
        let baseFlags: RecordFlags = clockSynchronized(mono: mono) ? [] : .clockUnsynced
        // Payload hashes do not depend on the chain: compute them before taking the lock, so
        // concurrent appenders hash in parallel and the lock covers only the chain step.
        let payloadHashes = build == nil && buildCheckpoint == nil ? entries.map { SHA256Bytes($0.payload) } : []
        cond.lock()
        defer { cond.unlock() }
        if let failure { throw failure }
        if closing { throw LogError(.closed, "log writer is closed") }
        if let build { entries = [try build(nextSeq - 1, chain)] }
        if let buildCheckpoint { entries = [try buildCheckpoint(nextSeq - 1, chain, gaps)] }
        var seqs: [UInt64] = []
        seqs.reserveCapacity(entries.count)
        if pendingBytes.isEmpty { pendingFirstSeq = nextSeq }
        for (i, e) in entries.enumerated() {
            let seq = nextSeq
            let flags = pendingBytes.isEmpty ? baseFlags.union(.batchStart) : baseFlags
            let ph = i < payloadHashes.count ? payloadHashes[i] : SHA256Bytes(e.payload)
            let c = RecordCodec.chainHash(previous: chain, type: e.type, seq: seq, wallNs: wall, monoNs: mono, payloadHash: ph)
            RecordCodec.encode(Record(type: e.type, flags: flags, seq: seq, wallNs: wall, monoNs: mono, chain: c, payload: e.payload), into: &pendingBytes)
            chain = c
            if e.type >= Checkpoint.type { gaps.fold(type: e.type, seq: seq, chain: c) }
            nextSeq += 1
            seqs.append(seq)
        }
        pendingWaiters.append((last: nextSeq - 1, done: done))
        cond.signal()
        return seqs
    }

    /// The clock's synchronised state, asked of the kernel at most once a second: `adjtimex` on
    /// every append showed in profiles (it takes a kernel lock), and the state changes rarely.
    /// Bit 0 holds the answer, the rest the monotonic time it was asked (0: never).
    private let syncState = Atomic<UInt64>(0)

    private func clockSynchronized(mono: UInt64) -> Bool {
        let s = syncState.load(ordering: .relaxed)
        let at = s >> 1
        if at != 0 && mono >= at && mono - at < 1_000_000_000 { return s & 1 == 1 }
        let v = options.clock.isSynchronized()
        syncState.store((max(mono, 1) << 1) | (v ? 1 : 0), ordering: .relaxed)
        return v
    }

    private func flushLoop() {
        while true {
            cond.lock()
            while pendingBytes.isEmpty && !closing { cond.wait() }
            if pendingBytes.isEmpty && closing {
                flusherDone = true
                cond.broadcast()
                cond.unlock()
                return
            }
            let bytes = pendingBytes
            let first = pendingFirstSeq
            let waiters = pendingWaiters
            let last = nextSeq - 1
            pendingBytes = []
            pendingBytes.reserveCapacity(bytes.count)
            pendingWaiters = []
            cond.unlock()

            var err: LogError?
            let started = DispatchTime.now().uptimeNanoseconds
            var extended = false
            do {
                extended = try writeDurably(bytes, firstSeq: first)
            } catch let e as LogError {
                err = LogError(.writerFailed, "event log write failed, writer stopped (reopen to re-verify the tail): \(e.message)")
            } catch {
                err = LogError(.writerFailed, "event log write failed: \(error)")
            }

            // Other processes may show the batch once this is written, not before.
            if err == nil { publish(last) }
            cond.lock()
            if let err {
                failure = err
                // Everything still queued can never be acknowledged either.
                let queued = pendingWaiters
                pendingWaiters = []
                pendingBytes = []
                cond.unlock()
                for w in waiters + queued { w.done(.failure(err)) }
                cond.lock()
                flusherDone = true
                closing = true
                cond.broadcast()
                let obs = observers.values
                cond.unlock()
                for o in obs { o.finish() }
                return
            }
            durable = last
            counters.batches += 1
            counters.records += Int(last - first + 1)
            counters.bytes += bytes.count
            counters.writeSyncNs += DispatchTime.now().uptimeNanoseconds - started
            if extended { counters.preallocations += 1 }
            let obs = Array(observers.values)
            cond.unlock()
            for w in waiters { w.done(.success(())) }
            for o in obs { o.yield(last) }
        }
    }

    /// Rewrites `DURABLE` in place (not synced: readers need it, a power cut may lose it). A failed
    /// write only delays what other processes show; the next batch writes it again.
    private func publish(_ seq: UInt64) {
        try? published?.write(DurableEnd.encode(seq), at: 0)
    }

    /// Writes a batch at the end of the tail segment, rolling to a new segment first if needed and
    /// extending the zeroed space ahead of the records when the batch would not fit in it. Returns
    /// whether it extended.
    private func writeDurably(_ bytes: [UInt8], firstSeq: UInt64) throws -> Bool {
        if segmentSize > Segment.headerSize && segmentSize + bytes.count > options.maxSegmentBytes {
            // The closed segment keeps exactly its records: cut the zeroed space it did not use.
            if allocated > segmentSize {
                try file.truncate(to: segmentSize)
                try file.sync()
            }
            let path = directory + "/" + Segment.fileName(firstSeq: firstSeq)
            let f = try fs.open(path, create: true)
            try f.truncate(to: 0)
            try f.write(Segment.header(firstSeq: firstSeq), at: 0)
            try f.sync()
            try fs.syncDirectory(directory)
            file.close()
            file = f
            segmentSize = Segment.headerSize
            allocated = Segment.headerSize
        }
        let end = segmentSize + bytes.count
        var extended = false
        if options.preallocateBytes > 0 && end > allocated {
            // Never past the segment limit, unless this one batch alone goes past it.
            let target = max(end, min(end + options.preallocateBytes, options.maxSegmentBytes))
            try file.write([UInt8](repeating: 0, count: target - allocated), at: allocated)
            try file.sync()
            allocated = target
            extended = true
        }
        try file.write(bytes, at: segmentSize)
        try file.sync()
        segmentSize = end
        allocated = max(allocated, end)
        return extended
    }
}

final class SeqBox: @unchecked Sendable { var seqs: [UInt64] = [] }
final class ResultBox: @unchecked Sendable { var result: Result<Void, LogError> = .success(()) }

@inline(__always) func SHA256Bytes(_ b: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: b)) }
