import DeviceProtocols

/// Serial/CDC QR scanners: lines ending in CR, LF, CRLF or an idle gap, bounded in length.
public struct SerialScannerDriver: SerialDriver {
    public let name: String
    public let settings: SerialPort.Settings
    var framer: LineFramer
    let idleGap: Double
    var lastByte = 0.0
    public var tickInterval: Double { idleGap / 2 }

    public init(name: String, settings: SerialPort.Settings = .init(baud: 9600), maxLength: Int = 1024, idleGap: Double = 0.08) {
        self.name = name
        self.settings = settings
        self.framer = LineFramer(maxLength: maxLength)
        self.idleGap = idleGap
    }

    public mutating func opened(now: Double) -> [DriverAction] { [] }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        lastByte = now
        return framer.feed(bytes).compactMap(action)
    }

    public mutating func tick(now: Double) -> [DriverAction] {
        guard framer.hasPartial, now - lastByte >= idleGap, let o = framer.flush() else { return [] }
        return [action(o)].compactMap { $0 }
    }

    func action(_ o: DecoderOutput) -> DriverAction? {
        switch o {
        case .line(let s): .emit(.credential(device: name, text: s, isIDCard: false, at: wallSeconds()))
        case .fault(let f): .emit(.fault(device: name, message: "scanner: \(f)"))
        case .temperature: nil
        }
    }
}

/// GA 467 ID card readers over serial: find about every second, select on "card found", read
/// on "selected"; the same card is reported once until it leaves the reader.
public struct GA467Driver: SerialDriver {
    public let name: String
    public let settings: SerialPort.Settings
    enum Step { case idle, finding, selecting, reading }
    var step = Step.idle
    var decoder = GA467.Decoder()
    var deadline = 0.0
    var nextFind = 0.0
    /// The ID number last reported while its card stays on the reader (reported once per placement).
    var present: String?
    public let tickInterval = 0.05
    let findInterval: Double
    let timeout: Double

    public init(name: String, settings: SerialPort.Settings = .init(baud: 115_200), findInterval: Double = 1.0, timeout: Double = 1.0) {
        self.name = name
        self.settings = settings
        self.findInterval = findInterval
        self.timeout = timeout
    }

    public mutating func opened(now: Double) -> [DriverAction] {
        step = .idle
        nextFind = now
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: Double) -> [DriverAction] {
        var out: [DriverAction] = []
        for r in decoder.feed(bytes) {
            switch r {
            case .failure(let f): out.append(.emit(.fault(device: name, message: f.description)))
            case .success(let frame): out += handle(frame, now: now)
            }
        }
        return out
    }

    mutating func handle(_ f: GA467.Frame, now: Double) -> [DriverAction] {
        switch (step, f.sw3) {
        case (.finding, 0x9F):
            step = .selecting
            deadline = now + timeout
            return [.write(GA467.select)]
        case (.finding, 0x80):
            present = nil
            step = .idle
            return []
        case (.selecting, 0x90):
            step = .reading
            deadline = now + timeout
            return [.write(GA467.read)]
        case (.reading, 0x90):
            step = .idle
            switch GA467.parseRead(f.data) {
            case .success(let card):
                // A card left on the reader is read again each cycle; report it once. A different
                // card swapped in between two polls is a new credential.
                if present == card.idNumber { return [] }
                present = card.idNumber
                return [.emit(.credential(device: name, text: card.idNumber, isIDCard: true, at: wallSeconds()))]
            case .failure(let e):
                return [.emit(.fault(device: name, message: e.description))]
            }
        default:
            step = .idle
            return f.ok ? [] : [.emit(.fault(device: name, message: "ga467: \(GA467.statusText(f.sw3))"))]
        }
    }

    public mutating func tick(now: Double) -> [DriverAction] {
        if step != .idle {
            guard now >= deadline else { return [] }
            step = .idle
            return [.emit(.fault(device: name, message: "ga467: no reply within \(Int(timeout * 1000)) ms"))]
        }
        guard now >= nextFind else { return [] }
        nextFind = now + findInterval
        step = .finding
        deadline = now + timeout
        return [.write(GA467.find)]
    }
}
