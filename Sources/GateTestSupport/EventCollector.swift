import Devices
import Foundation

/// Collects device events from driver threads so a test can wait for a condition.
public final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [DeviceEvent] = []
    public init() {}

    public var sink: DeviceSink { { [self] e in lock.lock(); events.append(e); lock.unlock() } }

    public var all: [DeviceEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// Waits until `match` holds for some event (returns it) or the timeout passes (nil).
    @discardableResult
    public func wait(timeout: Double = 5, _ match: (DeviceEvent) -> Bool) -> DeviceEvent? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let e = all.first(where: match) { return e }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    public func clear() {
        lock.lock()
        events = []
        lock.unlock()
    }
}

public func tempPath(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("postern-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d.appendingPathComponent(name).path
}

/// The package's root folder (tests reach scripts, examples and the built binaries from it).
public let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
