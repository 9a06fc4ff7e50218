import Foundation
import GateCore
import Synchronization

/// One follower of the source for every viewer: it reads committed records in order, folds them
/// into `LiveState`, and keeps the last `capacity` shown events as ready SSE frames. A viewer
/// whose position is inside that window is served from it; one further behind catches up with a
/// reader of its own (`catchUp`) and then joins. Viewers wait on a wake-up, never on each other:
/// a slow viewer's writes are its own.
public final class LiveFeed: Sendable {
    /// A shown event: its frame for the live view, and for the board when it is a decision.
    struct Item: Sendable {
        var seq: UInt64
        var live: String
        var board: String?
        /// The pass holder of a passage (for `/photo/SEQ`; never sent to a viewer).
        var person: String?
    }

    struct Shared: Sendable {
        var items: [Item] = []
        var head = 0  // ring start when full
        /// Every shown event with a sequence number above `floor` is in `items`.
        var floor: UInt64 = 0
        /// Every record up to here has been read.
        var covered: UInt64 = 0
        var state = LiveState()
        var waiters: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWaiter = 0
        var stopped = false
    }

    let source: any LiveSource
    let capacity: Int
    let shared: Mutex<Shared>
    let metrics: WebMetrics?

    public init(source: any LiveSource, capacity: Int = 4096, metrics: WebMetrics? = nil) {
        self.source = source
        self.capacity = max(16, capacity)
        self.metrics = metrics
        self.shared = Mutex(Shared(state: LiveState(lanes: source.lanes, devices: source.devices)))
    }

    /// Renders one record as (live frame, board frame); nil when the live view does not show it.
    static func render(_ r: LiveRecord, source: any LiveSource) async -> Item? {
        guard let e = r.event else { return nil }
        if e.kind == .passage, e.decision != nil {
            var hasPhoto = false
            if let known = r.hasPhoto {
                hasPhoto = known
            } else if let p = e.decision?.personID {
                hasPhoto = await source.hasPhoto(person: p)
            }
            return render(r, e, hasPhoto: hasPhoto)
        }
        return render(r, e, hasPhoto: false)
    }

    static func render(_ r: LiveRecord, _ e: GateEvent, hasPhoto: Bool) -> Item? {
        if let v = Views.entry(r, e, hasPhoto: hasPhoto) {
            return Item(
                seq: r.seq, live: SSE.frame(id: r.seq, event: "entry", json: jsonText(v)),
                board: Views.board(r, e).map { SSE.frame(id: r.seq, event: "decision", json: jsonText($0)) }, person: e.decision?.personID)
        }
        if let v = Views.alarm(r, e) { return Item(seq: r.seq, live: SSE.frame(id: r.seq, event: "alarm", json: jsonText(v))) }
        if let v = Views.ack(r, e) { return Item(seq: r.seq, live: SSE.frame(id: r.seq, event: "ack", json: jsonText(v))) }
        if let v = Views.device(r, e) { return Item(seq: r.seq, live: SSE.frame(id: r.seq, event: "device", json: jsonText(v))) }
        return nil
    }

    static func today() -> String { Views.day(Int64(Date().timeIntervalSince1970 * 1e9)) }

