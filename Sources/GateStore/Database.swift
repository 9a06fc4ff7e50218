import CSQLite
import Foundation

/// A thin wrapper over sqlite3: one connection, prepared statements, transactions. WAL mode with an
/// explicit `synchronous` setting; a busy timeout so the admin CLI and the daemon can share the file.
public final class Database: @unchecked Sendable {
    let handle: OpaquePointer
    public let path: String

    public struct Error: Swift.Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(path: String, readOnly: Bool = false) throws {
        var h: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        // Serialized mode: a connection shared by mistake is slow, never corrupt. Each service still
        // gets its own connection so transactions never interleave.
        let rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(h)
            throw Error(message: "cannot open database \(path): \(msg)")
        }
        handle = h
        self.path = path
        sqlite3_busy_timeout(h, 5000)
        if !readOnly {
            // Switching a fresh database to WAL takes an exclusive lock and SQLite does not call
            // the busy handler for it: another process opening the same new file at this moment
            // makes it fail with SQLITE_BUSY. Retry for as long as the busy timeout would wait.
            var waited = 0
            while sqlite3_exec(h, "PRAGMA journal_mode=WAL", nil, nil, nil) == SQLITE_BUSY, waited < 5000 {
                usleep(10_000)
                waited += 10
            }
            try exec("PRAGMA journal_mode=WAL")
            // NORMAL in WAL: a crash loses at most the last transactions, never consistency; the
            // event log is the source of truth and the mirror resumes from its stored cursor.
            try exec("PRAGMA synchronous=NORMAL")
            try exec("PRAGMA foreign_keys=ON")
        }
    }

    deinit { sqlite3_close_v2(handle) }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    public func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &err) == SQLITE_OK else {
            let m = err.map { String(cString: $0) } ?? lastError
            sqlite3_free(err)
            throw Error(message: "\(m) (in: \(sql.prefix(80)))")
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &s, nil) == SQLITE_OK, let s else {
            throw Error(message: "\(lastError) (in: \(sql.prefix(80)))")
        }
        return Statement(s, db: self)
    }

    /// Runs `body` in one transaction (IMMEDIATE: takes the write lock up front).
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try exec("COMMIT")
            return r
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    /// Changes whenever another connection commits (PRAGMA data_version).
    public func dataVersion() throws -> Int64 {
        try query("PRAGMA data_version") { $0.int(0) }.first ?? 0
    }

    public func query<T>(_ sql: String, _ args: [Value] = [], _ row: (Statement) throws -> T) throws -> [T] {
        let s = try prepare(sql)
        try s.bind(args)
        var out: [T] = []
        while try s.step() { out.append(try row(s)) }
        return out
    }

    public func run(_ sql: String, _ args: [Value] = []) throws {
        let s = try prepare(sql)
        try s.bind(args)
        while try s.step() {}
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
}

public enum Value: Sendable, Equatable {
    case int(Int64), real(Double), text(String), blob([UInt8]), null

    public static func opt(_ s: String?) -> Value { s.map { .text($0) } ?? .null }
    public static func opt(_ i: Int64?) -> Value { i.map { .int($0) } ?? .null }
    public static func opt(_ d: Double?) -> Value { d.map { .real($0) } ?? .null }
}

let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

public final class Statement {
    let s: OpaquePointer
    let db: Database
    init(_ s: OpaquePointer, db: Database) {
        self.s = s
        self.db = db
    }
    deinit { sqlite3_finalize(s) }

    public func bind(_ args: [Value]) throws {
        sqlite3_reset(s)
        sqlite3_clear_bindings(s)
        for (i, a) in args.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch a {
            case .int(let v): rc = sqlite3_bind_int64(s, idx, v)
            case .real(let v): rc = sqlite3_bind_double(s, idx, v)
            case .text(let v): rc = sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT)
            case .blob(let v): rc = v.withUnsafeBytes { sqlite3_bind_blob(s, idx, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            case .null: rc = sqlite3_bind_null(s, idx)
            }
            guard rc == SQLITE_OK else { throw Database.Error(message: "bind \(idx): \(db.lastError)") }
        }
    }

    /// true: a row is ready; false: done.
    public func step() throws -> Bool {
        switch sqlite3_step(s) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw Database.Error(message: db.lastError)
        }
    }

    public func int(_ i: Int32) -> Int64 { sqlite3_column_int64(s, i) }
    public func double(_ i: Int32) -> Double { sqlite3_column_double(s, i) }
    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_NULL }
    public func text(_ i: Int32) -> String { sqlite3_column_text(s, i).map { String(cString: $0) } ?? "" }
    public func optText(_ i: Int32) -> String? { isNull(i) ? nil : text(i) }
    public func optInt(_ i: Int32) -> Int64? { isNull(i) ? nil : int(i) }
    public func optDouble(_ i: Int32) -> Double? { isNull(i) ? nil : double(i) }
    public func blob(_ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(s, i))
        guard n > 0, let p = sqlite3_column_blob(s, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
