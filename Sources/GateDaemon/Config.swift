import DeviceProtocols
import Devices
import Foundation
import CentralWire
import GateCore

/// The kiosk's one config file (TOML), decoded into typed values and validated: unknown keys
/// (typos), wrong types, out-of-range values, duplicate GPIO lines and references to devices that
/// are not defined are each reported as `file:line: key: message`.
public struct KioskConfig: Sendable, Equatable {
    public struct Device: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case thermometer, scanner, idcard }
        public var id: String
        public var kind: Kind
        public var proto: String
        public var path: String
        public var baud: Int?
        public var parity: SerialPort.Settings.Parity = .none
        public var stopBits = 1
        public var required = true
        /// `vvvv:pppp` for USB hotplug matching and `postern devices`.
        public var usb: String?
        public var slave: UInt8 = 1
        public var registerMap = ModbusRTU.RegisterMap.calex
        public var pollMs = 200
        public var pattern = #"(-?\d+(?:\.\d+)?)"#
        public var unit = AsciiLineDecoder.Unit.celsius
        /// Continuous thermometers: object temperature that means "a person is in front".
        public var trigger = 30.0
        public var maxLength = 1024
    }

    public struct Lane: Sendable, Equatable {
        public var id: String
        public var direction: Direction
        public var thermometer: String?
        public var readers: [String] = []
        public var outputs: [OutputRole: GpioLine] = [:]
        public var inputs: [InputRole: GpioLine] = [:]
        public var doorHeldOpenSeconds = 30
        /// A staffed desk may accept ID numbers typed or scanned as text (off by default: an ID
        /// number is not a secret; only an ID-card reader's chip read is an ID-card credential).
        public var typedIDNumbers = false
    }

    public var dataDir = "/var/lib/postern"
    public var gate = "gate"
    public var language = Language.zh
    public var rules = RulesConfig()
    public var gpioChip = "/dev/gpiochip0"
    public var debounceMs = 30
    public var lanes: [Lane] = []
    public var devices: [Device] = []
    public var keys: [TrustedKey] = []
    public var alertCommand: [String]?
    public var alertTimeoutSeconds = 10.0
    public var alarmSeconds = 10
    public var soundPlayer: [String] = ["aplay", "-q"]
    public var sounds: [String: String] = [:]
    public var checkpointHours = 24
    public var registryPollMs = 500
    /// 0 keeps the log forever (the ledger is an official record); otherwise segments older than
    /// this many days, and already mirrored, are deleted.
    public var retentionDays = 0
    public var retentionMaxMB = 0
    public var web = Web()
    /// 宣传广播: scheduled announcements between passages.
    public var announcements = AnnouncementSettings()

    /// The operators' web front (PosternWeb): off unless `listen` is set.
    public struct Web: Sendable, Equatable {
        /// `host:port` to listen on (`127.0.0.1:8080`, `[::]:8443`); nil = no web server.
        public var listen: String?
        /// PEM certificate chain and private key: with both, the server speaks HTTPS only.
        public var tlsCert: String?
        public var tlsKey: String?
        /// Accounts (`postern web passwd`); default `DATA/web-users` (0600).
        public var usersFile: String?
        /// The board's community name and its notices (admin-edited text), one per entry.
        public var community = "本小区"
        public var notices: [String] = []
        /// Failed logins per client address within a minute before it is refused (429).
        public var loginAttemptsPerMinute = 5
        /// Idle minutes before a session ends.
        public var sessionMinutes = 720
        public init() {}
    }

    /// `[central]`: the central service this gate syncs with (nil: a kiosk on its own).
    public var central: CentralLink?
    /// The file as read (every key with its line): what a reload compares key by key. Not part
    /// of equality: two configs are equal when their effective values are.
    public var document: Source = Source()

    public struct Source: Sendable, Equatable {
        public var table = TOMLTable()
        public static func == (_: Source, _: Source) -> Bool { true }
    }

    public init() {}

    public func device(_ id: String) -> Device? { devices.first { $0.id == id } }

    /// What `serve` (and `config check`) needs beyond a valid file: a lane to serve. A file with no
    /// `[[lane]]` (empty, or everything commented out) is refused rather than run as a kiosk that
    /// opens nothing.
    public func checkServable(file: String) throws {
        guard lanes.isEmpty else { return }
        throw ConfigErrors(errors: [
            ConfigError(file: file, line: 0, key: "lane", message: "no [[lane]] is defined, so there is no gate to serve (see examples/postern.toml)")
        ])
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var key: String
    public var message: String
    public var description: String { "\(file):\(line): \(key): \(message)" }
}

