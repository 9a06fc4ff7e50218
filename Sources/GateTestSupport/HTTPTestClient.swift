import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A deliberately small HTTP/1.1 client over a plain socket, for tests of the web front: it sends
/// exactly the bytes a test asks for (hostile headers included), reads chunked or sized bodies,
/// and reads Server-Sent Events frame by frame from a connection the test can cut at any moment.
/// Blocking I/O runs on its own thread, never on the concurrency pool the server shares.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    public func headers(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
}

public struct HTTPTestError: Error, CustomStringConvertible {
    public let description: String
}

/// One TCP connection to 127.0.0.1:port.
public final class HTTPConnection: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestError(description: "socket: \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else {
            close(fd)
            throw HTTPTestError(description: "connect to \(port): \(errno)")
        }
    }

    deinit { close(fd) }

    /// Cuts the connection at once (RST, like a dropped network).
    public func cut() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    public func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPTestError(description: "send: \(errno)") }
            off += n
        }
    }

    /// Reads more bytes into the buffer; false at EOF. Throws on timeout.
    func fill(deadline: Double) throws -> Bool {
        let left = deadline - Date().timeIntervalSince1970
        guard left > 0 else { throw HTTPTestError(description: "timed out") }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(left * 1000))
        guard r > 0 else { throw HTTPTestError(description: "timed out") }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer += chunk[..<n]
        return true
    }

    func line(deadline: Double) throws -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var l = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if l.last == 0x0D { l.removeLast() }
                return String(decoding: l, as: UTF8.self)
            }
            guard try fill(deadline: deadline) else { return nil }
        }
    }

    func exactly(_ n: Int, deadline: Double) throws -> [UInt8] {
        while buffer.count < n { guard try fill(deadline: deadline) else { throw HTTPTestError(description: "EOF in body") } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Status line and headers.
    public func head(timeout: Double = 10) throws -> (Int, [(String, String)]) {
        let deadline = Date().timeIntervalSince1970 + timeout
        guard let status = try line(deadline: deadline) else { throw HTTPTestError(description: "EOF before status") }
        let parts = status.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { throw HTTPTestError(description: "bad status line \(status)") }
        var headers: [(String, String)] = []
        while let l = try line(deadline: deadline), !l.isEmpty {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        return (code, headers)
    }

    var chunkLeft = 0
    var chunked = false
    var bodyDone = false

    /// The next piece of a chunked body (or of a body read to EOF); nil at its end.
    func bodyPiece(deadline: Double) throws -> [UInt8]? {
        if bodyDone { return nil }
        if !chunked {
            if buffer.isEmpty, try !fill(deadline: deadline) {
                bodyDone = true
                return nil
            }
            defer { buffer = [] }
            return buffer
        }
        if chunkLeft == 0 {
            guard let sizeLine = try line(deadline: deadline), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                throw HTTPTestError(description: "bad chunk")
            }
            if size == 0 {
                bodyDone = true
                return nil
            }
            chunkLeft = size
        }
        if buffer.isEmpty { guard try fill(deadline: deadline) else { throw HTTPTestError(description: "EOF in chunk") } }
        let n = min(chunkLeft, buffer.count)
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        chunkLeft -= n
        if chunkLeft == 0 { _ = try line(deadline: deadline) }
        return out
    }
}

public enum HTTPTestClient {
    /// One request on a new connection (`Connection: close`); the whole reply.
    public static func request(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Double = 10) throws
        -> HTTPReply
    {
        let c = try HTTPConnection(port: port)
        var req = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { req += "Content-Length: \(body.count)\r\n" }
        try c.send(Array((req + "\r\n").utf8) + body)
        let (status, hs) = try c.head(timeout: timeout)
        let deadline = Date().timeIntervalSince1970 + timeout
        var out: [UInt8] = []
        if let len = hs.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            out = try c.exactly(len, deadline: deadline)
        } else {
            c.chunked = hs.contains { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }
            while let p = try c.bodyPiece(deadline: deadline) { out += p }
        }
        return HTTPReply(status: status, headers: hs, body: out)
    }

    /// The same on a thread of its own.
    public static func fetch(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Double = 10)
        async throws -> HTTPReply
    {
        try await offPool { try request(port: port, method, path, headers: headers, body: body, timeout: timeout) }
    }

    /// Runs blocking work on a new thread.
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            let t = Thread { cont.resume(with: Result { try work() }) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// `a=1; b=2` from a reply's Set-Cookie headers, for the next request.
    public static func cookies(_ r: HTTPReply, into jar: inout [String: String]) {
        for h in r.headers("set-cookie") {
            let kv = h.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { continue }
            let (k, v) = (String(kv[0]).trimmingCharacters(in: .whitespaces), String(kv[1]))
            if v.isEmpty { jar[k] = nil } else { jar[k] = v }
        }
    }

    public static func cookieHeader(_ jar: [String: String]) -> String {
        jar.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }

    public static func formBody(_ fields: [(String, String)]) -> [UInt8] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return Array(
            fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
                .joined(separator: "&").utf8)
    }
}

