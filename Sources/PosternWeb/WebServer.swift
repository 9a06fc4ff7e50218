import Foundation
import GateCore
import GateStore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// How the web front is set up.
public struct WebOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// PEM files; with both, HTTPS only (and cookies get `Secure`).
    public var tlsCert: String?
    public var tlsKey: String?
    public var usersFile: String
    /// The board's roster and notices (admin-edited).
    public var boardFile: String
    public var community = "本小区"
    /// Notices from the config, shown until an admin edits the board.
    public var notices: [String] = []
    public var loginAttemptsPerMinute = 5
    public var sessionMinutes = 720
    /// Seconds without an event before a stream gets a heartbeat comment.
    public var heartbeatSeconds = 15.0
    /// Language the pages start in.
    public var language = Language.zh
    /// How many shown events the live window keeps for reconnecting viewers.
    public var windowEvents = 4096
    /// Path prefix of this source's pages (central: `/c/COMMUNITY`; a kiosk: none). With a
    /// prefix, the way in (`/login`, `/logout`), `/` and `/assets` belong to whoever hosts it.
    public var base = ""
    /// A session must list this place among its communities (central); nil: any session.
    public var scope: String?
    /// The board at the gate and its editor (a kiosk's display; central serves none).
    public var board = true
    /// `/metrics` under `base`.
    public var metricsRoute = true

    public init(usersFile: String, boardFile: String) {
        self.usersFile = usersFile
        self.boardFile = boardFile
    }
}

/// The request context: Hummingbird's, plus the client's address (for the login limit).
public struct WebContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The web front as a service: the HTTP(S) server and the live feed it serves from.
public final class WebServer: Sendable {
    public let source: any LiveSource
    public let feed: LiveFeed
    public let options: WebOptions
    public let metrics: WebMetrics
    public let gate: WebGate
    let logger: Logger
    let address = Mutex<String?>(nil)
    /// Why the server stopped on its own, if it did.
    let failure = Mutex<String?>(nil)
    public var failed: String? { failure.withLock { $0 } }
    public func noteFailure(_ why: String) { failure.withLock { $0 = why } }

    /// `gate`: the shared way in (central); nil makes one over `options.usersFile` (a kiosk).
    public init(source: any LiveSource, options: WebOptions, metrics: WebMetrics = WebMetrics(), logger: Logger, gate: WebGate? = nil) {
        self.source = source
        self.options = options
        self.metrics = metrics
        self.logger = logger
        feed = LiveFeed(source: source, capacity: options.windowEvents, metrics: metrics)
        self.gate =
            gate
            ?? WebGate(
                accounts: AccountFile(path: options.usersFile), secure: options.tlsCert != nil, title: source.title, landing: options.base + "/live",
                loginAttemptsPerMinute: options.loginAttemptsPerMinute, sessionMinutes: options.sessionMinutes, metrics: metrics, logger: logger)
    }

    var secure: Bool { options.tlsCert != nil }

    /// `http(s)://host:port` once listening.
    public var url: String? { address.withLock { $0 } }

    /// The service to put in a ServiceGroup; `onRunning` gets the URL once the port is bound.
    public func service(onRunning: @escaping @Sendable (String) -> Void = { _ in }) throws -> any Service {
        WebService(server: self, app: try application(onRunning: onRunning))
    }

