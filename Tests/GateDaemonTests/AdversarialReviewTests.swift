import Crypto
import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Testing
@testable import GateDaemon

/// The holes an adversarial review found (issue 11), each as the admin or attacker met it: the
/// real `postern` binary on a real data directory.
@Suite("Adversarial review: registry, credentials and output", .serialized)
struct AdversarialReviewTests {
    static let a = idn("15070219800101001"), b = idn("15070219820202002"), c = idn("15070219900303003")

    func run(_ args: [String], _ dir: String) throws -> Binary.Result { try Binary.run(args + ["--data-dir", dir]) }

    func community(_ name: String, extraRows: String = "") throws -> String {
        let dir = tempPath(name)
        let csv = tempPath(name + ".csv")
        try "id,name,sex,id_number,building,unit,room,phone,landlord_contact\nr1,张伟,M,\(Self.a),1,1,101,13812345678,13987654321\n\(extraRows)".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try run(["residents", "import", csv], dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try run(["keys", "generate"], dir).status == 0)
        return dir
    }

    func payload(_ r: Binary.Result) -> String { r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    @Test("a removed courier's pass stays dead when the id is given to another person; an id never changes person")
    func courierIDReuse() throws {
        let dir = try community("reuse")
        #expect(try run(["courier", "add", "--id", "c1", "--name", "快递甲", "--id-number", Self.b, "--company", "SF"], dir).status == 0)
        let old = payload(try run(["pass", "issue", "c1"], dir))
        #expect(try run(["pass", "verify", old], dir).status == 0)
        // Same id, another person, while the first is registered: refused.
        let clash = try run(["courier", "add", "--id", "c1", "--name", "快递乙", "--id-number", Self.c, "--company", "JD"], dir)
        #expect(clash.status == 1 && clash.stderr.contains("a different person needs a new id"), "\(clash.stderr)")
        #expect(try run(["courier", "remove", "c1"], dir).status == 0)
        // An id names one person for good: not another person after a removal, not another kind.
        let again = try run(["courier", "add", "--id", "c1", "--name", "快递乙", "--id-number", Self.c, "--company", "JD"], dir)
        #expect(again.status == 1 && again.stderr.contains("a different person needs a new id"), "\(again.stderr)")
        let kind = try run(["staff", "add", "--id", "r1", "--name", "x", "--role", "cadre", "--id-number", Self.c], dir)
        #expect(kind.status == 1 && kind.stderr.contains("ids are unique across"), "\(kind.stderr)")
        // The same person back under the same id: allowed, and the old pass stays dead.
        #expect(try run(["courier", "add", "--id", "c1", "--name", "快递甲", "--id-number", Self.b, "--company", "SF"], dir).status == 0)
        let v = try run(["pass", "verify", old], dir)
        #expect(v.status == 1 && v.stderr.contains("revoked_pass"), "\(v.stdout) \(v.stderr)")
        // The log alone says the same: a rebuilt mirror keeps the old pass revoked.
        #expect(try run(["mirror", "rebuild"], dir).status == 0)
        #expect(try run(["pass", "verify", old], dir).stderr.contains("revoked_pass"))
    }

    @Test("pass issue --days: negative, huge and too large values are refused and the valid pass stays current")
    func passDays() throws {
        let dir = try community("days")
        let good = payload(try run(["pass", "issue", "r1"], dir))
        for days in ["-1", "0", "367", "100000", "9223372036854775807"] {
            let r = try run(["pass", "issue", "r1", "--days=\(days)"], dir)
            #expect(r.status == 1, "--days \(days): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("1 to 366 days"), "\(r.stderr)")
        }
        #expect(try run(["pass", "verify", good], dir).status == 0, "nothing superseded the valid pass")
    }

    @Test("purge then mirror rebuild keeps the registry in force: people, keys, staff, passes")
    func purgeKeepsRegistry() throws {
        let dir = try community("purge-registry")
        #expect(try run(["staff", "add", "--id", "s1", "--name", "陈主任", "--role", "cadre", "--id-number", Self.c], dir).status == 0)
        let pass = payload(try run(["pass", "issue", "r1"], dir))
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let p = try run(["purge", "--before", f.string(from: Date().addingTimeInterval(86_400))], dir)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try run(["mirror", "rebuild"], dir).status == 0)
        #expect(try run(["pass", "verify", pass], dir).status == 0, "the pass, its key and its holder survive")
        let list = try run(["residents", "list", "--unmask"], dir).stdout
        #expect(list.contains("r1") && list.contains("张伟"))
        let snap = try Store.open(dataDir: dir).snapshot()
        #expect(snap.staff["s1"] != nil && snap.keys.count == 1)
        #expect(try run(["log", "verify"], dir).status == 0)
    }

