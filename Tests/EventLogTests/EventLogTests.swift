import Foundation
import Testing
import Crypto
@testable import EventLog
import GateTestSupport

@Suite("CRC32C")
struct CRC32CTests {
    @Test("matches the standard check value")
    func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("slicing-by-8 equals the bytewise definition at every length")
    func matchesBytewise() {
        var rng = SystemRandomNumberGenerator()
        for n in 0..<200 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            #expect(CRC32C.checksum(bytes) == ~c)
        }
    }
}

@Suite("Event log writer and reader")
struct WriterTests {
    @Test("concurrent appenders get dense, durable sequence numbers in one order")
    func concurrentAppends() async throws {
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir)
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { g in
            for t in 0..<64 {
                g.addTask {
                    var mine: [UInt64] = []
                    for i in 0..<20 { mine.append(try await w.append(type: 1, payload: Array("t\(t)-\(i)".utf8))) }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await s in g { all += s }
            return all
        }
        #expect(seqs.sorted() == Array(1...1280))
        #expect(w.durableSeq == 1280)
        w.close()
        let recs = try readAll(dir)
        #expect(recs.map(\.seq) == Array(1...1280))
    }

    @Test("a second writer on the same directory fails at once, naming the holder")
    func singleWriter() throws {
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir)
        #expect(throws: LogError.self) { try LogWriter.open(directory: dir) }
        do { _ = try LogWriter.open(directory: dir) } catch let e as LogError {
            #expect(e.code == .locked)
            #expect(e.message.contains("pid \(getpid())"))
        }
        w.close()
        let again = try LogWriter.open(directory: dir)
        again.close()
    }

    @Test("segments roll over and a reader crosses them; reopening continues the sequence")
    func rollover() throws {
        let dir = tempDir()
        var o = LogWriter.Options()
        o.maxSegmentBytes = 4096
        try writeLog(dir, count: 300, options: o)
        let segs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }
        #expect(segs.count > 5)
        // Rolled (and cleanly closed) segments hold exactly their records: no preallocated zeros.
        for name in segs {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            let scan = bytes.withUnsafeBytes { SegmentScan.scan($0, firstSeq: Segment.firstSeq(ofFileName: name)!) }
            #expect(scan.validEnd == bytes.count && scan.damage == nil, "\(name)")
        }
        let w = try LogWriter.open(directory: dir, options: o)
        #expect(w.recovery.lastSeq == 300)
        #expect(w.recovery.records == 300)
        let s = try w.appendBlocking([LogEntry(type: 2, payload: [1])])
        #expect(s == [301])
        w.close()
        let recs = try readAll(dir)
        #expect(recs.map(\.seq) == Array(1...301))
        #expect(recs.dropLast().allSatisfy { $0.payload == payload($0.seq) })
        // A cursor started in the middle begins exactly there.
        let c = LogCursor(directory: dir, from: 123)
        #expect(try c.next(limit: 5).map(\.seq) == [123, 124, 125, 126, 127])
    }

    @Test("a follower in another file handle sees new records as they become durable")
    func follow() async throws {
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir)
        let c = LogCursor(directory: dir, from: 1)
        #expect(try c.next().isEmpty)
        try await w.append(type: 1, payload: [1])
        try await w.append(type: 1, payload: [2])
        #expect(try c.next().map(\.seq) == [1, 2])
        #expect(try c.next().isEmpty)
        try await w.append(type: 1, payload: [3])
        #expect(try c.next().map(\.seq) == [3])
        w.close()
    }

    @Test("records written while the wall clock is unsynchronised are flagged; the state is re-read within a second")
    func clockFlag() throws {
        final class FakeClock: LogClock, @unchecked Sendable {
            var mono: UInt64 = 5_000_000_000
            var synced = false
            func wallNs() -> Int64 { 1_700_000_000_000_000_000 }
            func monoNs() -> UInt64 { mono }
            func isSynchronized() -> Bool { synced }
        }
        let clock = FakeClock()
        var o = LogWriter.Options()
        o.clock = clock
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir, options: o)
        try w.appendBlocking([LogEntry(type: 1, payload: [1])])
        clock.synced = true  // NTP synchronised: noticed within a second of monotonic time
        clock.mono += 400_000_000
        try w.appendBlocking([LogEntry(type: 1, payload: [2])])
        clock.mono += 700_000_000
        try w.appendBlocking([LogEntry(type: 1, payload: [3])])
        w.close()
        let flags = try readAll(dir).map { $0.flags.contains(.clockUnsynced) }
        #expect(flags == [true, true, false])
    }

    @Test("durable updates stream the latest acknowledged sequence")
    func durableUpdates() async throws {
        let w = try LogWriter.open(directory: tempDir())
        let updates = w.durableUpdates()
        try await w.append(type: 1, payload: [1])
        var it = updates.makeAsyncIterator()
        var seen: UInt64 = 0
        while seen < 1 { seen = await it.next() ?? 99 }
        #expect(seen == 1)
        w.close()
    }

    @Test("an oversized payload is refused, not truncated")
    func tooLarge() throws {
        let w = try LogWriter.open(directory: tempDir())
        #expect(throws: LogError.self) { try w.appendBlocking([LogEntry(type: 1, payload: [UInt8](repeating: 0, count: Record.maxPayload + 1))]) }
        w.close()
    }
}

