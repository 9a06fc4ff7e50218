import CentralStore
import CentralWire
import Foundation
import GateCore
import Hummingbird
import HummingbirdBcrypt
import Logging
import NIOCore
import PostgresNIO

/// The HTTP surface. Every body is size-limited and decoded into wire types before any database
/// work; every refusal is a JSON `WireError` with a code. Gates authenticate with their bearer
/// token and see only their own community; accounts with HTTP Basic and see their scope.
struct Routes: Sendable {
    let service: CentralService
    var db: CentralDB { service.db }

    func router() -> Router<CentralContext> {
        let r = Router(context: CentralContext.self)
        r.get("/healthz") { _, _ -> Response in
            do {
                _ = try await db.registryVersion(community: "-")
                return Self.json(["status": "ok"])
            } catch {
                return Self.error(.serviceUnavailable, WireError(code: "database", message: "database unreachable"))
            }
        }
        // Gates.
        r.post("/v1/gate/hello") { req, _ in
            await guarded {
                let g = try await gate(req)
                let h: Hello = try await decode(req)
                return Self.json(try await db.hello(h, gate: g))
            }
        }
        r.post("/v1/gate/events") { req, _ in
            await guarded {
                if req.headers[.contentType] == Wire.framedContentType {
                    // The token is checked before the body is read, by the read the upload needs anyway.
                    guard let h = req.headers[.authorization], h.hasPrefix("Bearer "), let st = try await db.authenticateGateReadingState(token: String(h.dropFirst(7))) else {
                        throw WireError(code: "unauthorized", message: "a gate token is required")
                    }
                    let buf = try await req.body.collect(upTo: Wire.maxBodyBytes)
                    return Self.json(try await db.ingest(framed: Array(buf.readableBytesView), gate: st))
                }
                let g = try await gate(req)
                let b: UploadBatch = try await decode(req)
                return Self.json(try await db.ingest(b, gate: g))
            }
        }
        r.get("/v1/gate/registry") { req, _ in
            await guarded {
                let g = try await gate(req)
                let after = try int64(req, "after") ?? 0
                let wait = min(Int(try int64(req, "wait") ?? 0), service.config.longPollMaxSeconds)
                let seen = service.registryWakeups.current(g.community)
                var feed = try await db.registryFeed(community: g.community, after: after)
                if !feed.snapshot, feed.changes.isEmpty, wait > 0 {
                    await service.registryWakeups.wait(g.community, seen: seen, limit: .seconds(wait))
                    feed = try await db.registryFeed(community: g.community, after: after)
                }
                return Self.json(feed)
            }
        }
        r.get("/v1/gate/peers") { req, _ in
            await guarded {
                let g = try await gate(req)
                let after = try int64(req, "after") ?? 0
                let wait = min(Int(try int64(req, "wait") ?? 0), service.config.longPollMaxSeconds)
                let seen = service.eventWakeups.current(g.community)
                var feed = try await db.peers(community: g.community, exceptGate: g.gate, after: after)
                if feed.passages.isEmpty, wait > 0 {
                    await service.eventWakeups.wait(g.community, seen: seen, limit: .seconds(wait))
                    feed = try await db.peers(community: g.community, exceptGate: g.gate, after: after)
                }
                return Self.json(feed)
            }
        }
        r.post("/v1/gate/claim") { req, _ in
            await guarded {
                let g = try await gate(req)
                let c: ClaimRequest = try await decode(req)
                return Self.json(try await db.claim(c, gate: g))
            }
        }
        // Accounts.
        r.post("/v1/registry") { req, ctx in
            await guarded {
                let a = try await account(req, ctx)
                let w: RegistryWrite = try await decode(req)
                try await require(a, mayWrite: w.community)
                return Self.json(RegistryWriteResult(version: try await db.writeRegistry(w, actor: a.name)))
            }
        }
        r.get("/v1/registry") { req, ctx in
            await guarded {
                let a = try await account(req, ctx)
                guard let c = req.uri.queryParameters.get("community") else { throw CentralError(.invalid, "community is required") }
                // The registry is personal data unmasked (names, ID numbers, phones); it exists for
                // the admin verbs, so only roles that may unmask read it (docs/CENTRAL.md).
                guard Roles.mayUnmask(a.role) else { throw CentralError(.forbidden, "role \(a.role) may not read the registry (personal data); reports are masked") }
                try await require(a, mayRead: [c])
                return Self.json(try await db.snapshot(community: c))
            }
        }
        r.get("/v1/report/seven") { req, ctx in
            await guarded {
                let a = try await account(req, ctx)
                let (scope, id) = try scopeOf(req)
                let cs = try await db.communities(scope: scope, id: id)
                try await require(a, mayRead: cs)
                let day = try dayOf(req)
                return Self.json(try await db.seven(scope: scope + (id.map { " " + $0 } ?? ""), communities: cs, day: day))
            }
        }
        r.get("/v1/report/ledger") { req, ctx in
            await guarded {
                let a = try await account(req, ctx)
                let (scope, id) = try scopeOf(req)
                let cs = try await db.communities(scope: scope, id: id)
                try await require(a, mayRead: cs)
                let unmask = req.uri.queryParameters.get("unmask") == "1"
                if unmask, !Roles.mayUnmask(a.role) { throw CentralError(.forbidden, "role \(a.role) may not unmask personal data") }
                let rows = try await db.ledger(communities: cs, day: try dayOf(req), unmask: unmask)
                let gates = try await db.completeness(communities: cs)
                switch req.uri.queryParameters.get("format") ?? "json" {
                case "csv": return Self.text(LedgerFormat.csv(rows, gates: gates), type: "text/csv; charset=utf-8")
                case "html": return Self.text(LedgerFormat.html(rows, gates: gates, title: "\(scope) \(id ?? "") \(try dayOf(req))"), type: "text/html; charset=utf-8")
                default: return Self.json(LedgerPage(rows: rows, gates: gates))
                }
            }
        }
        r.get("/v1/gates") { req, ctx in
            await guarded {
                let a = try await account(req, ctx)
                let cs = Array(try await db.communities(visibleTo: a)).sorted()
                return Self.json(try await db.completeness(communities: cs))
            }
        }
        return r
    }

