import DeviceProtocols
import Devices
import Foundation
import GateTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Modbus driver against an independent implementation: a pymodbus RTU slave on one end of a
/// socat pty pair, our driver on the other. Skipped (with a note) where pymodbus or socat is missing;
/// the test command installs both.
@Suite("Modbus interop with pymodbus", .serialized)
struct PymodbusInteropTests {
    static var root: String { packageRoot }

    static func available() -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "command -v socat >/dev/null && python3 -c 'import pymodbus, serial'"]
        try? p.run()
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Child processes get no stdout/stderr of ours, so an orphan can never hold the runner's pipes.
    static func spawn(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func kill(_ p: Process) {
        if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    @Test("reads 36.7 °C object and 24.5 °C ambient from a pymodbus slave", .enabled(if: available(), "pymodbus or socat missing: run scripts/setup.sh"))
    func interop() throws {
        let a = tempPath("mb-a"), b = tempPath("mb-b")
        let socat = try Self.spawn(["socat", "pty,raw,echo=0,link=\(a)", "pty,raw,echo=0,link=\(b)"])
        defer { Self.kill(socat) }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: b) { Thread.sleep(forTimeInterval: 0.05) }
        let slave = try Self.spawn(["python3", Self.root + "/scripts/pymodbus-slave.py", a, "367", "245"])
        defer { Self.kill(slave) }
        let ev = EventCollector()
        let dev = SerialDevice(path: b, driver: ModbusDriver(name: "pyro", settings: .init(baud: 9600), interval: 0.1, responseTimeout: 0.5), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        let got = ev.wait(timeout: 20) { if case .reading = $0 { true } else { false } }
        guard case .reading(_, let c, let amb, _)? = got else {
            Issue.record("no reading from pymodbus; events: \(ev.all.prefix(5))")
            return
        }
        #expect(c == 36.7)
        #expect(amb == 24.5)
    }
}
