/// Modbus RTU framing for polling pyrometers: CRC-16/MODBUS, FC03/FC04 requests, responses and
/// exceptions. The polling client with its timeouts lives in `Devices`.
public enum ModbusRTU {
    /// CRC-16/MODBUS: reflected 0xA001, init 0xFFFF, sent low byte first.
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for b in bytes {
            crc ^= UInt16(b)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
        }
        return crc
    }

    public static func withCRC(_ body: [UInt8]) -> [UInt8] {
        let c = crc16(body)
        return body + [UInt8(c & 0xFF), UInt8(c >> 8)]
    }

    public static func readRequest(slave: UInt8, function: UInt8, address: UInt16, count: UInt16) -> [UInt8] {
        withCRC([slave, function, UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)])
    }

    public static func exceptionText(_ code: UInt8) -> String {
        switch code {
        case 1: "illegal function"
        case 2: "illegal data address"
        case 3: "illegal data value"
        case 4: "slave device failure"
        case 5: "acknowledge"
        case 6: "slave device busy"
        case 8: "memory parity error"
        case 0x0A, 0x0B: "gateway error"
        default: "exception \(code)"
        }
    }

    public enum Response: Sendable, Equatable {
        case registers([UInt16])
        case exception(UInt8)
    }

    /// Accumulates bytes and yields the response to a pending request (slave, function, count);
    /// bytes that do not form one are skipped and reported.
    public struct ResponseDecoder: Sendable {
        public let slave: UInt8
        public let function: UInt8
        public let count: Int
        var buf: [UInt8] = []

        public init(slave: UInt8, function: UInt8, count: Int) {
            self.slave = slave
            self.function = function
            self.count = count
        }

        /// Returns the response once complete, plus faults for bytes skipped as noise or damage.
        public mutating func feed(_ bytes: some Sequence<UInt8>) -> (Response?, [String]) {
            buf.append(contentsOf: bytes)
            var faults: [String] = []
            var skipped = 0
            defer { if skipped > 0 { faults.insert("modbus-rtu: skipped \(skipped) bytes of noise", at: 0) } }
            while !buf.isEmpty {
                guard buf[0] == slave else { buf.removeFirst(); skipped += 1; continue }
                guard buf.count >= 2 else { return (nil, faults) }
                let need: Int
                if buf[1] == function | 0x80 {
                    need = 5
                } else if buf[1] == function {
                    guard buf.count >= 3 else { return (nil, faults) }
                    guard Int(buf[2]) == 2 * count else { buf.removeFirst(); skipped += 1; continue }
                    need = 5 + 2 * count
                } else {
                    buf.removeFirst()
                    skipped += 1
                    continue
                }
                guard buf.count >= need else { return (nil, faults) }
                let frame = Array(buf[0..<need])
                let crc = ModbusRTU.crc16(frame.prefix(need - 2))
                guard UInt16(frame[need - 2]) | UInt16(frame[need - 1]) << 8 == crc else {
                    buf.removeFirst()
                    faults.append("modbus-rtu: CRC mismatch")
                    continue
                }
                buf.removeFirst(need)
                if need == 5 && frame[1] == function | 0x80 { return (.exception(frame[2]), faults) }
                var regs: [UInt16] = []
                for i in 0..<count { regs.append(UInt16(frame[3 + 2 * i]) << 8 | UInt16(frame[4 + 2 * i])) }
                return (.registers(regs), faults)
            }
            return (nil, faults)
        }
    }

    /// How a pyrometer's registers hold temperatures.
    public struct RegisterMap: Sendable, Codable, Equatable {
        public enum Scale: String, Sendable, Codable, CaseIterable { case tenths, hundredths, float32 }
        public var function: UInt8 = 4
        public var objectRegister: UInt16 = 0x12
        public var ambientRegister: UInt16? = 0x14
        public var scale: Scale = .tenths
        public init() {}

        /// Calex PyroUSB: FC04, 0x12 filtered object, 0x14 sensor, tenths of °C.
        public static let calex = RegisterMap()
        /// Raytek/Fluke MI3 head 1: input register 1080, IEEE-754 float, big-endian words.
        public static var mi3: RegisterMap {
            var m = RegisterMap()
            m.objectRegister = 1080
            m.ambientRegister = 1090
            m.scale = .float32
            return m
        }

        public var wordsPerValue: Int { scale == .float32 ? 2 : 1 }

        /// Registers to read in one request: from the object register through the ambient one.
        public var span: (start: UInt16, count: UInt16) {
            let a = ambientRegister ?? objectRegister
            let start = min(objectRegister, a)
            return (start, max(objectRegister, a) - start + UInt16(wordsPerValue))
        }

        public func value(_ regs: [UInt16], at reg: UInt16) -> Double? {
            let i = Int(reg - span.start)
            guard i >= 0, i + wordsPerValue <= regs.count else { return nil }
            switch scale {
            case .tenths: return Double(Int16(bitPattern: regs[i])) / 10
            case .hundredths: return Double(Int16(bitPattern: regs[i])) / 100
            case .float32: return Double(Float(bitPattern: UInt32(regs[i]) << 16 | UInt32(regs[i + 1])))
            }
        }
    }
}
