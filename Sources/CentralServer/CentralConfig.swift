/// `postern-central`'s config: one TOML file in the kiosk's style (`file:line: key: message`
/// errors, unknown keys reported with a suggestion). docs/CENTRAL.md and
/// examples/postern-central.toml document every key.
import CentralWire
import Foundation
import TOMLReader

public struct CentralConfig: Sendable, Equatable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 8440
    public var tlsCert: String?
    public var tlsKey: String?
    public var lateAfterSeconds = 60.0
    public var registryKeep: Int64 = 10_000
    public var longPollMaxSeconds = 30
    public var dbHost: String? = "127.0.0.1"
    public var dbPort = 5432
    public var dbSocket: String?
    public var dbUser = "postern"
    public var dbPasswordFile: String?
    public var dbName = "postern"
    public var dbTLS = "prefer"
    public var dbMaxConnections = 20
    /// Failed account logins per client address per minute; over it, 429 for a minute.
    public var loginAttemptsPerMinute = 5
    /// Threads that run bcrypt for account logins (off the event loops); `nil`: half the cores.
    public var bcryptThreads: Int?
    /// A connection with no request in progress (or a request whose head never completes) is
    /// closed after this long.
    public var idleTimeoutSeconds = 30
    /// Most HTTP connections at once (further lowered to fit the open-file limit).
    public var maxConnections = 4096
    /// The operators' web front (`[web]`); nil: off.
    public var web: Web?

    /// `[web]`: where the live pages listen and how their sessions behave.
    public struct Web: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 8441
        /// Default to central's own `tls_cert`/`tls_key` when unset.
        public var tlsCert: String?
        public var tlsKey: String?
        public var loginAttemptsPerMinute = 5
        public var sessionMinutes = 720
        public var windowEvents = 4096
        public var heartbeatSeconds = 15.0
        public var language = "zh"
        public init() {}
    }

    public init() {}

    public var usesTLS: Bool { tlsCert != nil }

    public static func isLoopback(_ host: String) -> Bool {
        Loopback.isLiteral(host)
    }
}

public struct CentralConfigError: Error, CustomStringConvertible, Sendable {
    public var lines: [String]
    public var description: String { lines.joined(separator: "\n") }
}