    @Test("an ID number that belongs to someone else is refused by import and courier add, naming both ids and the line")
    func duplicateIDNumber() throws {
        let dir = try community("dup")
        let csv = tempPath("dup2.csv")
        try "id,name,sex,id_number,building,unit,room\nr2,李娜,F,\(Self.b),1,1,101\nr9,冒名,M,\(Self.a),9,9,909\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try run(["residents", "import", csv], dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(csv):3: resident r9") && r.stderr.contains("already belongs to resident r1"), "\(r.stderr)")
        #expect(r.stderr.contains("nothing imported"))
        let list = try run(["residents", "list"], dir).stdout
        #expect(list.contains("r1") && !list.contains("r2") && !list.contains("r9"))
        let k = try run(["courier", "add", "--id", "c9", "--name", "x", "--id-number", Self.a, "--company", "x"], dir)
        #expect(k.status == 1 && k.stderr.contains("courier c9") && k.stderr.contains("resident r1"), "\(k.stderr)")
        #expect(try Store.open(dataDir: dir).resident("r1") != nil)
    }

    @Test("tail --json without --unmask holds no full name, ID number or phone, registry changes included")
    func tailJSONMasked() throws {
        let dir = try community("mask")
        #expect(try run(["visitor", "approve", "--id", "v1", "--name", "赵六", "--id-number", Self.b, "--phone", "13700001111", "--host", "h1", "--reason", "care", "--approver", "r1"], dir).status == 1)  // not staff
        #expect(try run(["staff", "add", "--id", "s1", "--name", "陈主任", "--role", "cadre", "--id-number", Self.c], dir).status == 0)
        let json = try run(["tail", "--after", "0", "--json"], dir).stdout
        #expect(json.contains("registry_change"))
        for secret in [Self.a, Self.c, "13812345678", "13987654321", "张伟", "陈主任"] {
            #expect(!json.contains(secret), "\(secret) in \(json)")
        }
        #expect(json.range(of: #"(?<!\d)\d{17}[\dX](?![\d])"#, options: .regularExpression) == nil)
        #expect(json.range(of: #"(?<!\d)1\d{10}(?!\d)"#, options: .regularExpression) == nil)
        let unmasked = try run(["tail", "--after", "0", "--json", "--unmask"], dir).stdout
        #expect(unmasked.contains(Self.a), "--unmask still shows it")
    }

    @Test("names with terminal escapes and bidi overrides are shown escaped by every human-readable output")
    func terminalEscapes() throws {
        let evil = "张\u{1B}]52;c;SGVsbG8=\u{07}伟\u{1B}[2J\u{202E}x\u{9B}"
        // At entry such a name is refused, naming the line (a NUL would have been cut silently).
        let dir = try community("esc")
        let csv = tempPath("esc.csv")
        try "id,name,sex,id_number,building,unit,room\nr2,\"\(evil)\",F,\(Self.b),1,1,102\nr3,\"a\u{0}b\",F,\(Self.c),1,1,103\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let imp = try run(["residents", "import", csv], dir)
        #expect(imp.status == 1 && imp.stderr.contains("\(csv):2: name contains") && imp.stderr.contains("\(csv):3: name contains"), "\(imp.stderr)")
        #expect(!imp.stderr.contains("\u{1B}"))
        // A registry written by an older version, and a logged name, may still hold one: every
        // output shows it escaped.
        try Store.open(dataDir: dir).db.run("INSERT INTO residents(id, name, sex, id_number, household, building, unit, room, origin, rental) VALUES ('r2', ?, 'F', ?, 'h1', '1', '1', '102', 'local', 0)", [.text(evil), .text(Self.b)])
        let w = try LogWriter.open(directory: dir + "/log")
        _ = try Journal(writer: w).appendBlocking(GateEvent.passage(Decision(outcome: .deny, reason: .fever, personID: "r2", personKind: .resident, personName: evil), Lane.Summary(lane: "in\u{1B}[31m", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        w.close()
        #expect(try run(["pass", "issue", "r2"], dir).status == 0)
        let cards = tempPath("esc-cards")
        for args in [["residents", "list", "--unmask"], ["residents", "list", "--unmask", "--json"], ["tail", "--after", "0", "--unmask"], ["tail", "--after", "0", "--unmask", "--json"], ["residents", "show", "r2", "--unmask"], ["ledger", "--unmask"], ["ledger", "--unmask", "--format", "html"], ["pass", "print", "r2", "--out", cards]] {
            let r = try run(args, dir)
            #expect(!r.stdout.isEmpty, "\(args) \(r.stderr)")
            for bad in ["\u{1B}", "\u{07}", "\u{202E}", "\u{9B}"] {
                #expect(!r.stdout.contains(bad) && !r.stderr.contains(bad), "\(args): raw \(bad.unicodeScalars.first!.value)")
            }
        }
        let svg = try String(contentsOfFile: cards + "/pass-r2.svg", encoding: .utf8)
        #expect(!svg.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }, "XML 1.0 allows no other control characters")
        #expect(try run(["residents", "list", "--unmask"], dir).stdout.contains("张\\x1B]52;c;SGVsbG8=\\x07伟"))
        // JSON stays valid JSON with the same value; pretty JSON keeps its line breaks.
        let line = try run(["residents", "list", "--unmask", "--json"], dir).stdout.split(separator: "\n").first { $0.contains("r2") }!
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(obj["name"] as? String == evil)
        let show = try run(["residents", "show", "r2", "--unmask"], dir).stdout
        #expect(show.contains("\n  \"address\"") && (try? JSONSerialization.jsonObject(with: Data(show.utf8))) != nil, "\(show)")
        // Config files: a key holding an OSC 52 sequence is reported escaped.
        let toml = tempPath("esc.toml")
        try "\"\u{1B}]52;c;aGFja2Vk\u{07}\" = 1\n".write(toFile: toml, atomically: true, encoding: .utf8)
        let check = try Binary.run(["config", "check", toml])
        #expect(check.status == 1 && !check.stderr.contains("\u{1B}") && !check.stdout.contains("\u{1B}") && check.stderr.contains("U+001B"), "\(check.stderr)")
    }

    @Test("ledger CSV neutralises cells that a spreadsheet would run as formulas")
    func csvInjection() throws {
        let dir = tempPath("csvinj")
        let w = try LogWriter.open(directory: dir + "/log")
        let j = Journal(writer: w)
        let names = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "plain"]
        for n in names {
            let d = Decision(outcome: .deny, reason: .unknownCredential, personID: "p", personKind: .resident, personName: n, temperature: -1.5)
            _ = try j.appendBlocking(GateEvent.passage(d, Lane.Summary(lane: "=lane", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        }
        w.close()
        let csv = try run(["ledger", "--format", "csv", "--unmask", "--lang", "en"], dir).stdout
        let lines = csv.components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
        #expect(lines.count == names.count, "\(csv)")
        for (line, n) in zip(lines, names) where n != "plain" {
            if n.hasPrefix("\t") || n.hasPrefix("\r") {
                // Control characters are shown escaped, so the cell no longer starts with one.
                #expect(line.contains(n.hasPrefix("\t") ? "\\x09TAB" : "\\x0DCR") && !line.contains("\t"), "\(line)")
            } else {
                #expect(line.contains("\"'" + n.prefix(1)), "\(line)")
            }
            #expect(line.contains("\"'=lane\""), "\(line)")
        }
        #expect(lines.last!.contains(",plain,"))
    }

    @Test("person ids are checked at entry; pass print stays inside --out, in a folder only its group can read")
    func pathTraversal() throws {
        let dir = try community("ids")
        let csv = tempPath("ids.csv")
        try "id,name,sex,id_number,building,unit,room\nx/../../escaped,李娜,F,\(Self.b),1,1,101\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try run(["residents", "import", csv], dir)
        #expect(r.status == 1 && r.stderr.contains("\(csv):2: id") && r.stderr.contains("not a valid person id"), "\(r.stderr)")
        #expect(try run(["courier", "add", "--id", "../c", "--name", "x", "--id-number", Self.c, "--company", "x"], dir).status == 1)
        // A registry from an older version may hold such an id: the card file name is made safe.
        let s = try Store.open(dataDir: dir)
        try s.db.run("INSERT INTO residents(id, name, sex, id_number, household, building, unit, room, origin, rental) VALUES ('x/../../escaped', 'n', 'F', ?, 'h', '1', '1', '1', 'local', 0)", [.text(Self.b)])
        let out = tempPath("cards") + "/new/deeper"
        let old = umask(0)
        defer { umask(old) }
        let p = try run(["pass", "print", "--all", "--out", out], dir)
        #expect(p.status == 0, "\(p.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(files.count == 2 && files.allSatisfy { $0.hasPrefix("pass-") && !$0.contains("/") }, "\(files)")
        #expect(!FileManager.default.fileExists(atPath: (out as NSString).deletingLastPathComponent + "/../escaped.svg"))
        for d in [out, (out as NSString).deletingLastPathComponent] {
            var st = stat()
            stat(d, &st)
            #expect(st.st_mode & 0o777 == 0o750, "\(d) is \(String(st.st_mode & 0o777, radix: 8))")
        }
    }

    @Test("pass verify trusts what the kiosk trusts: the registry's keys and the config's [[key]]s")
    func verifyWithConfigKeys() throws {
        let dir = try community("verify-config")
        let key = Curve25519.Signing.PrivateKey()
        var p = try Store.open(dataDir: dir).currentPass(person: "r1")?.pass ?? Pass(id: 7, kind: .resident, person: "r1", household: "1-1-101", issued: nowSeconds() - 60, expires: nowSeconds() + 86_400, keyID: "cfg")
        p.keyID = "cfg"
        let payload = try PassCodec.encode(p, signingKey: key)
        let cfg = tempPath("verify.toml")
        try (Harness.configText(dir: dir) + "\n[[key]]\nid = \"cfg\"\npublic_key = \"\(Base64URL.encode(Array(key.publicKey.rawRepresentation)))\"\n").write(toFile: cfg, atomically: true, encoding: .utf8)
        let without = try run(["pass", "verify", payload, "--config", tempPath("none.toml")], dir)
        #expect(without.status == 1 && without.stderr.contains("unknown_key"))
        let with = try run(["pass", "verify", payload, "--config", cfg], dir)
        #expect(with.status == 0, "\(with.stdout) \(with.stderr)")
    }
}

func nowSeconds() -> Timestamp { Timestamp(Date().timeIntervalSince1970) }
