import Foundation
import GateCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The way in: the login form (its own CSRF cookie, the per-address failure limit), logout, and
/// the sessions they make. One per server process: a kiosk's `WebServer` makes its own; central
/// shares one across every community it serves, so a session and the login limit span them all.
public final class WebGate: Sendable {
    public let sessions: Sessions
    let limiter: LoginLimiter
    let accounts: any WebAccounts
    let secure: Bool
    let title: String
    /// Where a signed-in account goes after logging in (a metrics account: `/metrics`).
    let landing: String
    let metrics: WebMetrics
    let logger: Logger

    public init(
        accounts: any WebAccounts, secure: Bool, title: String, landing: String, loginAttemptsPerMinute: Int, sessionMinutes: Int, metrics: WebMetrics,
        logger: Logger
    ) {
        self.accounts = accounts
        self.secure = secure
        self.title = title
        self.landing = landing
        self.metrics = metrics
        self.logger = logger
        sessions = Sessions(idleSeconds: Double(sessionMinutes) * 60)
        limiter = LoginLimiter(limit: loginAttemptsPerMinute)
    }

    /// `/login` (GET, POST) and `/logout` (POST).
    public func routes(_ r: Router<WebContext>) {
        r.get("/login") { [self] req, _ in loginPage(req, error: nil) }
        r.post("/login") { [self] req, ctx in try await login(req, ctx) }
        r.post("/logout") { [self] req, _ in
            let form = try await WebServer.form(req)
            guard let (id, s) = session(req) else { return WebServer.redirect("/login") }
            guard Sessions.same(form["csrf"] ?? "", s.csrf) else { return WebServer.forbidden("CSRF token missing or wrong") }
            sessions.end(id)
            var resp = WebServer.redirect("/login")
            resp.setCookie(Cookie(name: "postern_session", value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
            return resp
        }
    }

    /// The login limit, for another way of signing in (central's `/metrics` over HTTP Basic):
    /// whether `ctx`'s address may try, and a failure to count against it.
    public func mayTry(_ ctx: WebContext) -> Bool { limiter.allowed(WebServer.client(ctx)) }
    public func failedTry(_ ctx: WebContext) { limiter.failed(WebServer.client(ctx)) }

    /// The session a request's cookie names (a forged or expired cookie: none).
    public func session(_ req: Request) -> (String, Sessions.Session)? {
        guard let id = req.cookies["postern_session"]?.value, let s = sessions.get(id) else { return nil }
        return (id, s)
    }

    func loginPage(_ req: Request, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = Sessions.token()
        var resp = WebServer.html(Templates.render("login", ["title": "Postern · \(title)", "csrf": token, "error": error as Any]), status: status)
        resp.setCookie(Cookie(name: "postern_login", value: token, maxAge: 1800, path: "/login", secure: secure, httpOnly: true, sameSite: .strict))
        return resp
    }

    func login(_ req: Request, _ ctx: WebContext) async throws -> Response {
        let client = WebServer.client(ctx)
        guard limiter.allowed(client) else {
            metrics.login(ok: false)
            logger.warning("login refused: too many failures from one address")
            return loginPage(req, error: "登录失败次数过多，请一分钟后再试 Too many failed logins: wait a minute", status: .tooManyRequests)
        }
        let form = try await WebServer.form(req)
        // Login CSRF: the form's token must match the cookie the login page set.
        guard let pre = req.cookies["postern_login"]?.value, Sessions.same(form["csrf"] ?? "", pre) else {
            return loginPage(req, error: "页面已过期，请重新登录 The page expired: log in again", status: .forbidden)
        }
        let user = form["user"] ?? ""
        let pass = form["password"] ?? ""
        let found: WebAccount?
        do {
            found = AccountFile.validName(user) ? try await accounts.account(name: user, password: pass) : nil
        } catch {
            // The accounts could not be asked now (central's password checks all busy, its
            // database away): not a failed login, and no detail for the client.
            logger.warning("web login not checked: \(error)")
            return loginPage(req, error: "暂时无法登录，请稍后再试 Logins cannot be checked now; try again shortly", status: .serviceUnavailable)
        }
        guard let a = found else {
            limiter.failed(client)
            metrics.login(ok: false)
            logger.notice("failed web login")
            return loginPage(req, error: "用户名或密码错误 Wrong user name or password", status: .unauthorized)
        }
        metrics.login(ok: true)
        let (id, _) = sessions.create(user: a.name, role: a.role, communities: a.communities)
        logger.notice("web login: \(a.name) (\(a.role.rawValue))")
        var resp = WebServer.redirect(a.role == .metrics ? "/metrics" : landing)
        resp.setCookie(Cookie(name: "postern_session", value: id, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
        resp.setCookie(Cookie(name: "postern_login", value: "", maxAge: 0, path: "/login", secure: secure, httpOnly: true, sameSite: .strict))
        return resp
    }
}
