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

/// One value set by one part of the daemon and read by another (set once at start, read at each
/// use): the controller's cross-gate hook, the running uplink's reading.
public final class Slot<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    public init() {}
    public func set(_ v: T?) { lock.lock(); value = v; lock.unlock() }
    public func get() -> T? { lock.lock(); defer { lock.unlock() }; return value }
}

/// The controller's hook slot.
public typealias CrossGateSlot = Slot<any CrossGateHook>

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

/// Where the running uplink can be asked for an `UplinkReading` (empty: no uplink running).
public typealias UplinkProbe = Slot<@Sendable () -> UplinkReading>

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
