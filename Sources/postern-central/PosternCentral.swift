import ArgumentParser
import CentralServer
import CentralStore
import CentralWire
import Foundation
import GateCore
import HummingbirdBcrypt
import Logging
import Photos
import PostgresNIO

/// `postern-central`: the central service of a city's gates, and the commands that run next to
/// it (organisation, enrolment, accounts, reports). Exit status as `postern`: 0 ok, 1 not valid /
/// not allowed, 2 usage, 3 I/O.
@main
struct PosternCentral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postern-central",
        abstract: "Central service for a city's Postern gates (PostgreSQL, HTTPS).",
        subcommands: [Serve.self, Migrate.self, Org.self, Community.self, Gate.self, Account.self, RegistryKey.self, Report.self, Ledger.self, Findings.self, Registry.self, PhotoCommand.self])
}

struct Common: ParsableArguments {
    @Option(name: .long, help: "Config file.") var config = "/etc/postern-central/central.toml"

    func load() throws -> CentralConfig {
        do { return try CentralConfig.load(path: config) } catch let e as CentralConfigError {
            Terminal.error(e.description)
            throw ExitCode(1)
        }
    }

    /// Opens the database the config names and runs `body` with it (migrations first).
    func withDB<T: Sendable>(_ body: @Sendable (CentralDB) async throws -> T) async throws -> T {
        let c = try load()
        var logger = Logger(label: "postern-central")
        logger.logLevel = .error
        let (pg, _) = try CentralServer.postgres(c, logger: logger)
        let db = CentralDB(client: pg, logger: logger, lateAfterSeconds: c.lateAfterSeconds, registryKeep: c.registryKeep)
        return try await withThrowingTaskGroup(of: T?.self) { g in
            g.addTask {
                await pg.run()
                return nil
            }
            defer { g.cancelAll() }
            try? await Task.sleep(for: .milliseconds(5))  // let the pool's run loop start first
            do {
                // The pool retries a database it cannot reach for a minute; an admin at the
                // terminal hears after 10 s.
                let probeLogger = logger
                try await withThrowingTaskGroup(of: Void.self) { probe in
                    probe.addTask { _ = try await pg.query("SELECT 1", logger: probeLogger) }
                    probe.addTask {
                        try await Task.sleep(for: .seconds(10))
                        throw DatabaseUnreachable()
                    }
                    defer { probe.cancelAll() }
                    try await probe.next()
                }
                _ = try await db.migrate()
                return try await body(db)
            } catch let e as CentralError {
                Terminal.error("postern-central: \(e.message)")
                throw ExitCode(e.code == .notFound || e.code == .invalid || e.code == .forbidden || e.code == .conflict ? 1 : 3)
            } catch let e as PSQLError {
                Terminal.error("postern-central: database: \(String(reflecting: e).prefix(300))")
                throw ExitCode(3)
            } catch let e as ExitCode {
                throw e
            } catch {
                // The pool's own errors (no connection at all, authentication refused) name
                // neither the database nor what to check.
                let target = c.dbSocket.map { "socket \($0)" } ?? "\(c.dbHost ?? "?"):\(c.dbPort)"
                Terminal.error(
                    "postern-central: cannot use database \(c.dbName) at \(target) as \(c.dbUser) (\(String(describing: error).prefix(200))); is PostgreSQL running there, and may this user connect (pg_hba.conf, [database] password_file)?")
                throw ExitCode(3)
            }
        }
    }
}

/// No answer from the database within the admin commands' wait.
struct DatabaseUnreachable: Error, CustomStringConvertible {
    var description: String { "no connection within 10 s" }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve (systemd Type=notify).")
    @OptionGroup var common: Common
    func run() async throws {
        let c = try common.load()
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "postern-central")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
        let svc = try CentralServer.make(config: c, logger: logger)
        try await svc.run(onWeb: { [logger] url in logger.notice("web front at \(url)/ (log in with a central account)") })
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply schema migrations and exit.")
    @OptionGroup var common: Common
    func run() async throws {
        try await common.withDB { _ in Terminal.line("schema up to date") }
    }
}

struct Org: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Organisation units: city, district (旗市区), street (苏木乡镇街道).")
    @OptionGroup var common: Common
    @Argument(help: "city, district or street") var kind: String
    @Argument var id: String
    @Option var name: String
    @Option(help: "Parent unit (a district's city, a street's district).") var parent: String?
    func run() async throws {
        try await common.withDB { db in
            try await db.addOrgUnit(kind: kind, id: id, parent: parent, name: name)
            Terminal.line("\(kind) \(id) ok")
        }
    }
}

