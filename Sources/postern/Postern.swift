import ArgumentParser
import Foundation
import GateStore
import GateCore
import GateDaemon
import KioskUplink
import Logging

/// The one executable. It parses arguments and calls into GateDaemon; no gate logic lives here.
@main
struct Postern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postern",
        abstract: "Gate kiosk for closed-management residential communities.",
        subcommands: [
            Serve.self, Demo.self, Sim.self, Devices.self, ConfigCommand.self,
            Tail.self, Report.self, Ledger.self,
            Residents.self, Quarantine.self, Lockdown.self, VisitorCommand.self, CourierCommand.self, StaffCommand.self, Exempt.self,
            PassCommand.self, Keys.self, LogCommand.self, MirrorCommand.self, Purge.self, WebCommand.self, Debug.self,
        ])

    static func bootstrapLogging(level: Logger.Level = .info) {
        LoggingSystem.bootstrap { label in
            var h = JournalLogHandler(label: label)
            h.logLevel = level
            return h
        }
    }
}

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (event log, database, keys).")
    var dataDir: String = "/var/lib/postern"

    @Option(name: .long, help: "Language for human texts: zh or en.")
    var lang: String = "zh"

    @Flag(name: .long, help: "Show names and ID numbers in full (admins).")
    var unmask = false

    @Option(name: .long, help: "Admin verbs: make the change at this central service (with --central-community, --central-account; password in POSTERN_PASSWORD).")
    var central: String?

    @Option(name: .customLong("central-community"), help: "With --central: the community whose registry to change.")
    var centralCommunity: String?

    @Option(name: .customLong("central-account"), help: "With --central: the account to act as.")
    var centralAccount: String?

    var language: Language { Language(rawValue: lang) ?? .zh }

    /// With --central, the verb runs on a scratch copy of central's registry and its changes
    /// are sent to central (docs/CENTRAL.md); the pass-signing key stays in --data-dir.
    mutating func validate() throws {
        guard let url = central else { return }
        guard let community = centralCommunity, let account = centralAccount else { throw ValidationError("--central needs --central-community and --central-account") }
        guard let password = ProcessInfo.processInfo.environment["POSTERN_PASSWORD"] else { throw ValidationError("--central: set POSTERN_PASSWORD to the account's password") }
        do {
            let s = try CentralAdminSession.start(url: url, community: community, account: account, password: password, keyDir: dataDir)
            dataDir = s.scratchDir
        } catch {
            throw ValidationError("--central \(url): \(error)")
        }
    }
}

/// Exits with the CLI's documented status codes: 1 = not valid / not allowed, 3 = I/O.
struct Exit: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { message }
    static func invalid(_ m: String) -> Exit { Exit(code: 1, message: m) }
    static func io(_ m: String) -> Exit { Exit(code: 3, message: m) }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning errors into one line on stderr and the right exit status.
    func guarded(_ body: () async throws -> Void) async throws {
        do { try await body() } catch let e as Exit {
            errOut("postern: \(e.message)")
            throw ExitCode(e.code)
        } catch let e as ExitCode {
            throw e
        } catch let e as CleanExit {
            throw e
        } catch let e as RegistryConflict {
            errOut("postern: \(e.message)")
            throw ExitCode(1)
        } catch let e as AdminError {
            errOut("postern: \(e.message)")
            throw ExitCode(1)
        } catch let e as ConfigErrors {
            errOut("\(e)")
            throw ExitCode(1)
        } catch {
            errOut("postern: \(error)")
            throw ExitCode(3)
        }
    }
}

// The CLI's output functions; one implementation for both tools, in GateCore's `Terminal`.
func out(_ s: String) { Terminal.line(s) }
func errOut(_ s: String) { Terminal.error(s) }
func outJSON(_ s: String) { Terminal.json(s) }
func outRaw(_ s: String) { Terminal.raw(s) }
