/// Reading a segment's bytes into valid records and locating damage. Shared by recovery (writer
/// open), `verify`, and readers, so all three agree on what is valid.
struct SegmentScan {
    struct Entry {
        var seq: UInt64
        var type: UInt16
        var offset: Int
        var size: Int
    }
    /// Everything after `validEnd` is zero: space the writer preallocated and has not used yet (or
    /// an unsynced extent the file system zero-filled). The clean end of the data, not damage.
    var zeroTail = false

    enum Damage: Equatable {
        /// Bytes after `validEnd` hold no valid record: a torn write.
        case tornTail(reason: String)
        /// A bad region at `validEnd` followed by a valid record of a higher sequence at `resumeOffset`.
        case corrupt(reason: String, resumeOffset: Int, resumeSeq: UInt64)
    }

    var firstSeq: UInt64
    var entries: [Entry] = []
    var validEnd: Int
    var damage: Damage?
    var lastChain: [UInt8]?

    var lastSeq: UInt64? { entries.last?.seq }

    /// Scans `buf` (a whole segment). `expectedFirst` is the first sequence the header declares.
    static func scan(_ buf: UnsafeRawBufferPointer, firstSeq: UInt64, keepRecords: Bool = false, visit: ((Record) -> Void)? = nil) -> SegmentScan {
        var s = SegmentScan(firstSeq: firstSeq, validEnd: Segment.headerSize)
        var off = Segment.headerSize
        var next = firstSeq
        while off < buf.count {
            // Without a visitor, only framing and CRC are checked: no record is materialised.
            if visit == nil {
                switch RecordCodec.check(buf, at: off) {
                case .valid(let seq, let type, _, let size):
                    if seq != next && !(type == GapRecord.type && seq > next) {
                        s.damage = damageAt(buf, off, after: next &- 1, reason: "sequence \(seq) where \(next) was expected")
                        return s.withLastChain(buf)
                    }
                    s.entries.append(Entry(seq: seq, type: type, offset: off, size: size))
                    next = seq + 1
                    off += size
                    s.validEnd = off
                case .incomplete:
                    // A damaged length can claim more bytes than the file holds: look past it.
                    end(&s, buf, at: off, after: next &- 1, reason: "partial record")
                    return s.withLastChain(buf)
                case .invalid(let why):
                    end(&s, buf, at: off, after: next &- 1, reason: why)
                    return s.withLastChain(buf)
                }
                continue
            }
            switch RecordCodec.decode(buf, at: off) {
            case .record(let r, let size):
                // A gap record may jump the sequence forward; anything else must be dense.
                if r.seq != next && !(r.type == GapRecord.type && r.seq > next) {
                    s.damage = damageAt(buf, off, after: next &- 1, reason: "sequence \(r.seq) where \(next) was expected")
                    return s
                }
                s.entries.append(Entry(seq: r.seq, type: r.type, offset: off, size: size))
                s.lastChain = r.chain
                visit?(r)
                next = r.seq + 1
                off += size
                s.validEnd = off
            case .incomplete:
                end(&s, buf, at: off, after: next &- 1, reason: "partial record")
                return s
            case .invalid(let why):
                end(&s, buf, at: off, after: next &- 1, reason: why)
                return s
            }
        }
        return visit == nil ? s.withLastChain(buf) : s
    }

    /// The chain hash of the last valid record, read from its header.
    func withLastChain(_ buf: UnsafeRawBufferPointer) -> SegmentScan {
        guard let e = entries.last else { return self }
        var s = self
        s.lastChain = Array(buf[(e.offset + 36)..<(e.offset + 68)])
        return s
    }

    /// Ends the scan at `off`: the clean end of the data if nothing but zeros follows, else damage.
    static func end(_ s: inout SegmentScan, _ buf: UnsafeRawBufferPointer, at off: Int, after lastGood: UInt64, reason: String) {
        if allZero(buf, from: off) {
            s.zeroTail = true
        } else {
            s.damage = damageAt(buf, off, after: lastGood, reason: reason)
        }
    }

    static func allZero(_ buf: UnsafeRawBufferPointer, from off: Int) -> Bool {
        var i = off
        while i + 8 <= buf.count {
            if buf.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < buf.count {
            if buf[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// Looks past a bad region. Damage is corruption only when a later valid record starts a
    /// batch: then the bad bytes were in a batch that had been synced. Otherwise they belong to the
    /// last, unsynced batch: a torn write, none of it acknowledged.
    static func damageAt(_ buf: UnsafeRawBufferPointer, _ bad: Int, after lastGood: UInt64, reason: String) -> Damage {
        var off = bad + 1
        var resume: (offset: Int, seq: UInt64)? = nil
        while off + Record.headerSize <= buf.count {
            let seq = buf.readLE(UInt64.self, at: off + 12)
            if seq > lastGood && seq < lastGood &+ 100_000_000, case .record(let r, let size) = RecordCodec.decode(buf, at: off) {
                if resume == nil { resume = (off, seq) }
                if r.flags.contains(.batchStart) {
                    return .corrupt(reason: "\(reason) at offset \(bad)", resumeOffset: resume!.offset, resumeSeq: resume!.seq)
                }
                off += size
                continue
            }
            off += 1
        }
        return .tornTail(reason: "\(reason) at offset \(bad)")
    }
}

extension SegmentScan {
    static func allZeroBytes(_ b: ArraySlice<UInt8>) -> Bool { b.allSatisfy { $0 == 0 } }
}