@Suite("Recovery from torn writes and damage")
struct RecoveryTests {
    @Test("truncation at every byte offset of the last records gives exactly the longest valid prefix")
    func everyOffset() throws {
        let src = tempDir()
        try writeLog(src, count: 20)
        let full = try Data(contentsOf: URL(fileURLWithPath: segmentPath(src)))
        let bytes = [UInt8](full)
        let offsets = recordOffsets(bytes)
        let startCut = offsets[offsets.count - 3]
        for cut in startCut...bytes.count {
            let dir = tempDir()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(bytes[..<cut]).write(to: URL(fileURLWithPath: segmentPath(dir)))
            let w = try LogWriter.open(directory: dir)
            let complete = offsets.enumerated().filter { i, off in (i + 1 < offsets.count ? offsets[i + 1] : bytes.count) <= cut }.count
            #expect(w.recovery.lastSeq == UInt64(complete), "cut at \(cut)")
            #expect(w.recovery.gaps.isEmpty)
            w.close()
            let recs = try readAll(dir)
            let seqs: [UInt64] = recs.map(\.seq)
            #expect(seqs == (complete == 0 ? [] : Array(1...UInt64(complete))))
        }
    }

    @Test("a zero-filled tail is free space, not damage: nothing is cut or reported, appends continue after the last record")
    func zeroTail() throws {
        let dir = tempDir()
        try writeLog(dir, count: 5)
        let h = FileHandle(forWritingAtPath: segmentPath(dir))!
        h.seekToEndOfFile()
        h.write(Data(count: 4096))
        h.closeFile()
        let w = try LogWriter.open(directory: dir)
        #expect(w.recovery.lastSeq == 5)
        #expect(w.recovery.truncatedBytes == 0)
        #expect(w.recovery.gaps.isEmpty && w.recovery.setAside.isEmpty)
        try w.appendBlocking([LogEntry(type: 1, payload: payload(6))])
        w.close()
        #expect(try readAll(dir).map(\.seq) == Array(1...6))
        #expect(try LogVerifier(directory: dir).run().problems.isEmpty)
    }

