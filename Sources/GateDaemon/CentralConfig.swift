import Foundation
import CentralWire

/// The kiosk config's `[central]` section (issue 13). Absent: the kiosk is on its own, exactly as
/// before. Present: the registry is central's, events go up, cross-gate rules apply.
extension TableReader {
    func centralLink() -> CentralLink {
        var l = CentralLink()
        stringArray("urls") { urls in
            for u in urls {
                guard let parsed = URL(string: u), let scheme = parsed.scheme, let host = parsed.host, parsed.path.isEmpty || parsed.path == "/" else {
                    error("urls", "\"\(u)\" is not a base URL like https://central.example:8443")
                    continue
                }
                if scheme == "http" {
                    if !Self.isLoopback(host) { error("urls", "\"\(u)\": plain http only to a loopback address; use https") }
                } else if scheme != "https" {
                    error("urls", "\"\(u)\": scheme must be https (or http on loopback)")
                }
            }
            l.urls = urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        }
        if table["urls"] == nil { error("urls", "is required (central's base URLs)") } else if l.urls.isEmpty { error("urls", "needs at least one URL") }
        require("token_file") { l.tokenFile = $0 }
        string("ca_file") { l.caFile = $0 }
        string("registry_key") { l.registryKey = $0 }
        int("connect_timeout_ms", 50...60_000) { l.connectTimeoutMs = $0 }
        int("request_timeout_ms", 100...300_000) { l.requestTimeoutMs = $0 }
        int("claim_timeout_ms", 20...5_000) { l.claimTimeoutMs = $0 }
        int("offline_budget", 0...20) { l.offlineBudget = $0 }
        int("batch_records", 1...2000) { l.batchRecords = $0 }
        int("long_poll_seconds", 1...120) { l.longPollSeconds = $0 }
        int("registry_stale_seconds", 60...30 * 86_400) { l.registryStaleSeconds = $0 }
        return l
    }

    static func isLoopback(_ host: String) -> Bool {
        Loopback.isLiteral(host)
    }
}
