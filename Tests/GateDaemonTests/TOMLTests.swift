import Foundation
import GateTestSupport
import Testing

@testable import GateDaemon

/// The TOML 1.0 reader: the documents the old subset reader lost, hostile input, and conformance
/// shown by reading thousands of random documents the same way Python's tomllib does.
@Suite("TOML 1.0 reader", .serialized)
struct TOMLTests {
    static var root: String { packageRoot }

    func tomlError(_ text: String) -> TOMLError? {
        do {
            _ = try TOML.parse(text)
            return nil
        } catch {
            return error
        }
    }

    func configErrors(_ bytes: [UInt8]) -> [ConfigError] {
        do {
            _ = try KioskConfig.parse(bytes: bytes, file: "t.toml")
            return []
        } catch let e as ConfigErrors {
            return e.errors
        } catch {
            return [ConfigError(file: "?", line: 0, key: "?", message: "\(error)")]
        }
    }

    // MARK: What the old reader lost

    @Test("the example config saved with CRLF line endings loads the same config as the LF original")
    func crlfConfig() throws {
        let lf = try String(contentsOfFile: Self.root + "/examples/postern.toml", encoding: .utf8)
        #expect(!lf.contains("\r"))
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        let a = try KioskConfig.parse(lf)
        let b = try KioskConfig.parse(crlf)
        #expect(b == a)
        #expect(b.lanes.map(\.id) == ["in-1", "out-1"])
        #expect(b.devices.count == 5)
        // Lines are counted the same way, so errors still point at the right line.
        #expect(configErrors(Array("[rules]\r\nfever_treshold = 37.5\r\n".utf8)).map(\.line) == [2])
    }

    @Test("a single-quoted pattern holding # and [ keeps the [[device]] that follows it")
    func literalPatternKeepsNextDevice() throws {
        let text = """
            [[device]]
            id = "t"
            kind = "thermometer"
            protocol = "ascii-line"
            path = "/dev/t"
            pattern = '^[A-Z#]+$'
            [[device]]
            id = "q"
            kind = "scanner"
            protocol = "serial-line"
            path = "/dev/q"

            """
        let c = try KioskConfig.parse(text)
        #expect(c.devices.map(\.id) == ["t", "q"])
        #expect(c.device("t")?.pattern == "^[A-Z#]+$")
    }

    @Test("an alert command with a '#gate' argument keeps the [sounds] table that follows it")
    func literalCommandKeepsNextTable() throws {
        let c = try KioskConfig.parse("[alert]\ncommand = ['/usr/local/bin/alert', '#gate']\n[sounds]\nadmit = '/s/admit.wav'\n")
        #expect(c.alertCommand == ["/usr/local/bin/alert", "#gate"])
        #expect(c.sounds["admit"] == "/s/admit.wav")
    }

    @Test(
        "documents the old reader got wrong are rejected, each with its line",
        arguments: [
            ("a = 01", 1), ("a = 1.", 1), ("a = Inf", 1), ("a = 0X1", 1), ("a = +0xff", 1),
            ("[rules]\nx = 1\n[rules]\ny = 2", 3), ("a = \"\u{1}\"", 1), ("a = 1\rb = 2", 1), ("x = 1\na = 9223372036854775808", 2),
            ("\n\n[a]\nb.c = 1\n[a.b]", 5), ("a = {b = 1}\na.c = 2", 2), ("a = [1]\n[[a]]", 2), ("a = '''\nx\n\u{7F}'''", 3),
        ])
    func rejected(text: String, line: Int) {
        #expect(tomlError(text)?.line == line, "\(text.debugDescription)")
    }

