#if canImport(Glibc)
import Glibc
#endif

/// What devices tell the lanes: readings, credentials, input edges, and their own health.
public enum DeviceEvent: Sendable, Equatable {
    case reading(device: String, celsius: Double, ambient: Double?, at: Double)
    /// Text from a QR scanner (or an ID number from a card reader, `isIDCard`).
    case credential(device: String, text: String, isIDCard: Bool, at: Double)
    /// A debounced edge on one of a lane's GPIO inputs.
    case input(role: InputRole, active: Bool, at: Double)
    case connected(device: String, path: String)
    case disconnected(device: String, reason: String)
    /// Bad bytes, bad checksums, implausible or stuck values: reported, never passed on.
    case fault(device: String, message: String)

    public var device: String {
        switch self {
        case .reading(let d, _, _, _), .credential(let d, _, _, _), .connected(let d, _), .disconnected(let d, _), .fault(let d, _): d
        case .input(let r, _, _): r.rawValue
        }
    }
}

public typealias DeviceSink = @Sendable (DeviceEvent) -> Void

/// Wall-clock seconds (with fraction).
public func wallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Monotonic seconds, for timeouts.
public func monoSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
