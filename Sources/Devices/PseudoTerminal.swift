import CSysShim
#if canImport(Glibc)
import Glibc
#endif

/// A pty pair for simulators and tests: the simulator holds the master; the driver opens the
/// slave by its path (or a symlink to it, as udev would make) exactly like a real USB-serial tty.
public final class PseudoTerminal: @unchecked Sendable {
    public let master: Int32
    /// The slave end, held open so the pty survives until a driver opens it.
    private(set) var slave: Int32
    public let slavePath: String
    public private(set) var link: String?

    public init(link: String? = nil) throws {
        var m: Int32 = -1
        var s: Int32 = -1
        guard openpty(&m, &s, nil, nil, nil) == 0 else { throw DeviceError(.open, "openpty: \(errnoText())") }
        var name = [CChar](repeating: 0, count: 128)
        guard postern_ptsname(m, &name, name.count) == 0 else { throw DeviceError(.open, "ptsname: \(errnoText())") }
        master = m
        slave = s
        slavePath = String(cString: name)
        // Raw on both ends: a fresh pty is cooked and echoes.
        for fd in [m, s] {
            var t = termios()
            tcgetattr(fd, &t)
            cfmakeraw(&t)
            tcsetattr(fd, TCSANOW, &t)
        }
        let flags = fcntl(m, F_GETFL)
        _ = fcntl(m, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(m, F_SETFD, FD_CLOEXEC)
        _ = fcntl(s, F_SETFD, FD_CLOEXEC)
        if let link {
            unlink(link)
            guard symlink(slavePath, link) == 0 else { throw DeviceError(.open, "cannot link \(link) → \(slavePath): \(errnoText())") }
            self.link = link
        }
    }

    /// Speaks through an existing tty instead of a new pty (the gadget side of a USB ACM link in
    /// the VM harness, or a real serial adapter wired to the device under test).
    public init(attach path: String) throws {
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw DeviceError(.open, "cannot open \(path): \(errnoText())") }
        var t = termios()
        tcgetattr(fd, &t)
        cfmakeraw(&t)
        tcsetattr(fd, TCSANOW, &t)
        master = fd
        slave = -1
        slavePath = path
        link = nil
    }

    /// Lets go of our slave handle (so a driver's close is seen as the peer going away).
    public func releaseSlave() {
        if slave >= 0 {
            Glibc.close(slave)
            slave = -1
        }
    }

    public func write(_ bytes: [UInt8]) throws { try writeAll(fd: master, bytes, what: "pty master") }

    /// Reads what is available within `timeoutMs` (empty on timeout).
    public func read(timeoutMs: Int32) -> [UInt8] {
        var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) > 0 else { return [] }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
        return n > 0 ? Array(buf[0..<n]) : []
    }

    public func close() {
        releaseSlave()
        Glibc.close(master)
        if let link { unlink(link) }
        link = nil
    }
}