/// One Server-Sent Events connection, read frame by frame.
public final class SSETestStream: @unchecked Sendable {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var event: String
        public var data: String
    }

    public let connection: HTTPConnection
    public let status: Int
    public let headers: [(String, String)]
    var text: [UInt8] = []
    public private(set) var comments = 0

    public init(port: Int, path: String, headers: [(String, String)] = [], timeout: Double = 10) throws {
        connection = try HTTPConnection(port: port)
        var req = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        try connection.send(Array((req + "\r\n").utf8))
        (status, self.headers) = try connection.head(timeout: timeout)
        connection.chunked = self.headers.contains { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }
    }

    /// The next event (comments and `retry:` are counted, not returned); nil when the stream ends.
    public func next(timeout: Double = 10) throws -> Event? {
        let deadline = Date().timeIntervalSince1970 + timeout
        while true {
            if let end = Self.blockEnd(text) {
                let block = String(decoding: text[..<end.start], as: UTF8.self)
                text.removeFirst(end.end)
                var e = Event(id: nil, event: "message", data: "")
                var hasData = false
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") {
                        comments += 1
                        continue
                    }
                    let (k, v): (Substring, Substring) =
                        line.firstIndex(of: ":").map { i in (line[..<i], line[line.index(after: i)...].drop { $0 == " " }) } ?? (line, "")
                    switch k {
                    case "id": e.id = String(v)
                    case "event": e.event = String(v)
                    case "data":
                        e.data += (hasData ? "\n" : "") + v
                        hasData = true
                    default: break
                    }
                }
                if hasData { return e }
                continue
            }
            guard let piece = try connection.bodyPiece(deadline: deadline) else { return nil }
            text += piece
        }
    }

    static func blockEnd(_ b: [UInt8]) -> (start: Int, end: Int)? {
        guard b.count >= 2 else { return nil }
        for i in 0..<(b.count - 1) where b[i] == 0x0A && b[i + 1] == 0x0A { return (i, i + 2) }
        return nil
    }

    public func cut() { connection.cut() }
}

/// A signed-in browser, as far as the tests need one: the cookie jar and the page's CSRF token.
public struct WebTestSession: Sendable {
    public let port: Int
    public var jar: [String: String]
    public var csrf: String

    public init(port: Int, jar: [String: String], csrf: String) {
        self.port = port
        self.jar = jar
        self.csrf = csrf
    }

    /// Logs in through the real form (login page, its CSRF cookie, POST), then reads the CSRF
    /// token from the live page (or `page`).
    public static func login(port: Int, user: String, password: String, page: String = "/live") async throws -> (WebTestSession?, HTTPReply) {
        var jar: [String: String] = [:]
        let form = try await HTTPTestClient.fetch(port: port, "GET", "/login")
        HTTPTestClient.cookies(form, into: &jar)
        let token = Self.csrf(in: form.text) ?? ""
        let r = try await HTTPTestClient.fetch(
            port: port, "POST", "/login", headers: [("Cookie", HTTPTestClient.cookieHeader(jar)), ("Content-Type", "application/x-www-form-urlencoded")],
            body: HTTPTestClient.formBody([("csrf", token), ("user", user), ("password", password)]))
        HTTPTestClient.cookies(r, into: &jar)
        guard r.status == 303, jar["postern_session"] != nil else { return (nil, r) }
        var s = WebTestSession(port: port, jar: jar, csrf: "")
        let p = try await s.get(page)
        s.csrf = Self.csrf(in: p.text) ?? ""
        return (s, r)
    }

    /// The CSRF token a page carries (meta tag or hidden field).
    public static func csrf(in html: String) -> String? {
        for marker in ["name=\"csrf\" content=\"", "name=\"csrf\" value=\""] {
            if let r = html.range(of: marker) {
                return String(html[r.upperBound...].prefix { $0 != "\"" })
            }
        }
        return nil
    }

    public var cookie: (String, String) { ("Cookie", HTTPTestClient.cookieHeader(jar)) }

    public func get(_ path: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await HTTPTestClient.fetch(port: port, "GET", path, headers: [cookie] + headers)
    }

    public func post(_ path: String, csrf: String?, form: [(String, String)] = []) async throws -> HTTPReply {
        var h = [cookie, ("Content-Type", "application/x-www-form-urlencoded")]
        if let csrf { h.append(("X-CSRF-Token", csrf)) }
        return try await HTTPTestClient.fetch(port: port, "POST", path, headers: h, body: HTTPTestClient.formBody(form))
    }

    /// An event stream with this session's cookie.
    public func stream(_ path: String, lastEventID: String? = nil) async throws -> SSETestStream {
        let h = [cookie] + (lastEventID.map { [("Last-Event-ID", $0)] } ?? [])
        return try await HTTPTestClient.offPool { try SSETestStream(port: port, path: path, headers: h) }
    }
}

extension SSETestStream {
    /// `next` on a thread of its own.
    public func nextEvent(timeout: Double = 10) async throws -> Event? {
        try await HTTPTestClient.offPool { try self.next(timeout: timeout) }
    }
}
