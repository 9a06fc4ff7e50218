import CGpiodShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kiosk's GPIO: outputs (gate relay, lights, alarm) and inputs (door sensor, exit button,
/// mask confirm). Values here are logical (active = relay energised / light on / door open);
/// active-low is per line. Every output is requested with its safe value and returned to it on
/// shutdown: relay released (locked), lights and alarm off.
public enum OutputRole: String, Sendable, Codable, CaseIterable {
    case relay, green, red, amber, alarm
}

public enum InputRole: String, Sendable, Codable, CaseIterable {
    case door, exitButton = "exit_button", maskConfirm = "mask_confirm"
}

public struct GpioLine: Sendable, Codable, Equatable {
    public var offset: UInt32
    public var activeLow: Bool
    public init(offset: UInt32, activeLow: Bool = false) {
        self.offset = offset
        self.activeLow = activeLow
    }
}

/// A requested output line.
public protocol OutputLine: AnyObject {
    func set(_ active: Bool) throws
    func release()
}

/// A requested input line with edge events.
public protocol InputLine: AnyObject {
    /// Readable when an edge is pending (for poll), or -1 when the backend pushes edges itself.
    var eventFD: Int32 { get }
    func readEdge() -> Bool?
    func value() -> Bool?
    func release()
}

public protocol GpioBackend: Sendable {
    func output(_ role: OutputRole, _ line: GpioLine, initial: Bool) throws -> any OutputLine
    func input(_ role: InputRole, _ line: GpioLine, onEdge: @escaping @Sendable (Bool) -> Void) throws -> any InputLine
    var description: String { get }
}

/// libgpiod (1.6 or 2.x, chosen when the shim is compiled) on a real `/dev/gpiochipN`.
public final class LibgpiodBackend: GpioBackend, @unchecked Sendable {
    let chip: OpaquePointer
    public let path: String
    public static let consumer = "postern"

    public init(chip path: String) throws {
        guard let c = postern_gpio_chip_open(path) else {
            throw DeviceError(.open, "cannot open GPIO chip \(path): \(errnoText())")
        }
        chip = c
        self.path = path
    }

    deinit { postern_gpio_chip_close(chip) }

    public var description: String { "\(path) (libgpiod v\(postern_gpiod_api_version()) API)" }

    final class Out: OutputLine {
        let line: OpaquePointer
        let what: String
        init(_ l: OpaquePointer, _ what: String) {
            line = l
            self.what = what
        }
        func set(_ active: Bool) throws {
            guard postern_gpio_set(line, active ? 1 : 0) == 0 else { throw DeviceError(.io, "cannot set \(what): \(errnoText())") }
        }
        func release() { postern_gpio_release(line) }
    }

    final class In: InputLine {
        let line: OpaquePointer
        init(_ l: OpaquePointer) { line = l }
        var eventFD: Int32 { postern_gpio_event_fd(line) }
        func readEdge() -> Bool? {
            let r = postern_gpio_read_event(line, nil)
            return r < 0 ? nil : r == 1
        }
        func value() -> Bool? {
            let v = postern_gpio_get(line)
            return v < 0 ? nil : v == 1
        }
        func release() { postern_gpio_release(line) }
    }

    public func output(_ role: OutputRole, _ l: GpioLine, initial: Bool) throws -> any OutputLine {
        guard let line = postern_gpio_request_output(chip, l.offset, l.activeLow ? 1 : 0, initial ? 1 : 0, Self.consumer) else {
            throw DeviceError(.open, "cannot request \(role.rawValue) line \(l.offset) on \(path): \(errnoText())")
        }
        return Out(line, "\(role.rawValue) line \(l.offset)")
    }

    public func input(_ role: InputRole, _ l: GpioLine, onEdge: @escaping @Sendable (Bool) -> Void) throws -> any InputLine {
        guard let line = postern_gpio_request_input(chip, l.offset, l.activeLow ? 1 : 0, Self.consumer) else {
            throw DeviceError(.open, "cannot request \(role.rawValue) input line \(l.offset) on \(path): \(errnoText())")
        }
        return In(line)
    }
}

/// A simulated chip for the demo and pure-logic tests: remembers every output change (and prints
/// it when asked), and lets inputs be driven by hand. Real GPIO behaviour is tested on gpio-sim in
/// the VM harness.
public final class SimulatedGpio: GpioBackend, @unchecked Sendable {
    public struct Change: Sendable, Equatable {
        public var line: String
        public var active: Bool
        public var at: Double
    }
    private let lock = NSLock()
    private var values: [String: Bool] = [:]
    private var history: [Change] = []
    private var edges: [String: @Sendable (Bool) -> Void] = [:]
    private var changeHandler: (@Sendable (Change) -> Void)?
    /// Called (outside the chip's lock) after every output change; may be set while running.
    public var onChange: (@Sendable (Change) -> Void)? {
        get { lock.withLock { changeHandler } }
        set { lock.withLock { changeHandler = newValue } }
    }

    public init() {}
    public var description: String { "simulated GPIO chip" }

    public func value(_ role: OutputRole) -> Bool? {
        lock.lock()
        defer { lock.unlock() }
        return values[role.rawValue]
    }

    public var changes: [Change] {
        lock.lock()
        defer { lock.unlock() }
        return history
    }

    fileprivate func record(_ name: String, _ v: Bool) {
        lock.lock()
        values[name] = v
        let c = Change(line: name, active: v, at: monoSeconds())
        history.append(c)
        let cb = changeHandler
        lock.unlock()
        cb?(c)
    }

    /// Drives an input line as a person or a door would.
    public func drive(_ role: InputRole, active: Bool) {
        lock.lock()
        values[role.rawValue] = active
        let cb = edges[role.rawValue]
        lock.unlock()
        cb?(active)
    }

    final class Out: OutputLine {
        let chip: SimulatedGpio
        let name: String
        init(_ c: SimulatedGpio, _ n: String) {
            chip = c
            name = n
        }
        func set(_ active: Bool) throws { chip.record(name, active) }
        func release() {}
    }

    final class In: InputLine {
        let chip: SimulatedGpio
        let name: String
        init(_ c: SimulatedGpio, _ n: String) {
            chip = c
            name = n
        }
        var eventFD: Int32 { -1 }
        func readEdge() -> Bool? { nil }
        func value() -> Bool? {
            chip.lock.lock()
            defer { chip.lock.unlock() }
            return chip.values[name] ?? false
        }
        func release() {}
    }

    public func output(_ role: OutputRole, _ line: GpioLine, initial: Bool) throws -> any OutputLine {
        record(role.rawValue, initial)
        return Out(self, role.rawValue)
    }

    public func input(_ role: InputRole, _ line: GpioLine, onEdge: @escaping @Sendable (Bool) -> Void) throws -> any InputLine {
        lock.lock()
        edges[role.rawValue] = onEdge
        lock.unlock()
        return In(self, role.rawValue)
    }
}
