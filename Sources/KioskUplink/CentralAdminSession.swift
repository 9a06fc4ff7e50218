import CentralWire
import Foundation
import GateCore
import GateDaemon
import GateStore
import Uplink

enum CentralAdminHooks {
    static func install() {}
}

/// `postern … --central URL --central-community C --central-account NAME`: the same admin verbs, run against a
/// scratch copy of the community's registry fetched from central (so every check the verb makes
/// locally — identities, ID-number owners, pass supersession — runs on central's data), and the
/// registry changes the verb queued sent to central as one write. The pass-signing key stays in
/// the admin machine's own data directory; only public keys and pass records travel.
public final class CentralAdminSession: @unchecked Sendable {
    public let url: String
    public let community: String
    public let scratchDir: String
    /// The admin machine's own data directory (its pass-signing key).
    public let keyDir: String
    let client: CentralClient

    nonisolated(unsafe) public private(set) static var current: CentralAdminSession?

    /// Fetches the community's registry into a scratch data directory; returns the session.
    public static func start(url: String, community: String, account: String, password: String, keyDir: String) throws -> CentralAdminSession {
        var link = CentralLink()
        link.urls = [url.hasSuffix("/") ? String(url.dropLast()) : url]
        link.requestTimeoutMs = 30_000
        let client = try CentralClient(link: link, authorization: "Basic " + Data("\(account):\(password)".utf8).base64EncodedString())
        let scratch = NSTemporaryDirectory() + "postern-admin-\(getpid())-\(UUID().uuidString.prefix(6))"
        let s = CentralAdminSession(url: link.urls[0], community: community, scratchDir: scratch, keyDir: keyDir, client: client)
        let path = "/v1/registry?community=" + (community.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? community)
        let feed: RegistryFeed = try blocking { try await client.call(.GET, path, body: Optional<Hello>.none, timeout: .seconds(30), as: RegistryFeed.self) }
        let store = try Store.open(dataDir: scratch)
        try store.setCentral(url: s.url, community: community, now: 0)
        try store.applyCentral(feed.changes.map { ($0.version, $0.event) }, snapshot: true, upTo: feed.version, now: 0)
        try store.clearCentral()
        if let last = try store.pendingAudit().last?.id { try store.deleteAudit(upTo: last) }
        current = s
        CentralAdminTarget.send = { store in try s.send(from: store) }
        CentralAdminTarget.keyDir = keyDir
        return s
    }

    init(url: String, community: String, scratchDir: String, keyDir: String, client: CentralClient) {
        self.url = url
        self.community = community
        self.scratchDir = scratchDir
        self.keyDir = keyDir
        self.client = client
    }

    /// Sends what the verb queued to central as one registry write; returns a note for the user.
    public func send(from store: Store) throws -> String {
        let pending = try store.pendingAudit()
        guard let last = pending.last?.id else { return "nothing to send to central" }
        let write = RegistryWrite(community: community, changes: pending.map(\.event))
        let client = self.client
        let r: RegistryWriteResult = try Self.blocking { try await client.call(.POST, "/v1/registry", body: write, timeout: .seconds(30), as: RegistryWriteResult.self) }
        try store.deleteAudit(upTo: last)
        return "\(pending.count) change(s) written at central \(url), community \(community) now at registry version \(r.version)"
    }

    public func close() {
        let client = self.client
        Self.blockingIgnoring { await client.shutdown() }
        try? FileManager.default.removeItem(atPath: scratchDir)
    }

    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let sem = DispatchSemaphore(value: 0)
        Task {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            sem.signal()
        }
        sem.wait()
        return try box.result!.get()
    }

    static func blockingIgnoring(_ body: @escaping @Sendable () async -> Void) {
        let sem = DispatchSemaphore(value: 0)
        Task {
            await body()
            sem.signal()
        }
        sem.wait()
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
