import CentralStore
import Foundation
import GateCore
import Hummingbird
import HummingbirdBcrypt
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PosternWeb
import ServiceLifecycle
import Synchronization

/// Central's web front: PosternWeb's pages for each community (`/c/COMMUNITY/live`, `/ledger`,
/// the stream, photos, alarm acknowledgement), behind one way in (`/login`, central's own
/// accounts and roles) and a community picker (`/`). A request for a community is refused before
/// anything is read unless the session's scope holds that community. One `WebServer` per
/// community is made on first use and kept; its feed follows the community's sequence.
public final class CentralWeb: Sendable {
    let db: CentralDB
    let wakeups: Wakeups
    let config: CentralConfig.Web
    public let gate: WebGate
    public let metrics = WebMetrics(countsRecords: false)
    let logger: Logger
    struct Site: Sendable {
        let web: WebServer
        let responder: RouterResponder<WebContext>
        let task: Task<Void, Never>
    }
    let sites = Mutex<[String: Site]>([:])
    /// When each community's pages were last asked for (for `sweep`).
    let lastUsed = Mutex<[String: Double]>([:])
    let stopped = Mutex(false)
    /// A community's feed with no stream open and no request for this long is dropped (its
    /// window and state go; the next request rebuilds them from the database).
    public static let idleSeconds = 600.0

    let auth: AccountAuth

    init(db: CentralDB, auth: AccountAuth, wakeups: Wakeups, config: CentralConfig.Web, logger: Logger) {
        self.db = db
        self.auth = auth
        self.wakeups = wakeups
        self.config = config
        self.logger = logger
        gate = WebGate(
            accounts: CentralAccounts(db: db, auth: auth), secure: config.tlsCert != nil, title: "postern-central", landing: "/",
            loginAttemptsPerMinute: config.loginAttemptsPerMinute, sessionMinutes: config.sessionMinutes, metrics: metrics, logger: logger)
    }

    /// Central's roles on the web: a community admin and the city admin see everything of their
    /// communities (photos, acknowledging); an operator is the guard in the booth; supervisors
    /// watch with masked names, no photos, no acknowledging.
    public static func role(_ central: String) -> Role {
        switch central {
        case "admin", "community_admin": .admin
        case "operator": .guard
        default: .viewer
        }
    }

    /// The site of one community, made on first use; nil when there is no such community.
    func site(_ community: String) async throws -> Site? {
        if stopped.withLock({ $0 }) { return nil }
        lastUsed.withLock { $0[community] = Date().timeIntervalSince1970 }
        if let s = sites.withLock({ $0[community] }) { return s }
        guard let name = try await db.communityName(community) else { return nil }
        var o = WebOptions(usersFile: "", boardFile: "")
        o.base = "/c/" + community
        o.scope = community
        o.board = false
        o.metricsRoute = false
        o.tlsCert = config.tlsCert
        o.tlsKey = config.tlsKey
        o.community = name
        o.windowEvents = config.windowEvents
        o.heartbeatSeconds = config.heartbeatSeconds
        o.language = Language(rawValue: config.language) ?? .zh
        let source = CentralSource(community: community, name: name, db: db, wakeups: wakeups)
        let web = WebServer(source: source, options: o, metrics: metrics, logger: logger, gate: gate)
        let router = Router(context: WebContext.self)
        web.routes(router)
        let responder = router.buildResponder()
        return sites.withLock { m -> Site in
            if let s = m[community] { return s }
            let feed = web.feed
            let log = logger
            // The feed reads until cancelled. If the database fails it, the site is dropped: its
            // streams end, browsers reconnect with Last-Event-ID, and the next request makes a
            // fresh site (a new feed rebuilds its window and state from the database).
            let task = Task { [weak self] in
                do { try await feed.run() } catch { log.notice("live feed of \(community) stopped: \(error); the next request starts it again") }
                self?.sites.withLock { m in
                    if m[community]?.web === web { m[community] = nil }
                }
            }
            let s = Site(web: web, responder: responder, task: task)
            m[community] = s
            return s
        }
    }

    /// Communities whose feed is kept now.
    public var communitiesServed: [String] { sites.withLock { Array($0.keys).sorted() } }

    /// Drops the sites of communities with no open stream that nobody asked for in `idle`
    /// seconds, so memory follows what is watched, not every community ever opened.
    public func sweep(idle: Double = CentralWeb.idleSeconds) {
        let now = Date().timeIntervalSince1970
        let used = lastUsed.withLock { $0 }
        let gone: [Site] = sites.withLock { m in
            let idleOnes = m.filter { id, s in s.web.feed.viewerCount == 0 && now - (used[id] ?? 0) >= idle }
            for id in idleOnes.keys { m[id] = nil }
            return Array(idleOnes.values)
        }
        for s in gone {
            s.task.cancel()
            s.web.feed.stopStreams()
        }
    }

    func stopAll() {
        stopped.withLock { $0 = true }
        for s in sites.withLock({ Array($0.values) }) {
            s.task.cancel()
            s.web.feed.stopStreams()
        }
    }

