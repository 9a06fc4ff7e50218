import Crypto
import Foundation
import HummingbirdBcrypt
import Synchronization

/// Who may do what on the web front. A standalone kiosk has a local admin (`postern web passwd`);
/// central brings its own accounts through the same type.
public enum Role: String, Sendable, CaseIterable, Codable {
    /// Everything, including the board's roster and notices.
    case admin
    /// The guard in the booth: live view with photos, acknowledges alarms, ledger.
    case `guard`
    /// A supervisor: live view and counts with masked names, no photos, no acknowledging.
    case viewer
    /// A Prometheus scraper (HTTP Basic): `/metrics` only.
    case metrics

    public var seesPhotos: Bool { self == .admin || self == .guard }
    public var acknowledges: Bool { self == .admin || self == .guard }
    public var watches: Bool { self != .metrics }
    public var scrapes: Bool { self == .admin || self == .metrics }
}

/// A signed-in account as the web sees it: its name, its web role, and the places it may see
/// (nil: everything this server serves, as on a kiosk; central lists the communities in scope).
public struct WebAccount: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var communities: Set<String>?
    public init(name: String, role: Role, communities: Set<String>? = nil) {
        self.name = name
        self.role = role
        self.communities = communities
    }
}

/// Where accounts are checked: the kiosk's account file, or central's accounts table.
public protocol WebAccounts: Sendable {
    /// The account if the password is right (nil otherwise, taking as long either way).
    func account(name: String, password: String) async throws -> WebAccount?
}

extension AccountFile: WebAccounts {
    public func account(name: String, password: String) async throws -> WebAccount? {
        verify(name: name, password: password).map { WebAccount(name: $0.name, role: $0.role) }
    }
}

/// Accounts in one file, `NAME ROLE BCRYPT` a line, 0600, replaced atomically. Names are 1–32 of
/// `a-z A-Z 0-9 . _ -`.
public struct AccountFile: Sendable {
    public struct Account: Sendable, Equatable {
        public var name: String
        public var role: Role
        public var hash: String
    }

    public let path: String

    public init(path: String) { self.path = path }

    public static func validName(_ s: String) -> Bool {
        (1...32).contains(s.utf8.count)
            && s.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
            }
    }

    public func load() -> [Account] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 3, Self.validName(f[0]), let role = Role(rawValue: f[1]), f[2].hasPrefix("$2") else { return nil }
            return Account(name: f[0], role: role, hash: f[2])
        }
    }

    /// Sets (or adds) an account's password and role. bcrypt cost 12.
    public func set(name: String, role: Role, password: String, cost: UInt8 = 12) throws {
        guard Self.validName(name) else { throw WebError("account names are 1–32 of a-z A-Z 0-9 . _ -") }
        guard password.utf8.count >= 10 else { throw WebError("a password needs at least 10 characters") }
        guard password.utf8.count <= 72 else { throw WebError("bcrypt uses at most 72 bytes of a password") }
        var accounts = load().filter { $0.name != name }
        accounts.append(Account(name: name, role: role, hash: Bcrypt.hash(password, cost: cost)))
        let text = accounts.map { "\($0.name) \($0.role.rawValue) \($0.hash)\n" }.joined()
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WebError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let ok = text.utf8.withContiguousStorageIfAvailable { write(fd, $0.baseAddress, $0.count) == $0.count } ?? false
        fchmod(fd, 0o600)
        fsync(fd)
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw WebError("cannot write \(path)")
        }
    }

    /// The account if the password is right. An unknown name costs a bcrypt check too, so timing
    /// does not tell which names exist.
    public func verify(name: String, password: String) -> Account? {
        let accounts = load()
        guard password.utf8.count <= 72, let a = accounts.first(where: { $0.name == name }) else {
            _ = Bcrypt.verify(password, hash: Self.dummyHash)
            return nil
        }
        return Bcrypt.verify(password, hash: a.hash) ? a : nil
    }

    static let dummyHash = Bcrypt.hash("postern-no-such-account", cost: 12)
}

public struct WebError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Server-side sessions: a random 256-bit id in a cookie (HttpOnly, SameSite=Strict, Secure over
/// TLS), a per-session CSRF token for every POST, idle expiry. Nothing personal in either.
public final class Sessions: Sendable {
    public struct Session: Sendable {
        public var user: String
        public var role: Role
        public var csrf: String
        /// The places this session may see; nil: all (a kiosk's accounts).
        public var communities: Set<String>?
        var lastSeen: Double
    }

    let store = Mutex<[String: Session]>([:])
    let idleSeconds: Double
    let now: @Sendable () -> Double

    public init(idleSeconds: Double, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.idleSeconds = idleSeconds
        self.now = now
    }

    /// 64 hex digits from the system's random source.
    public static func newToken() -> String { token() }

    static func token() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    public func create(user: String, role: Role, communities: Set<String>? = nil) -> (id: String, session: Session) {
        let s = Session(user: user, role: role, csrf: Self.token(), communities: communities, lastSeen: now())
        let id = Self.token()
        let t = now()
        store.withLock { m in
            m = m.filter { t - $0.value.lastSeen < idleSeconds }
            m[id] = s
        }
        return (id, s)
    }

    public func get(_ id: String?) -> Session? {
        guard let id, id.utf8.count == 64 else { return nil }
        let t = now()
        return store.withLock { m in
            guard var s = m[id] else { return nil }
            guard t - s.lastSeen < idleSeconds else {
                m[id] = nil
                return nil
            }
            s.lastSeen = t
            m[id] = s
            return s
        }
    }

    public func end(_ id: String?) {
        guard let id else { return }
        store.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Constant-time comparison of two tokens.
    public static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }
}
