import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// MARK: loopback sockets

private func loopback(_ port: Int) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = in_port_t(UInt16(port).bigEndian)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    return a
}

/// A TCP socket connected to 127.0.0.1:`port` (not checked: a failed connect shows as a failed read).
public func connectLocal(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var a = loopback(port)
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    return fd
}

/// Whether 127.0.0.1:`port` accepts a connection now.
public func accepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = loopback(port)
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

/// Waits up to 30 s (300 tries, 100 ms apart) for `port` to accept; throws if it never does.
public func waitForPort(_ port: Int) async throws {
    for _ in 0..<300 {
        if accepts(port) { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw CocoaError(.executableLoad)
}

/// A loopback port free now (bound to port 0, the kernel's pick, then closed).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = loopback(0)
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: a.sin_port))
}

private func sendText(_ fd: Int32, _ text: String) {
    _ = text.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
}

// MARK: a minimal HTTP client

/// Sends `text` (a whole request, `Connection: close`) to `port`; the reply, read to its end.
public func request(_ port: Int, _ text: String) -> String {
    let fd = connectLocal(port)
    defer { close(fd) }
    sendText(fd, text)
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buf[..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// The `name=value` of the reply's Set-Cookie for `name`.
public func cookie(_ reply: String, _ name: String) -> String? {
    for line in reply.split(separator: "\r\n") where line.lowercased().hasPrefix("set-cookie: \(name)=") {
        return String(line.dropFirst("set-cookie: ".count).split(separator: ";")[0])
    }
    return nil
}

/// Logs in at a web front (kiosk or central: the same login form) and returns the session cookie.
public func login(_ port: Int, user: String, password: String) -> String {
    let page = request(port, "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    let pre = cookie(page, "postern_login")!
    let csrf = String(page.components(separatedBy: "name=\"csrf\" value=\"")[1].prefix { $0 != "\"" })
    let body = "csrf=\(csrf)&user=\(user)&password=\(password)"
    let r = request(port, "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: \(pre)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
    guard let s = cookie(r, "postern_session") else { fatalError("login failed: \(r.prefix(300))") }
    return s
}

/// The URL a web front reports once it listens (its `onRunning`), and the port in it.
public final class URLBox: @unchecked Sendable {
    private let lock = NSLock()
    private var url: String?
    public init() {}
    public func set(_ u: String) { lock.withLock { url = u } }
    /// Waits (10 ms steps) for the URL, then returns its port.
    public func port() async throws -> Int {
        while lock.withLock({ url }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        return Int(lock.withLock { url! }.split(separator: ":").last!)!
    }
}

// MARK: SSE viewers

/// Viewers: event streams read on one thread with poll; when each event id first arrives.
public final class Viewers: @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32] = []
    /// Per viewer: event id → wall time it first arrived.
    private var arrivals: [[UInt64: Double]] = []
    private var partial: [[UInt8]] = []
    private var running = true

    public init() {}

    /// Opens `n` streams of `path` at `port`; returns their indexes.
    @discardableResult
    public func open(_ n: Int, port: Int, path: String, session: String) -> Range<Int> {
        let first = lock.withLock { fds.count }
        for _ in 0..<n {
            let fd = connectLocal(port)
            sendText(fd, "GET \(path) HTTP/1.1\r\nHost: x\r\nCookie: \(session)\r\n\r\n")
            lock.withLock {
                fds.append(fd)
                arrivals.append([:])
                partial.append([])
            }
        }
        return first..<(first + n)
    }

    /// Starts the reading thread.
    public func start() {
        let reader = Thread { self.run() }
        reader.stackSize = 1 << 20
        reader.start()
    }

    /// Forgets every arrival so far (the streams stay open).
    public func clearArrivals() {
        lock.withLock { for i in arrivals.indices { arrivals[i] = [:] } }
    }

    /// Stops the reading thread and closes every stream.
    public func stop() {
        lock.withLock { running = false }
        for fd in fds { close(fd) }
    }

    private func run() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while lock.withLock({ running }) {
            var pfds = lock.withLock { fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            guard poll(&pfds, nfds_t(pfds.count), 100) > 0 else { continue }
            let t = wall()
            for (i, p) in pfds.enumerated() where p.revents & Int16(POLLIN) != 0 {
                let n = buf.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { continue }
                lock.withLock {
                    partial[i] += buf[..<n]
                    while let nl = partial[i].firstIndex(of: 0x0A) {
                        let line = partial[i][..<nl]
                        if line.starts(with: Array("id: ".utf8)), let id = UInt64(String(decoding: line.dropFirst(4), as: UTF8.self)), arrivals[i][id] == nil {
                            arrivals[i][id] = t
                        }
                        partial[i].removeSubrange(...nl)
                    }
                }
            }
        }
    }

    /// Delivery latencies (arrival − stamp) of the `stamps` events over `viewers` (all by default),
    /// and how many (viewer, event) deliveries are missing.
    public func latencies(_ stamps: [UInt64: Double], _ viewers: Range<Int>? = nil) -> (lat: [Double], missing: Int) {
        var lat: [Double] = []
        var missing = 0
        lock.withLock {
            for i in viewers ?? arrivals.indices {
                for (seq, at) in stamps {
                    if let got = arrivals[i][seq] { lat.append(got - at) } else { missing += 1 }
                }
            }
        }
        return (lat, missing)
    }
}
