/// Account logins (HTTP Basic) made cheap to attack no more: bcrypt runs on a small thread pool
/// of its own, never on the event loops that serve the gates; at most a few checks wait for it
/// and more are refused at once (503 `busy`); failed logins are limited per client address
/// (429 `rate_limited`, GateCore's `LoginLimiter`, as on the kiosk's web front); and an unknown
/// name costs one bcrypt as a known one does, so timing does not tell which names exist.
import CentralStore
import CentralWire
import Crypto
import Foundation
import GateCore
import HummingbirdBcrypt
import NIOPosix
import Synchronization

public enum AccountPasswords {
    /// The bcrypt cost of account passwords (`postern-central account add`) and of the dummy hash.
    public static let cost: UInt8 = 10
}

/// bcrypt off the event loops with bounded concurrency.
final class BcryptPool: Sendable {
    let pool: NIOThreadPool
    /// Checks running or waiting for a thread; beyond this, refused.
    let limit: Int
    let inFlight = Atomic<Int>(0)
    /// bcrypt checks run (for the tests: an unknown name must cost one too).
    let runs = Atomic<Int>(0)

    init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        limit = threads * 2
    }

    /// Runs `body` (the account lookup, then `verify`) holding one of the pool's places, or
    /// refuses at once when all are taken: a flood of logins costs neither bcrypt nor database
    /// connections beyond the bound.
    func withPlace<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard inFlight.add(1, ordering: .relaxed).newValue <= limit else {
            inFlight.subtract(1, ordering: .relaxed)
            throw WireError(code: "busy", message: "too many logins being checked; retry in a few seconds")
        }
        defer { inFlight.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    /// bcrypt on the pool's threads (call inside `withPlace`).
    func verify(_ password: String, hash: String) async throws -> Bool {
        try await pool.runIfActive { [self] in
            runs.add(1, ordering: .relaxed)
            return Bcrypt.verify(password, hash: hash)
        }
    }

    func shutdown() async { try? await pool.shutdownGracefully() }
}

/// Accounts over HTTP Basic, passwords checked with bcrypt; a verified (name, password) pair is
/// remembered for a minute so a report poller does not pay bcrypt on every request.
final class AccountAuth: Sendable {
    /// Checked for a name that does not exist: the same work as a real account's check.
    static let dummyHash = Bcrypt.hash("postern-central-no-such-account", cost: AccountPasswords.cost)

    let db: CentralDB
    let bcrypt: BcryptPool
    let limiter: LoginLimiter
    private let recent = Mutex<[String: (CentralDB.Account, Date)]>([:])

    init(db: CentralDB, config: CentralConfig) {
        self.db = db
        bcrypt = BcryptPool(threads: config.bcryptThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / 2))
        limiter = LoginLimiter(limit: config.loginAttemptsPerMinute)
        _ = Self.dummyHash
    }

    /// The account a request's Basic credentials name; `client` is the peer's address.
    func account(authorization: String?, client: String) async throws -> CentralDB.Account {
        guard let h = authorization, h.hasPrefix("Basic "), h.utf8.count < 1024,
              let raw = Data(base64Encoded: String(h.dropFirst(6))), let text = String(data: raw, encoding: .utf8),
              let colon = text.firstIndex(of: ":")
        else { throw CentralError(.forbidden, "an account is required (HTTP Basic)") }
        guard limiter.allowed(client) else {
            throw WireError(code: "rate_limited", message: "too many failed logins from this address; wait a minute")
        }
        let name = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        let cacheKey = Data(SHA256.hash(data: Array(text.utf8))).base64EncodedString()
        if let a = recent.withLock({ $0[cacheKey].flatMap { Date().timeIntervalSince($0.1) < 60 ? $0.0 : nil } }) { return a }
        guard let a = try await verified(name: name, password: password) else {
            limiter.failed(client)
            throw CentralError(.forbidden, "unknown account or wrong password")
        }
        recent.withLock {
            if $0.count > 1000 { $0 = [:] }
            $0[cacheKey] = (a, Date())
        }
        return a
    }

    /// The account if `password` is its password: bcrypt on the pool (busy beyond its bound), a
    /// name that does not exist checked against the dummy hash. Every way in — HTTP Basic on the
    /// API, the web login, `/metrics` — checks here; each keeps its own failure limit.
    func verified(name: String, password: String) async throws -> CentralDB.Account? {
        let usable = password.utf8.count <= 72
        let (found, ok) = try await bcrypt.withPlace {
            let found = try await db.account(name)
            return (found, try await bcrypt.verify(usable ? password : "", hash: found.flatMap { usable ? $0.passwordHash : nil } ?? Self.dummyHash))
        }
        guard let a = found, usable, ok else { return nil }
        return a
    }
}

extension CentralService {
    /// bcrypt checks run so far (one per login that was not refused before the check).
    public var bcryptChecksRun: Int { auth.bcrypt.runs.load(ordering: .relaxed) }
}
