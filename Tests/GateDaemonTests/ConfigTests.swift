import Foundation
import GateCore
import GateTestSupport
import Testing
@testable import GateDaemon

@Suite("Config file")
struct ConfigTests {
    static var root: String { packageRoot }

    @Test("the documented example parses, with its lanes, devices and GPIO lines")
    func example() throws {
        let (c, hash) = try KioskConfig.load(path: Self.root + "/examples/postern.toml")
        #expect(hash.count == 64)
        #expect(c.lanes.map(\.id) == ["in-1", "out-1"])
        #expect(c.lanes[0].outputs[.relay] == .init(offset: 17, activeLow: true))
        #expect(c.lanes[0].inputs[.door] == .init(offset: 5, activeLow: true))
        #expect(c.device("thermo-out")?.registerMap.objectRegister == 18)
        #expect(c.rules.feverThreshold == 37.3)
        // The effective config printed by `config check` parses back to the same config.
        #expect(try KioskConfig.parse(c.effectiveDescription) == c)
    }

    func errors(_ text: String) -> [ConfigError] {
        do {
            _ = try KioskConfig.parse(text, file: "t.toml")
            return []
        } catch let e as ConfigErrors {
            return e.errors
        } catch {
            return [ConfigError(file: "?", line: 0, key: "?", message: "\(error)")]
        }
    }

    @Test("typos, wrong types and out-of-range values name the key and line")
    func typos() {
        let e = errors("[rules]\nfever_treshold = 37.5\nretests = \"two\"\nquota_days = 99\n")
        #expect(e.map(\.line) == [2, 3, 4])
        #expect(e[0].description == "t.toml:2: rules.fever_treshold: unknown key (did you mean `fever_threshold`?)")
        #expect(e[1].message.contains("must be an integer"))
        #expect(e[2].message.contains("out of range"))
    }

    @Test("every type wrong at once gives one error per key and never a crash")
    func everyTypeWrong() {
        let e = errors("data_dir = 5\ngate = true\nlanguage = \"fr\"\n[rules]\nfever_threshold = \"hot\"\nmask = 3\n[relay]\npulse_ms = 1.5\n[gpio]\nchip = []\n")
        #expect(e.count == 7)
    }

    @Test("missing devices, duplicate GPIO lines and bad device protocols are caught")
    func crossChecks() {
        let text = """
        [[device]]
        id = "t"
        kind = "thermometer"
        protocol = "serial-line"
        path = "/dev/x"
        [[lane]]
        id = "a"
        direction = "in"
        thermometer = "t"
        readers = ["nope"]
        [lane.gpio]
        relay = 3
        green = 3
        """
        let e = errors(text)
        #expect(e.contains { $0.key == "device[0].protocol" && $0.line == 4 })
        #expect(e.contains { $0.key == "lane[0].readers" && $0.message.contains("nope") })
        #expect(e.contains { $0.message.contains("GPIO line 3 is used twice") })
    }

    @Test("TOML errors carry their line: duplicate keys, unterminated strings, bare words")
    func toml() {
        #expect(errors("a = 1\na = 2\n").first?.message.contains("duplicate key `a` (first set on line 1)") == true)
        #expect(errors("gate = \"north\n").first?.line == 1)
        #expect(errors("\n\ngate = north\n").first?.description.contains("t.toml:3") == true)
    }

    @Test("TOML subset: multi-line arrays, inline tables, comments, escapes")
    func tomlSubset() throws {
        let t = try TOML.parse("a = [\n  1, # one\n  2,\n]\nb = { x = 1, y = \"q\\\"\\u00e9\" }\n[[c]]\nd = true\n[c.e]\nf = -1.5\n[[c]]\n")
        guard case .array(let a)? = t["a"]?.value else { Issue.record("a"); return }
        #expect(a.count == 2)
        guard case .table(let b)? = t["b"]?.value else { Issue.record("b"); return }
        #expect(b["y"]?.value == .string("q\"é"))
        guard case .array(let c)? = t["c"]?.value else { Issue.record("c"); return }
        #expect(c.count == 2)
    }

    @Test("a device belongs to one lane: a reader or thermometer in two lanes is an error naming both")
    func deviceInTwoLanes() throws {
        let text = Harness.configText(dir: "/tmp/x").replacingOccurrences(of: "readers = [\"qr-out\"]", with: "readers = [\"qr-out\", \"qr-in\"]")
        #expect(throws: ConfigErrors.self) { try KioskConfig.parse(text) }
        do { _ = try KioskConfig.parse(text) } catch let e as ConfigErrors {
            #expect(e.description.contains("device \"qr-in\" is already a reader of lane \"in\""), "\(e)")
        }
        let shared = Harness.configText(dir: "/tmp/x").replacingOccurrences(of: "thermometer = \"thermo-out\"", with: "thermometer = \"thermo-in\"")
        #expect(throws: ConfigErrors.self) { try KioskConfig.parse(shared) }
    }
}
