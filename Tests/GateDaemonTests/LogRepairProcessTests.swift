import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Testing
@testable import GateDaemon

@Suite("Log repair as an admin runs it", .serialized)
struct LogRepairProcessTests {
    @Test("a damaged segment header and a damaged record: salvage exits 0 and keeps every other record, verify passes, purge leaves no name in the kept bytes")
    func salvageThenPurge() throws {
        let dir = tempPath("repair")
        var o = LogWriter.Options()
        o.maxSegmentBytes = 4096
        let w = try LogWriter.open(directory: dir + "/log", options: o)
        let j = Journal(writer: w)
        for i in 0..<60 {
            // Denials: nothing the gate's rules read, so purge may take all of them.
            let d = Decision(outcome: .deny, reason: .fever, personID: "r\(i)", personKind: .resident, personName: "张伟", household: "h1")
            _ = try j.appendBlocking(GateEvent.passage(d, Lane.Summary(lane: "a", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970))
        }
        w.close()
        _ = try Store.open(dataDir: dir)
        let segs = try FileManager.default.contentsOfDirectory(atPath: dir + "/log").filter { $0.hasSuffix(".seg") }.sorted()
        #expect(segs.count >= 3)
        func damage(_ name: String, at offset: Int) throws {
            let url = URL(fileURLWithPath: dir + "/log/" + name)
            var b = [UInt8](try Data(contentsOf: url))
            b[offset] ^= 0x20
            try Data(b).write(to: url)
        }
        try damage(segs[1], at: 20)  // the header's first sequence number
        try damage(segs[2], at: 32 + 68 + 10)  // inside the first record's payload
        let s = try Binary.run(["log", "salvage", "--data-dir", dir])
        #expect(s.status == 0, "\(s.stdout)\(s.stderr)")
        let v = try Binary.run(["log", "verify", "--data-dir", dir])
        #expect(v.status == 0, "\(v.stdout)")
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        let p = try Binary.run(["purge", "--before", f.string(from: Date().addingTimeInterval(86_400)), "--data-dir", dir])
        #expect(p.status == 0, "\(p.stderr)")
        let name = Data("张伟".utf8)
        for file in try FileManager.default.contentsOfDirectory(atPath: dir + "/log") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/log/" + file))
            #expect(bytes.range(of: name) == nil, "\(file) still holds a name")
        }
        #expect(try Binary.run(["log", "verify", "--data-dir", dir]).status == 0)
    }
}
