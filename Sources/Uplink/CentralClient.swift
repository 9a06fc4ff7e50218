/// The kiosk's side of the central plane (issue 13): an HTTP client for central with failover
/// between its URLs, the event shipper, the registry puller, the peer follower and the claimer.
/// Nothing here decides a passage: the rules stay in GateCore; this moves data and reports
/// reachability.
import AsyncHTTPClient
import CentralWire
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

public struct CentralUnavailable: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// HTTP to central: JSON in and out, the gate's bearer token, failover across URLs.
public final class CentralClient: Sendable {
    public let link: CentralLink
    let http: HTTPClient
    let authorization: String
    let preferred = LockedIndex()

    public convenience init(link: CentralLink, token: String) throws {
        try self.init(link: link, authorization: "Bearer " + token)
    }

    /// `authorization` is the whole header value (a gate's bearer token, an account's Basic).
    public init(link: CentralLink, authorization: String) throws {
        self.link = link
        self.authorization = authorization
        var config = HTTPClient.Configuration()
        config.timeout.connect = .milliseconds(Int64(link.connectTimeoutMs))
        config.timeout.read = .seconds(Int64(link.longPollSeconds + 15))
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        config.redirectConfiguration = .disallow
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = link.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        config.tlsConfiguration = tls
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Reads the gate's token file; refuses one other users can read.
    public static func readToken(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0, let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
            throw CentralUnavailable(message: "cannot read the central token file \(path)")
        }
        if st.st_mode & 0o077 != 0 { throw CentralUnavailable(message: "\(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it") }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty, t.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw CentralUnavailable(message: "\(path) does not hold a token") }
        return t
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// The URL answering now (for status and messages).
    public var currentURL: String { link.urls[preferred.get() % max(1, link.urls.count)] }

    /// Sends one request; on a transport failure tries the next URL (a refusal by central is an
    /// answer, not a failure, and is thrown as `WireError`).
    public func call<Resp: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)?, timeout: Duration, as: Resp.Type) async throws -> Resp {
        try await call(method, path, encoded: try body.map { try Wire.encoder.encode($0) }, timeout: timeout, as: Resp.self)
    }

    /// The same with a body already encoded (a benchmark measures central, not the encoder).
    public func call<Resp: Decodable>(_ method: HTTPMethod, _ path: String, encoded bytes: Data?, contentType: String = "application/json", timeout: Duration, as: Resp.Type) async throws -> Resp {
        var lastError: any Error = CentralUnavailable(message: "no central URL configured")
        let start = preferred.get()
        for i in 0..<max(1, link.urls.count) where !link.urls.isEmpty {
            let idx = (start + i) % link.urls.count
            do {
                let r: Resp = try await once(method, link.urls[idx] + path, bytes, contentType: contentType, timeout: timeout)
                if idx != start { preferred.set(idx) }
                return r
            } catch let e as WireError {
                throw e
            } catch {
                lastError = error
                if Task.isCancelled { throw error }
            }
        }
        throw lastError
    }

    func once<Resp: Decodable>(_ method: HTTPMethod, _ url: String, _ body: Data?, contentType: String, timeout: Duration) async throws -> Resp {
        var req = HTTPClientRequest(url: url)
        req.method = method
        req.headers.add(name: "Authorization", value: authorization)
        req.headers.add(name: "Accept", value: "application/json")
        if let body {
            req.headers.add(name: "Content-Type", value: contentType)
            req.body = .bytes(ByteBuffer(data: body))
        }
        let ms = Int64(timeout.components.seconds) * 1000 + Int64(timeout.components.attoseconds / 1_000_000_000_000_000)
        let resp = try await http.execute(req, timeout: .milliseconds(ms))
        let buf = try await resp.body.collect(upTo: Wire.maxBodyBytes * 4)
        let data = Data(buffer: buf)
        guard (200..<300).contains(resp.status.code) else {
            if let e = try? JSONDecoder().decode(WireError.self, from: data) { throw e }
            throw WireError(code: "http_\(resp.status.code)", message: String(decoding: data.prefix(200), as: UTF8.self))
        }
        return try JSONDecoder().decode(Resp.self, from: data)
    }
}

/// An index shared between tasks.
final class LockedIndex: @unchecked Sendable {
    private let lock = NSLock()
    private var v = 0
    func get() -> Int { lock.lock(); defer { lock.unlock() }; return v }
    func set(_ x: Int) { lock.lock(); v = x; lock.unlock() }
}

/// A value shared between tasks.
public final class Shared<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    public init(_ v: T) { self.v = v }
    public func get() -> T { lock.lock(); defer { lock.unlock() }; return v }
    public func set(_ x: T) { lock.lock(); v = x; lock.unlock() }
    @discardableResult
    public func update<R>(_ f: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return f(&v) }
}