    // MARK: authentication and scope

    func account(_ req: Request, _ ctx: CentralContext) async throws -> CentralDB.Account {
        try await service.auth.account(authorization: req.headers[.authorization], client: ctx.remoteAddress?.ipAddress ?? "unknown")
    }

    func gate(_ req: Request) async throws -> CentralDB.GateIdentity {
        guard let h = req.headers[.authorization], h.hasPrefix("Bearer "), let g = try await db.authenticateGate(token: String(h.dropFirst(7))) else {
            throw WireError(code: "unauthorized", message: "a gate token is required")
        }
        return g
    }

    /// An account reads only its scope. To an account without scope over a place, an unknown
    /// id and someone else's id get the same 403 (which ids exist is not told); only the city
    /// admin, who could list them anyway, hears 404 for an id that does not exist.
    func require(_ a: CentralDB.Account, mayRead communities: [String]) async throws {
        let visible = try await db.communities(visibleTo: a)
        if communities.isEmpty || communities.contains(where: { !visible.contains($0) }) {
            if a.role == "admin" { throw CentralError(.notFound, "no communities in that scope") }
            throw CentralError(.forbidden, "account \(a.name) may not read that scope (or it does not exist)")
        }
    }

    func require(_ a: CentralDB.Account, mayWrite community: String) async throws {
        guard a.role == "admin" || (a.role == "community_admin" && a.scope == community) else {
            throw CentralError(.forbidden, "account \(a.name) (\(a.role)) may not change the registry of \(community)")
        }
    }