    /// The router: the way in, assets, the picker, and every `/c/…` request dispatched.
    public func router() -> Router<WebContext> {
        let r = Router(context: WebContext.self)
        r.add(middleware: SecurityHeaders())
        r.add(middleware: Dispatch(web: self))
        WebServer.assetRoutes(r)
        gate.routes(r)
        r.get("/metrics") { [self] req, ctx in
            guard try await scraper(req, ctx) != nil else {
                var h = HTTPFields()
                h[.wwwAuthenticate] = "Basic realm=\"postern-central metrics\""
                return Response(status: .unauthorized, headers: h)
            }
            try await sampleDatabase()
            var h = HTTPFields()
            h[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: metrics.scrape())))
        }
        r.get("/") { [self] req, _ in
            guard let (_, s) = gate.session(req) else { return WebServer.redirect("/login") }
            let ids = (s.communities ?? []).sorted()
            if ids.count == 1 { return WebServer.redirect("/c/\(ids[0])/live") }
            var list: [(String, String)] = []
            for id in ids { list.append((id, try await db.communityName(id) ?? id)) }
            return WebServer.pickerPage(user: s.user, role: s.role, csrf: s.csrf, communities: list)
        }
        return r
    }

    /// A Prometheus scraper: HTTP Basic with a central account of role `admin` (the figures span
    /// every community).
    func scraper(_ req: Request, _ ctx: WebContext) async throws -> String? {
        guard let h = req.headers[.authorization], h.hasPrefix("Basic "), h.utf8.count < 1024, let raw = Data(base64Encoded: String(h.dropFirst(6))),
            let text = String(data: raw, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        guard gate.mayTry(ctx) else { return nil }
        let name = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        guard let a = try await auth.verified(name: name, password: password), a.role == "admin" else {
            gate.failedTry(ctx)
            return nil
        }
        return a.name
    }

    /// Central's own figures, read from the database at each scrape: each gate's upload state and
    /// today's events per community.
    func sampleDatabase() async throws {
        let reg = metrics.registry
        let all = try await db.communities(scope: "city", id: nil)
        let now = Date().timeIntervalSince1970
        for g in try await db.completeness(communities: all) {
            let labels = [("community", g.community), ("gate", g.gate)]
            reg.makeGauge(descriptor: .named("postern_central_gate_acked_seq", "Highest record of the gate central holds."), labels: labels).set(g.ackedSeq)
            reg.makeGauge(descriptor: .named("postern_central_gate_behind_records", "Records the gate said it has that central does not hold yet."), labels: labels)
                .set(Int64(g.behindRecords))
            if let u = g.lastUpload {
                reg.makeGauge(descriptor: .named("postern_central_gate_upload_age_seconds", "Seconds since the gate's last upload."), labels: labels).set(Double(now - u))
            }
            reg.makeGauge(descriptor: .named("postern_central_gate_integrity_finding", "1 while the gate has an integrity finding."), labels: labels).set(
                Int64(g.integrity == nil ? 0 : 1))
        }
        for t in try await db.eventCountsToday() {
            reg.makeGauge(
                descriptor: .named("postern_central_events_today", "Today's events at central, by community, kind, outcome and late."),
                labels: [("community", t.community), ("kind", t.kind), ("outcome", t.outcome), ("late", t.late ? "true" : "false")]
            ).set(Int64(t.count))
        }
    }

    /// Hands `/c/COMMUNITY/…` to that community's pages, after the session and its scope are
    /// checked: anonymous → the login page (pages) or 401; another community → 403, whether it
    /// exists or not.
    struct Dispatch: RouterMiddleware {
        typealias Context = WebContext
        let web: CentralWeb
        func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
            let path = request.uri.path
            guard path.hasPrefix("/c/") else { return try await next(request, context) }
            let id = String(path.dropFirst(3).prefix { $0 != "/" })
            guard CentralID.isValid(id) else { return Response(status: .notFound) }
            guard let (_, s) = web.gate.session(request) else {
                let page = request.method == .get && (path.hasSuffix("/live") || path.hasSuffix("/ledger"))
                return page ? WebServer.redirect("/login") : WebServer.unauthorized()
            }
            guard s.communities?.contains(id) == true else { return WebServer.forbidden("this account may not see that community") }
            guard let site = try await web.site(id) else { return Response(status: .notFound) }
            return try await site.responder.respond(to: request, context: context)
        }
    }

    /// The HTTP(S) server as a service; `onRunning` gets the URL once the port is bound. Like the
    /// API's listener: idle connections and partial requests closed after the idle timeout (an
    /// open event stream is a request in progress, never idle), at most `connectionCap` at once.
    func service(http1: HTTP1Channel.Configuration, connectionCap: Int, onRunning: @escaping @Sendable (String) -> Void = { _ in }) throws -> any Service {
        var server: HTTPServerBuilder = .http1(configuration: http1)
        if let cert = config.tlsCert, let key = config.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(configuration: http1), tlsConfiguration: tls)
        }
        let scheme = config.tlsCert != nil ? "https" : "http"
        let host = config.host
        let app = Application(
            router: router(), server: server, configuration: .init(address: .hostname(host, port: config.port), serverName: nil, availableConnectionsDelegate: MaximumAvailableConnections(max(8, connectionCap))),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                onRunning("\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            }, logger: logger)
        return WebService(web: self, app: app)
    }

    struct WebService: Service {
        let web: CentralWeb
        let app: any ApplicationProtocol
        func run() async throws {
            let sweeper = Task { [web] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(60))
                    web.sweep()
                }
            }
            defer { sweeper.cancel() }
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: {
                web.stopAll()
            }
            web.stopAll()
        }
    }
}

/// Central's accounts on the web: checked by the API's `AccountAuth` (bcrypt on its bounded pool,
/// off the event loops; an unknown name costs a bcrypt check too), the web role from the central role, and the communities in the account's
/// scope as they are at login.
struct CentralAccounts: WebAccounts {
    let db: CentralDB
    let auth: AccountAuth

    func account(name: String, password: String) async throws -> WebAccount? {
        guard let a = try await auth.verified(name: name, password: password) else { return nil }
        return WebAccount(name: a.name, role: CentralWeb.role(a.role), communities: try await db.communities(visibleTo: a))
    }
}