struct Community: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A community (社区/嘎查村) under a street.")
    @OptionGroup var common: Common
    @Argument var id: String
    @Option var street: String
    @Option var name: String
    @Option(help: "Household exits per window.") var quotaExits = 1
    @Option(help: "Window in days.") var quotaDays = 2
    func run() async throws {
        try await common.withDB { db in
            try await db.addCommunity(id: id, street: street, name: name, quotaExits: quotaExits, quotaDays: quotaDays)
            Terminal.line("community \(id) ok")
        }
    }
}

struct Gate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Gates: enrol (prints the gate's token once), list, clear an integrity finding.", subcommands: [Enrol.self, List.self, Clear.self])

    struct Enrol: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Argument var id: String
        @Option var community: String
        @Option var name: String?
        @Option(help: "The kiosk's kiosk.pub (its checkpoint key), so central verifies its signed checkpoints.") var kioskPub: String?
        @Option(help: "Write the token to this file (0600) instead of printing it.") var tokenOut: String?
        func run() async throws {
            var key: [UInt8]? = nil
            if let p = kioskPub {
                guard let d = FileManager.default.contents(atPath: p), let s = String(data: d, encoding: .utf8), let raw = Base64URL.decode(s.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    Terminal.error("postern-central: \(p) is not a kiosk.pub")
                    throw ExitCode(1)
                }
                key = raw
            }
            let token = try await common.withDB { [key] db in try await db.enrolGate(id: id, community: community, name: name ?? id, kioskKey: key) }
            if let out = tokenOut {
                let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw ExitCode(3) }
                _ = Array((token + "\n").utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                fchmod(fd, 0o600)
                close(fd)
                Terminal.line("gate \(id) enrolled; token in \(out)")
            } else {
                Terminal.line(token)
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Flag var json = false
        func run() async throws {
            let gates = try await common.withDB { db in try await db.completeness(communities: try await db.communities(scope: "city", id: nil)) }
            if json {
                Terminal.json(String(decoding: try Wire.encoder.encode(gates), as: UTF8.self))
            } else {
                for l in LedgerFormat.completeness(gates) { Terminal.line(l) }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Argument var id: String
        func run() async throws {
            let actor = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "admin"
            try await common.withDB { db in try await db.clearIntegrity(gate: id, actor: actor) }
            Terminal.line("gate \(id): finding cleared; its next batch starts a new chain base")
        }
    }
}

struct Account: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Accounts: admin, community_admin, operator, street/district/city supervisor. The password is read from POSTERN_PASSWORD or the first line of standard input.")
    @OptionGroup var common: Common
    @Argument var name: String
    @Option var role: String
    @Option(help: "Community, street, district or city the role covers.") var scope: String?
    func run() async throws {
        let pw = ProcessInfo.processInfo.environment["POSTERN_PASSWORD"] ?? readLine(strippingNewline: true) ?? ""
        guard pw.utf8.count >= 8, pw.utf8.count <= 72 else {
            Terminal.error("postern-central: a password of 8 to 72 bytes is required")
            throw ExitCode(2)
        }
        let hash = Bcrypt.hash(pw, cost: AccountPasswords.cost)
        try await common.withDB { db in try await db.addAccount(name: name, passwordHash: hash, role: role, scope: scope) }
        Terminal.line("account \(name) (\(role)) ok")
    }
}

struct RegistryKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry-key", abstract: "Central's snapshot-signing public key, for each kiosk's [central] registry_key.")
    @OptionGroup var common: Common
    func run() async throws {
        Terminal.line(try await common.withDB { db in try await db.registryPublicKey() })
    }
}

struct ScopeOptions: ParsableArguments {
    @Option var community: String?
    @Option var street: String?
    @Option var district: String?
    @Option(help: "A city id; `--city` alone is every city.") var city: String?
    @Flag(name: .customLong("all-cities")) var allCities = false

    var scope: (String, String?)? {
        if let c = community { return ("community", c) }
        if let s = street { return ("street", s) }
        if let d = district { return ("district", d) }
        if let c = city { return ("city", c) }
        if allCities { return ("city", nil) }
        return nil
    }
}

func today() -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd"
    f.locale = Locale(identifier: "en_US_POSIX")
    return f.string(from: Date())
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reports over all gates.", subcommands: [Seven.self])

    struct Seven: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "七知 over a community, street, district or city, with \"complete through\" per gate.")
        @OptionGroup var common: Common
        @OptionGroup var where_: ScopeOptions
        @Option var date: String?
        @Flag var json = false
        func run() async throws {
            guard let (scope, id) = where_.scope else { throw ValidationError("one of --community, --street, --district, --city ID or --all-cities") }
            let day = date ?? today()
            let r = try await common.withDB { db in
                try await db.seven(scope: scope + (id.map { " " + $0 } ?? ""), communities: try await db.communities(scope: scope, id: id), day: day)
            }
            if json {
                Terminal.json(String(decoding: try Wire.encoder.encode(r), as: UTF8.self))
                return
            }
            Terminal.line(SevenText.render(r))
        }
    }
}

