import DeviceProtocols
import Devices
import Foundation
import GateTestSupport
import Testing

func isReading(_ v: Double) -> (DeviceEvent) -> Bool {
    { if case .reading(_, let c, _, _) = $0 { abs(c - v) < 0.05 } else { false } }
}
func isFault(_ text: String) -> (DeviceEvent) -> Bool {
    { if case .fault(_, let m) = $0 { m.contains(text) } else { false } }
}

@Suite("Serial port over a real pty", .serialized)
struct SerialPortTests {
    /// A pty stores speed, stop bits and character size but its driver clears PARENB, so parity is
    /// only checked to apply without error here (a real UART keeps it).
    @Test("raw mode, speed and stop bits are set as asked (read back from the kernel)")
    func settings() throws {
        let pty = try PseudoTerminal()
        defer { pty.close() }
        let s = SerialPort.Settings(baud: 115_200, parity: .even, stopBits: 2)
        let port = try SerialPort(path: pty.slavePath, settings: s)
        defer { port.close() }
        let got = try port.currentSettings()
        #expect(got.baud == 115_200 && got.stopBits == 2 && got.dataBits == 8, "\(got)")
        try port.apply(.init(baud: 9600, parity: .odd, stopBits: 1, dataBits: 7))
        #expect(try port.currentSettings().baud == 9600)
        #expect(throws: DeviceError.self) { try SerialPort(path: pty.slavePath, settings: .init(baud: 12_345)) }
    }

    @Test("a missing device is a clear error naming the path")
    func missing() {
        #expect(throws: DeviceError.self) { try SerialPort(path: "/nonexistent/tty", settings: .init()) }
    }
}

