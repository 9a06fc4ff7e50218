import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a protocol driver asks its I/O shell to do.
public enum DriverAction: Sendable, Equatable {
    case emit(DeviceEvent)
    case write([UInt8])
    /// Re-open the port at another speed (baud auto-detection).
    case reopen(baud: Int)
}

/// A protocol driver: pure state fed with bytes and time; the shell does the I/O.
public protocol SerialDriver: Sendable {
    var name: String { get }
    var settings: SerialPort.Settings { get }
    /// How the device node is opened: a tty (default), an evdev input node or a hidraw node.
    var node: DeviceNodeKind { get }
    mutating func opened(now: Double) -> [DriverAction]
    mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction]
    /// Called at least every `tickInterval` seconds while the port is open.
    mutating func tick(now: Double) -> [DriverAction]
    var tickInterval: Double { get }
}

public enum DeviceNodeKind: Sendable { case tty, evdev, hidraw }

extension SerialDriver {
    public var node: DeviceNodeKind { .tty }
}

/// An open device node the runner polls.
protocol DeviceNode: AnyObject {
    var fd: Int32 { get }
    func write(_ bytes: [UInt8]) throws
    func close()
}

extension SerialPort: DeviceNode {}

/// Runs one device on its own thread: poll(2) on the tty and a wake pipe, reopen with
/// backoff by its stable path after an unplug (POLLHUP, read 0, EIO), and report every state change.
public final class SerialDevice: @unchecked Sendable {
    public let path: String
    let sink: DeviceSink
    private var driver: any SerialDriver
    private let lock = NSLock()
    private var stopped = false
    private var wakePipe: [Int32] = [-1, -1]
    private var thread: Thread?
    private var baudOverride: Int?
    private var woken = false
    public let minBackoff: Double
    public let maxBackoff: Double

    public init(path: String, driver: any SerialDriver, minBackoff: Double = 0.1, maxBackoff: Double = 5, sink: @escaping DeviceSink) {
        self.path = path
        self.driver = driver
        self.sink = sink
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        _ = pipe(&wakePipe)
        for fd in wakePipe {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    public var name: String { driver.name }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "postern-dev-\(driver.name)"
        thread = t
        t.start()
    }

    /// Cuts a reconnect backoff short (a hotplug event saw the device come back).
    public func wake() {
        lock.lock()
        woken = true
        lock.unlock()
        var b: UInt8 = 1
        _ = Glibc.write(wakePipe[1], &b, 1)
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        wake()
        while thread?.isFinished == false { usleep(2000) }
        Glibc.close(wakePipe[0])
        Glibc.close(wakePipe[1])
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Waits up to `seconds` or until woken; returns false when stopping.
    private func sleep(_ seconds: Double) -> Bool {
        var p = pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32(seconds * 1000))
        var junk = [UInt8](repeating: 0, count: 64)
        _ = Glibc.read(wakePipe[0], &junk, junk.count)
        return !isStopped
    }

    private func run() {
        var backoff = minBackoff
        var reportedMissing = false
        while !isStopped {
            var s = driver.settings
            if let b = baudOverride { s.baud = b }
            let port: any DeviceNode
            do {
                switch driver.node {
                case .tty: port = try SerialPort(path: path, settings: s)
                case .evdev: port = try InputNode(path: path)
                case .hidraw: port = try HidrawNode(path: path)
                }
            } catch {
                if !reportedMissing {
                    sink(.disconnected(device: driver.name, reason: "\(error)"))
                    reportedMissing = true
                }
                if !sleep(backoff) { return }
                lock.lock()
                // A hotplug arrival restarts the backoff: the device is probably there now.
                backoff = woken ? minBackoff : min(maxBackoff, backoff * 2)
                woken = false
                lock.unlock()
                continue
            }
            reportedMissing = false
            backoff = minBackoff
            sink(.connected(device: driver.name, path: path))
            let reason = serve(port)
            port.close()
            if isStopped { return }
            if let reason {
                sink(.disconnected(device: driver.name, reason: reason))
                reportedMissing = true
                if !sleep(backoff) { return }
            }
        }
    }

    /// Serves an open port until it fails (returns why) or a reopen is requested (returns nil).
    private func serve(_ port: any DeviceNode) -> String? {
        if let r = perform(driver.opened(now: monoSeconds()), port) { return r.isEmpty ? nil : r }
        var buf = [UInt8](repeating: 0, count: 4096)
        var nextTick = monoSeconds() + driver.tickInterval
        while !isStopped {
            var fds = [pollfd(fd: port.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)]
            let wait = max(0, nextTick - monoSeconds())
            let n = poll(&fds, 2, Int32((wait * 1000).rounded(.up)))
            if n < 0 && errno != EINTR { return "poll failed: \(errnoText())" }
            if fds[1].revents != 0 {
                var junk = [UInt8](repeating: 0, count: 64)
                _ = Glibc.read(wakePipe[0], &junk, junk.count)
            }
            if fds[0].revents & Int16(POLLIN) != 0 || fds[0].revents & Int16(POLLHUP | POLLERR) != 0 {
                let r = buf.withUnsafeMutableBytes { Glibc.read(port.fd, $0.baseAddress, $0.count) }
                if r > 0 {
                    if let reason = perform(driver.received(Array(buf[0..<r]), now: monoSeconds()), port) { return reason.isEmpty ? nil : reason }
                } else if r == 0 {
                    return "device went away (read returned 0)"
                } else if errno != EAGAIN && errno != EINTR {
                    return "read failed: \(errnoText())"
                } else if fds[0].revents & Int16(POLLHUP | POLLERR) != 0 {
                    return "device hung up"
                }
            }
            let now = monoSeconds()
            if now >= nextTick {
                if let reason = perform(driver.tick(now: now), port) { return reason.isEmpty ? nil : reason }
                nextTick = now + driver.tickInterval
            }
        }
        return nil
    }

    /// Returns nil to continue, "" to reopen, or a failure reason.
    private func perform(_ actions: [DriverAction], _ port: any DeviceNode) -> String? {
        for a in actions {
            switch a {
            case .emit(let e): sink(e)
            case .write(let bytes):
                do { try port.write(bytes) } catch { return "\(error)" }
            case .reopen(let baud):
                baudOverride = baud
                return ""
            }
        }
        return nil
    }
}
