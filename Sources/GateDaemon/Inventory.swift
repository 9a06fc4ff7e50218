import Devices
import Foundation
import GateCore

/// `postern devices`: each configured device, where its path leads, the USB ids the kernel reports
/// for it (sysfs), whether they match the config, and whether it is present.
public enum DeviceInventory {
    public static func usbIDs(forDevice path: String) -> String? {
        guard let real = try? FileManager.default.destinationOfSymbolicLink(atPath: path).resolving(relativeTo: path) ?? path as String? else { return nil }
        let name = (real as NSString).lastPathComponent
        for cls in ["tty", "input", "hidraw"] {
            var dir = URL(fileURLWithPath: "/sys/class/\(cls)/\(name)/device").resolvingSymlinksInPath()
            for _ in 0..<6 {
                let v = dir.appendingPathComponent("idVendor").path, p = dir.appendingPathComponent("idProduct").path
                if let vs = try? String(contentsOfFile: v, encoding: .utf8), let ps = try? String(contentsOfFile: p, encoding: .utf8) {
                    return vs.trimmingCharacters(in: .whitespacesAndNewlines) + ":" + ps.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }

    public static func describe(_ c: KioskConfig) -> [String] {
        var lines: [String] = []
        for d in c.devices {
            let present = FileManager.default.fileExists(atPath: d.path)
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: d.path)).map { " → \($0)" } ?? ""
            var state = present ? "present" : (d.required ? "MISSING (required)" : "missing")
            let ids = present ? usbIDs(forDevice: d.path) : nil
            if let want = d.usb, let ids, ids != want { state += ", USB id \(ids) does not match \(want)" }
            let lanes = c.lanes.filter { $0.thermometer == d.id || $0.readers.contains(d.id) }.map(\.id)
            lines.append("\(d.id)\t\(d.kind.rawValue)/\(d.proto)\t\(d.path)\(target)\tusb \(ids ?? d.usb.map { "(want \($0))" } ?? "-")\tlanes \(lanes.joined(separator: ","))\t\(state)")
        }
        let wanted = Set(c.devices.compactMap { $0.usb })
        for id in Set(UsbHotplug.connected().map(\.description)) where wanted.contains(id) {
            lines.append("usb \(id)\tconnected\tconfigured for \(c.devices.filter { $0.usb == id }.map(\.id).joined(separator: ","))")
        }
        let byID = "/dev/serial/by-id"
        func real(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().path }
        let configured = Set(c.devices.map { real($0.path) })
        for n in (try? FileManager.default.contentsOfDirectory(atPath: byID)) ?? [] {
            if !configured.contains(real(byID + "/" + n)) { lines.append("-\tunconfigured\t\(byID)/\(n)\tusb \(usbIDs(forDevice: byID + "/" + n) ?? "?")\t-\tnot in config") }
        }
        return lines
    }
}

extension String {
    func resolving(relativeTo link: String) -> String? {
        hasPrefix("/") ? self : ((link as NSString).deletingLastPathComponent as NSString).appendingPathComponent(self)
    }
}

extension KioskConfig {
    /// The effective config as TOML (defaults filled in), for `postern config check`.
    public var effectiveDescription: String {
        // Control characters escaped too: a value read from `\u0001` or a multi-line string prints back as valid TOML.
        func q(_ s: String) -> String { TaggedJSON.quoted(s) }
        var o: [String] = []
        o.append("data_dir = \(q(dataDir))")
        o.append("gate = \(q(gate))")
        o.append("language = \(q(language.rawValue))")
        let r = rules
        o.append("\n[rules]")
        o.append("fever_threshold = \(r.feverThreshold)\nplausible_min = \(r.plausibleMin)\nplausible_max = \(r.plausibleMax)\ncompensation = \(r.compensation)")
        o.append("retests = \(r.retests)\nretest_cooldown_seconds = \(r.retestCooldownSeconds)\npairing_window_seconds = \(r.pairingWindowSeconds)\nreading_holdoff_seconds = \(r.readingHoldoffSeconds)\nimpossible_travel_seconds = \(r.impossibleTravelSeconds)")
        o.append("quota_exits = \(r.quotaExits)\nquota_days = \(r.quotaDays)\nisolation_days = \(r.isolationDays)\ncourier_stay_minutes = \(r.courierStayMinutes)")
        o.append("anti_passback = \(q(r.antiPassback.rawValue))\nmask = \(q(r.mask.rawValue))")
        o.append("\n[relay]\npulse_ms = \(r.relayPulseMs)")
        o.append("\n[gpio]\nchip = \(q(gpioChip))\ndebounce_ms = \(debounceMs)")
        for d in devices {
            o.append("\n[[device]]\nid = \(q(d.id))\nkind = \(q(d.kind.rawValue))\nprotocol = \(q(d.proto))\npath = \(q(d.path))")
            if let b = d.baud { o.append("baud = \(b)") }
            o.append("required = \(d.required)")
            if let u = d.usb { o.append("usb = \(q(u))") }
            if d.proto == "modbus-rtu" { o.append("slave = \(d.slave)\nfunction = \(d.registerMap.function)\nobject_register = \(d.registerMap.objectRegister)\nscale = \(q(d.registerMap.scale.rawValue))\npoll_ms = \(d.pollMs)") }
            if d.proto == "ascii-line" { o.append("pattern = \(q(d.pattern))\nunit = \(q(d.unit.rawValue))") }
        }
        for l in lanes {
            o.append("\n[[lane]]\nid = \(q(l.id))\ndirection = \(q(l.direction.rawValue))\nthermometer = \(q(l.thermometer ?? ""))\nreaders = [\(l.readers.map(q).joined(separator: ", "))]\ndoor_held_open_seconds = \(l.doorHeldOpenSeconds)")
            let lines = l.outputs.map { ($0.key.rawValue, $0.value) } + l.inputs.map { ($0.key.rawValue, $0.value) }
            if !lines.isEmpty {
                o.append("[lane.gpio]")
                for (k, v) in lines.sorted(by: { $0.0 < $1.0 }) { o.append("\(k) = { offset = \(v.offset), active_low = \(v.activeLow) }") }
            }
        }
        for k in keys { o.append("\n[[key]]\nid = \(q(k.id))\npublic_key = \(q(Base64URL.encode(k.publicKey)))\nnot_before = \(k.notBefore)" + (k.notAfter.map { "\nnot_after = \($0)" } ?? "")) }
        o.append("\n[alert]")
        if let c = alertCommand { o.append("command = [\(c.map(q).joined(separator: ", "))]") }
        o.append("timeout_seconds = \(alertTimeoutSeconds)\nalarm_seconds = \(alarmSeconds)")
        o.append("\n[sounds]\nplayer = [\(soundPlayer.map(q).joined(separator: ", "))]")
        for (k, v) in sounds.sorted(by: { $0.key < $1.key }) { o.append("\(k) = \(q(v))") }
        o.append("\n[log]\ncheckpoint_hours = \(checkpointHours)\nregistry_poll_ms = \(registryPollMs)\nretention_days = \(retentionDays)\nretention_max_mb = \(retentionMaxMB)")
        return o.joined(separator: "\n")
    }
}
