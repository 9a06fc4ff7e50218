import CentralWire
import EventLog
import Foundation
import Logging

/// Ships the kiosk's log to central: every durable record after central's acknowledged sequence,
/// in batches, as soon as it is durable (woken by the writer, like the mirror). The cursor moves
/// only from central's answer, which central gives only after its commit; a failed or unanswered
/// batch is sent again from the acknowledged sequence, and central drops what it already holds.
/// A batch is bounded by `batch_records` and by `Wire.maxBatchBytes` (2 MiB, half of central's
/// body limit), so records of any size the log allows are shipped.
public final class EventShipper: Sendable {
    public struct Status: Sendable, Equatable {
        /// Central's acknowledged sequence, as last heard.
        public var ackedSeq: UInt64 = 0
        public var lastAckAt: Double?
        public var lastError: String?
        /// Set when central reports this gate's log altered (uploads stop until an admin clears it).
        public var integrity: String?
        public var batches = 0
        public var records = 0
    }

    let client: CentralClient
    let logDir: String
    let durableSeq: @Sendable () -> UInt64
    let logger: Logger
    public let status = Shared(Status())

    public init(client: CentralClient, logDir: String, durableSeq: @escaping @Sendable () -> UInt64, logger: Logger) {
        self.client = client
        self.logDir = logDir
        self.durableSeq = durableSeq
        self.logger = logger
    }

    /// Introduces the gate and proves its log still holds what central acknowledged: the first
    /// round learns the acknowledged sequence, the second sends the kiosk's chain at it.
    func hello() async throws -> UInt64 {
        let durable = durableSeq()
        let first: GateStatus = try await client.call(.POST, "/v1/gate/hello", body: Hello(durableSeq: durable, registryVersion: 0), timeout: .milliseconds(client.link.requestTimeoutMs), as: GateStatus.self)
        var acked = first.ackedSeq
        if acked > 0 {
            var chain: String? = nil
            if acked <= durable, let r = try LogCursor(directory: logDir, from: acked).next(limit: 1, upTo: acked).first, r.seq == acked {
                chain = Wire.hex(r.chain)
            }
            let second: GateStatus = try await client.call(.POST, "/v1/gate/hello", body: Hello(durableSeq: durable, atSeq: acked, chainAtSeq: chain, registryVersion: 0), timeout: .milliseconds(client.link.requestTimeoutMs), as: GateStatus.self)
            acked = second.ackedSeq
            status.update { $0.integrity = second.integrity }
            if let why = second.integrity { throw WireError(code: "integrity", message: why) }
        }
        status.update {
            $0.ackedSeq = acked
            $0.lastError = nil
        }
        return acked
    }

    /// Serves until cancelled. `wakeups` yields the writer's durable sequence after each flush.
    public func run(wakeups: AsyncStream<UInt64>) async {
        var acked: UInt64? = nil
        var cursor: LogCursor? = nil
        // Records read from the log but not yet sent (a batch is cut short by its byte bound).
        var carry: [Record] = []
        var backoff = 0.2
        let bell = Doorbell()
        let listener = Task {
            for await _ in wakeups { bell.ring() }
        }
        defer { listener.cancel() }
        while !Task.isCancelled {
            do {
                if acked == nil {
                    acked = try await hello()
                    cursor = nil
                }
                let durable = durableSeq()
                if durable > acked! {
                    if cursor == nil || (carry.first?.seq ?? cursor!.nextSeq) != acked! + 1 {
                        cursor = LogCursor(directory: logDir, from: acked! + 1)
                        carry = []
                    }
                    if carry.count < client.link.batchRecords { carry += try cursor!.next(limit: client.link.batchRecords - carry.count, upTo: durable) }
                    // Bounded by bytes as well as by count: what does not fit waits for the next batch.
                    let recs = Self.batch(carry, maxBytes: Wire.maxBatchBytes)
                    if !recs.isEmpty {
                        // The log's own framing on the wire: no base64, no JSON, a CRC per record.
                        let body = Data(Wire.framedBatch(durableSeq: durable, records: RecordFraming.encode(recs)))
                        let ack: UploadAck = try await client.call(.POST, "/v1/gate/events", encoded: body, contentType: Wire.framedContentType, timeout: .milliseconds(client.link.requestTimeoutMs), as: UploadAck.self)
                        acked = ack.ackedSeq
                        carry.removeFirst(recs.count)
                        let n = recs.count
                        status.update {
                            $0.ackedSeq = ack.ackedSeq
                            $0.lastAckAt = Date().timeIntervalSince1970
                            $0.lastError = nil
                            $0.batches += 1
                            $0.records += n
                        }
                        if ack.overdrafts > 0 { logger.warning("central found \(ack.overdrafts) offline decision(s) beyond the household quota") }
                        backoff = 0.2
                        continue
                    }
                }
                // Caught up: wait for the next durable append (or a slow poll as a safety net).
                await bell.wait(upTo: .seconds(2))
            } catch {
                let text = "\(error)"
                status.update { $0.lastError = text }
                if let w = error as? WireError, w.code == "integrity" {
                    status.update { $0.integrity = w.message }
                    logger.critical("central refuses this gate's log: \(w.message)")
                    backoff = 30
                } else {
                    logger.notice("uplink: \(text); retrying in \(String(format: "%.1f", backoff)) s")
                }
                acked = nil
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(backoff * 2, 5)
            }
        }
    }

    /// The longest prefix of `records` whose framing fits in `maxBytes`, and at least one record
    /// (a single record is at most `Record.maxPayload` plus its header, below central's limit).
    public static func batch(_ records: [Record], maxBytes: Int) -> [Record] {
        var bytes = 0
        var n = 0
        for r in records {
            bytes += r.encodedSize
            if n > 0, bytes > maxBytes { break }
            n += 1
        }
        return Array(records.prefix(n))
    }

    public static func wire(_ r: Record) -> WireRecord {
        WireRecord(seq: r.seq, type: r.type, flags: r.flags.rawValue, wallNs: r.wallNs, monoNs: r.monoNs, chain: Wire.hex(r.chain), payload: Data(r.payload).base64EncodedString())
    }
}

/// Wakes one waiter; a ring with nobody waiting is kept for the next wait (never lost).
public final class Doorbell: @unchecked Sendable {
    private let lock = NSLock()
    private var rung = false
    private var waiter: (id: Int, cont: CheckedContinuation<Void, Never>)?
    private var nextID = 0
    private var expired = -1

    public init() {}

    public func ring() {
        lock.lock()
        if let w = waiter {
            waiter = nil
            lock.unlock()
            w.cont.resume()
        } else {
            rung = true
            lock.unlock()
        }
    }

    /// Returns at the next ring (or at once if one came since the last wait), or after `limit`.
    public func wait(upTo limit: Duration) async {
        guard let id = begin() else { return }
        let timer = Task {
            try? await Task.sleep(for: limit)
            self.fire(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                lock.lock()
                if rung || Task.isCancelled || expired == id {
                    rung = false
                    lock.unlock()
                    c.resume()
                } else {
                    waiter = (id, c)
                    lock.unlock()
                }
            }
        } onCancel: {
            self.fire(id)
        }
        timer.cancel()
    }

    /// Takes a pending ring (nil) or a waiter id.
    private func begin() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if rung {
            rung = false
            return nil
        }
        nextID += 1
        return nextID
    }

    private func fire(_ id: Int) {
        lock.lock()
        if let w = waiter, w.id == id {
            waiter = nil
            lock.unlock()
            w.cont.resume()
        } else {
            expired = id
            lock.unlock()
        }
    }
}
