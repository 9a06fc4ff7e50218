import Foundation
import GateCore
import GateStore

/// Admin writes when central keeps the registry (issue 13).
public enum CentralAdmin {
    /// The age of a registry central keeps, for reports: its version and when central last
    /// confirmed it (nil for a kiosk on its own).
    public static func registryAge(_ store: Store, zh: Bool, now: Double = Date().timeIntervalSince1970) -> String? {
        guard let c = try? store.centralState() else { return nil }
        let age = Int(now) - Int(c.appliedAt)
        return zh ? "名册：中心 \(c.url) 版本 \(c.version)，\(age) 秒前确认" : "Registry: central \(c.url), version \(c.version), confirmed \(age) s ago"
    }

    public static func refusal(url: String, community: String) -> String {
        "the registry of this kiosk is kept at central (\(url), community \(community)); make the change there: the same command with --central \(url) --central-community \(community) --central-account NAME, or postern-central. Nothing changed here"
    }
}

/// Where admin writes go when a verb runs with `--central` (set by KioskUplink's session):
/// `send` takes the queued registry changes to central; `keyDir` keeps the pass-signing key in
/// the admin's own data directory.
public enum CentralAdminTarget {
    nonisolated(unsafe) public static var send: ((Store) throws -> String)?
    nonisolated(unsafe) public static var keyDir: String?
}