    func application(onRunning: @escaping @Sendable (String) -> Void) throws -> some ApplicationProtocol {
        let router = Router(context: WebContext.self)
        router.add(middleware: SecurityHeaders())
        routes(router)
        var server: HTTPServerBuilder = .http1()
        if let cert = options.tlsCert, let key = options.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        }
        let scheme = secure ? "https" : "http"
        let host = options.host
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: options.port), serverName: nil),
            services: [FeedService(feed: feed)],
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") ? "[\(host)]" : host
                let url = "\(scheme)://\(shown):\(port)"
                address.withLock { $0 = url }
                onRunning(url)
            },
            logger: logger)
    }

    // MARK: routes

    /// Serves the asset files (one copy for every source a process hosts).
    public static func assetRoutes(_ r: Router<WebContext>) {
        r.get("/assets/:file") { _, ctx in
            guard let name = ctx.parameters.get("file"), let f = Assets.files[name] else { return Response(status: .notFound) }
            var h = HTTPFields()
            h[.contentType] = f.type
            h[.cacheControl] = "public, max-age=3600"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: f.body)))
        }
    }

    /// This source's routes under `options.base` (and, without a base, the way in and assets).
    public func routes(_ r: Router<WebContext>) {
        let b = options.base
        if b.isEmpty {
            r.get("/") { _, _ in Self.redirect("/live") }
            Self.assetRoutes(r)
            gate.routes(r)
        }
        r.get("\(b)/live") { [self] req, _ in try await page(req, need: \.watches) { s in await livePage(s) } }
        r.get("\(b)/live/summary") { [self] req, _ in
            guard let (_, s) = session(req) else { return Self.unauthorized() }
            guard s.role.watches else { return Self.forbidden("not allowed for this account") }
            return Self.json(await summary())
        }
        r.get("\(b)/live/stream") { [self] req, _ in
            guard let (_, s) = session(req) else { return Self.unauthorized() }
            guard s.role.watches else { return Self.forbidden("not allowed for this account") }
            return try await stream(req, board: false)
        }
        r.get("\(b)/photo/:seq") { [self] req, ctx in
            guard let (_, s) = session(req) else { return Self.unauthorized() }
            guard s.role.seesPhotos else { return Self.forbidden("this account does not see photos") }
            guard let seq = ctx.parameters.get("seq").flatMap({ UInt64($0) }), let jpeg = try await photo(seq: seq) else { return Response(status: .notFound) }
            var h = HTTPFields()
            h[.contentType] = "image/jpeg"
            h[.cacheControl] = "private, max-age=600"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
        }
        r.post("\(b)/alarms/:seq/ack") { [self] req, ctx in
            guard let (_, s) = session(req) else { return Self.unauthorized() }
            guard s.role.acknowledges else { return Self.forbidden("this account cannot acknowledge alarms") }
            guard try await csrfOK(req, s) else { return Self.forbidden("CSRF token missing or wrong") }
            guard let seq = ctx.parameters.get("seq").flatMap({ UInt64($0) }), feed.state.alarms[seq] != nil else {
                return Response(status: .notFound)
            }
            var e = GateEvent(kind: .system, at: Date().timeIntervalSince1970)
            e.action = Views.ackAction
            e.key = String(seq)
            e.actor = s.user
            e.message = "alarm \(seq) acknowledged on the web by \(s.user)"
            let at = try await source.append(e)
            logger.notice("alarm \(seq) acknowledged by \(s.user) (seq \(at))")
            return Self.json(["acknowledged": seq, "seq": at])
        }
        r.get("\(b)/ledger") { [self] req, _ in
            try await page(req, need: \.watches) { s in try await ledgerPage(req, s) }
        }
        if options.board {
            r.get("\(b)/board") { [self] _, _ in await boardPage() }
            r.get("\(b)/board/stream") { [self] req, _ in try await stream(req, board: true) }
            r.get("\(b)/board/edit") { [self] req, _ in try await page(req, need: { $0 == .admin }) { s in try await boardEditPage(s, error: nil) } }
            r.post("\(b)/board/edit") { [self] req, _ in
                guard let (_, s) = session(req) else { return Self.redirect("/login") }
                guard s.role == .admin else { return Self.forbidden("only an admin edits the board") }
                let form = try await Self.form(req)
                guard Sessions.same(form["csrf"] ?? "", s.csrf) else { return Self.forbidden("CSRF token missing or wrong") }
                return try await saveBoard(form: form, s)
            }
        }
        if options.metricsRoute {
            r.get("\(b)/metrics") { [self] req, _ in
                var allowed = session(req).map { $0.1.role.scrapes } ?? false
                if !allowed, let (user, pass) = Self.basicAuth(req), AccountFile.validName(user),
                    let a = try await gate.accounts.account(name: user, password: pass), a.role.scrapes
                {
                    allowed = true
                }
                guard allowed else {
                    var h = HTTPFields()
                    h[.wwwAuthenticate] = "Basic realm=\"postern metrics\""
                    return Response(status: .unauthorized, headers: h)
                }
                var h = HTTPFields()
                h[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: metrics.scrape())))
            }
        }
    }

    // MARK: sessions and requests

    /// The request's session, if it may see this source: a session whose communities do not
    /// include `options.scope` is no session here.
    func session(_ req: Request) -> (String, Sessions.Session)? {
        guard let (id, s) = gate.session(req) else { return nil }
        if let scope = options.scope, let cs = s.communities, !cs.contains(scope) { return nil }
        return (id, s)
    }

    func csrfOK(_ req: Request, _ s: Sessions.Session) async throws -> Bool {
        if let h = req.headers[.init("X-CSRF-Token")!] { return Sessions.same(h, s.csrf) }
        return false
    }

    /// A page for a signed-in account with the right role: anonymous → the login page, wrong
    /// role → 403.
    func page(_ req: Request, need: (Role) -> Bool, _ body: (Sessions.Session) async throws -> Response) async throws -> Response {
        guard let (_, s) = session(req) else { return Self.redirect("/login") }
        guard need(s.role) else { return Self.forbidden("not allowed for this account") }
        return try await body(s)
    }

    static let maxForm = 64 << 10

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB).
    static func form(_ req: Request) async throws -> [String: String] {
        var req = req
        let buf = try await req.collectBody(upTo: maxForm)
        return parseForm(String(buffer: buf))
    }

    static func parseForm(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = String(kv[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            let v = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            if let old = out[k] { out[k] = old + "\u{1F}" + v } else { out[k] = v }  // repeated keys (checkboxes) joined by US
        }
        return out
    }

    static func basicAuth(_ req: Request) -> (String, String)? {
        guard let h = req.headers[.authorization], h.hasPrefix("Basic "), let d = Data(base64Encoded: String(h.dropFirst(6))),
            let s = String(data: d, encoding: .utf8), let colon = s.firstIndex(of: ":")
        else { return nil }
        return (String(s[..<colon]), String(s[s.index(after: colon)...]))
    }

    static func client(_ ctx: WebContext) -> String { ctx.remoteAddress?.ipAddress ?? "unknown" }

    // MARK: pages

    func base(_ s: Sessions.Session?) -> [String: Any] {
        var c: [String: Any] = ["title": source.title, "csrf": s?.csrf ?? "", "lang": options.language.rawValue, "base": options.base, "board": options.board, "picker": !options.base.isEmpty]
        if let s {
            c["user"] = s.user
            c["role"] = s.role.rawValue
            c["admin"] = s.role == .admin
        }
        return c
    }

    /// Where a freshly opened live page starts its stream: a screenful of recent events back.
    func startPoint(back: Int = 50) -> UInt64 {
        feed.shared.withLock { s in
            let n = s.items.count
            guard n > 0 else { return s.covered }
            let k = max(0, n - back)
            return s.items[(s.head + k) % n].seq - 1
        }
    }

    func livePage(_ s: Sessions.Session) async -> Response {
        let st = feed.state
        var c = base(s)
        c["after"] = String(startPoint())
        c["photos"] = s.role.seesPhotos ? "1" : "0"
        c["ack"] = s.role.acknowledges ? "1" : "0"
        c["alarms"] = st.openAlarms.map { a -> [String: Any] in
            ["seq": String(a.seq), "time": a.time, "lane": a.lane, "textZh": a.textZh, "textEn": a.textEn, "detail": a.detail, "ack": s.role.acknowledges]
        }
        c["lanes"] = st.laneList.map { l -> [String: Any] in
            ["lane": l.lane, "inAdmit": l.inAdmit, "inDeny": l.inDeny, "outAdmit": l.outAdmit, "outDeny": l.outDeny, "retests": l.retests]
        }
        c["devices"] = st.deviceList.map { d -> [String: Any] in
            ["device": d.device, "state": d.state, "since": d.since, "faultsToday": d.faultsToday, "lastReading": d.lastReading]
        }
        if let seven = try? await source.sevenCounts(day: LiveFeed.today(), now: Timestamp(Date().timeIntervalSince1970)) {
            c["seven"] = [
                "households": seven.households, "rentalHouseholds": seven.rentalHouseholds, "hubei": seven.hubei, "wuhan": seven.wuhan,
                "otherOutsiders": seven.otherOutsiders, "returnees": seven.returnees, "inIsolation": seven.inIsolation,
            ]
        }
        c["clockClass"] = st.clockUnsynced ? "clock-unsynced" : "clock-ok"
        c["clockText"] = st.clockUnsynced ? "时钟未同步 clock NOT synchronised" : "时钟已同步 clock synchronised"
        if let l = await source.link() {
            c["link"] = ["text": l.text, "class": l.degraded ? "link-degraded" : "link-ok"]
        }
        return Self.html(Templates.render("live", c))
    }

    struct Summary: Encodable {
        var lanes: [LiveState.LaneCounts]
        var devices: [LiveState.DeviceState]
        var seven: [String: Int]
        var clockUnsynced: Bool
        var openAlarms: Int
        var seq: UInt64
        var link: LinkStatus?
        var linkText: String?
    }

    func summary() async -> Summary {
        let st = feed.state
        var seven: [String: Int] = [:]
        if let s = try? await source.sevenCounts(day: LiveFeed.today(), now: Timestamp(Date().timeIntervalSince1970)) {
            seven = [
                "households": s.households, "rentalHouseholds": s.rentalHouseholds, "hubei": s.hubei, "wuhan": s.wuhan, "otherOutsiders": s.otherOutsiders,
                "returnees": s.returnees, "inIsolation": s.inIsolation, "passagesIn": s.passagesIn, "passagesOut": s.passagesOut, "feverAlerts": s.feverAlerts,
            ]
        }
        let link = await source.link()
        return Summary(
            lanes: st.laneList, devices: st.deviceList, seven: seven, clockUnsynced: st.clockUnsynced, openAlarms: st.alarms.count, seq: st.lastSeq,
            link: link, linkText: link?.text)
    }

    static func validDay(_ s: String) -> Bool {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        return p.count == 3 && p[0].count == 4 && p[1].count == 2 && p[2].count == 2 && p.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    func ledgerPage(_ req: Request, _ s: Sessions.Session) async throws -> Response {
        var day = req.uri.queryParameters["day"].map(String.init) ?? LiveFeed.today()
        if !Self.validDay(day) { day = LiveFeed.today() }
        let rows = try await source.ledger(day: day)
        var c = base(s)
        c["day"] = day
        c["gate"] = source.title
        c["count"] = rows.count
        c["rows"] = rows.map { r -> [String: Any] in
            [
                "seq": String(r.seq), "time": r.time, "clockUnsynced": r.clockUnsynced, "lane": r.lane, "direction": r.direction, "name": r.name,
                "idNumber": r.idNumber,
                "temperature": r.temperature, "outcome": r.outcome,
                "outcomeText": Outcome(rawValue: r.outcome).map { ReasonText.outcome($0, .zh) + " " + ReasonText.outcome($0, .en) } ?? r.outcome,
                "reasonText": (Reason(rawValue: r.reason).map { ReasonText.text($0, .zh) + " / " + ReasonText.text($0, .en) } ?? r.reason) + (r.attempts > 1 ? " ×\(r.attempts)" : ""), "staff": r.staff,
            ]
        }
        return Self.html(Templates.render("ledger", c))
    }

    func board() -> BoardSettings {
        BoardSettings.load(options.boardFile) ?? BoardSettings(roster: [], notices: options.notices)
    }

    func boardPage() async -> Response {
        let b = board()
        let staff = Dictionary(((try? await source.staff()) ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var c = base(nil)
        c["community"] = options.community
        c["after"] = String(feed.covered)
        c["roster"] = b.roster.compactMap { d -> [String: Any]? in
            guard let s = staff[d.staff] else { return nil }
            return ["duty": d.duty.isEmpty ? s.role : d.duty, "name": s.name, "phone": d.phone, "onDuty": d.onDuty(today: LiveFeed.today())]
        }
        c["notices"] = b.notices
        let last = feed.state.last
        c["lastOutcome"] = last?.outcome ?? ""
        c["lastInstructionZh"] = last?.instructionZh ?? "请出示出入证并测量体温"
        c["lastInstructionEn"] = last?.instructionEn ?? "Show your pass and take your temperature"
        c["lastTemp"] = last?.temp ?? "—"
        c["lastLane"] = last?.lane ?? ""
        c["lastTime"] = last?.time ?? ""
        return Self.html(Templates.render("board", c))
    }

    func boardEditPage(_ s: Sessions.Session, error: String?) async throws -> Response {
        let b = board()
        var c = base(s)
        c["error"] = error as Any
        c["staff"] = try await source.staff().sorted { $0.id < $1.id }.map { st -> [String: Any] in
            let d = b.roster.first { $0.staff == st.id }
            return [
                "id": st.id, "name": st.name, "published": d != nil, "duty": d?.duty ?? st.role, "phone": d?.phone ?? "",
                "onDuty": d?.onDuty(today: LiveFeed.today()) ?? false,
            ]
        }
        c["notices"] = b.notices.joined(separator: "\n")
        return Self.html(Templates.render("boardEdit", c))
    }

    func saveBoard(form: [String: String], _ s: Sessions.Session) async throws -> Response {
        let staff = try await source.staff()
        let published = Set((form["publish"] ?? "").split(separator: "\u{1F}").map(String.init))
        let onDuty = Set((form["onduty"] ?? "").split(separator: "\u{1F}").map(String.init))
        var b = BoardSettings()
        for st in staff.sorted(by: { $0.id < $1.id }) where published.contains(st.id) {
            b.roster.append(
                .init(
                    staff: st.id, duty: (form["duty.\(st.id)"] ?? st.role).trimmingCharacters(in: .whitespaces),
                    phone: (form["phone.\(st.id)"] ?? "").trimmingCharacters(in: .whitespaces), onDutyDay: onDuty.contains(st.id) ? LiveFeed.today() : nil))
        }
        b.notices = (form["notices"] ?? "").split(whereSeparator: { $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let why = b.problem() { return try await boardEditPage(s, error: why) }
        let before = board()
        try b.save(options.boardFile)
        var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
        (e.entity, e.key, e.action, e.actor) = ("board", "board", "update", s.user)
        e.before = jsonText(before)
        e.after = jsonText(b)
        _ = try await source.append(e)
        return Self.redirect(options.base + "/board")
    }

    /// The photo of the holder of the pass in passage `seq`.
    func photo(seq: UInt64) async throws -> [UInt8]? {
        let w = feed.person(seq: seq)
        if w.inWindow {
            guard let p = w.person else { return nil }
            return await source.photo(person: p)
        }
        guard seq > 0, let r = try await source.reader(after: seq - 1).next(limit: 1).first, r.seq == seq, let e = r.event, e.kind == .passage,
            let person = e.decision?.personID
        else { return nil }
        return await source.photo(person: person)
    }

    // MARK: the event stream

    func stream(_ req: Request, board: Bool) async throws -> Response {
        let start = SSE.resumePoint(lastEventID: req.headers[.init("Last-Event-ID")!], after: req.uri.queryParameters["after"].map(String.init)) ?? feed.covered
        var h = HTTPFields()
        h[.contentType] = "text/event-stream; charset=utf-8"
        h[.cacheControl] = "no-store"
        h[.init("X-Accel-Buffering")!] = "no"
        let feed = self.feed
        let metrics = self.metrics
        let heartbeat = options.heartbeatSeconds
        let head = try await source.head()
        return Response(
            status: .ok, headers: h,
            body: ResponseBody { writer in
                let (token, wake) = feed.subscribe()
                defer { feed.unsubscribe(token) }
                var pos = min(start, head)
                var lastWrite = ContinuousClock.now
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                var iterator = wake.makeAsyncIterator()
                // A viewer behind the window reads the source with a reader of its own, kept until it
                // reaches the window.
                var behind: (any LiveReader)?
                while true {
                    var frames: [String]
                    if let (f, upTo) = feed.frames(after: pos, board: board) {
                        behind = nil
                        frames = f
                        pos = upTo
                    } else {
                        if behind == nil { behind = try await feed.source.reader(after: pos) }
                        let (f, upTo) = try await feed.catchUp(reader: behind!, after: pos, board: board)
                        frames = f
                        if upTo == pos && f.isEmpty {
                            try await Task.sleep(for: .milliseconds(50))
                            continue
                        }
                        pos = upTo
                    }
                    if !frames.isEmpty {
                        try await writer.write(ByteBuffer(string: frames.joined()))
                        metrics.deliveredFrames(frames.count)
                        lastWrite = .now
                        continue
                    }
                    if ContinuousClock.now - lastWrite >= .seconds(heartbeat) {
                        try await writer.write(ByteBuffer(string: SSE.heartbeat))
                        lastWrite = .now
                    }
                    if feed.stopped { break }
                    guard await iterator.next() != nil else { break }
                }
                try await writer.finish(nil)
            })
    }

    /// The list of communities a central account may open (central's `/`).
    public static func pickerPage(user: String, role: Role, csrf: String, communities: [(id: String, name: String)]) -> Response {
        let c: [String: Any] = [
            "title": "Postern", "csrf": csrf, "user": user, "role": role.rawValue, "base": "", "board": false,
            "communities": communities.map { ["id": $0.id, "name": $0.name] },
        ]
        return html(Templates.render("picker", c))
    }

    // MARK: responses

    public static func html(_ s: String, status: HTTPResponse.Status = .ok) -> Response {
        var h = HTTPFields()
        h[.contentType] = "text/html; charset=utf-8"
        h[.cacheControl] = "no-store"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static func json<T: Encodable>(_ v: T) -> Response {
        var h = HTTPFields()
        h[.contentType] = "application/json"
        h[.cacheControl] = "no-store"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: jsonText(v))))
    }

    public static func redirect(_ to: String) -> Response {
        var h = HTTPFields()
        h[.location] = to
        return Response(status: .seeOther, headers: h)
    }

    public static func unauthorized() -> Response { Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "sign in first\n"))) }
    public static func forbidden(_ why: String) -> Response { Response(status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: why + "\n"))) }
}