public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public var errors: [ConfigError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

extension KioskConfig {
    /// Reads and validates a config file.
    public static func load(path: String) throws -> (KioskConfig, hash: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors(errors: [ConfigError(file: path, line: 0, key: "-", message: "cannot read the file")])
        }
        let bytes = [UInt8](data)
        return (try parse(bytes: bytes, file: path), sha256Hex(bytes))
    }

    public static func parse(_ text: String, file: String = "config") throws -> KioskConfig {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Reads the file's bytes as TOML 1.0 (LF or CRLF lines; bytes that are not UTF-8 are an
    /// error with their line), then validates.
    public static func parse(bytes: [UInt8], file: String = "config") throws -> KioskConfig {
        let root: TOMLTable
        do { root = try TOML.parse(bytes: bytes) } catch {
            throw ConfigErrors(errors: [ConfigError(file: file, line: error.line, key: "-", message: error.message)])
        }
        let r = TableReader(root, path: "", file: file)
        var c = KioskConfig()
        c.document = Source(table: root)
        r.string("data_dir") { c.dataDir = $0 }
        r.string("gate") { c.gate = $0 }
        r.enumeration("language", Language.self) { c.language = $0 }
        r.table("rules") { t in
            t.number("fever_threshold", 30...45) { c.rules.feverThreshold = $0 }
            t.number("plausible_min", 20...45) { c.rules.plausibleMin = $0 }
            t.number("plausible_max", 30...50) { c.rules.plausibleMax = $0 }
            t.number("compensation", -5...5) { c.rules.compensation = $0 }
            t.int("retests", 0...5) { c.rules.retests = $0 }
            t.number("retest_cooldown_seconds", 0...120) { c.rules.retestCooldownSeconds = $0 }
            t.number("pairing_window_seconds", 1...120) { c.rules.pairingWindowSeconds = $0 }
            t.number("reading_holdoff_seconds", 0...30) { c.rules.readingHoldoffSeconds = $0 }
            t.number("impossible_travel_seconds", 0...600) { c.rules.impossibleTravelSeconds = $0 }
            t.number("invalid_credential_coalesce_seconds", 0...3600) { c.rules.invalidCredentialCoalesceSeconds = $0 }
            t.int("quota_exits", 1...20) { c.rules.quotaExits = $0 }
            t.int("quota_days", 1...30) { c.rules.quotaDays = $0 }
            t.int("isolation_days", 0...60) { c.rules.isolationDays = $0 }
            t.int("courier_stay_minutes", 1...600) { c.rules.courierStayMinutes = $0 }
            t.enumeration("anti_passback", RulesConfig.Mode.self) { c.rules.antiPassback = $0 }
            t.enumeration("mask", RulesConfig.Mode.self) { c.rules.mask = $0 }
            if c.rules.plausibleMin >= c.rules.plausibleMax { t.error("plausible_min", "must be below plausible_max") }
            if !(c.rules.plausibleMin..<c.rules.plausibleMax).contains(c.rules.feverThreshold) { t.error("fever_threshold", "must lie inside the plausible range") }
        }
        r.table("relay") { t in
            t.int("pulse_ms", 100...60_000) { c.rules.relayPulseMs = $0 }
        }
        r.table("gpio") { t in
            t.string("chip") { c.gpioChip = $0 }
            t.int("debounce_ms", 0...1000) { c.debounceMs = $0 }
        }
        r.tableArray("device") { t in
            var d = Device(id: "", kind: .thermometer, proto: "", path: "")
            t.require("id") { d.id = $0 }
            t.requireEnum("kind", Device.Kind.self) { d.kind = $0 }
            t.require("protocol") { d.proto = $0 }
            t.require("path") { d.path = $0 }
            let allowed: [Device.Kind: [String]] = [.thermometer: ["gy-mcu90614", "modbus-rtu", "ascii-line"], .scanner: ["serial-line", "evdev", "hid-pos"], .idcard: ["ga467"]]
            if !d.proto.isEmpty, let ok = allowed[d.kind], !ok.contains(d.proto) {
                t.error("protocol", "\"\(d.proto)\" is not a \(d.kind.rawValue) protocol (one of \(ok.joined(separator: ", ")))")
            }
            t.int("baud", 1200...921_600) { d.baud = $0 }
            t.enumeration("parity", SerialPort.Settings.Parity.self) { d.parity = $0 }
            t.int("stop_bits", 1...2) { d.stopBits = $0 }
            t.bool("required") { d.required = $0 }
            t.string("usb") { v in
                let p = v.split(separator: ":")
                if p.count != 2 || p.contains(where: { $0.count != 4 || UInt16($0, radix: 16) == nil }) { t.error("usb", "must be vendor:product in hex, like 1a86:7523") } else { d.usb = v.lowercased() }
            }
            t.int("slave", 1...247) { d.slave = UInt8($0) }
            t.int("function", 3...4) { d.registerMap.function = UInt8($0) }
            t.int("object_register", 0...65_535) { d.registerMap.objectRegister = UInt16($0) }
            t.int("ambient_register", 0...65_535) { d.registerMap.ambientRegister = UInt16($0) }
            t.enumeration("scale", ModbusRTU.RegisterMap.Scale.self) { d.registerMap.scale = $0 }
            t.int("poll_ms", 20...10_000) { d.pollMs = $0 }
            t.string("pattern") { p in
                if (try? Regex(p)) == nil { t.error("pattern", "is not a valid regular expression") } else { d.pattern = p }
            }
            t.enumeration("unit", AsciiLineDecoder.Unit.self) { d.unit = $0 }
            t.number("trigger", 20...40) { d.trigger = $0 }
            t.int("max_length", 16...65_536) { d.maxLength = $0 }
            if c.devices.contains(where: { $0.id == d.id }) { t.error("id", "device \"\(d.id)\" is defined twice") }
            c.devices.append(d)
        }
        r.tableArray("lane") { t in
            var l = Lane(id: "", direction: .in)
            t.require("id") { l.id = $0 }
            t.requireEnum("direction", Direction.self) { l.direction = $0 }
            t.string("thermometer") { id in
                l.thermometer = id
                if c.device(id)?.kind != .thermometer { t.error("thermometer", "no thermometer device \"\(id)\" is defined") }
            }
            t.stringArray("readers") { ids in
                l.readers = ids
                for id in ids where ![.scanner, .idcard].contains(c.device(id)?.kind) { t.error("readers", "no scanner or idcard device \"\(id)\" is defined") }
            }
            t.int("door_held_open_seconds", 5...3600) { l.doorHeldOpenSeconds = $0 }
            t.bool("typed_id_numbers") { l.typedIDNumbers = $0 }
            t.table("gpio") { g in
                for role in OutputRole.allCases { g.line(role.rawValue) { l.outputs[role] = $0 } }
                for role in InputRole.allCases { g.line(role.rawValue) { l.inputs[role] = $0 } }
            }
            if l.thermometer == nil { t.error("thermometer", "every lane needs a thermometer (rule 2)") }
            if l.readers.isEmpty { t.error("readers", "every lane needs at least one credential reader (rule 1)") }
            if c.lanes.contains(where: { $0.id == l.id }) { t.error("id", "lane \"\(l.id)\" is defined twice") }
            // A device belongs to one lane: a reader in two lanes would open two gates with one
            // scan, a thermometer in two would give one reading to two people.
            for other in c.lanes {
                if let th = l.thermometer, other.thermometer == th { t.error("thermometer", "device \"\(th)\" is already the thermometer of lane \"\(other.id)\"; a device belongs to one lane") }
                for id in l.readers where other.readers.contains(id) { t.error("readers", "device \"\(id)\" is already a reader of lane \"\(other.id)\"; a device belongs to one lane") }
            }
            if Set(l.readers).count != l.readers.count { t.error("readers", "a reader is listed twice") }
            c.lanes.append(l)
        }
        r.tableArray("key") { t in
            var k = TrustedKey(id: "", publicKey: [])
            t.require("id") { k.id = $0 }
            t.require("public_key") { v in
                guard let b = Base64URL.decode(v), b.count == 32 else { t.error("public_key", "must be a 32-byte Ed25519 key in base64url (see `postern keys list`)"); return }
                k.publicKey = b
            }
            t.int("not_before", 0...Int(Int32.max)) { k.notBefore = Timestamp($0) }
            t.int("not_after", 0...Int(Int32.max)) { k.notAfter = Timestamp($0) }
            c.keys.append(k)
        }
        r.table("alert") { t in
            t.stringArray("command") { c.alertCommand = $0.isEmpty ? nil : $0 }
            t.number("timeout_seconds", 1...300) { c.alertTimeoutSeconds = $0 }
            t.int("alarm_seconds", 1...600) { c.alarmSeconds = $0 }
        }
        r.table("sounds") { t in
            t.stringArray("player") { c.soundPlayer = $0 }
            for key in ["admit", "deny", "retest", "fever", "no_temperature"] { t.string(key) { c.sounds[key] = $0 } }
        }
        r.table("log") { t in
            t.int("checkpoint_hours", 1...168) { c.checkpointHours = $0 }
            t.int("registry_poll_ms", 100...60_000) { c.registryPollMs = $0 }
            t.int("retention_days", 0...3650) { c.retentionDays = $0 }
            t.int("retention_max_mb", 0...1_000_000) { c.retentionMaxMB = $0 }
        }
        r.table("announcements") { t in
            t.stringArray("speaker") { c.announcements.speaker = $0 }
            t.number("quiet_seconds", 1...600) { c.announcements.quietSeconds = $0 }
            t.int("late_minutes", 1...720) { c.announcements.lateMinutes = $0 }
        }
        r.tableArray("announcement") { t in
            var a = Announcement(minute: 0)
            t.require("at") { v in
                if let m = AnnouncementPlan.minute(v) { a.minute = m } else { t.error("at", "must be HH:MM (local time)") }
            }
            t.string("file") { a.file = $0 }
            t.string("text") { v in
                if v.count > 500 { t.error("text", "at most 500 characters") } else { a.text = v }
            }
            if (a.file == nil) == (a.text == nil) { t.error("file", "an announcement has a file or a text, not both") }
            c.announcements.items.append(a)
        }
        r.table("web") { t in
            t.string("listen") { v in
                if WebListen.parse(v) == nil { t.error("listen", "must be HOST:PORT, like 127.0.0.1:8080 or [::]:8443") } else { c.web.listen = v }
            }
            t.string("tls_cert") { c.web.tlsCert = $0 }
            t.string("tls_key") { c.web.tlsKey = $0 }
            t.string("users_file") { c.web.usersFile = $0 }
            t.string("community") { c.web.community = $0 }
            t.stringArray("notices") { c.web.notices = $0 }
            t.int("login_attempts_per_minute", 1...100) { c.web.loginAttemptsPerMinute = $0 }
            t.int("session_minutes", 5...10_080) { c.web.sessionMinutes = $0 }
            if (c.web.tlsCert == nil) != (c.web.tlsKey == nil) { t.error(c.web.tlsCert == nil ? "tls_cert" : "tls_key", "tls_cert and tls_key go together") }
        }
        r.table("central") { c.central = $0.centralLink() }
        // Cross-checks: every GPIO offset used once.
        var used: [UInt32: String] = [:]
        for l in c.lanes {
            for (role, line) in l.outputs.map({ ($0.key.rawValue, $0.value) }) + l.inputs.map({ ($0.key.rawValue, $0.value) }) {
                let name = "lane \(l.id) \(role)"
                if let other = used[line.offset] {
                    r.errors.append(ConfigError(file: file, line: r.lineOf("lane"), key: "lane.gpio.\(role)", message: "GPIO line \(line.offset) is used twice (\(other) and \(name))"))
                }
                used[line.offset] = name
            }
        }
        r.finish()
        if !r.errors.isEmpty { throw ConfigErrors(errors: r.errors.sorted { $0.line < $1.line }) }
        return c
    }
}

/// `host:port` (IPv6 in brackets) as the web server's listen address.
public enum WebListen {
    public static func parse(_ s: String) -> (host: String, port: Int)? {
        var host: Substring
        var rest: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            rest = rest.dropFirst()
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            host = s[..<colon]
            rest = s[s.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(rest), (0...65_535).contains(port) else { return nil }
        return (String(host), port)
    }
}

/// Reads one table, remembering which keys were used so the rest can be reported as unknown.
final class TableReader {
    let table: TOMLTable
    let path: String
    let file: String
    var used: Set<String> = []
    var errors: [ConfigError] = []

    init(_ t: TOMLTable, path: String, file: String) {
        table = t
        self.path = path
        self.file = file
    }

    func full(_ key: String) -> String { path.isEmpty ? key : path + "." + key }
    func lineOf(_ key: String) -> Int { table[key]?.line ?? table.line }

    func error(_ key: String, _ message: String) {
        errors.append(ConfigError(file: file, line: lineOf(key), key: full(key), message: message))
    }

    func node(_ key: String) -> TOMLNode? {
        used.insert(key)
        return table[key]
    }

    func typed<T>(_ key: String, _ what: String, _ extract: (TOMLValue) -> T?) -> T? {
        guard let n = node(key) else { return nil }
        guard let v = extract(n.value) else {
            errors.append(ConfigError(file: file, line: n.line, key: full(key), message: "must be \(what), not \(n.value.typeName)"))
            return nil
        }
        return v
    }

    func string(_ key: String, _ set: (String) -> Void) {
        if let v = typed(key, "a string", { if case .string(let s) = $0 { s } else { nil } }) { set(v) }
    }

    func require(_ key: String, _ set: (String) -> Void) {
        if table[key] == nil { error(key, "is required") }
        string(key, set)
    }

    func bool(_ key: String, _ set: (Bool) -> Void) {
        if let v = typed(key, "true or false", { if case .bool(let b) = $0 { b } else { nil } }) { set(v) }
    }

    func int(_ key: String, _ range: ClosedRange<Int>, _ set: (Int) -> Void) {
        guard let v = typed(key, "an integer", { if case .integer(let i) = $0 { Int(i) } else { nil } }) else { return }
        guard range.contains(v) else { return error(key, "\(v) is out of range \(range.lowerBound)…\(range.upperBound)") }
        set(v)
    }

    func number(_ key: String, _ range: ClosedRange<Double>, _ set: (Double) -> Void) {
        guard let v = typed(key, "a number", { v -> Double? in
            switch v {
            case .float(let d): d
            case .integer(let i): Double(i)
            default: nil
            }
        }) else { return }
        guard range.contains(v) else { return error(key, "\(v) is out of range \(range.lowerBound)…\(range.upperBound)") }
        set(v)
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type, _ set: (E) -> Void) where E.RawValue == String {
        string(key) { s in
            guard let e = E(rawValue: s) else { return error(key, "\"\(s)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))") }
            set(e)
        }
    }

    func requireEnum<E: RawRepresentable & CaseIterable>(_ key: String, _ t: E.Type, _ set: (E) -> Void) where E.RawValue == String {
        if table[key] == nil { error(key, "is required") }
        enumeration(key, t, set)
    }

    func stringArray(_ key: String, _ set: ([String]) -> Void) {
        guard let items = typed(key, "an array of strings", { if case .array(let a) = $0 { a } else { nil } }) else { return }
        var out: [String] = []
        for i in items {
            guard case .string(let s) = i.value else { return error(key, "must be an array of strings") }
            out.append(s)
        }
        set(out)
    }

    /// A GPIO line: `{ offset = 17, active_low = true }` or a bare offset.
    func line(_ key: String, _ set: (GpioLine) -> Void) {
        guard let n = node(key) else { return }
        switch n.value {
        case .integer(let i) where (0...511).contains(i): set(GpioLine(offset: UInt32(i)))
        case .table(let t):
            let sub = TableReader(t, path: full(key), file: file)
            var line = GpioLine(offset: 0)
            if t["offset"] == nil { sub.error("offset", "is required") }
            sub.int("offset", 0...511) { line.offset = UInt32($0) }
            sub.bool("active_low") { line.activeLow = $0 }
            sub.finish()
            errors += sub.errors
            set(line)
        default:
            errors.append(ConfigError(file: file, line: n.line, key: full(key), message: "must be a line offset or { offset = N, active_low = true }"))
        }
    }

    func table(_ key: String, _ body: (TableReader) -> Void) {
        guard let t = typed(key, "a table", { if case .table(let t) = $0 { t } else { nil } }) else { return }
        let sub = TableReader(t, path: full(key), file: file)
        body(sub)
        sub.finish()
        errors += sub.errors
    }

    func tableArray(_ key: String, _ body: (TableReader) -> Void) {
        guard let items = typed(key, "an array of tables ([[\(key)]])", { if case .array(let a) = $0 { a } else { nil } }) else { return }
        for (i, item) in items.enumerated() {
            guard case .table(let t) = item.value else {
                errors.append(ConfigError(file: file, line: item.line, key: full(key), message: "must be tables ([[\(key)]])"))
                continue
            }
            let sub = TableReader(t, path: "\(full(key))[\(i)]", file: file)
            body(sub)
            sub.finish()
            errors += sub.errors
        }
    }

    /// Reports keys nobody asked for: typos, with the closest known key as a suggestion.
    func finish() {
        for (k, n) in table.entries where !used.contains(k) {
            let hint = used.min { editDistance($0, k) < editDistance($1, k) }.flatMap { editDistance($0, k) <= 3 ? " (did you mean `\($0)`?)" : nil } ?? ""
            errors.append(ConfigError(file: file, line: n.line, key: full(k), message: "unknown key\(hint)"))
        }
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var prev = Array(0...b.count)
    for i in 1...max(1, a.count) where !a.isEmpty {
        var cur = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...max(1, b.count) where !b.isEmpty {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return a.isEmpty ? b.count : prev[b.count]
}