    @Test("multi-line and literal strings, literal keys, dates and times, 0o/0b integers, \\b and \\f escapes")
    func readsWhatTheOldReaderCouldNot() throws {
        let t = try TOML.parse(
            """
            'literal key' = 'C:\\path'
            s = \"\"\"
            one \\
               two\"\"\"
            m = '''
            a "b" \\n'''
            e = "\\b\\f\\u00E9\\U0001F600"
            n = [0o17, 0b101, 0xff, 1_000, -0.5e-3, inf, -inf]
            odt = 1979-05-27T07:32:00.5-07:00
            ldt = 1979-05-27 07:32:00
            ld = 1979-05-27
            lt = 07:32:00.25
            """)
        #expect(t["literal key"]?.value == .string("C:\\path"))
        #expect(t["s"]?.value == .string("one two"))
        #expect(t["m"]?.value == .string("a \"b\" \\n"))
        #expect(t["e"]?.value == .string("\u{8}\u{C}é😀"))
        #expect(
            t["n"]?.value
                == .array(
                    [.integer(15), .integer(5), .integer(255), .integer(1000), .float(-0.0005), .float(.infinity), .float(-.infinity)].map {
                        TOMLNode(value: $0, line: 8)
                    }))
        let date = TOMLDate(year: 1979, month: 5, day: 27)
        #expect(t["odt"]?.value == .offsetDateTime(date, TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 500_000_000), offsetMinutes: -420))
        #expect(t["ldt"]?.value == .localDateTime(date, TOMLTime(hour: 7, minute: 32, second: 0)))
        #expect(t["ld"]?.value == .localDate(date))
        #expect(t["lt"]?.value == .localTime(TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 250_000_000)))
        #expect(t["lt"]?.line == 12)
    }

    @Test("a date where the config wants a string or number is a wrong-type error with its line")
    func datesAreWrongTypeInConfig() {
        let e = configErrors(Array("gate = \"g\"\n[relay]\npulse_ms = 07:00:00\n".utf8))
        #expect(e.map(\.description) == ["t.toml:3: relay.pulse_ms: must be an integer, not a time of day"])
    }

    @Test("bytes that are not UTF-8 are an error naming their line")
    func notUTF8() {
        let e = configErrors(Array("gate = \"g\"\n".utf8) + [0x6E, 0x20, 0x3D, 0x20, 0x22, 0xFF, 0x22, 0x0A])
        #expect(e.count == 1)
        #expect(e.first?.line == 2)
        #expect(e.first?.message.contains("not UTF-8") == true)
    }

    @Test("the effective config printed by config check reads back the same when strings hold control characters")
    func effectiveConfigEscapes() throws {
        var c = try KioskConfig.parse(#"gate = "a\u0001b\n\"c\\\t\u007F""# + "\ndata_dir = '''\n/var/x\ny'''\n")
        #expect(c.gate == "a\u{1}b\n\"c\\\t\u{7F}")
        #expect(c.dataDir == "/var/x\ny")
        c.alertCommand = ["/bin/alert", "#gate\r"]
        #expect(try KioskConfig.parse(c.effectiveDescription) == c)
    }

    // MARK: Hostile input (issue 11 item 15)

    @Test("64 nested arrays parse; 65, or 100,000 nested arrays, inline tables, dotted keys or headers are an error on their line")
    func nestingIsBounded() throws {
        let ok = try TOML.parse("a = " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64))
        #expect(ok["a"] != nil)
        let deep = 100_000
        let cases = [
            "a = " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
            "a = " + String(repeating: "[", count: deep) + String(repeating: "]", count: deep),
            "a = " + String(repeating: "{b=", count: deep) + "1" + String(repeating: "}", count: deep),
            "a = " + String(repeating: "[{b=", count: deep / 2) + "1" + String(repeating: "}]", count: deep / 2),
            String(repeating: "a.", count: deep) + "a = 1",
            "[" + String(repeating: "a.", count: deep) + "a]",
            "[[" + String(repeating: "a.", count: deep) + "a]]",
            "x = { " + String(repeating: "a.", count: deep) + "a = 1 }",
        ]
        for text in cases {
            let e = tomlError("# hostile\n\n" + text + "\n")
            #expect(e?.line == 3)
            #expect(e?.message.contains("nesting deeper than 64 levels") == true, "\(e?.message ?? "no error")")
        }
    }

    @Test("50,000 dotted keys, 50,000 keys in one table, 50,000 tables and 50,000 [[tables]] all read completely")
    func manyKeys() throws {
        let n = 50_000
        var dotted = "[rules]\n"
        for i in 0..<n { dotted += "group.k\(i) = \(i)\n" }
        let t = try TOML.parse(dotted)
        guard case .table(let rules)? = t["rules"]?.value, case .table(let group)? = rules["group"]?.value else {
            Issue.record("no rules.group")
            return
        }
        #expect(group.count == n)
        #expect(group["k0"] == TOMLNode(value: .integer(0), line: 2))
        #expect(group["k49999"] == TOMLNode(value: .integer(49_999), line: n + 1))
        #expect(group.entries.last?.key == "k49999")

        var flat = ""
        for i in 0..<n { flat += "k\(i) = \"v\(i)\"\n" }
        let f = try TOML.parse(flat)
        #expect(f.count == n)
        #expect(f["k31337"]?.value == .string("v31337"))

        var tables = ""
        for i in 0..<n { tables += "[t\(i)]\nx = \(i)\n" }
        let ts = try TOML.parse(tables)
        #expect(ts.count == n)
        guard case .table(let last)? = ts["t49999"]?.value else {
            Issue.record("no t49999")
            return
        }
        #expect(last["x"]?.value == .integer(49_999))

        let aot = try TOML.parse(String(repeating: "[[lane]]\nid = 1\n", count: n))
        guard case .array(let lanes)? = aot["lane"]?.value else {
            Issue.record("no lanes")
            return
        }
        #expect(lanes.count == n)
        #expect(lanes.last?.line == 2 * n - 1)
    }

    // MARK: Conformance

    @Test("differential: 10,000 random documents and 83 hand-picked ones read the same as Python's tomllib")
    func differentialAgainstTomllib() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.root + "/scripts/toml-diff.py", "--count", "10000", "--seed", "12", "--parser", Binary.path + " config parse --batch"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("agree, 0 valid-rejected, 0 invalid-accepted, 0 value-mismatch, 0 crash"), "\(text)")
    }

    // MARK: The command line

    @Test("config parse prints tagged JSON, and file:line: message with exit 1 for an invalid document")
    func configParseCommand() throws {
        let good = tempPath("parse-good.toml")
        try "a = 1\r\nb = { c = 'x#' }\r\nd = 1979-05-27\r\n".write(toFile: good, atomically: true, encoding: .utf8)
        let r = try Binary.run(["config", "parse", good])
        #expect(r.status == 0)
        #expect(
            r.stdout == #"{"a":{"type":"integer","value":"1"},"b":{"c":{"type":"string","value":"x#"}},"d":{"type":"date-local","value":"1979-05-27"}}"# + "\n")
        let bad = tempPath("parse-bad.toml")
        try "a = 1\n\nb = 01\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let e = try Binary.run(["config", "parse", bad])
        #expect(e.status == 1)
        #expect(e.stderr == "\(bad):3: leading zeros are not allowed in the number `01`\n")
    }

    @Test("serve and config check refuse a valid config that defines no lane")
    func serveWithoutLanes() throws {
        let f = tempPath("nolanes.toml")
        try "gate = \"north\"\ndata_dir = \"\(tempPath("nolanes-data"))\"\n# [[lane]]\n# id = \"in-1\"\n".write(toFile: f, atomically: true, encoding: .utf8)
        for args in [["serve", "--config", f], ["config", "check", f]] {
            let r = try Binary.run(args, timeout: 20)
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains("\(f):0: lane: no [[lane]] is defined"), "\(r.stderr)")
        }
    }
}