    @Test("the writer preallocates zeroed space ahead of its records; a crash leaves it, a clean close trims it")
    func preallocation() throws {
        let dir = tempDir()
        var o = LogWriter.Options()
        o.preallocateBytes = 64 << 10
        let w = try LogWriter.open(directory: dir, options: o)
        for s in 1...20 { try w.appendBlocking([LogEntry(type: 1, payload: payload(UInt64(s)))]) }
        // What a power cut would leave: the file as it is now, zeroed space included.
        let live = try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir)))
        let dataEnd = recordOffsets([UInt8](live)).last! + Record.headerSize + payload(20).count
        #expect(live.count >= dataEnd + (64 << 10) - 4096)
        #expect(live[dataEnd...].allSatisfy { $0 == 0 })
        #expect(w.stats.preallocations == 1)
        #expect(w.stats.records == 20 && w.stats.batches == 20)
        w.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir))).count == dataEnd)
        try live.write(to: URL(fileURLWithPath: segmentPath(dir)))
        let r = try LogWriter.open(directory: dir, options: o)
        #expect(r.recovery.lastSeq == 20 && r.recovery.truncatedBytes == 0)
        try r.appendBlocking([LogEntry(type: 1, payload: payload(21))])
        r.close()
        #expect(try readAll(dir).map(\.seq) == Array(1...21))
        #expect(try LogVerifier(directory: dir).run().problems.isEmpty)
    }

    @Test("a torn write into preallocated space is cut back to the last acknowledged record")
    func tornIntoPreallocated() throws {
        let dir = tempDir()
        let w = try LogWriter.open(directory: dir)
        for s in 1...10 { try w.appendBlocking([LogEntry(type: 1, payload: payload(UInt64(s)))]) }
        var live = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir))))
        w.close()
        let end = recordOffsets(live).last! + Record.headerSize + payload(10).count
        // Half of an eleventh record's header, then the zeros that were already there.
        for i in 0..<40 { live[end + i] = UInt8(i + 1) }
        try Data(live).write(to: URL(fileURLWithPath: segmentPath(dir)))
        let r = try LogWriter.open(directory: dir)
        #expect(r.recovery.lastSeq == 10)
        #expect(r.recovery.truncatedBytes == live.count - end)
        #expect(r.recovery.gaps.isEmpty)
        r.close()
        #expect(try readAll(dir).map(\.seq) == Array(1...10))
    }

    @Test("a bit flip mid-log is set aside as a gap; every valid record after it is kept", arguments: 0..<200)
    func bitFlip(trial: Int) throws {
        var rng = SplitMix64(seed: UInt64(trial) &* 7919)
        let dir = tempDir()
        try writeLog(dir, count: 30)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir))))
        let offsets = recordOffsets(bytes)
        // Every few trials hit a length field on purpose: a damaged length can claim the whole file.
        let pos = trial % 5 == 0 ? offsets[Int.random(in: 1..<offsets.count - 1, using: &rng)] + Int.random(in: 0..<4, using: &rng) : Int.random(in: Segment.headerSize..<bytes.count, using: &rng)
        bytes[pos] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        try Data(bytes).write(to: URL(fileURLWithPath: segmentPath(dir)))
        let hit = offsets.lastIndex { $0 <= pos }!  // 0-based index of the damaged record
        let w = try LogWriter.open(directory: dir)
        w.close()
        let recs = try readAll(dir)
        if hit == offsets.count - 1 {
            // Damage in the last record looks like a torn write, but the durable end the writer
            // published says it was acknowledged: its bytes are kept and a gap after it takes its
            // number out of use.
            #expect(recs.map(\.seq) == Array(1...29) + [31])
            #expect(w.recovery.gaps.map { [$0.lostFrom, $0.lostTo] } == [[30, 30]])
            #expect(FileManager.default.fileExists(atPath: segmentPath(dir) + ".damaged"))
            let rep = try LogVerifier(directory: dir).run()
            #expect(rep.ok, "\(rep.problems)")
        } else {
            #expect(w.recovery.gaps.count == 1)
            #expect(recs.map(\.seq) == Array(1...30))
            for r in recs where r.seq != UInt64(hit + 1) { #expect(r.payload == payload(r.seq)) }
            #expect(recs[hit].type == GapRecord.type)
            #expect(FileManager.default.fileExists(atPath: segmentPath(dir) + ".damaged"))
            let rep = try LogVerifier(directory: dir).run()
            #expect(rep.gaps.count == 1)
            #expect(rep.ok, "\(rep.problems)")
        }
    }
}

@Suite("Crash safety under a power-cut file layer")
struct CrashTests {
    @Test("every acknowledged event survives, in order, and nothing is invented (2000 seeded cuts)")
    func seededCrashes() throws {
        for seed in UInt64(1)...2000 {
            try crashCase(seed: seed)
        }
    }

