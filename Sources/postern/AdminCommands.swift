import ArgumentParser
import Foundation
import GateCore
import GateDaemon
import GateStore
import PassCards
import Photos

func parseDay(_ s: String) throws -> Timestamp {
    guard let t = ResidentImport.parseDay(s, utcOffset: TimeZone.current.secondsFromGMT()) else { throw ValidationError("\"\(s)\" is not a date (YYYY-MM-DD)") }
    return t
}

func nowTS() -> Timestamp { Timestamp(Date().timeIntervalSince1970) }

struct Residents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The resident registry.", subcommands: [Import.self, List.self, Show.self, PhotoCommand.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import residents from CSV (all rows or none).", discussion: """
            Columns (header required, any order): id, name, sex (M/F), id_number, building, unit, room,
            household, origin (local|hubei|wuhan|other-province|returnee), return_date (YYYY-MM-DD),
            quarantine_until, rental (yes/no), landlord_contact, phone. Required: id, name, sex,
            id_number, building, unit, room. A return date starts home isolation for isolation_days.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A CSV file, or a folder of photos named PERSON.jpg|.jpeg|.png.") var file: String?
        @Option(name: .long, help: "A folder of photos named by person id (JPEG or PNG), imported with the CSV.") var photos: String?
        @Option(name: .long, help: "Days of home isolation after a return date.") var isolationDays = 14

        func run() async throws {
            try await guarded {
                var csv = file
                var folder = photos
                var isDir: ObjCBool = false
                if let f = file, FileManager.default.fileExists(atPath: f, isDirectory: &isDir), isDir.boolValue {
                    guard photos == nil else { throw ValidationError("give one folder of photos") }
                    (csv, folder) = (nil, f)
                }
                guard csv != nil || folder != nil else { throw ValidationError("give a CSV file, a folder of photos, or both (FILE.csv --photos DIR)") }
                var rows: [(line: Int, resident: Resident)] = []
                if let file = csv {
                    guard let data = FileManager.default.contents(atPath: file) else { throw Exit.io("cannot read \(file)") }
                    guard let text = String(data: data, encoding: .utf8) else { throw Exit.invalid("\(file): not UTF-8 (save the spreadsheet as CSV UTF-8)") }
                    switch ResidentImport.parseRows(text, isolationDays: isolationDays) {
                    case .failure(let e): throw located(e, file)
                    case .success(let r): rows = r
                    }
                }
                let a = try Admin(dataDir: global.dataDir)
                // Photos are checked in full before anything is written: all or nothing, CSV included.
                var pics: [(person: String, photo: Photo.Normalised)] = []
                if let dir = folder {
                    let incoming = Swift.Set(rows.map(\.resident.id))
                    switch try PhotoInput.folder(dir, known: { try incoming.contains($0) || a.store.personKind($0) != nil }) {
                    case .failure(let e): throw Exit.invalid(e.lines.joined(separator: "\n") + "\nnothing imported")
                    case .success(let p): pics = p
                    }
                }
                if let file = csv {
                    do { try a.store.importResidents(rows, actor: a.actor) } catch let e as ResidentImport.Errors { throw located(e, file) }
                }
                if !pics.isEmpty { try a.store.setPhotos(pics.map { PhotoInput.record($0.person, $0.photo) }, actor: a.actor) }
                out("imported \(rows.count) resident(s), \(pics.count) photo(s); \(a.flushAudit())")
            }
        }

        func located(_ e: ResidentImport.Errors, _ file: String) -> Exit {
            Exit.invalid(e.rows.map { "\(file):\($0.line): \(Printable.escaped($0.message))" }.joined(separator: "\n") + "\nnothing imported")
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long) var json = false
        func run() async throws {
            try await guarded {
                let rs = try Store.open(dataDir: global.dataDir).residents()
                for r in rs {
                    let name = global.unmask ? r.name : maskName(r.name)
                    let num = global.unmask ? r.idNumber : IDNumber.masked(r.idNumber)
                    if json {
                        let o: [String: Any] = ["id": r.id, "name": name, "id_number": num, "household": r.household, "address": r.address.description, "origin": r.origin.rawValue, "rental": r.rental, "quarantine_until": r.quarantineUntil as Any]
                        outJSON(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
                    } else {
                        let q = r.quarantineUntil.map { $0 > nowTS() ? " isolation" : "" } ?? ""
                        out([r.id, name, num, r.address.description, r.household].map { Printable.escaped($0) }.joined(separator: "\t") + "\t\(r.origin.rawValue)\(r.rental ? " rental" : "")\(q)")
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        func run() async throws {
            try await guarded {
                guard let r = try Store.open(dataDir: global.dataDir).resident(id) else { throw Exit.invalid("no resident \(id)") }
                var shown = r
                if !global.unmask {
                    shown.name = maskName(r.name)
                    shown.idNumber = IDNumber.masked(r.idNumber)
                    shown.phone = r.phone.map(maskPhone)
                    shown.landlordContact = r.landlordContact.map(maskPhone)
                }
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                outJSON(String(decoding: try e.encode(shown), as: UTF8.self))
            }
        }
    }
}

struct Quarantine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Home isolation (居家隔离).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "set or clear") var action: String
    @Argument var person: String
    @Option(name: .long, help: "Until (YYYY-MM-DD); default today + 14 days.") var until: String?
    func run() async throws {
        try await guarded {
            let a = try Admin(dataDir: global.dataDir)
            switch action {
            case "set": try a.store.setQuarantine(person: person, until: try until.map(parseDay) ?? nowTS() + 14 * 86_400, actor: a.actor)
            case "clear": try a.store.setQuarantine(person: person, until: nil, actor: a.actor)
            default: throw ValidationError("action must be set or clear")
            }
            out("ok; \(a.flushAudit())")
        }
    }
}

struct Lockdown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lockdown of a building (3), a unit (3-2) or the compound.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "set or lift") var action: String
    @Argument(help: "compound, BUILDING or BUILDING-UNIT") var scope: String
    @Option(name: .long) var reason: String = "confirmed case"
    func run() async throws {
        try await guarded {
            guard let s = LockdownScope(parsing: scope) else { throw ValidationError("scope must be compound, BUILDING or BUILDING-UNIT") }
            let a = try Admin(dataDir: global.dataDir)
            switch action {
            case "set": try a.store.setLockdown(s, reason: reason, at: nowTS(), actor: a.actor)
            case "lift": try a.store.liftLockdown(s, actor: a.actor)
            default: throw ValidationError("action must be set or lift")
            }
            out("ok; \(a.flushAudit())")
        }
    }
}

struct VisitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "visitor", abstract: "Approved visitors.", subcommands: [Approve.self])
    struct Approve: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var id: String
        @Option var name: String
        @Option var idNumber: String
        @Option var phone: String
        @Option(help: "Host household.") var host: String
        @Option var reason: String
        @Option(help: "Approving staff id.") var approver: String
        @Option(help: "Valid until (YYYY-MM-DD, end of that day); default end of today.") var until: String?
        @Option(help: "Entries allowed.") var entries: Int = 1
        func run() async throws {
            try await guarded {
                guard IDNumber.isValid(idNumber) else { throw Exit.invalid("id number fails the GB 11643 check digit") }
                let a = try Admin(dataDir: global.dataDir)
                guard try a.store.snapshot().staff[approver] != nil else { throw Exit.invalid("approver \(approver) is not registered staff") }
                let end = try (until.map(parseDay) ?? parseDay(today())) + 86_399
                try a.store.addVisitor(Visitor(id: id, name: name, idNumber: idNumber, phone: phone, hostHousehold: host, reason: reason, approver: approver, validFrom: nowTS(), validUntil: end, maxEntries: entries), actor: a.actor)
                out("ok; \(a.flushAudit())")
            }
        }
    }
}

struct CourierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "courier", abstract: "Registered couriers.", subcommands: [Add.self, Remove.self])
    struct Add: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var id: String
        @Option var name: String
        @Option var idNumber: String
        @Option var company: String
        @Option(help: "Allowed hours, HH:MM-HH:MM.") var hours: String = "08:00-20:00"
        func run() async throws {
            try await guarded {
                guard IDNumber.isValid(idNumber) else { throw Exit.invalid("id number fails the GB 11643 check digit") }
                let p = hours.split(separator: "-").map { $0.split(separator: ":").compactMap { Int($0) } }
                guard p.count == 2, p.allSatisfy({ $0.count == 2 && $0[0] < 24 && $0[1] < 60 }) else { throw ValidationError("--hours must be HH:MM-HH:MM") }
                let a = try Admin(dataDir: global.dataDir)
                try a.store.addCourier(Courier(id: id, name: name, idNumber: idNumber, company: company, startMinute: p[0][0] * 60 + p[0][1], endMinute: p[1][0] * 60 + p[1][1]), actor: a.actor)
                out("ok; \(a.flushAudit())")
            }
        }
    }
    struct Remove: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                try a.store.removeCourier(id, actor: a.actor)
                out("ok; \(a.flushAudit())")
            }
        }
    }
}

struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "staff", abstract: "Dedicated managers (专职管理人员).", subcommands: [Add.self])
    struct Add: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var id: String
        @Option var name: String
        @Option(help: "cadre, police, security, property…") var role: String
        @Option var idNumber: String
        func run() async throws {
            try await guarded {
                guard IDNumber.isValid(idNumber) else { throw Exit.invalid("id number fails the GB 11643 check digit") }
                let a = try Admin(dataDir: global.dataDir)
                try a.store.addStaff(Staff(id: id, name: name, role: role, idNumber: idNumber), actor: a.actor)
                out("ok; \(a.flushAudit())")
            }
        }
    }
}

struct Exempt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A shopping-quota exemption for a person, with reason and expiry.")
    @OptionGroup var global: GlobalOptions
    @Argument var person: String
    @Option var reason: String
    @Option(help: "Until (YYYY-MM-DD).") var until: String
    func run() async throws {
        try await guarded {
            let a = try Admin(dataDir: global.dataDir)
            guard try a.store.resident(person) != nil else { throw Exit.invalid("no resident \(person)") }
            try a.store.setExemption(Exemption(person: person, reason: reason, until: try parseDay(until) + 86_399), actor: a.actor)
            out("ok; \(a.flushAudit())")
        }
    }
}

struct PassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pass", abstract: "Passes (出入证).", subcommands: [Issue.self, Revoke.self, Verify.self, Print.self])

    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Printable pass cards (SVG or PNG; card size, or A4 sheets of ten).", discussion: """
            Uses each person's current pass (re-signed: Ed25519 signatures are deterministic, so the QR is
            the same one the kiosk accepts); issues one where there is none or its key was rotated out.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Person id (or use --household / --all).") var person: String?
        @Option(name: .long) var household: String?
        @Flag(name: .long) var all = false
        @Option(name: .long) var out: String = "."
        @Option(name: .long, help: "svg or png") var format: String = "svg"
        @Flag(name: .long, help: "A4 sheets of ten cards instead of one file per card.") var sheet = false
        @Option(name: .long) var community: String = "小区"
        @Option(name: .long, help: "Days of validity for newly issued passes (\(Admin.passDays.lowerBound)…\(Admin.passDays.upperBound)).") var days = 30

        func run() async throws {
            try await guarded {
                guard ["svg", "png"].contains(format) else { throw ValidationError("--format must be svg or png") }
                let a = try Admin(dataDir: global.dataDir)
                let residents = try a.store.residents()
                let chosen = residents.filter { r in all || r.id == person || (household != nil && r.household == household) }
                guard !chosen.isEmpty else { throw Exit.invalid("no matching resident") }
                let (key, keyID) = try a.signingKey()
                let f = DateFormatter()
                f.dateFormat = "yyyy-MM-dd"
                var cards: [PassCard] = []
                for r in chosen {
                    var payload: String
                    var pass: Pass
                    if let cur = try a.store.currentPass(person: r.id), cur.pass.keyID == keyID, cur.pass.expires > nowTS() {
                        pass = cur.pass
                        payload = try PassCodec.encode(pass, signingKey: key)
                    } else {
                        (pass, payload) = try a.issuePass(person: r.id, days: days, now: nowTS())
                    }
                    cards.append(PassCard(payload: payload, name: r.name, sex: r.sex == .male ? "男" : "女", address: "\(r.address.building)栋\(r.address.unit)单元\(r.address.room)室", maskedID: IDNumber.masked(r.idNumber), passID: pass.idString, validFrom: f.string(from: Date(timeIntervalSince1970: Double(pass.issued))), validTo: f.string(from: Date(timeIntervalSince1970: Double(pass.expires))), community: community, photoJPEG: a.store.photo(person: r.id)))
                }
                // Cards hold personal data: folders this command creates are 0750 whatever the umask.
                try makePrivateDirectory(self.out)
                var files: [(String, String)] = []
                if sheet {
                    for (i, start) in stride(from: 0, to: cards.count, by: 10).enumerated() {
                        files.append(("sheet-\(i + 1)", try PassCard.sheet(Array(cards[start..<min(cards.count, start + 10)]))))
                    }
                } else {
                    for (c, r) in zip(cards, chosen) { files.append(("pass-" + safeFileName(r.id), try c.svg())) }
                }
                for (name, svg) in files {
                    let svgPath = self.out + "/" + name + ".svg"
                    try AtomicFile.write(Data(svg.utf8), to: svgPath, mode: 0o640)
                    if format == "png" {
                        try PassCard.png(svgPath: svgPath, pngPath: self.out + "/" + name + ".png")
                        try? FileManager.default.removeItem(atPath: svgPath)
                    }
                    postern.out(self.out + "/" + name + "." + format)
                }
                errOut("\(cards.count) card(s); \(a.flushAudit())")
            }
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a pass (supersedes the person's earlier pass) and print its QR payload.")
        @OptionGroup var global: GlobalOptions
        @Argument var person: String
        @Option(help: "Valid for N days (\(Admin.passDays.lowerBound)…\(Admin.passDays.upperBound)).") var days: Int = 30
        @Option(help: "Also write the payload to this file.") var out: String?
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                let (p, text) = try a.issuePass(person: person, days: days, now: nowTS())
                if let o = self.out { try AtomicFile.write(Data((text + "\n").utf8), to: o, mode: 0o640) }
                postern.out(text)
                errOut("pass \(p.idString) for \(person), valid \(days) days; \(a.flushAudit())")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a pass (lost or stolen).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Pass id (hex) or payload.") var pass: String
        @Option var reason: String = "lost"
        func run() async throws {
            try await guarded {
                let id = PassCodec.parse(pass)?.pass.id ?? UInt64(pass, radix: 16)
                guard let id else { throw ValidationError("not a pass id or payload") }
                let a = try Admin(dataDir: global.dataDir)
                try a.store.revokePass(id, reason: reason, actor: a.actor)
                out("revoked; \(a.flushAudit())")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Explain what a kiosk would decide about a pass; exit 0 only if it would accept it.")
        @OptionGroup var global: GlobalOptions
        @Argument var payload: String
        @Option(name: .long, help: "The kiosk's config: its [[key]]s are trusted as the kiosk trusts them (used when the file exists).") var config: String = "/etc/postern/postern.toml"
        func run() async throws {
            try await guarded {
                // The kiosk trusts the registry's keys and its config's [[key]]s: so does verify.
                let keys = FileManager.default.fileExists(atPath: config) ? try KioskConfig.load(path: config).0.keys : []
                let snap = try Store.open(dataDir: global.dataDir).snapshot(extraKeys: keys)
                let now = nowTS()
                if let (p, _, _) = PassCodec.parse(payload) {
                    out("pass \(p.idString): \(p.kind.rawValue) \(p.person), household \(p.household), key \(p.keyID)")
                    let f = DateFormatter()
                    f.dateFormat = "yyyy-MM-dd HH:mm"
                    out("issued \(f.string(from: Date(timeIntervalSince1970: Double(p.issued)))), expires \(f.string(from: Date(timeIntervalSince1970: Double(p.expires))))")
                }
                // The text as a scanner would deliver it: the kiosk's own classification.
                switch snap.resolve(Credential.classify(payload, source: .scanner), now: now) {
                case .success((let person, _)):
                    out("accept: valid pass of \(global.unmask ? person.name : maskName(person.name)) (\(person.kind.rawValue)); the temperature and the other rules still apply at the gate")
                case .failure(let r):
                    throw Exit.invalid("deny: \(r.rawValue): \(ReasonText.text(r, global.language))")
                }
            }
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pass-signing keys.", subcommands: [Generate.self, List.self, Rotate.self, Retire.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the signing key (0600, admin machine only) and trust its public key.")
        @OptionGroup var global: GlobalOptions
        @Option var id: String = "k1"
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                if FileManager.default.fileExists(atPath: a.signingKeyPath) { throw Exit.invalid("\(a.signingKeyPath) exists; use `postern keys rotate`") }
                let k = try a.generateKey(id: id, notBefore: nowTS())
                out("key \(k.id) public \(Base64URL.encode(k.publicKey)); \(a.flushAudit())")
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await guarded {
                for k in try Store.open(dataDir: global.dataDir).keys() {
                    out("\(k.id)\t\(Base64URL.encode(k.publicKey))\tfrom \(k.notBefore)\t\(k.notAfter.map { "until \($0)" } ?? "no end")")
                }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "New signing key; the old public key stays trusted so no resident is locked out.")
        @OptionGroup var global: GlobalOptions
        @Option var id: String
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                let old = a.signingKeyPath + ".retired-\(nowTS())"
                if FileManager.default.fileExists(atPath: a.signingKeyPath) { try FileManager.default.moveItem(atPath: a.signingKeyPath, toPath: old) }
                let k = try a.generateKey(id: id, notBefore: nowTS())
                out("key \(k.id) now signs new passes; previous key kept trusted; \(a.flushAudit())")
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop trusting a key from a date (default now): its passes stop working.")
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        @Option var at: String?
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                guard var k = try a.store.keys().first(where: { $0.id == id }) else { throw Exit.invalid("no key \(id)") }
                k.notAfter = try at.map(parseDay) ?? nowTS()
                try a.store.addKey(k, actor: a.actor)
                out("key \(id) retired; \(a.flushAudit())")
            }
        }
    }
}

/// A file-name part from a person id: ids are checked at entry (`PersonID`), but a registry
/// written by an older version may hold anything, so nothing but the id character set reaches a
/// path (no `/`, no `..`).
func safeFileName(_ id: String) -> String {
    if PersonID.isValid(id) { return id }
    let cleaned = String(id.unicodeScalars.map { PersonID.isValid(String($0)) ? Character($0) : "_" })
    return "_" + String(cleaned.prefix(64))
}

/// Creates a folder (and missing parents) with mode 0750 regardless of the umask; an existing
/// folder is left as it is.
func makePrivateDirectory(_ path: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
        guard isDir.boolValue else { throw Exit.io("\(path) exists and is not a folder") }
        return
    }
    let parent = (path as NSString).deletingLastPathComponent
    if !parent.isEmpty, parent != path { try makePrivateDirectory(parent) }
    guard mkdir(path, 0o750) == 0 || errno == EEXIST else { throw Exit.io("cannot create \(path): \(String(cString: strerror(errno)))") }
    chmod(path, 0o750)
}
