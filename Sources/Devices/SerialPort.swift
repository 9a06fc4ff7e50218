import CSysShim
#if canImport(Glibc)
import Glibc
#endif

/// A tty opened for a device: raw mode, chosen speed/parity/stop bits, exclusive (TIOCEXCL),
/// non-blocking. The only place termios is touched.
public final class SerialPort: @unchecked Sendable {
    public struct Settings: Sendable, Equatable, Codable {
        public enum Parity: String, Sendable, Codable, CaseIterable { case none, even, odd }
        public var baud: Int = 9600
        public var parity: Parity = .none
        public var stopBits: Int = 1
        public var dataBits: Int = 8
        public init(baud: Int = 9600, parity: Parity = .none, stopBits: Int = 1, dataBits: Int = 8) {
            self.baud = baud
            self.parity = parity
            self.stopBits = stopBits
            self.dataBits = dataBits
        }
    }

    public let path: String
    public private(set) var fd: Int32

    public init(path: String, settings: Settings, exclusive: Bool = true) throws {
        self.path = path
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw DeviceError(.open, "cannot open \(path): \(errnoText())") }
        self.fd = fd
        if exclusive && postern_tiocexcl(fd) != 0 {
            Glibc.close(fd)
            throw DeviceError(.open, "cannot get exclusive access to \(path): \(errnoText())")
        }
        do { try apply(settings) } catch {
            Glibc.close(fd)
            throw error
        }
        tcflush(fd, TCIOFLUSH)
    }

    public func apply(_ s: Settings) throws {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw DeviceError(.io, "tcgetattr \(path): \(errnoText())") }
        cfmakeraw(&t)
        t.c_cflag |= tcflag_t(CLOCAL | CREAD)
        t.c_cflag &= ~(tcflag_t(CRTSCTS) | tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(PARODD) | tcflag_t(CSIZE))
        switch s.dataBits {
        case 7: t.c_cflag |= tcflag_t(CS7)
        case 8: t.c_cflag |= tcflag_t(CS8)
        default: throw DeviceError(.config, "data bits \(s.dataBits) not supported (7 or 8)")
        }
        switch s.parity {
        case .none: break
        case .even: t.c_cflag |= tcflag_t(PARENB)
        case .odd: t.c_cflag |= tcflag_t(PARENB | PARODD)
        }
        switch s.stopBits {
        case 1: break
        case 2: t.c_cflag |= tcflag_t(CSTOPB)
        default: throw DeviceError(.config, "stop bits \(s.stopBits) not supported (1 or 2)")
        }
        guard let speed = Self.speed(s.baud) else { throw DeviceError(.config, "baud rate \(s.baud) not supported") }
        cfsetispeed(&t, speed)
        cfsetospeed(&t, speed)
        withUnsafeMutableBytes(of: &t.c_cc) {
            $0[Int(VMIN)] = 0
            $0[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &t) == 0 else { throw DeviceError(.io, "tcsetattr \(path): \(errnoText())") }
    }

    /// The settings as the kernel holds them (a pty stores the speed but ignores it).
    public func currentSettings() throws -> Settings {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw DeviceError(.io, "tcgetattr \(path): \(errnoText())") }
        let baud = Self.speeds.first { $0.1 == cfgetispeed(&t) }?.0 ?? 0
        let parity: Settings.Parity = (t.c_cflag & tcflag_t(PARENB)) == 0 ? .none : ((t.c_cflag & tcflag_t(PARODD)) != 0 ? .odd : .even)
        return Settings(baud: baud, parity: parity, stopBits: (t.c_cflag & tcflag_t(CSTOPB)) != 0 ? 2 : 1, dataBits: (t.c_cflag & tcflag_t(CSIZE)) == tcflag_t(CS7) ? 7 : 8)
    }

    static let speeds: [(Int, speed_t)] = [(1200, speed_t(B1200)), (2400, speed_t(B2400)), (4800, speed_t(B4800)), (9600, speed_t(B9600)), (19200, speed_t(B19200)), (38400, speed_t(B38400)), (57600, speed_t(B57600)), (115200, speed_t(B115200)), (230400, speed_t(B230400))]
    static func speed(_ baud: Int) -> speed_t? { speeds.first { $0.0 == baud }?.1 }

    /// Writes everything or throws (EIO after an unplug).
    public func write(_ bytes: [UInt8]) throws {
        try writeAll(fd: fd, bytes, what: path)
    }

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit { close() }
}

func errnoText() -> String { String(cString: strerror(errno)) }

func writeAll(fd: Int32, _ bytes: [UInt8], what: String) throws {
    var done = 0
    var waited = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN && waited < 100 {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 10)
                waited += 1
                continue
            }
            throw DeviceError(.io, "write to \(what) failed: \(errnoText())")
        }
        done += n
    }
}

/// Device errors with a stable `code`.
public struct DeviceError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case open, io, config, protocolError, timeout, unplugged }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
