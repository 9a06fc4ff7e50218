import CSysShim
import DeviceProtocols
#if canImport(Glibc)
import Glibc
#endif

/// A HID-POS scanner's `/dev/hidraw*` node. A Honeywell scanner (vendor 0c2e) is switched into
/// HID-POS mode with feature report FE 01 at open; a refusal is not an error (many are set by
/// configuration barcode instead).
final class HidrawNode: DeviceNode {
    private(set) var fd: Int32
    init(path: String) throws {
        fd = try openDeviceNode(path, O_RDWR)
        var vendor: UInt16 = 0, product: UInt16 = 0
        if postern_hidraw_ids(fd, &vendor, &product) == 0 && vendor == 0x0C2E {
            let enable: [UInt8] = [0xFE, 0x01]
            _ = enable.withUnsafeBufferPointer { postern_hidraw_set_feature(fd, $0.baseAddress, $0.count) }
        }
    }
    func write(_ bytes: [UInt8]) throws { throw DeviceError(.io, "the HID-POS driver sends no output reports") }
    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
    deinit { close() }
}

/// HID-POS scanners through hidraw: one read is one report (`HidPosDecoder`).
public struct HidPosScannerDriver: SerialDriver {
    public let name: String
    public let settings = SerialPort.Settings()
    public var node: DeviceNodeKind { .hidraw }
    public let tickInterval = 1.0
    var decoder: HidPosDecoder

    public init(name: String, maxLength: Int = 4096) {
        self.name = name
        self.decoder = HidPosDecoder(maxLength: maxLength)
    }

    public mutating func opened(now: Double) -> [DriverAction] {
        decoder = HidPosDecoder(maxLength: decoder.maxLength)
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        switch decoder.feed(report: bytes) {
        case .line(let s)?: [.emit(.credential(device: name, text: s, isIDCard: false, at: wallSeconds()))]
        case .fault(let f)?: [.emit(.fault(device: name, message: f))]
        default: []
        }
    }

    public mutating func tick(now: Double) -> [DriverAction] { [] }
}
