import CentralWire
import Devices
import EventLog
import Foundation
import GateCore
import GateStore
import Logging
import ServiceLifecycle

/// Settles decisions that spend a right shared by the community's gates, before they are logged.
public protocol CrossGateHook: Sendable {
    func review(_ actions: [Lane.Action], lane: String, registry: RegistrySnapshot, rules: RulesConfig, now: Timestamp) async -> [Lane.Action]
}

/// The controller's hook slot (set once at start, read at each decision).
public final class CrossGateSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var hook: (any CrossGateHook)?
    public init() {}
    public func set(_ h: (any CrossGateHook)?) { lock.lock(); hook = h; lock.unlock() }
    public func get() -> (any CrossGateHook)? { lock.lock(); defer { lock.unlock() }; return hook }
}

/// How a kiosk with `[central]` gets its uplink: the `postern` executable installs the factory
/// (KioskUplink), so this module never links the HTTP client (the fuzz and sanitizer builds of
/// GateDaemon stay small).
public enum CentralUplinkFactory {
    nonisolated(unsafe) public static var make: (@Sendable (Kiosk) throws -> (any Service)?)?
}

/// What the uplink says of itself, read when asked (a `/metrics` scrape) from the owners of
/// each fact: the shipper's cursor (central's last answer) and the writer's durable end.
public struct UplinkReading: Sendable, Equatable {
    /// The highest sequence central has acknowledged (committed); 0 before its first answer.
    public var ackedSeq: UInt64
    /// Durable records central has not acknowledged yet.
    public var backlog: UInt64
    /// Batches and records central acknowledged since the uplink started.
    public var batches: Int
    public var records: Int
    /// The last upload or hello failed (central unreachable, refused, integrity).
    public var failing: Bool
    public init(ackedSeq: UInt64, backlog: UInt64, batches: Int, records: Int, failing: Bool) {
        self.ackedSeq = ackedSeq
        self.backlog = backlog
        self.batches = batches
        self.records = records
        self.failing = failing
    }
}

/// Where the running uplink can be asked for an `UplinkReading` (nil: no uplink running).
public final class UplinkProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var read: (@Sendable () -> UplinkReading)?
    public init() {}
    public func set(_ r: (@Sendable () -> UplinkReading)?) { lock.lock(); read = r; lock.unlock() }
    public func reading() -> UplinkReading? {
        lock.lock()
        let r = read
        lock.unlock()
        return r?()
    }
}

extension Kiosk {
    /// The uplink service when the config has `[central]` (nil otherwise). Without `[central]`
    /// a registry once marked central's is local again.
    func centralUplink() throws -> (any Service)? {
        guard config.central != nil else {
            if (try? store.centralState()) != nil { try store.clearCentral() }
            return nil
        }
        guard let make = CentralUplinkFactory.make else {
            throw StartError(message: "[central] is set but this build has no central uplink")
        }
        return try make(self)
    }

    // What the uplink needs from the kiosk.
    public var kioskLogger: Logger { logger }
    public var inputFeed: AsyncStream<Controller.Input>.Continuation { feed }
}
