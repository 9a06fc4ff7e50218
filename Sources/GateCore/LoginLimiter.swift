/// One limit on password guessing for every login Postern offers (the kiosk's web front, the
/// accounts of postern-central): failed attempts counted per client address.
import Synchronization

/// Failed logins per client address in a sliding window (a minute); over the limit, every attempt from
/// that address is refused (429) until the minute has passed, right password or not.
public final class LoginLimiter: Sendable {
    let failures = Mutex<[String: [Double]]>([:])
    let limit: Int
    let window: Double
    let now: @Sendable () -> Double

    public init(limit: Int, window: Double = 60, now: @escaping @Sendable () -> Double = LoginLimiter.monotonicSeconds) {
        self.limit = limit
        self.window = window
        self.now = now
    }

    /// Seconds on a monotonic clock (only differences matter).
    public static let monotonicSeconds: @Sendable () -> Double = {
        let c = origin.duration(to: .now).components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
    static let origin = ContinuousClock.now

    public func allowed(_ client: String) -> Bool {
        let t = now()
        return failures.withLock { m in
            let recent = (m[client] ?? []).filter { t - $0 < window }
            m[client] = recent.isEmpty ? nil : recent
            return recent.count < limit
        }
    }

    public func failed(_ client: String) {
        let t = now()
        failures.withLock { m in
            var recent = (m[client] ?? []).filter { t - $0 < window }
            recent.append(t)
            m[client] = recent
            if m.count > 10_000 { m = m.filter { !($0.value.last.map { t - $0 >= window } ?? true) } }
        }
    }
}
