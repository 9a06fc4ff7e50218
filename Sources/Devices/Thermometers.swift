import DeviceProtocols

/// Shared by the thermometer drivers: sanity checks and one reading per person.
struct ReadingPipeline: Sendable {
    var sanity: ReadingSanity
    var presence: PresenceGate?
    let name: String

    mutating func accept(_ object: Double, ambient: Double?) -> [DriverAction] {
        switch sanity.check(object) {
        case .implausible(let why): return [.emit(.fault(device: name, message: "implausible value: \(why)"))]
        case .stuck(let why): return [.emit(.fault(device: name, message: "stuck sensor: \(why)"))]
        case .ok: break
        }
        if presence != nil {
            guard let v = presence!.feed(object) else { return [] }
            return [.emit(.reading(device: name, celsius: v, ambient: ambient, at: wallSeconds()))]
        }
        return [.emit(.reading(device: name, celsius: object, ambient: ambient, at: wallSeconds()))]
    }
}

/// GY-MCU90614: sends the continuous-output command, auto-detects 9600 then 115200 baud.
public struct GYMCU90614Driver: SerialDriver {
    public let name: String
    public var settings: SerialPort.Settings
    var decoder = GYMCU90614Decoder()
    var pipeline: ReadingPipeline
    var openedAt = 0.0
    var sawFrame = false
    let autoBaud: Bool
    public let tickInterval = 0.25

    public init(name: String, baud: Int? = nil, trigger: Double = 30, settleFrames: Int = 3, sanity: ReadingSanity = ReadingSanity()) {
        self.name = name
        self.settings = SerialPort.Settings(baud: baud ?? 9600)
        self.autoBaud = baud == nil
        self.pipeline = ReadingPipeline(sanity: sanity, presence: PresenceGate(trigger: trigger, settleFrames: settleFrames), name: name)
    }

    public mutating func opened(now: Double) -> [DriverAction] {
        openedAt = now
        sawFrame = false
        decoder = GYMCU90614Decoder()
        return [.write(GYMCU90614Decoder.continuousCommand)]
    }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        var out: [DriverAction] = []
        for o in decoder.feed(bytes) {
            switch o {
            case .temperature(let t, let a):
                sawFrame = true
                out += pipeline.accept(t, ambient: a)
            case .fault(let f): out.append(.emit(.fault(device: name, message: f)))
            case .line: break
            }
        }
        return out
    }

    public mutating func tick(now: Double) -> [DriverAction] {
        // No valid frame within 1.5 s at this speed: try the other one.
        if autoBaud && !sawFrame && now - openedAt > 1.5 {
            let next = settings.baud == 9600 ? 115_200 : 9600
            settings.baud = next
            return [.emit(.fault(device: name, message: "no frames; trying \(next) baud")), .reopen(baud: next)]
        }
        return []
    }
}

/// A line-per-measurement thermometer (`ascii-line`).
public struct AsciiLineDriver: SerialDriver {
    public let name: String
    public let settings: SerialPort.Settings
    var decoder: AsciiLineDecoder
    var pipeline: ReadingPipeline
    public let tickInterval = 0.1
    var lastByte = 0.0

    public init(name: String, settings: SerialPort.Settings, pattern: String, unit: AsciiLineDecoder.Unit, sanity: ReadingSanity = ReadingSanity()) throws {
        self.name = name
        self.settings = settings
        self.decoder = try AsciiLineDecoder(pattern: pattern, unit: unit)
        self.pipeline = ReadingPipeline(sanity: sanity, presence: nil, name: name)
    }

    public mutating func opened(now: Double) -> [DriverAction] { [] }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        decoder.feed(bytes).flatMap { o -> [DriverAction] in
            switch o {
            case .temperature(let t, let a): return pipeline.accept(t, ambient: a)
            case .fault(let f): return [.emit(.fault(device: name, message: f))]
            case .line: return []
            }
        }
    }

    public mutating func tick(now: Double) -> [DriverAction] { [] }
}

/// A Modbus RTU pyrometer polled with FC03/FC04: one request in flight, a response timeout,
/// an inter-frame gap, exception replies reported.
public struct ModbusDriver: SerialDriver {
    public let name: String
    public let settings: SerialPort.Settings
    public let slave: UInt8
    public let map: ModbusRTU.RegisterMap
    public let interval: Double
    public let responseTimeout: Double
    var pending: (decoder: ModbusRTU.ResponseDecoder, deadline: Double)?
    var nextPoll = 0.0
    var pipeline: ReadingPipeline
    var consecutiveTimeouts = 0
    public var tickInterval: Double { 0.02 }

    public init(name: String, settings: SerialPort.Settings, slave: UInt8 = 1, map: ModbusRTU.RegisterMap = .calex, interval: Double = 0.2, responseTimeout: Double = 0.5, trigger: Double = 30, sanity: ReadingSanity = ReadingSanity()) {
        self.name = name
        self.settings = settings
        self.slave = slave
        self.map = map
        self.interval = interval
        self.responseTimeout = responseTimeout
        self.pipeline = ReadingPipeline(sanity: sanity, presence: PresenceGate(trigger: trigger, settleFrames: 2), name: name)
    }

    /// At 9600 baud and below, 3.5 character times of silence separate frames; above, 1.75 ms.
    var interFrameGap: Double { settings.baud > 19_200 ? 0.00175 : 38.5 / Double(settings.baud) }

    public mutating func opened(now: Double) -> [DriverAction] {
        pending = nil
        nextPoll = now
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        guard var p = pending else { return [.emit(.fault(device: name, message: "modbus-rtu: \(bytes.count) unsolicited bytes ignored"))] }
        let (resp, faults) = p.decoder.feed(bytes)
        var out = faults.map { DriverAction.emit(.fault(device: name, message: $0)) }
        pending = p
        guard let resp else { return out }
        pending = nil
        consecutiveTimeouts = 0
        nextPoll = max(now + interFrameGap, nextPoll)
        switch resp {
        case .exception(let code):
            out.append(.emit(.fault(device: name, message: "modbus-rtu: slave \(slave) exception: \(ModbusRTU.exceptionText(code))")))
        case .registers(let regs):
            guard let t = map.value(regs, at: map.objectRegister) else {
                out.append(.emit(.fault(device: name, message: "modbus-rtu: reply too short for the register map")))
                return out
            }
            out += pipeline.accept(t, ambient: map.ambientRegister.flatMap { map.value(regs, at: $0) })
        }
        return out
    }

    public mutating func tick(now: Double) -> [DriverAction] {
        if let p = pending {
            guard now >= p.deadline else { return [] }
            pending = nil
            consecutiveTimeouts += 1
            nextPoll = now + interFrameGap
            return [.emit(.fault(device: name, message: "modbus-rtu: no response from slave \(slave) within \(Int(responseTimeout * 1000)) ms"))]
        }
        guard now >= nextPoll else { return [] }
        let span = map.span
        pending = (ModbusRTU.ResponseDecoder(slave: slave, function: map.function, count: Int(span.count)), now + responseTimeout)
        nextPoll = now + interval
        return [.write(ModbusRTU.readRequest(slave: slave, function: map.function, address: span.start, count: span.count))]
    }
}