extension CentralConfig {
    public static func load(path: String) throws -> CentralConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw CentralConfigError(lines: ["\(path):0: -: cannot read the file as UTF-8 text"])
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String = "config") throws -> CentralConfig {
        let root: TOMLTable
        do { root = try TOML.parse(text) } catch let e as TOMLError {
            throw CentralConfigError(lines: ["\(file):\(e.line): -: \(e.message)"])
        }
        let r = Reader(root, path: "", file: file)
        var c = CentralConfig()
        r.string("listen") { v in
            guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (1...65_535).contains(port), colon != v.startIndex else {
                return r.error("listen", "must be HOST:PORT, like 127.0.0.1:8440 or 0.0.0.0:8443")
            }
            c.listenHost = String(v[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            c.listenPort = port
        }
        r.string("tls_cert") { c.tlsCert = $0 }
        r.string("tls_key") { c.tlsKey = $0 }
        r.number("late_after_seconds", 1...86_400) { c.lateAfterSeconds = $0 }
        r.int("registry_keep", 10...10_000_000) { c.registryKeep = Int64($0) }
        r.int("long_poll_max_seconds", 1...300) { c.longPollMaxSeconds = $0 }
        r.int("login_attempts_per_minute", 1...10_000) { c.loginAttemptsPerMinute = $0 }
        r.int("bcrypt_threads", 1...64) { c.bcryptThreads = $0 }
        r.int("idle_timeout_seconds", 1...3600) { c.idleTimeoutSeconds = $0 }
        r.int("max_connections", 8...1_000_000) { c.maxConnections = $0 }
        r.table("database") { t in
            t.string("host") { c.dbHost = $0 }
            t.int("port", 1...65_535) { c.dbPort = $0 }
            t.string("socket") { c.dbSocket = $0 }
            t.string("user") { c.dbUser = $0 }
            t.string("password_file") { c.dbPasswordFile = $0 }
            t.string("name") { c.dbName = $0 }
            t.string("tls") { v in
                guard ["disable", "prefer", "require"].contains(v) else { return t.error("tls", "\"\(v)\" is not one of disable, prefer, require") }
                c.dbTLS = v
            }
            t.int("max_connections", 1...500) { c.dbMaxConnections = $0 }
        }
        r.table("web") { t in
            var w = CentralConfig.Web()
            t.string("listen") { v in
                guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (0...65_535).contains(port), colon != v.startIndex else {
                    return t.error("listen", "must be HOST:PORT, like 127.0.0.1:8441 or 0.0.0.0:8444")
                }
                w.host = String(v[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                w.port = port
            }
            t.string("tls_cert") { w.tlsCert = $0 }
            t.string("tls_key") { w.tlsKey = $0 }
            t.int("login_attempts_per_minute", 1...100) { w.loginAttemptsPerMinute = $0 }
            t.int("session_minutes", 5...10_080) { w.sessionMinutes = $0 }
            t.int("window_events", 16...1_000_000) { w.windowEvents = $0 }
            t.number("heartbeat_seconds", 1...300) { w.heartbeatSeconds = $0 }
            t.string("language") { v in
                guard ["zh", "en"].contains(v) else { return t.error("language", "\"\(v)\" is not one of zh, en") }
                w.language = v
            }
            if (w.tlsCert == nil) != (w.tlsKey == nil) { t.error(w.tlsCert == nil ? "tls_key" : "tls_cert", "tls_cert and tls_key go together") }
            if w.tlsCert == nil {
                w.tlsCert = c.tlsCert
                w.tlsKey = c.tlsKey
            }
            if w.tlsCert == nil, !isLoopback(w.host) {
                t.error("listen", "plain HTTP only on a loopback address; set tls_cert and tls_key (here or at the top) to listen on \(w.host)")
            }
            c.web = w
        }
        if (c.tlsCert == nil) != (c.tlsKey == nil) { r.error(c.tlsCert == nil ? "tls_key" : "tls_cert", "tls_cert and tls_key go together") }
        if c.tlsCert == nil, !isLoopback(c.listenHost) {
            r.error("listen", "plain HTTP only on a loopback address; set tls_cert and tls_key to listen on \(c.listenHost)")
        }
        r.finish()
        if !r.errors.isEmpty { throw CentralConfigError(lines: r.errors) }
        return c
    }
}

/// Reads one table, remembering the keys asked for so the rest are reported as unknown.
final class Reader {
    let table: TOMLTable
    let path: String
    let file: String
    var used: Set<String> = []
    var errors: [String] = []

    init(_ t: TOMLTable, path: String, file: String) {
        table = t
        self.path = path
        self.file = file
    }

    func full(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func error(_ key: String, _ message: String) {
        errors.append("\(file):\(table[key]?.line ?? table.line): \(full(key)): \(message)")
    }

    func typed<T>(_ key: String, _ what: String, _ extract: (TOMLValue) -> T?) -> T? {
        used.insert(key)
        guard let n = table[key] else { return nil }
        guard let v = extract(n.value) else {
            errors.append("\(file):\(n.line): \(full(key)): must be \(what)")
            return nil
        }
        return v
    }

    func string(_ key: String, _ set: (String) -> Void) {
        if let v = typed(key, "a string", { if case .string(let s) = $0 { s } else { nil } }) { set(v) }
    }

    func int(_ key: String, _ range: ClosedRange<Int>, _ set: (Int) -> Void) {
        guard let v = typed(key, "an integer", { if case .integer(let i) = $0 { Int(i) } else { nil } }) else { return }
        guard range.contains(v) else { return error(key, "\(v) is out of range \(range.lowerBound)…\(range.upperBound)") }
        set(v)
    }

    func number(_ key: String, _ range: ClosedRange<Double>, _ set: (Double) -> Void) {
        guard let v = typed(key, "a number", { v -> Double? in
            switch v {
            case .float(let d): d
            case .integer(let i): Double(i)
            default: nil
            }
        }) else { return }
        guard range.contains(v) else { return error(key, "\(v) is out of range \(range.lowerBound)…\(range.upperBound)") }
        set(v)
    }

    func table(_ key: String, _ body: (Reader) -> Void) {
        guard let t = typed(key, "a table", { if case .table(let t) = $0 { t } else { nil } }) else { return }
        let sub = Reader(t, path: full(key), file: file)
        body(sub)
        sub.finish()
        errors += sub.errors
    }

    func finish() {
        for (k, n) in table.entries where !used.contains(k) {
            let near = used.min { Self.distance($0, k) < Self.distance($1, k) }.flatMap { Self.distance($0, k) <= 3 ? " (did you mean `\($0)`?)" : nil } ?? ""
            errors.append("\(file):\(n.line): \(full(k)): unknown key\(near)")
        }
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count { cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)) }
            prev = cur
        }
        return prev[b.count]
    }
}
