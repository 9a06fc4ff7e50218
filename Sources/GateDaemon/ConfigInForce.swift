import Foundation
import GateCore

/// The one holder of the config in force. The kiosk's services and the controller read
/// `current` each time they need a setting (nothing keeps a copy), and a reload goes through
/// `apply`, which compares the new file with the old one key by key: every changed key either
/// applies now or is reported as waiting for a restart — never said to apply when it does not.
///
/// Restart-only keys are those wired at start: the data directory, the GPIO chip and debounce,
/// the `[[device]]` tables, and a lane's id, direction, thermometer, readers and GPIO lines. Their
/// values stay as started until the process restarts; every other key applies with the reload.
public final class ConfigInForce: @unchecked Sendable {
    private let lock = NSLock()
    private var config: KioskConfig
    private let started: KioskConfig

    public init(_ c: KioskConfig) {
        config = c
        started = c
    }

    public var current: KioskConfig {
        lock.lock()
        defer { lock.unlock() }
        return config
    }

    public struct Outcome: Sendable, Equatable {
        /// Keys (as in the file: `rules.fever_threshold`, `lane[0].readers`) that changed and apply now.
        public var applied: [String]
        /// Keys whose value in the file differs from the one in force until a restart.
        public var waitingForRestart: [String]
        /// Trusted key ids of the config before this reload.
        public var previousConfigKeys: Set<String>

        public var summary: String {
            if applied.isEmpty && waitingForRestart.isEmpty { return "applied; no key changed" }
            var parts: [String] = []
            if !applied.isEmpty { parts.append("applied: " + applied.joined(separator: ", ")) }
            if !waitingForRestart.isEmpty { parts.append("need a restart: " + waitingForRestart.joined(separator: ", ")) }
            return parts.joined(separator: "; ")
        }
    }

    /// Makes `new` the config in force, except for the restart-only keys, which keep their
    /// started values.
    @discardableResult
    public func apply(_ new: KioskConfig) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        let before = Self.flatten(config.document.table)
        let after = Self.flatten(new.document.table)
        let start = Self.flatten(started.document.table)
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
        let restartChanged = Set(start.keys).union(after.keys).filter { Self.needsRestart($0) && start[$0] != after[$0] }
        var effective = new
        effective.dataDir = started.dataDir
        effective.gpioChip = started.gpioChip
        effective.debounceMs = started.debounceMs
        effective.web = started.web
        effective.devices = started.devices
        effective.lanes = started.lanes.map { lane in
            var l = lane
            if let n = new.lanes.first(where: { $0.id == lane.id }) {
                l.doorHeldOpenSeconds = n.doorHeldOpenSeconds
                l.typedIDNumbers = n.typedIDNumbers
            }
            return l
        }
        let outcome = Outcome(applied: changed.filter { !Self.needsRestart($0) }.sorted(), waitingForRestart: restartChanged.sorted(), previousConfigKeys: Set(config.keys.map(\.id)))
        config = effective
        return outcome
    }

    static let restartLaneKeys: Set<String> = ["id", "direction", "thermometer", "readers", "gpio"]

    static func needsRestart(_ key: String) -> Bool {
        if key == "data_dir" || key == "gpio.chip" || key == "gpio.debounce_ms" || key.hasPrefix("device[") || key == "device" { return true }
        // The web front is built once at start (listen address, TLS, accounts file, board).
        if key == "web" || key.hasPrefix("web.") { return true }
        if key.hasPrefix("lane[") || key == "lane" {
            guard let dot = key.firstIndex(of: ".") else { return true }  // a lane added or removed
            let rest = key[key.index(after: dot)...]
            let field = rest.split(separator: ".").first.map(String.init) ?? ""
            return restartLaneKeys.contains(field)
        }
        return false
    }

    /// Every leaf of a TOML document as `dotted.key` → its value as text; array-of-table
    /// elements are `name[i]`, and an array-of-tables' length is its own entry.
    static func flatten(_ t: TOMLTable, prefix: String = "") -> [String: String] {
        var out: [String: String] = [:]
        for (k, node) in t.entries {
            let key = prefix.isEmpty ? k : prefix + "." + k
            switch node.value {
            case .table(let sub):
                out.merge(flatten(sub, prefix: key)) { a, _ in a }
            case .array(let items) where !items.isEmpty && items.allSatisfy({ if case .table = $0.value { true } else { false } }):
                out[key] = "\(items.count) table(s)"
                for (i, item) in items.enumerated() {
                    if case .table(let sub) = item.value { out.merge(flatten(sub, prefix: "\(key)[\(i)]")) { a, _ in a } }
                }
            default:
                out[key] = text(node.value)
            }
        }
        return out
    }

    static func text(_ v: TOMLValue) -> String {
        switch v {
        case .array(let items): "[" + items.map { text($0.value) }.joined(separator: ", ") + "]"
        case .table(let t): "{" + flatten(t).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
        default: String(describing: v)
        }
    }
}