@Suite("Thermometer drivers against their simulators", .serialized)
struct ThermometerDriverTests {
    @Test("GY-MCU90614: one reading per person, bad checksums and noise reported, survives an unplug")
    func gy() throws {
        let link = tempPath("thermo")
        let sim = try DeviceSimulator(kind: .gyMCU90614, link: link)
        sim.start()
        defer { sim.stop() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: GYMCU90614Driver(name: "t1", baud: 9600), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        #expect(ev.wait { if case .connected = $0 { true } else { false } } != nil)
        sim.present(celsius: 36.6, seconds: 0.8)
        #expect(ev.wait(isReading(36.6)) != nil)
        // Only one reading for one person, though ~10 frames carried 36.6.
        Thread.sleep(forTimeInterval: 0.8)
        #expect(ev.all.filter(isReading(36.6)).count == 1)
        sim.corruptFrames(2)
        #expect(ev.wait(isFault("checksum")) != nil)
        sim.send([0x13, 0x37, 0x00])
        #expect(ev.wait(isFault("noise")) != nil)

        ev.clear()
        sim.unplug(for: 0.3)
        #expect(ev.wait { if case .disconnected = $0 { true } else { false } } != nil)
        #expect(ev.wait { if case .connected = $0 { true } else { false } } != nil)
        sim.present(celsius: 37.8, seconds: 0.8)
        #expect(ev.wait(isReading(37.8)) != nil)
    }

    @Test("GY-MCU90614 auto-detect: no frames at 9600 makes the driver try 115200")
    func autoBaud() throws {
        let link = tempPath("silent")
        let pty = try PseudoTerminal(link: link)
        defer { pty.close() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: GYMCU90614Driver(name: "t1"), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        #expect(ev.wait(isFault("trying 115200")) != nil)
        // The start command was sent on open.
        #expect(pty.read(timeoutMs: 500).starts(with: [0xA5, 0x45, 0xEA]))
    }

    @Test("Modbus RTU: polls slave 1, decodes tenths, reports exceptions and timeouts")
    func modbus() throws {
        let link = tempPath("pyro")
        let sim = try DeviceSimulator(kind: .modbusRTU, link: link)
        sim.start()
        defer { sim.stop() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: ModbusDriver(name: "p1", settings: .init(baud: 9600), interval: 0.05), sink: ev.sink)
        dev.start()
        sim.present(celsius: 36.7, seconds: 1.0)
        #expect(ev.wait(isReading(36.7)) != nil)
        if case .reading(_, _, let amb, _)? = ev.all.first(where: isReading(36.7)) { #expect(amb == 25.0) }
        sim.corruptFrames(1)
        #expect(ev.wait(isFault("CRC")) != nil)
        dev.stop()

        var bad = ModbusRTU.RegisterMap.calex
        bad.objectRegister = 0x40
        bad.ambientRegister = nil
        let ev2 = EventCollector()
        let dev2 = SerialDevice(path: link, driver: ModbusDriver(name: "p1", settings: .init(baud: 9600), map: bad, interval: 0.05), sink: ev2.sink)
        dev2.start()
        #expect(ev2.wait(isFault("illegal data address")) != nil)
        dev2.stop()

        let ev3 = EventCollector()
        let dev3 = SerialDevice(path: link, driver: ModbusDriver(name: "p1", settings: .init(baud: 9600), slave: 7, interval: 0.05, responseTimeout: 0.2), sink: ev3.sink)
        dev3.start()
        #expect(ev3.wait(isFault("no response from slave 7")) != nil)
        dev3.stop()
    }

    @Test("ASCII-line thermometer in °F")
    func ascii() throws {
        let link = tempPath("ascii")
        let sim = try DeviceSimulator(kind: .asciiLine, link: link)
        sim.start()
        defer { sim.stop() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: try AsciiLineDriver(name: "a1", settings: .init(), pattern: #"T=(-?\d+(?:\.\d+)?)"#, unit: .celsius), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        #expect(ev.wait { if case .connected = $0 { true } else { false } } != nil)
        sim.present(celsius: 36.4)
        #expect(ev.wait(isReading(36.4)) != nil)
        sim.send(Array("T=-999.0\r\n".utf8))
        #expect(ev.wait(isFault("implausible")) != nil)
    }
}

@Suite("Credential reader drivers against their simulators", .serialized)
struct ReaderDriverTests {
    @Test("serial QR scanner: CR, CRLF and an idle gap each end a code")
    func scanner() throws {
        let link = tempPath("scan")
        let sim = try DeviceSimulator(kind: .serialLine, link: link)
        sim.start()
        defer { sim.stop() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: SerialScannerDriver(name: "s1"), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        #expect(ev.wait { if case .connected = $0 { true } else { false } } != nil)
        sim.scan("P1first")
        sim.scan("P1second", terminator: [0x0D, 0x0A])
        sim.scan("P1third", terminator: [])
        for code in ["P1first", "P1second", "P1third"] {
            #expect(ev.wait { if case .credential(_, let t, false, _) = $0 { t == code } else { false } } != nil, "\(code)")
        }
    }

    @Test("GA 467 reader: find, select, read; one credential per card placement")
    func idcard() throws {
        let link = tempPath("idr")
        let sim = try DeviceSimulator(kind: .ga467, link: link)
        sim.start()
        defer { sim.stop() }
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: GA467Driver(name: "id1", findInterval: 0.1), sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        sim.insertCard(DeviceSimulator.card(id: "11010519491231002X", name: "张三"))
        #expect(ev.wait { if case .credential(_, "11010519491231002X", true, _) = $0 { true } else { false } } != nil)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(ev.all.filter { if case .credential = $0 { true } else { false } }.count == 1)
        sim.removeCard()
        Thread.sleep(forTimeInterval: 0.3)
        sim.insertCard(DeviceSimulator.card(id: "11010519491231002X", name: "张三"))
        Thread.sleep(forTimeInterval: 0.5)
        #expect(ev.all.filter { if case .credential = $0 { true } else { false } }.count == 2)
    }

    @Test("keyboard-wedge events (the platform's input_event size) decode into a line")
    func evdev() {
        var d = EvdevScannerDriver(name: "kbd")
        let bytes = EvdevScannerDriver.encode([(1, 42, 1), (1, 25, 1), (1, 25, 0), (1, 42, 0), (0, 0, 0), (1, 2, 1), (1, 2, 0), (1, 28, 1)])
        var out: [DriverAction] = []
        for chunk in stride(from: 0, to: bytes.count, by: 5).map({ Array(bytes[$0..<min(bytes.count, $0 + 5)]) }) {
            out += d.received(chunk, now: 0)
        }
        #expect(out.count == 1)
        if case .emit(.credential(_, let t, _, _)) = out.first { #expect(t == "P1") } else { Issue.record("no credential") }
    }

    @Test("simulator scripts parse, and a typo names its line")
    func scripts() throws {
        #expect(try DeviceSimulator.parse(script: "# a fever\nreading 38.2\nwait 1\nscan P1abc\nunplug 2\n") == [.reading(38.2), .wait(1), .scan("P1abc"), .unplug(2)])
        #expect(throws: DeviceSimulator.ScriptError.self) { try DeviceSimulator.parse(script: "reading 36\nreadng 37\n") }
        do { _ = try DeviceSimulator.parse(script: "reading 36\nreadng 37\n") } catch let e as DeviceSimulator.ScriptError { #expect(e.line == 2) }
    }
}

@Suite("Gate outputs on the simulated chip")
struct GateIOTests {
    @Test("outputs start safe, a pulse ends by itself, shutdown restores safe values")
    func pulse() throws {
        let chip = SimulatedGpio()
        let io = try GateIO(backend: chip, outputs: [.relay: GpioLine(offset: 0), .green: GpioLine(offset: 1)], inputs: [.door: GpioLine(offset: 5)], debounceMs: 10, sink: { _ in })
        #expect(chip.value(.relay) == false)
        io.pulse(.relay, ms: 100)
        #expect(chip.value(.relay) == true)
        Thread.sleep(forTimeInterval: 0.25)
        #expect(chip.value(.relay) == false)
        io.pulse(.relay, ms: 5000)
        io.set(.green, true)
        io.shutdown()
        #expect(chip.value(.relay) == false)
        #expect(chip.value(.green) == false)
    }

    @Test("input edges are debounced: a glitch shorter than the debounce is ignored")
    func debounce() throws {
        let chip = SimulatedGpio()
        let ev = EventCollector()
        let io = try GateIO(backend: chip, outputs: [:], inputs: [.exitButton: GpioLine(offset: 6)], debounceMs: 40, sink: ev.sink)
        defer { io.shutdown() }
        chip.drive(.exitButton, active: true)
        chip.drive(.exitButton, active: false)
        Thread.sleep(forTimeInterval: 0.15)
        #expect(ev.all.isEmpty)
        chip.drive(.exitButton, active: true)
        #expect(ev.wait { if case .input(.exitButton, true, _) = $0 { true } else { false } } != nil)
    }
}

@Suite("USB hotplug")
struct UsbHotplugTests {
    @Test("starts, or says clearly why it cannot (no USB host here); USB ids parse")
    func start() {
        let (h, why) = UsbHotplug.start(watching: [UsbHotplug.USBID(vendor: 0x1a86, product: 0x7523)]) { _ in }
        #expect((h == nil) == (why != nil))
        h?.stop()
        #expect(UsbHotplug.USBID("1a86:7523") == UsbHotplug.USBID(vendor: 0x1a86, product: 0x7523))
        #expect(UsbHotplug.USBID("1a86:75") == UsbHotplug.USBID(vendor: 0x1a86, product: 0x75))
        #expect(UsbHotplug.USBID("xyz") == nil)
        #expect(UsbHotplug.USBID(vendor: 0x0c2e, product: 0x0b8f).description == "0c2e:0b8f")
    }

    @Test("a wake cuts a reconnect backoff short")
    func wake() throws {
        let link = tempPath("late")
        let ev = EventCollector()
        let dev = SerialDevice(path: link, driver: SerialScannerDriver(name: "s"), minBackoff: 5, maxBackoff: 5, sink: ev.sink)
        dev.start()
        defer { dev.stop() }
        #expect(ev.wait { if case .disconnected = $0 { true } else { false } } != nil)
        let pty = try PseudoTerminal(link: link)
        defer { pty.close() }
        dev.wake()
        // Without the wake this would take the 5 s backoff.
        #expect(ev.wait(timeout: 2) { if case .connected = $0 { true } else { false } } != nil)
    }
}
