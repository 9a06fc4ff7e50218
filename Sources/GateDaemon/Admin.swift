import Crypto
import EventLog
import Foundation
import GateCore
import GateStore

/// What admin commands share: the registry, and getting their audit events into the log. When no
/// daemon holds the log, the command appends them itself; otherwise the daemon does within a poll.
/// A refused admin request: a missing or unsafe key file, an unknown person.
public struct AdminError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public struct Admin {
    public let dataDir: String
    public let store: Store

    public init(dataDir: String) throws {
        self.dataDir = dataDir
        store = try Store.open(dataDir: dataDir)
        if let c = try store.centralState() { throw AdminError(message: CentralAdmin.refusal(url: c.url, community: c.community)) }
    }

    public var actor: String { ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "admin" }

    /// Returns a note for the user about where the audit events went.
    @discardableResult
    public func flushAudit() -> String {
        if let send = CentralAdminTarget.send {
            do { return try send(store) } catch { return "NOT sent to central: \(error)" }
        }
        do {
            let w = try LogWriter.open(directory: dataDir + "/log")
            defer { w.close() }
            let n = try store.drainAudit(into: w)
            return "\(n) audit event(s) written to the log"
        } catch let e as LogError where e.code == .locked {
            return "the running daemon will log the audit event(s)"
        } catch {
            return "audit event(s) queued; log not writable now: \(error)"
        }
    }

    // MARK: pass signing keys (admin machine only)

    public var signingKeyPath: String { (CentralAdminTarget.keyDir ?? dataDir) + "/pass-signing.key" }

    /// Loads the private signing key; refuses a key file other users could read.
    public func signingKey(path: String? = nil) throws -> (Curve25519.Signing.PrivateKey, String) {
        let p = path ?? signingKeyPath
        guard let data = FileManager.default.contents(atPath: p) else { throw AdminError(message: "no signing key at \(p): run `postern keys generate`") }
        var st = stat()
        if stat(p, &st) == 0, st.st_mode & 0o077 != 0 {
            throw AdminError(message: "\(p) has mode \(String(st.st_mode & 0o777, radix: 8)); a signing key must be 0600")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw AdminError(message: "\(p) is not a key file") }
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        guard parts.count == 2, let raw = Base64URL.decode(parts[1]), let k = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw AdminError(message: "\(p) is not a key file (expected `KEYID base64url`)")
        }
        return (k, parts[0])
    }

    /// Creates a new signing key, writes it 0600, and trusts its public half from `notBefore`.
    public func generateKey(id: String, notBefore: Timestamp, path: String? = nil) throws -> TrustedKey {
        let p = path ?? signingKeyPath
        let k = Curve25519.Signing.PrivateKey()
        try AtomicFile.write(Data("\(id) \(Base64URL.encode(Array(k.rawRepresentation)))\n".utf8), to: p, mode: 0o600)
        let t = TrustedKey(id: id, publicKey: Array(k.publicKey.rawRepresentation), notBefore: notBefore)
        try store.addKey(t, actor: actor)
        return t
    }

    /// How long a pass may be valid: at least a day, at most a year (the pass format counts
    /// seconds in 32 bits; closed management reissues passes long before).
    public static let passDays = 1...366

    public func issuePass(person: String, days: Int, now: Timestamp) throws -> (Pass, String) {
        guard Self.passDays.contains(days) else {
            throw AdminError(message: "--days \(days): a pass is valid for \(Self.passDays.lowerBound) to \(Self.passDays.upperBound) days; nothing issued")
        }
        let snap = try store.snapshot()
        let kind: PersonKind
        let household: String
        if let r = snap.residents[person] {
            (kind, household) = (.resident, r.household)
        } else if let v = snap.visitors[person] {
            (kind, household) = (.visitor, v.hostHousehold)
        } else if snap.couriers[person] != nil {
            (kind, household) = (.courier, "-")
        } else if snap.staff[person] != nil {
            (kind, household) = (.staff, "-")
        } else {
            throw AdminError(message: "no person \(person) in the registry")
        }
        let (key, keyID) = try signingKey()
        var rng = SystemRandomNumberGenerator()
        let p = Pass(id: UInt64.random(in: 1...UInt64.max, using: &rng), kind: kind, person: person, household: household, issued: now, expires: now + Timestamp(days) * 86_400, keyID: keyID)
        let text = try PassCodec.encode(p, signingKey: key)
        try store.recordPass(p, actor: actor)
        return (p, text)
    }
}
