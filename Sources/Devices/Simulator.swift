import DeviceProtocols
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A device simulator: the far end of a pty that speaks a protocol exactly (checksums, the Modbus
/// request/response cycle, the GA 467 command cycle). Driven by a script, by the methods below, or
/// (unscripted) by a steady stream of normal readings. Used by `postern sim`, the demo and tests.
public final class DeviceSimulator: @unchecked Sendable {
    public enum ProtocolKind: String, Sendable, CaseIterable {
        case gyMCU90614 = "gy-mcu90614", modbusRTU = "modbus-rtu", asciiLine = "ascii-line"
        case serialLine = "serial-line", ga467
    }

    public let kind: ProtocolKind
    public let link: String
    public let slave: UInt8
    private let lock = NSLock()
    private var pty: PseudoTerminal?
    private var stopped = false
    private var thread: Thread?
    // Thermometer state.
    private var ambient = 25.0
    private var objectUntil: (Double, Double)?  // (°C, until mono time)
    private var corruptNext = 0
    // ID card state.
    private var card: GA467.CardText?
    private var gaDecoder: [UInt8] = []
    private var modbusBuf: [UInt8] = []
    public private(set) var requestsSeen = 0

    public init(kind: ProtocolKind, link: String, slave: UInt8 = 1) throws {
        self.kind = kind
        self.link = link
        self.slave = slave
        pty = try PseudoTerminal(link: link)
    }

    /// Speaks the protocol on an existing tty (`attach`) rather than a new pty.
    public init(kind: ProtocolKind, attach path: String, slave: UInt8 = 1) throws {
        self.kind = kind
        self.link = path
        self.slave = slave
        pty = try PseudoTerminal(attach: path)
    }

    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "postern-sim-\(kind.rawValue)"
        thread = t
        t.start()
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        while thread?.isFinished == false { usleep(2000) }
        lock.lock()
        pty?.close()
        pty = nil
        lock.unlock()
    }

    // MARK: what a script or a test can do

    /// A person in front of the thermometer at `celsius` for `seconds`.
    public func present(celsius: Double, seconds: Double = 0.6) {
        lock.lock()
        objectUntil = (celsius, monoSeconds() + seconds)
        lock.unlock()
        if kind == .asciiLine { send(Array(String(format: "T=%.1f\r\n", celsius).utf8)) }
    }

    public func setAmbient(_ c: Double) {
        lock.lock()
        ambient = c
        lock.unlock()
    }

    /// A QR scanner reads `text` (sent with CR, as scanners do by default).
    public func scan(_ text: String, terminator: [UInt8] = [0x0D]) { send(Array(text.utf8) + terminator) }

    public func insertCard(_ c: GA467.CardText) {
        lock.lock()
        card = c
        lock.unlock()
    }

    public func removeCard() {
        lock.lock()
        card = nil
        lock.unlock()
    }

    /// The next `n` frames go out with a wrong checksum.
    public func corruptFrames(_ n: Int) {
        lock.lock()
        corruptNext = n
        lock.unlock()
    }

    public func send(_ bytes: [UInt8]) {
        lock.lock()
        let p = pty
        lock.unlock()
        try? p?.write(bytes)
    }

    /// Pulls the plug: the driver's tty hangs up; after `seconds` the device comes back at the
    /// same link (as udev would recreate `/dev/postern/...`).
    public func unplug(for seconds: Double) {
        lock.lock()
        pty?.close()
        pty = nil
        lock.unlock()
        Thread.sleep(forTimeInterval: seconds)
        replug()
    }

    public func replug() {
        lock.lock()
        defer { lock.unlock() }
        if pty == nil, !stopped { pty = try? PseudoTerminal(link: link) }
    }

    // MARK: the protocol loop

    private func loop() {
        var nextFrame = monoSeconds()
        while true {
            lock.lock()
            let p = pty
            let done = stopped
            lock.unlock()
            if done { return }
            guard let p else {
                usleep(20_000)
                continue
            }
            let incoming = p.read(timeoutMs: 20)
            if !incoming.isEmpty { respond(incoming, p) }
            if kind == .gyMCU90614, monoSeconds() >= nextFrame {
                nextFrame = monoSeconds() + 1.0 / 14
                var f = GYMCU90614Decoder.frame(object: currentObject(), ambient: currentAmbient())
                if takeCorruption() { f[8] &+= 1 }
                try? p.write(f)
            }
        }
    }

    private func takeCorruption() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if corruptNext > 0 {
            corruptNext -= 1
            return true
        }
        return false
    }

    private func currentAmbient() -> Double {
        lock.lock()
        defer { lock.unlock() }
        return ambient
    }

    private func currentObject() -> Double {
        lock.lock()
        defer { lock.unlock() }
        if let (c, until) = objectUntil, monoSeconds() < until { return c }
        return ambient
    }

    private func respond(_ bytes: [UInt8], _ p: PseudoTerminal) {
        switch kind {
        case .modbusRTU:
            modbusBuf += bytes
            while modbusBuf.count >= 8 {
                let req = Array(modbusBuf[0..<8])
                guard ModbusRTU.crc16(req.prefix(6)) == UInt16(req[6]) | UInt16(req[7]) << 8 else {
                    modbusBuf.removeFirst()
                    continue
                }
                modbusBuf.removeFirst(8)
                lock.lock()
                requestsSeen += 1
                lock.unlock()
                guard req[0] == slave || req[0] == 255 else { continue }
                let fc = req[1]
                let start = Int(req[2]) << 8 | Int(req[3])
                let count = Int(req[4]) << 8 | Int(req[5])
                var reply: [UInt8]
                if fc != 3 && fc != 4 {
                    reply = ModbusRTU.withCRC([req[0], fc | 0x80, 1])
                } else if start < 0x08 || start + count > 0x16 || count < 1 || count > 125 {
                    reply = ModbusRTU.withCRC([req[0], fc | 0x80, 2])
                } else {
                    // Calex layout: 0x12 filtered, 0x13 unfiltered object, 0x14 sensor, 0x15 status.
                    let obj = Int16((currentObject() * 10).rounded())
                    let amb = Int16((currentAmbient() * 10).rounded())
                    var regs: [UInt16] = []
                    for r in start..<(start + count) {
                        switch r {
                        case 0x12, 0x13: regs.append(UInt16(bitPattern: obj))
                        case 0x14: regs.append(UInt16(bitPattern: amb))
                        case 0x08: regs.append(9500)
                        default: regs.append(0)
                        }
                    }
                    var body: [UInt8] = [req[0], fc, UInt8(2 * count)]
                    for r in regs { body += [UInt8(r >> 8), UInt8(r & 0xFF)] }
                    reply = ModbusRTU.withCRC(body)
                }
                if takeCorruption() { reply[reply.count - 1] &+= 1 }
                try? p.write(reply)
            }
        case .ga467:
            gaDecoder += bytes
            while gaDecoder.count >= 10 {
                guard Array(gaDecoder[0..<5]) == GA467.preamble else {
                    gaDecoder.removeFirst()
                    continue
                }
                let len = Int(gaDecoder[5]) << 8 | Int(gaDecoder[6])
                guard gaDecoder.count >= 7 + len else { break }
                let frame = Array(gaDecoder[0..<(7 + len)])
                gaDecoder.removeFirst(7 + len)
                let body = Array(frame[5..<(frame.count - 1)])
                guard body.reduce(0, ^) == frame.last! else {
                    try? p.write(GA467.reply(sw3: 0x10))
                    continue
                }
                lock.lock()
                let c = card
                requestsSeen += 1
                lock.unlock()
                var reply: [UInt8]
                switch (frame[7], frame[8]) {
                case (0x20, 0x01): reply = c == nil ? GA467.reply(sw3: 0x80) : GA467.reply(sw3: 0x9F, data: [0, 0, 0, 0])
                case (0x20, 0x02): reply = c == nil ? GA467.reply(sw3: 0x81) : GA467.reply(sw3: 0x90, data: [UInt8](repeating: 0x11, count: 8))
                case (0x30, 0x01): reply = c.map { GA467.reply(sw3: 0x90, data: GA467.readReplyData($0)) } ?? GA467.reply(sw3: 0x41)
                case (0x11, 0xFF): reply = GA467.reply(sw3: 0x90)
                default: reply = GA467.reply(sw3: 0x21)
                }
                if takeCorruption() { reply[reply.count - 1] &+= 1 }
                try? p.write(reply)
            }
        default:
            break  // GY commands (A5 45 EA …) and scanner configuration bytes need no reply
        }
    }

    // MARK: scripts

    /// One line of a simulator script.
    public enum Step: Sendable, Equatable {
        case wait(Double)
        case reading(Double)
        case ambient(Double)
        case noise(Int)
        case badChecksum(Int)
        case unplug(Double)
        case scan(String)
        case card(id: String, name: String)
        case remove
    }

    public struct ScriptError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a script: one step per line, `#` comments. Unknown words name their line.
    public static func parse(script: String) throws -> [Step] {
        var steps: [Step] = []
        for (i, raw) in script.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            let words = line.split(separator: " ", maxSplits: 1).map(String.init)
            let arg = words.count > 1 ? words[1] : ""
            func number() throws -> Double {
                guard let d = Double(arg) else { throw ScriptError(line: i + 1, message: "`\(words[0])` needs a number, got \"\(arg)\"") }
                return d
            }
            switch words[0] {
            case "wait": steps.append(.wait(try number()))
            case "reading": steps.append(.reading(try number()))
            case "ambient": steps.append(.ambient(try number()))
            case "noise": steps.append(.noise(Int(try number())))
            case "badchecksum": steps.append(.badChecksum(arg.isEmpty ? 1 : Int(try number())))
            case "unplug": steps.append(.unplug(try number()))
            case "scan": steps.append(.scan(arg))
            case "card":
                let p = arg.split(separator: " ", maxSplits: 1).map(String.init)
                guard p.count >= 1, !p[0].isEmpty else { throw ScriptError(line: i + 1, message: "`card` needs an ID number") }
                steps.append(.card(id: p[0], name: p.count > 1 ? p[1] : "测试"))
            case "remove": steps.append(.remove)
            default: throw ScriptError(line: i + 1, message: "unknown step `\(words[0])`")
            }
        }
        return steps
    }

    public func run(_ steps: [Step]) {
        for s in steps {
            switch s {
            case .wait(let d): Thread.sleep(forTimeInterval: d)
            case .reading(let c): present(celsius: c)
            case .ambient(let c): setAmbient(c)
            case .noise(let n): send((0..<n).map { _ in UInt8.random(in: 0...255) })
            case .badChecksum(let n): corruptFrames(n)
            case .unplug(let d): unplug(for: d)
            case .scan(let t): scan(t)
            case .card(let id, let name): insertCard(Self.card(id: id, name: name))
            case .remove: removeCard()
            }
        }
    }

    public static func card(id: String, name: String) -> GA467.CardText {
        GA467.CardText(name: name, sex: "1", nation: "01", birth: String(id.dropFirst(6).prefix(8)), address: "内蒙古呼伦贝尔市", idNumber: id, issuer: "公安局", validFrom: "20200101", validTo: "20400101")
    }
}