    func crashCase(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let fs = CrashFileSystem()
        let dir = "/data/log"
        var o = LogWriter.Options()
        o.fileSystem = fs
        o.maxSegmentBytes = Int.random(in: 600...4000, using: &rng)
        o.preallocateBytes = [0, 256, 1000, 5000][Int.random(in: 0..<4, using: &rng)]
        var acked: [UInt64: [UInt8]] = [:]
        var attempted: [UInt64: [UInt8]] = [:]
        var next: UInt64 = 1
        for _ in 0..<3 {  // several crash/reopen rounds per case
            fs.powerFails(afterOps: Int.random(in: 0...40, using: &rng))
            guard let w = try? LogWriter.open(directory: dir, options: o) else {
                fs.crash(using: &rng)
                continue
            }
            next = w.recovery.lastSeq + 1
            loop: for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let n = Int.random(in: 1...4, using: &rng)
                let entries = (0..<n).map { i in LogEntry(type: 1, payload: Array("s\(seed)-\(next + UInt64(i))-\(Int.random(in: 0...999, using: &rng))".utf8)) }
                for (i, e) in entries.enumerated() { attempted[next + UInt64(i)] = e.payload }
                do {
                    let seqs = try w.appendBlocking(entries)
                    for (s, e) in zip(seqs, entries) { acked[s] = e.payload }
                    next += UInt64(n)
                } catch {
                    break loop
                }
            }
            // Half the cuts come before the clean close could trim the preallocated space.
            if Bool.random(using: &rng) { fs.powerFails(afterOps: 0) }
            w.close()
            fs.crash(using: &rng)
        }
        let w = try LogWriter.open(directory: dir, options: o)
        #expect(w.recovery.gaps.isEmpty, "seed \(seed): \(w.recovery.gaps)")
        w.close()
        let recs = try readAll(dir, fs: fs)
        let seqs: [UInt64] = recs.map(\.seq)
        let dense: [UInt64] = recs.isEmpty ? [] : Array(1...UInt64(recs.count))
        #expect(seqs == dense, "seed \(seed)")
        var got: [UInt64: [UInt8]] = [:]
        for r in recs { got[r.seq] = r.payload }
        for (s, p) in acked { #expect(got[s] == p, "seed \(seed): acknowledged seq \(s) lost or changed") }
        for r in recs { #expect(attempted[r.seq] == r.payload, "seed \(seed): seq \(r.seq) invented") }
        _ = next
    }
}

@Suite("Tamper evidence")
struct TamperTests {
    func fresh(_ n: UInt64 = 10) throws -> (String, [UInt8]) {
        let dir = tempDir()
        try writeLog(dir, count: n)
        return (dir, [UInt8](try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir)))))
    }
    func store(_ dir: String, _ b: [UInt8]) throws { try Data(b).write(to: URL(fileURLWithPath: segmentPath(dir))) }

    @Test("an untouched log verifies")
    func clean() throws {
        let (dir, _) = try fresh()
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok)
        #expect(rep.records == 10)
        #expect(rep.lastSeq == 10)
    }

    @Test("an edited payload with a recomputed CRC breaks the chain")
    func editedPayload() throws {
        var (dir, b) = try fresh()
        let off = recordOffsets(b)[4]
        _ = rewriteRecord(&b, at: off) { $0.payload = Array("forged".utf8) }
        try store(dir, b)
        let rep = try LogVerifier(directory: dir).run()
        #expect(!rep.ok)
        #expect(rep.problems.contains { $0.seq == 5 && $0.message.contains("chain") })
    }

    @Test("a record deleted from the middle is detected")
    func deleted() throws {
        var (dir, b) = try fresh()
        let offs = recordOffsets(b)
        b.removeSubrange(offs[4]..<offs[5])
        try store(dir, b)
        let rep = try LogVerifier(directory: dir).run()
        #expect(!rep.ok)
    }

    @Test("a swapped pair is detected")
    func swapped() throws {
        var (dir, b) = try fresh()
        let offs = recordOffsets(b)
        let r4 = Array(b[offs[3]..<offs[4]]), r5 = Array(b[offs[4]..<offs[5]])
        b.replaceSubrange(offs[3]..<offs[5], with: r5 + r4)
        try store(dir, b)
        #expect(!(try LogVerifier(directory: dir).run().ok))
    }

    @Test("a redacted payload keeps the chain valid and is counted, not reported")
    func redacted() throws {
        var (dir, b) = try fresh()
        let off = recordOffsets(b)[2]
        _ = rewriteRecord(&b, at: off) { r in
            r.payload = r.payloadHash
            r.flags.insert(.redacted)
        }
        try store(dir, b)
        let rep = try LogVerifier(directory: dir).run()
        #expect(rep.ok, "\(rep.problems)")
        #expect(rep.redacted == 1)
    }

    @Test("a signed checkpoint verifies; a re-chained edit before it is caught")
    func checkpoint() throws {
        let dir = tempDir()
        let key = Curve25519.Signing.PrivateKey()
        let w = try LogWriter.open(directory: dir)
        for s in UInt64(1)...5 { try w.appendBlocking([LogEntry(type: 1, payload: payload(s))]) }
        w.close()
        let chain5 = try LogVerifier(directory: dir).run().lastChain
        let w2 = try LogWriter.open(directory: dir)
        try w2.appendBlocking([try Checkpoint.entry(seq: 5, chain: chain5, keyID: "k1", key: key)])
        w2.close()
        let lookup: LogVerifier.KeyLookup = { $0 == "k1" ? key.publicKey : nil }
        let ok = try LogVerifier(directory: dir, keys: lookup).run()
        #expect(ok.ok, "\(ok.problems)")
        #expect(ok.checkpointsVerified == 1)

        // Edit record 3 and recompute every chain after it: only the checkpoint can tell.
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segmentPath(dir))))
        var prev = [UInt8](repeating: 0, count: 32)
        var off = Segment.headerSize
        while off < b.count {
            off += rewriteRecord(&b, at: off) { r in
                if r.seq == 3 { r.payload = Array("forged".utf8) }
                if r.type != Checkpoint.type {
                    r.chain = RecordCodec.chainHash(previous: prev, type: r.type, seq: r.seq, wallNs: r.wallNs, monoNs: r.monoNs, payloadHash: r.payloadHash)
                }
                prev = r.chain
            }
        }
        try Data(b).write(to: URL(fileURLWithPath: segmentPath(dir)))
        let bad = try LogVerifier(directory: dir, keys: lookup).run()
        #expect(!bad.ok)
        #expect(bad.problems.contains { $0.message.contains("checkpoint") })
    }
}

