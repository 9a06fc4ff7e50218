import CentralWire
import Crypto
import Foundation
import GateCore
import GateStore
import Logging

/// Pulls the community's registry from central by version cursor (long-poll: central answers as
/// soon as a change commits, or empty after the wait) and applies each page to the local SQLite
/// in one transaction. The kiosk's registry poller sees the commit and hands the controller a new
/// snapshot, so the gate keeps deciding from this copy whenever central is unreachable.
public final class RegistryPuller: Sendable {
    public struct Status: Sendable, Equatable {
        public var version: Int64 = 0
        public var lastError: String?
    }

    let client: CentralClient
    let dataDir: String
    let logger: Logger
    let trustedKey: [UInt8]?
    public let status = Shared(Status())

    public init(client: CentralClient, dataDir: String, logger: Logger) throws {
        self.client = client
        self.dataDir = dataDir
        self.logger = logger
        if let k = client.link.registryKey {
            guard let raw = Base64URL.decode(k), (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else {
                throw CentralUnavailable(message: "central.registry_key is not an Ed25519 public key")
            }
            trustedKey = raw
        } else {
            trustedKey = nil
        }
    }

    public func run(community: String, store: Store) async {
        var backoff = 0.2
        let held = (try? store.centralState()?.version) ?? 0
        status.update { $0.version = held ?? 0 }
        while !Task.isCancelled {
            do {
                let v = status.get().version
                let feed: RegistryFeed = try await client.call(.GET, "/v1/gate/registry?after=\(v)&wait=\(client.link.longPollSeconds)", body: Optional<Hello>.none, timeout: .seconds(client.link.longPollSeconds + 10), as: RegistryFeed.self)
                try apply(feed, community: community, store: store)
                backoff = 0.2
            } catch {
                status.update { $0.lastError = "\(error)" }
                logger.notice("registry pull: \(error); retrying in \(String(format: "%.1f", backoff)) s")
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(backoff * 2, 5)
            }
        }
    }

    /// Checks and applies one page. A snapshot must carry central's signature when the kiosk
    /// knows central's key; a page for another community, or one that goes backwards, is refused.
    public func apply(_ feed: RegistryFeed, community: String, store: Store) throws {
        guard feed.community == community else { throw WireError(code: "wrong_community", message: "central sent community \(feed.community), this gate is in \(community)") }
        if feed.snapshot, let raw = trustedKey, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) {
            guard let sig = feed.signature.flatMap(Base64URL.decode), key.isValidSignature(sig, for: feed.signedBytes) else {
                throw WireError(code: "bad_snapshot_signature", message: "central's registry snapshot does not verify with central.registry_key")
            }
        }
        let now = Timestamp(Date().timeIntervalSince1970)
        let current = status.get().version
        if !feed.snapshot && feed.changes.isEmpty && feed.version <= current {
            try store.touchCentral(now: now)
        } else {
            if !feed.snapshot, let first = feed.changes.first, first.version <= current, feed.version <= current {
                try store.touchCentral(now: now)
            } else {
                let v = try store.applyCentral(feed.changes.map { ($0.version, $0.event) }, snapshot: feed.snapshot, upTo: feed.version, now: now)
                if feed.snapshot { logger.notice("registry replaced by central's snapshot at version \(v)") }
                status.update { $0.version = v }
            }
        }
        status.update { $0.lastError = nil }
    }
}

/// Follows the community's admitted passages at the other gates (long-poll by the community's
/// sequence), for the cross-gate rules.
public final class PeerFollower: Sendable {
    let client: CentralClient
    let logger: Logger
    public let cursor = Shared<Int64>(0)

    public init(client: CentralClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func run(deliver: @escaping @Sendable ([PeerPassage]) async -> Void) async {
        var backoff = 0.2
        while !Task.isCancelled {
            do {
                let feed: PeerFeed = try await client.call(.GET, "/v1/gate/peers?after=\(cursor.get())&wait=\(client.link.longPollSeconds)", body: Optional<Hello>.none, timeout: .seconds(client.link.longPollSeconds + 10), as: PeerFeed.self)
                if let last = feed.passages.map(\.communitySeq).max() { cursor.set(max(cursor.get(), last)) } else if feed.after > cursor.get() { cursor.set(feed.after) }
                if !feed.passages.isEmpty { await deliver(feed.passages) }
                backoff = 0.2
            } catch {
                logger.debug("peer feed: \(error)")
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(backoff * 2, 5)
            }
        }
    }
}

/// Claims a shared right at central within the configured wait; no answer in time is
/// `unreachable` and the gate's offline budget decides.
public struct Claimer: Sendable {
    let client: CentralClient

    public init(client: CentralClient) { self.client = client }

    public func claim(_ c: CrossGate.Claim, lane: String, at: Timestamp) async -> CrossGate.ClaimResult {
        let req: ClaimRequest
        switch c {
        case .quota(let h, let person, let window, let allowed):
            req = ClaimRequest(kind: .quota, subject: h, person: person, at: at, lane: lane, window: window, allowed: allowed)
        case .visitorEntry(let v, let start, let allowed):
            req = ClaimRequest(kind: .visitorEntry, subject: v, person: v, at: at, lane: lane, window: start, allowed: allowed)
        }
        let limit = Duration.milliseconds(client.link.claimTimeoutMs)
        let client = self.client
        // Whichever comes first answers; the request left behind is cancelled, never awaited
        // (the person at the gate waits for the bound, not for the HTTP client to wind down).
        return await withCheckedContinuation { (cont: CheckedContinuation<CrossGate.ClaimResult, Never>) in
            let once = Once()
            let http = Task {
                let r: CrossGate.ClaimResult
                do {
                    let resp: ClaimResponse = try await client.call(.POST, "/v1/gate/claim", body: req, timeout: limit, as: ClaimResponse.self)
                    r = resp.granted ? .granted : .refused(heldBy: resp.heldBy)
                } catch {
                    r = .unreachable
                }
                if once.take() { cont.resume(returning: r) }
            }
            Task {
                try? await Task.sleep(for: limit)
                if once.take() {
                    cont.resume(returning: .unreachable)
                    http.cancel()
                }
            }
        }
    }
}

/// True for the first caller only.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if taken { return false }
        taken = true
        return true
    }
}
