import CSysShim
#if canImport(Glibc)
import Glibc
#endif

/// Where the log gets its time from: wall clock, monotonic clock, and whether the wall clock is
/// synchronised (a Pi has no battery-backed clock). Injectable for tests.
public protocol LogClock: Sendable {
    func wallNs() -> Int64
    func monoNs() -> UInt64
    func isSynchronized() -> Bool
}

public struct SystemClock: LogClock {
    public init() {}
    public func wallNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
    public func monoNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    /// The kernel's NTP state (STA_UNSYNC), as `timedatectl` reports it.
    public func isSynchronized() -> Bool {
        postern_clock_synchronized() != 0
    }
}
