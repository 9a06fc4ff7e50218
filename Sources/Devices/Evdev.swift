import CSysShim
import DeviceProtocols
#if canImport(Glibc)
import Glibc
#endif

/// A keyboard-wedge scanner's `/dev/input/event*` node, grabbed (EVIOCGRAB) so its keystrokes do
/// not reach a console.
final class InputNode: DeviceNode {
    private(set) var fd: Int32
    init(path: String) throws {
        fd = try openDeviceNode(path, O_RDONLY)
        if postern_evdev_grab(fd, 1) != 0 {
            let e = errnoText()
            Glibc.close(fd)
            throw DeviceError(.open, "cannot grab \(path) (EVIOCGRAB): \(e)")
        }
    }
    func write(_ bytes: [UInt8]) throws { throw DeviceError(.io, "input devices are read-only") }
    func close() {
        if fd >= 0 {
            _ = postern_evdev_grab(fd, 0)
            Glibc.close(fd)
            fd = -1
        }
    }
    deinit { close() }
}

/// Opens a device node non-blocking and close-on-exec, or throws naming the path and errno.
func openDeviceNode(_ path: String, _ mode: Int32) throws -> Int32 {
    let fd = Glibc.open(path, mode | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw DeviceError(.open, "cannot open \(path): \(errnoText())") }
    return fd
}

/// Decodes `struct input_event` records (24 bytes on 64-bit, 16 on 32-bit ARM: the C shim knows)
/// into scanner lines.
public struct EvdevScannerDriver: SerialDriver {
    public let name: String
    public let settings = SerialPort.Settings()
    public var node: DeviceNodeKind { .evdev }
    public let tickInterval = 1.0
    var keys: KeyDecoder
    var pending: [UInt8] = []
    static let eventSize = Int(postern_input_event_size())

    public init(name: String, maxLength: Int = 1024) {
        self.name = name
        self.keys = KeyDecoder(maxLength: maxLength)
    }

    public mutating func opened(now: Double) -> [DriverAction] {
        pending = []
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        pending += bytes
        var out: [DriverAction] = []
        var off = 0
        while pending.count - off >= Self.eventSize {
            let ev = pending.withUnsafeBytes { postern_input_event_decode($0.baseAddress! + off) }
            off += Self.eventSize
            switch keys.feed(type: ev.type, code: ev.code, value: ev.value) {
            case .line(let s)?: out.append(.emit(.credential(device: name, text: s, isIDCard: false, at: wallSeconds())))
            case .fault(let f)?: out.append(.emit(.fault(device: name, message: f)))
            default: break
            }
        }
        pending.removeFirst(off)
        return out
    }

    public mutating func tick(now: Double) -> [DriverAction] { [] }

    /// Encodes key events as the kernel would deliver them (for tests and simulators).
    public static func encode(_ events: [(UInt16, UInt16, Int32)]) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: eventSize)
        for (t, c, v) in events {
            _ = buf.withUnsafeMutableBytes { postern_input_event_encode(t, c, v, $0.baseAddress) }
            out += buf
        }
        return out
    }
}
