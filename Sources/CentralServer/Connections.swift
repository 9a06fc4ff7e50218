/// Connections as a resource an attacker must not exhaust: the process raises its own open-file
/// limit to the hard limit, and never accepts more HTTP connections than that limit leaves room
/// for (the PostgreSQL pool, the LISTEN connection, log and certificate files, and libdispatch,
/// whose worker monitor opens /proc/<tid>/stat every second and crashes the process when that
/// open fails — src/event/workqueue.c, not guardable from here, so descriptors must never run
/// out). Beyond the cap, new
/// connections wait in the kernel's backlog; idle ones (a partial request held open) are closed
/// after `idle_timeout_seconds`, which frees room for them.
import Foundation
import HummingbirdCore
#if canImport(Glibc)
import Glibc
#endif

enum Connections {
    /// File descriptors kept free for everything but HTTP connections, besides the database pool.
    static let reserve = 64

    /// Raises the soft open-file limit to the hard one; returns the soft limit in force.
    static func raiseFileLimit() -> Int {
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
        if rl.rlim_cur < rl.rlim_max {
            var want = rl
            want.rlim_cur = rl.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &want) == 0 { rl = want }
        }
        return rl.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(rl.rlim_cur)
    }

    /// How many HTTP connections central holds at once: the configured cap, lowered to what the
    /// open-file limit leaves after the reserve and the database pool (at least 8).
    static func cap(_ config: CentralConfig, fileLimit: Int) -> Int {
        max(8, min(config.maxConnections, fileLimit - reserve - config.dbMaxConnections - 1))
    }
}