/// Headers on every response: no framing, no sniffing, no referrer, scripts and everything else
/// from this origin only.
public struct SecurityHeaders: RouterMiddleware {
    public init() {}
    public typealias Context = WebContext
    public func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        var r = try await next(request, context)
        r.headers[.contentSecurityPolicy] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
        r.headers[.xContentTypeOptions] = "nosniff"
        r.headers[.init("Referrer-Policy")!] = "no-referrer"
        r.headers[.init("X-Frame-Options")!] = "DENY"
        return r
    }
}

/// Runs the live feed beside the server.
struct FeedService: Service {
    let feed: LiveFeed
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await feed.run() }
    }
}

/// The server and its feed; on shutdown the streams end first so the server can close. The web
/// front fails alone: if it cannot run (the port is taken, a TLS file is unreadable), it says so
/// and waits for the group's shutdown, so the gate beside it keeps deciding.
struct WebService: Service {
    let server: WebServer
    let app: any ApplicationProtocol
    func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: { [feed = server.feed] in
                feed.stopStreams()
            }
        } catch {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            server.logger.critical("web front stopped: \(error); the gate goes on without it")
            server.failure.withLock { $0 = "\(error)" }
            try? await gracefulShutdown()
        }
    }
}

extension LiveFeed {
    /// Ends every open stream (shutdown).
    public func stopStreams() {
        shared.withLock { $0.stopped = true }
        wakeAll(finish: true)
    }
}