    /// Follows the source until cancelled: first from `stateStart()` to rebuild today's state,
    /// then every time the head moves (and once a second, for sources in another process).
    public func run() async throws {
        let start = try await source.stateStart()
        let reader = try await source.reader(after: start > 0 ? start - 1 : 0)
        shared.withLock {
            $0.floor = start > 0 ? start - 1 : 0
            $0.covered = $0.floor
        }
        try await drain(reader)
        // One loop reads; it is poked when the head moves and once a second (a source in another
        // process has no head stream worth trusting alone). The poke is also the viewers' clock.
        let (pokes, poke) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let heads = source.heads()
        let forward = Task {
            for await _ in heads { poke.yield() }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                poke.yield()
            }
        }
        defer {
            forward.cancel()
            ticker.cancel()
            shared.withLock { $0.stopped = true }
            wakeAll(finish: true)
        }
        try await withTaskCancellationHandler {
            for await _ in pokes {
                try await drain(reader)
                wakeAll()
            }
        } onCancel: {
            poke.finish()
        }
    }

    /// Reads everything available now and publishes it (only `run`'s one loop calls it).
    func drain(_ reader: any LiveReader) async throws {
        let today = Self.today()
        while true {
            let recs = try await reader.next(limit: 512)
            if recs.isEmpty { break }
            var items: [Item] = []
            for r in recs { if let i = await Self.render(r, source: source) { items.append(i) } }
            shared.withLock { s in
                for r in recs { s.state.apply(r, today: today) }
                for i in items { push(&s, i) }
                s.covered = max(s.covered, recs.last!.seq)
            }
            metrics?.observe(recs)
            wakeAll()
        }
    }

    func push(_ s: inout Shared, _ item: Item) {
        if s.items.count < capacity {
            s.items.append(item)
        } else {
            s.floor = s.items[s.head].seq
            s.items[s.head] = item
            s.head = (s.head + 1) % capacity
        }
    }

    func wakeAll(finish: Bool = false) {
        let ws = shared.withLock { Array($0.waiters.values) }
        for w in ws {
            w.yield()
            if finish { w.finish() }
        }
    }

    /// A wake-up stream for one viewer (newest only: a viewer that was busy reads everything new
    /// at once when it looks), and its token for `unsubscribe`.
    func subscribe() -> (Int, AsyncStream<Void>) {
        let (stream, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = shared.withLock { s in
            s.nextWaiter += 1
            s.waiters[s.nextWaiter] = cont
            if s.stopped { cont.finish() }
            return s.nextWaiter
        }
        metrics?.viewers(delta: 1)
        return (id, stream)
    }

    func unsubscribe(_ id: Int) {
        shared.withLock { $0.waiters.removeValue(forKey: id) }?.finish()
        metrics?.viewers(delta: -1)
    }

    /// The frames after `after` from the window, and the position they bring the viewer to; nil
    /// when `after` is older than the window (the viewer must catch up from the source).
    func frames(after: UInt64, board: Bool) -> (frames: [String], upTo: UInt64)? {
        shared.withLock { s in
            guard after >= s.floor else { return nil }
            guard after < s.covered else { return ([], max(after, s.covered)) }
            var out: [String] = []
            let n = s.items.count
            // Items are in sequence order from `head`; find the first above `after` by bisection.
            var lo = 0
            var hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if s.items[(s.head + mid) % n].seq <= after { lo = mid + 1 } else { hi = mid }
            }
            for k in lo..<n {
                let item = s.items[(s.head + k) % n]
                if board { if let b = item.board { out.append(b) } } else { out.append(item.live) }
            }
            return (out, s.covered)
        }
    }

    var floor: UInt64 { shared.withLock { $0.floor } }
    var covered: UInt64 { shared.withLock { $0.covered } }
    var state: LiveState { shared.withLock { $0.state } }
    var stopped: Bool { shared.withLock { $0.stopped } }
    /// Streams open on this feed now.
    public var viewerCount: Int { shared.withLock { $0.waiters.count } }

    /// The pass holder of passage `seq`, if it is in the window (nil: not there, or no holder).
    func person(seq: UInt64) -> (inWindow: Bool, person: String?) {
        shared.withLock { s in
            guard seq > s.floor, seq <= s.covered else { return (false, nil) }
            let n = s.items.count
            var lo = 0
            var hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if s.items[(s.head + mid) % n].seq < seq { lo = mid + 1 } else { hi = mid }
            }
            guard lo < n, s.items[(s.head + lo) % n].seq == seq else { return (true, nil) }
            return (true, s.items[(s.head + lo) % n].person)
        }
    }

    /// Frames from the source for a viewer behind the window: reads (with the viewer's own
    /// reader, positioned at `after`) until it reaches the window or the end of what is
    /// committed, at most `limit` frames. Returns the frames and the new position.
    func catchUp(reader: any LiveReader, after: UInt64, board: Bool, limit: Int = 2048) async throws -> (frames: [String], upTo: UInt64) {
        var out: [String] = []
        var pos = after
        let target = floor
        while pos < target, out.count < limit {
            let recs = try await reader.next(limit: 256)
            if recs.isEmpty { break }
            for r in recs {
                pos = r.seq
                if let item = await Self.render(r, source: source) {
                    if board { if let b = item.board { out.append(b) } } else { out.append(item.live) }
                }
            }
        }
        return (out, pos)
    }
}