enum SevenText {
    static func render(_ r: CentralDB.SevenReport) -> String {
        var lines = ["七知 \(r.scope) \(r.day): \(r.communities.count) communit\(r.communities.count == 1 ? "y" : "ies") (\(r.communities.joined(separator: ", ")))"]
        lines.append("  households 总户数            \(r.households)")
        lines.append("  rental households 出租房屋   \(r.rentalHouseholds)")
        lines.append("  Hubei origin 湖北籍          \(r.hubei)")
        lines.append("  Wuhan origin 武汉籍          \(r.wuhan)")
        lines.append("  other outsiders 外来人员     \(r.otherProvince)")
        lines.append("  returnees 返乡人员           \(r.returnees)")
        lines.append("  in home isolation 居家隔离   \(r.isolatedNow)")
        lines.append("  passages today: in \(r.passagesIn), out \(r.passagesOut); fever alerts \(r.feverAlerts); late records \(r.lateRecords); quota overdrafts \(r.overdrafts)")
        if !r.denialsByReason.isEmpty { lines.append("  denials: " + r.denialsByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        for l in LedgerFormat.completeness(r.gates) { lines.append("  " + l) }
        return lines.joined(separator: "\n")
    }
}

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The day's ledger (台账) over all gates of a scope; names masked unless --unmask.")
    @OptionGroup var common: Common
    @OptionGroup var where_: ScopeOptions
    @Option var date: String?
    @Option var format = "csv"
    @Flag var unmask = false
    func run() async throws {
        guard let (scope, id) = where_.scope else { throw ValidationError("one of --community, --street, --district, --city ID or --all-cities") }
        guard ["csv", "html", "json"].contains(format) else { throw ValidationError("--format csv, html or json") }
        let day = date ?? today()
        let (rows, gates) = try await common.withDB { db in
            let cs = try await db.communities(scope: scope, id: id)
            return (try await db.ledger(communities: cs, day: day, unmask: unmask), try await db.completeness(communities: cs))
        }
        switch format {
        case "html": Terminal.raw(LedgerFormat.html(rows, gates: gates, title: "\(scope) \(id ?? "") \(day)"), newline: false)
        case "json": Terminal.json(String(decoding: try Wire.encoder.encode(LedgerPage(rows: rows, gates: gates)), as: UTF8.self))
        default: Terminal.raw(LedgerFormat.csv(rows, gates: gates), newline: false)
        }
    }
}

struct Findings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Integrity findings: kiosk logs found truncated, rewritten or with bad checkpoints.")
    @OptionGroup var common: Common
    @Option var gate: String?
    func run() async throws {
        let fs = try await common.withDB { db in try await db.findings(gate: gate) }
        for f in fs { Terminal.line("\(f.gate)\(f.seq.map { " seq \($0)" } ?? "") \(f.kind): \(f.message)") }
        if fs.contains(where: { $0.kind != "cleared" && $0.kind != "rebased" }) { throw ExitCode(1) }
    }
}

struct Registry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Registry changes at central: apply a JSON list of registry_change events (what `postern … --central` sends).")
    @OptionGroup var common: Common
    @Option var community: String
    @Argument(help: "JSON file: an array of {entity, key, action, after} objects.") var file: String
    func run() async throws {
        guard let d = FileManager.default.contents(atPath: file) else { throw ExitCode(3) }
        let changes: [GateEvent]
        do { changes = try JSONDecoder().decode([GateEvent].self, from: d) } catch {
            Terminal.error("postern-central: \(file): not a JSON array of registry changes")
            throw ExitCode(1)
        }
        let actor = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "admin"
        let v = try await common.withDB { db in try await db.writeRegistry(RegistryWrite(community: community, changes: changes), actor: actor) }
        Terminal.line("registry of \(community) at version \(v)")
    }
}

struct PhotoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "photo",
        abstract: "Sets a registered person's photo for the live view (JPEG/PNG; validated, size-limited and re-encoded, never stored as given).")
    @OptionGroup var common: Common
    @Option(help: "The person's community.") var community: String
    @Option(help: "Who sets it (recorded with the photo).") var actor = "admin"
    @Argument var person: String
    @Argument var file: String
    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("postern-central: cannot read \(file)\n".utf8))
            throw ExitCode(3)
        }
        let n: Photo.Normalised
        do { n = try Photo.normalise(Array(data)) } catch {
            FileHandle.standardError.write(Data("postern-central: \(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
        try await common.withDB { [community, person, actor] db in try await db.setPhoto(community: community, person: person, jpeg: n.jpeg, sha256: n.sha256, actor: actor) }
        print("photo of \(person) set (\(n.width)x\(n.height), \(n.jpeg.count) bytes)")
    }
}
