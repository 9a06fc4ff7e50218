import ArgumentParser
import Foundation
import GateDaemon
import KioskWeb
import Logging
import Metrics
import PosternWeb
import ServiceLifecycle

struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "The operators' web front (live view, board, ledger, metrics).", subcommands: [Passwd.self])

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a web account's password (bcrypt) and role; the local admin by default.",
            discussion: """
                Roles: admin (everything, board settings), guard (live view with photos, acknowledges
                alarms), viewer (live view and counts, masked names, no photos), metrics (/metrics only,
                HTTP Basic). The password is read from the terminal (twice) or, with --password-stdin,
                one line from standard input. Accounts live in DATA/web-users (0600) unless the
                config's [web] users_file says otherwise.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Account name (1–32 of a-z A-Z 0-9 . _ -).") var user: String = "admin"
        @Option(name: .long, help: "admin, guard, viewer or metrics") var role: String = "admin"
        @Option(name: .long, help: "Config file whose [web] users_file to use.") var config: String?
        @Flag(name: .long, help: "Read the password from standard input (one line).") var passwordStdin = false

        func run() async throws {
            try await guarded {
                guard let r = Role(rawValue: role) else { throw ValidationError("--role must be admin, guard, viewer or metrics") }
                var path = global.dataDir + "/web-users"
                if let config {
                    let (c, _) = try KioskConfig.load(path: config)
                    path = c.web.usersFile ?? c.dataDir + "/web-users"
                }
                let password: String
                if passwordStdin {
                    password = readLine(strippingNewline: true) ?? ""
                } else {
                    guard let a = getpass("password for \(user): ").map({ String(cString: $0) }), let b = getpass("again: ").map({ String(cString: $0) }) else {
                        throw Exit.io("no terminal to read a password from (use --password-stdin)")
                    }
                    guard a == b else { throw Exit.invalid("the passwords differ; nothing changed") }
                    password = a
                }
                do { try AccountFile(path: path).set(name: user, role: r, password: password) } catch let e as WebError { throw Exit.invalid(e.description) }
                // Run as root for a daemon that runs as its own user: the file goes to the owner
                // of the folder it is in (the data directory's user), still 0600.
                var st = stat()
                if getuid() == 0, stat((path as NSString).deletingLastPathComponent, &st) == 0, st.st_uid != 0 {
                    chown(path, st.st_uid, st.st_gid)
                }
                out("\(user) (\(r.rawValue)) set in \(path)")
            }
        }
    }
}

/// The web front as an extra kiosk service, with /metrics wired to swift-metrics, if the config
/// asks for it.
enum WebSetup {
    static func services(_ c: KioskConfig, logger: Logger, onRunning: @escaping @Sendable (String) -> Void) -> [@Sendable (Kiosk) throws -> any Service] {
        guard let o = KioskWeb.options(c) else { return [] }
        let metrics = WebMetrics()
        MetricsSystem.bootstrap(metrics.factory())
        return [KioskWeb.service(options: o, metrics: metrics, logger: logger, onRunning: onRunning)]
    }
}