    func scopeOf(_ req: Request) throws -> (String, String?) {
        let q = req.uri.queryParameters
        for s in ["community", "street", "district"] {
            if let v = q.get(s) { return (s, v) }
        }
        if let v = q.get("city") { return ("city", v.isEmpty ? nil : v) }
        throw CentralError(.invalid, "one of community, street, district or city is required")
    }

    func dayOf(_ req: Request) throws -> String {
        if let d = req.uri.queryParameters.get("date") {
            guard d.utf8.count == 10, d.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil, Self.isCalendarDay(d) else {
                throw CentralError(.invalid, "date must be a real day YYYY-MM-DD between 2000 and 2099")
            }
            return d
        }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date())
    }

    /// A calendar day that exists (no 2026-99-99, no year 0000) in 2000…2099.
    static func isCalendarDay(_ d: String) -> Bool {
        let parts = d.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (2000...2099).contains(parts[0]), (1...12).contains(parts[1]), parts[2] >= 1 else { return false }
        var c = DateComponents()
        c.year = parts[0]
        c.month = parts[1]
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        guard let first = cal.date(from: c), let days = cal.range(of: .day, in: .month, for: first) else { return false }
        return days.contains(parts[2])
    }

    func int64(_ req: Request, _ name: String) throws -> Int64? {
        guard let s = req.uri.queryParameters.get(name) else { return nil }
        guard let v = Int64(s), v >= 0 else { throw WireError(code: "bad_request", message: "\(name) must be a non-negative integer") }
        return v
    }

    func decode<T: Decodable>(_ req: Request) async throws -> T {
        let buf = try await req.body.collect(upTo: Wire.maxBodyBytes)
        do { return try JSONDecoder().decode(T.self, from: Data(buf.readableBytesView)) } catch {
            throw WireError(code: "bad_request", message: "body is not a valid \(T.self)")
        }
    }

    // MARK: responses

    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let e as WireError {
            let status: HTTPResponse.Status = switch e.code {
            case "unauthorized": .unauthorized
            case "rate_limited": .tooManyRequests
            case "busy": .serviceUnavailable
            case "integrity", "gap": .conflict
            default: .badRequest
            }
            return Self.error(status, e)
        } catch let e as CentralError {
            let status: HTTPResponse.Status = switch e.code {
            case .notFound: .notFound
            case .invalid: .badRequest
            case .conflict, .integrity: .conflict
            case .forbidden: .forbidden
            }
            return Self.error(status, WireError(code: e.code.rawValue, message: e.message))
        } catch is NIOTooManyBytesError {
            // A body over the limit is the sender's to split, not a reason to retry as is.
            return Self.error(.contentTooLarge, WireError(code: "too_large", message: "request body larger than \(Wire.maxBodyBytes) bytes; send smaller batches (at most \(Wire.maxBatchBytes) bytes)"))
        } catch let e as HTTPError {
            return Self.error(e.status, WireError(code: "http", message: e.body ?? "\(e.status)"))
        } catch {
            service.logger.error("request failed: \(String(reflecting: error).prefix(500))")
            return Self.error(.serviceUnavailable, WireError(code: "unavailable", message: "central could not complete the request; retry"))
        }
    }

    static func json<T: Encodable>(_ v: T) -> Response {
        let data = (try? Wire.encoder.encode(v)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func text(_ s: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static func error(_ status: HTTPResponse.Status, _ e: WireError) -> Response {
        let data = (try? Wire.encoder.encode(e)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

public struct LedgerPage: Codable, Sendable {
    public var rows: [CentralDB.LedgerRow]
    public var gates: [CentralDB.GateCompleteness]
    public init(rows: [CentralDB.LedgerRow], gates: [CentralDB.GateCompleteness]) {
        self.rows = rows
        self.gates = gates
    }
}

/// Hummingbird's request context plus the client's address (for the login limit).
public struct CentralContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

public enum Roles {
    /// Who may see names and ID numbers unmasked: the city admin and a community's own admin.
    public static func mayUnmask(_ role: String) -> Bool { role == "admin" || role == "community_admin" }
}
