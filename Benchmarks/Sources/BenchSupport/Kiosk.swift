import CentralWire
import Devices
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore

/// The bench kiosk's config: one entry lane "in" with a thermometer `t` (ASCII line) and a QR
/// scanner `q` (serial line) on the ptys `dir`/dev/t and `dir`/dev/q, relay on simulated GPIO
/// line 0 (100 ms pulse), anti-passback off, no reading holdoff. `extra` (e.g. a `[central]`
/// section) goes in as it is after `[gpio]`.
public func kioskConfig(dir: String, extra: String? = nil) -> String {
    var lines = [
        "data_dir = \"\(dir)\"",
        "[rules]",
        "anti_passback = \"off\"",
        "reading_holdoff_seconds = 0",
        "[relay]",
        "pulse_ms = 100",
        "[gpio]",
        "chip = \"simulated\"",
    ]
    if let extra { lines.append(extra) }
    lines += [
        "[[device]]",
        "id = \"t\"",
        "kind = \"thermometer\"",
        "protocol = \"ascii-line\"",
        "path = \"\(dir)/dev/t\"",
        "[[device]]",
        "id = \"q\"",
        "kind = \"scanner\"",
        "protocol = \"serial-line\"",
        "path = \"\(dir)/dev/q\"",
        "[[lane]]",
        "id = \"in\"",
        "direction = \"in\"",
        "thermometer = \"t\"",
        "readers = [\"q\"]",
        "[lane.gpio]",
        "relay = 0",
    ]
    return lines.joined(separator: "\n")
}

/// The kiosk's pty devices (`kioskConfig`'s `t` and `q`), started.
public final class KioskDevices: @unchecked Sendable {
    public let thermo: DeviceSimulator
    public let scanner: DeviceSimulator

    public init(dir: String) throws {
        thermo = try DeviceSimulator(kind: .asciiLine, link: dir + "/dev/t")
        scanner = try DeviceSimulator(kind: .serialLine, link: dir + "/dev/q")
        thermo.start()
        scanner.start()
    }

    public func stop() {
        thermo.stop()
        scanner.stop()
    }

    /// Drives `n` passages with `pass` (~6 a second: a reading, 40 ms, the scan, 120–140 ms),
    /// then waits `settle` for the last ones to be delivered.
    public func drive(_ n: Int, pass: String, settle: Duration) async throws {
        for i in 0..<n {
            thermo.present(celsius: 36.5)
            try await Task.sleep(for: .milliseconds(40))
            scanner.scan(pass)
            try await Task.sleep(for: .milliseconds(120 + (i % 3) * 10))
        }
        try await Task.sleep(for: settle)
    }
}

/// When the kiosk's relay opened: a simulated GPIO chip that notes the monotonic time each time its
/// `relay` line goes active.
public final class RelayStamps: @unchecked Sendable {
    private let lock = NSLock()
    private var opened: [Double] = []

    public init() {}

    /// A chip for the lane; every relay opening on it is noted here.
    public func chip() -> SimulatedGpio {
        let chip = SimulatedGpio()
        chip.onChange = { c in if c.line == "relay" && c.active { self.lock.withLock { self.opened.append(monoSeconds()) } } }
        return chip
    }

    /// How many openings so far.
    public var count: Int { lock.withLock { opened.count } }
    /// The latest opening's time.
    public var last: Double? { lock.withLock { opened.last } }
}

/// A kiosk data directory with one resident `r1` (household h1), a signing key `k1` and a day's
/// pass for `r1` issued a minute ago.
public struct BenchKiosk {
    public let admin: Admin
    public let key: TrustedKey
    public let resident: Resident
    /// The pass's QR text.
    public let pass: String

    public static let idNumber = "15070219800101001" + String(IDNumber.checkCharacter(for: "15070219800101001")!)

    public init(dir: String, idNumber: String = BenchKiosk.idNumber) throws {
        admin = try Admin(dataDir: dir)
        key = try admin.generateKey(id: "k1", notBefore: 0)
        resident = Resident(id: "r1", name: "张伟", sex: .male, idNumber: idNumber, household: "h1", address: Address(building: "1", unit: "1", room: "1"))
        try admin.store.importResidents([resident], actor: "bench")
        pass = try admin.issuePass(person: "r1", days: 1, now: Timestamp(Date().timeIntervalSince1970) - 60).1
    }

    /// The registry changes that put this kiosk's key, resident and pass at central (for
    /// `CentralDB.writeRegistry`), so the kiosk's pulled registry admits the same pass.
    public func registryUpserts() throws -> [GateEvent] {
        let passRec = try admin.store.currentPass(person: "r1")!
        var changes: [GateEvent] = []
        for (entity, k, v) in [("key", "k1", String(decoding: try Wire.encoder.encode(key), as: UTF8.self)), ("resident", "r1", String(decoding: try Wire.encoder.encode(resident), as: UTF8.self)), ("pass", passRec.pass.idString, String(decoding: try Wire.encoder.encode(passRec), as: UTF8.self))] {
            var e = GateEvent(kind: .registryChange, at: 0)
            e.entity = entity
            e.key = k
            e.action = "upsert"
            e.after = v
            changes.append(e)
        }
        return changes
    }
}

/// Passage records after `after` in a kiosk's log: seq → the record's wall time (stamped when it
/// is appended, right after the decision).
public func passageStamps(logDir: String, after: UInt64) -> [UInt64: Double] {
    let c = LogCursor(directory: logDir, from: after + 1)
    var out: [UInt64: Double] = [:]
    while let recs = try? c.next(limit: 4096), !recs.isEmpty {
        for r in recs where r.type == GateEvent.Kind.passage.recordType { out[r.seq] = Double(r.wallNs) / 1e9 }
    }
    return out
}