@Suite("Retention")
struct RetentionTests {
    @Test("deletes old segments by size, never what the follower has not consumed, never the active one")
    func bySize() throws {
        let dir = tempDir()
        var o = LogWriter.Options()
        o.maxSegmentBytes = 4096
        try writeLog(dir, count: 300, options: o)
        let w = try LogWriter.open(directory: dir, options: o)
        let segsBefore = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        // The follower is at seq 100: only segments entirely below 100 may go.
        let gone = try w.applyRetention(RetentionPolicy(maxBytes: 1), keepFrom: 100, nowNs: 0)
        #expect(!gone.isEmpty)
        let remaining = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        #expect(remaining.count == segsBefore.count - gone.count)
        let c = LogCursor(directory: dir, from: 1)
        let first = try c.next(limit: 1).first!.seq
        #expect(first <= 100, "a record the follower still needs was deleted")
        #expect(first > 1)
        // With the follower caught up, everything but the active segment may go.
        _ = try w.applyRetention(RetentionPolicy(maxBytes: 1), keepFrom: 301, nowNs: 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.count == 1)
        try w.appendBlocking([LogEntry(type: 1, payload: [1])])
        w.close()
        // The log still verifies from its first remaining record; reopening continues the sequence.
        #expect(try LogVerifier(directory: dir).run().ok)
        let again = try LogWriter.open(directory: dir, options: o)
        #expect(again.recovery.lastSeq == 301)
        again.close()
    }

    @Test("age-based retention keeps recent segments")
    func byAge() throws {
        let dir = tempDir()
        var o = LogWriter.Options()
        o.maxSegmentBytes = 4096
        try writeLog(dir, count: 100, options: o)
        let w = try LogWriter.open(directory: dir, options: o)
        #expect(try w.applyRetention(RetentionPolicy(maxAgeSeconds: 3600), keepFrom: 101, nowNs: SystemClock().wallNs()).isEmpty)
        #expect(try !w.applyRetention(RetentionPolicy(maxAgeSeconds: 3600), keepFrom: 101, nowNs: SystemClock().wallNs() + 7200 * 1_000_000_000).isEmpty)
        w.close()
    }
}

@Suite("Privacy purge")
struct RedactionTests {
    @Test("redacting payloads keeps the chain and checkpoints verifiable, and the sequence intact")
    func purge() throws {
        let dir = tempDir()
        let key = Curve25519.Signing.PrivateKey()
        try writeLog(dir, count: 20)
        let chain = try LogVerifier(directory: dir).run().lastChain
        let w = try LogWriter.open(directory: dir)
        try w.appendBlocking([try Checkpoint.entry(seq: 20, chain: chain, keyID: "k", key: key)])
        w.close()
        let n = try LogRedaction.redact(directory: dir) { $0.seq <= 10 && $0.type == 1 }
        #expect(n == 10)
        let recs = try readAll(dir)
        #expect(recs.count == 21)
        #expect(recs.prefix(10).allSatisfy { $0.flags.contains(.redacted) && $0.payload.count == 32 })
        #expect(recs[10].payload == payload(11))
        let rep = try LogVerifier(directory: dir, keys: { $0 == "k" ? key.publicKey : nil }).run()
        #expect(rep.ok, "\(rep.problems)")
        #expect(rep.redacted == 10)
        #expect(rep.checkpointsVerified == 1)
        // Idempotent; and a writer reopens and continues after it.
        #expect(try LogRedaction.redact(directory: dir) { $0.seq <= 10 } == 0)
        let again = try LogWriter.open(directory: dir)
        #expect(again.recovery.lastSeq == 21)
        again.close()
    }
}
