import EventLog
import Foundation
import GateCore
import Testing
@testable import GateStore

@Suite("Mirror and a shortened log")
struct LogLossTests {
    func passage(_ i: Int) throws -> LogEntry {
        let d = Decision(outcome: .admit, reason: .ok, personID: "r\(i)", personKind: .resident, personName: "x", household: "h1", passID: nil, temperature: 36.5, flags: [], alarm: false, alert: false)
        let e = GateEvent.passage(d, Lane.Summary(lane: "gate1", direction: .in, credentialKind: "qr", readings: [], retests: 0), at: Date().timeIntervalSince1970)
        return LogEntry(type: GateEvent.Kind.passage.recordType, payload: Array(try JSONEncoder().encode(e)))
    }

    @Test("records cut from the log after the mirror saw them: new events get new numbers, none is dropped, the lost rows are kept and marked")
    func cutAfterMirror() throws {
        let dir = tempDataDir()
        let s = try Store.open(dataDir: dir)
        let log = try LogWriter.open(directory: dir + "/log")
        for i in 0..<30 { try log.appendBlocking([try passage(i)]) }
        log.close()
        try Mirror(store: s, logDir: dir + "/log").catchUp()
        // Someone cuts the last five records, and the file that said how far the log went.
        let seg = dir + "/log/" + "00000000000000000001.seg"
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seg)))
        var off = 32
        for _ in 0..<25 { off += 68 + Int(b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off, as: UInt32.self) }) }
        try Data(b[..<off]).write(to: URL(fileURLWithPath: seg))
        for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/log") where !name.hasSuffix(".seg") && name != "LOCK" {
            try FileManager.default.removeItem(atPath: dir + "/log/" + name)
        }
        // A restart: the writer opens, an admin change is drained into the log, the mirror follows.
        let again = try LogWriter.open(directory: dir + "/log")
        try s.setLockdown(.compound, reason: "test", at: 0, actor: "chen")
        #expect(try s.drainAudit(into: again) == 1)
        try again.appendBlocking([try passage(99)])
        again.close()
        let m = try Mirror(store: s, logDir: dir + "/log")
        try m.catchUp()
        let kinds = try s.db.query("SELECT kind FROM events WHERE seq > 30 ORDER BY seq") { $0.text(0) }
        #expect(kinds.contains("registry_change"), "\(kinds)")
        #expect(kinds.filter { $0 == "passage" }.count == 1, "\(kinds)")
        #expect(try s.db.query("SELECT COUNT(*) FROM events WHERE seq BETWEEN 26 AND 30") { $0.int(0) }.first == 5)
        #expect(try s.db.query("SELECT COUNT(*) FROM events WHERE seq BETWEEN 26 AND 30 AND lost_from_log = 1") { $0.int(0) }.first == 5)
    }
}
