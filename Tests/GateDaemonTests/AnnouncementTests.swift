import EventLog
import Foundation
import GateCore
import GateTestSupport
import Testing

@testable import GateDaemon

/// 宣传广播: scheduled announcements between passages, never over the gate.
@Suite("Announcements", .serialized)
struct AnnouncementTests {
    static func settings(_ minutes: [Int], quiet: Double = 20, late: Int = 30) -> AnnouncementSettings {
        var s = AnnouncementSettings()
        s.items = minutes.map { Announcement(minute: $0, text: "外出必须戴口罩") }
        s.quietSeconds = quiet
        s.lateMinutes = late
        return s
    }

    @Test("the plan: nothing before its time; at its time only when the gate is quiet and nothing plays; the earliest first; skipped when too late")
    func plan() {
        let s = Self.settings([8 * 60, 7 * 60 + 30])
        #expect(AnnouncementPlan.next(s, minute: 7 * 60, done: [], quietFor: 999, playing: false) == .idle)
        #expect(AnnouncementPlan.next(s, minute: 7 * 60 + 45, done: [], quietFor: 999, playing: false) == .play(1))
        #expect(AnnouncementPlan.next(s, minute: 8 * 60, done: [], quietFor: 999, playing: false) == .skip(1))  // 30 min late
        #expect(AnnouncementPlan.next(s, minute: 8 * 60, done: [1], quietFor: 999, playing: false) == .play(0))
        #expect(AnnouncementPlan.next(s, minute: 8 * 60, done: [1], quietFor: 5, playing: false) == .wait)
        #expect(AnnouncementPlan.next(s, minute: 8 * 60, done: [1], quietFor: 999, playing: true) == .wait)
        #expect(AnnouncementPlan.next(s, minute: 8 * 60 + 30, done: [1], quietFor: 5, playing: false) == .skip(0))
        #expect(AnnouncementPlan.next(s, minute: 9 * 60, done: [0, 1], quietFor: 999, playing: false) == .idle)
        #expect(AnnouncementPlan.minute("08:05") == 485 && AnnouncementPlan.minute("24:00") == nil && AnnouncementPlan.minute("8:05") == nil)
    }

    @Test("config: at must be HH:MM; a file or a text, not both")
    func config() throws {
        let base = Harness.configText(dir: "/tmp/x")
        let good = try KioskConfig.parse(
            base
                + "\n[announcements]\nquiet_seconds = 5\n[[announcement]]\nat = \"08:00\"\ntext = \"外出必须戴口罩\"\n[[announcement]]\nat = \"18:30\"\nfile = \"/usr/share/postern/notice.wav\"\n"
        )
        #expect(good.announcements.items == [Announcement(minute: 480, text: "外出必须戴口罩"), Announcement(minute: 1110, file: "/usr/share/postern/notice.wav")])
        #expect(good.announcements.quietSeconds == 5)
        for bad in ["at = \"8:00\"\ntext = \"x\"", "at = \"08:00\"", "at = \"08:00\"\ntext = \"x\"\nfile = \"y\""] {
            #expect(throws: ConfigErrors.self) { try KioskConfig.parse(base + "\n[[announcement]]\n" + bad + "\n") }
        }
    }

    @Test("a reload: announcement keys apply; web keys are reported as waiting for a restart (the server is built at start)")
    func reload() throws {
        let base = Harness.configText(dir: "/tmp/x")
        let a = try KioskConfig.parse(base + "\n[web]\nlisten = \"127.0.0.1:8080\"\n")
        let b = try KioskConfig.parse(base + "\n[web]\nlisten = \"0.0.0.0:8081\"\n[[announcement]]\nat = \"08:00\"\ntext = \"x\"\n")
        let inForce = ConfigInForce(a)
        let outcome = inForce.apply(b)
        #expect(outcome.waitingForRestart.contains("web.listen"))
        #expect(!outcome.applied.contains("web.listen"))
        #expect(outcome.applied.contains { $0.hasPrefix("announcement") })
        #expect(inForce.current.announcements.items.count == 1)
        #expect(inForce.current.web.listen == "127.0.0.1:8080")  // in force until a restart
    }

    @Test("on a quiet gate the announcement plays and is logged; a scan stops it at once, and it is not played again")
    func interruptedByTheGate() async throws {
        let marks = tempPath("announce.txt")
        let f = DateFormatter()
        f.dateFormat = "HH:mm"
        let now = f.string(from: Date())
        let h = try Harness(configure: { text in
            text + """

                [announcements]
                speaker = ["sh", "-c", "echo start >> \(marks); sleep 3; echo end >> \(marks)"]
                quiet_seconds = 1
                [[announcement]]
                at = "\(now)"
                text = "外出必须戴口罩"
                """
        })
        defer { Task { await h.stop() } }
        try await h.ready()
        let logged = await h.waitEvent(timeout: 8, after: h.startSeq) { $0.kind == GateEvent.Kind.system && $0.action == "announcement" }
        #expect(logged?.message == "text 外出必须戴口罩")
        var started = false
        for _ in 0..<50 where !started {
            started = (try? String(contentsOfFile: marks, encoding: .utf8))?.contains("start") == true
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(started)
        h.scanIn.scan(h.passes["r1"]!)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.kiosk.controller.announcer.interruptions == 1)
        #expect(!h.kiosk.controller.announcer.playing)
        try await Task.sleep(for: .seconds(4))
        let text = (try? String(contentsOfFile: marks, encoding: .utf8)) ?? ""
        #expect(text == "start\n", "\(text)")  // cut short, and not replayed
    }
}
