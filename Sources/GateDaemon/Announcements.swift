import Foundation
import GateCore
import Logging

/// 宣传广播 (notice §1): admin-scheduled announcements — an audio file or a text spoken by a
/// speech synthesiser — played through the kiosk's speaker between passages, never over a gate
/// feedback sound. The plan is pure; `Announcer` is the one process on the speaker that is not
/// gate feedback, and the controller stops it the moment the gate needs the speaker or someone
/// steps up to a lane.
public struct Announcement: Sendable, Equatable {
    /// Local minute of the day (08:00 = 480), every day.
    public var minute: Int
    public var file: String?
    public var text: String?
    public init(minute: Int, file: String? = nil, text: String? = nil) {
        self.minute = minute
        self.file = file
        self.text = text
    }
}

public struct AnnouncementSettings: Sendable, Equatable {
    public var items: [Announcement] = []
    /// Speaks a text given as its last argument.
    public var speaker: [String] = ["espeak-ng", "-v", "cmn"]
    /// How long the gate must have been quiet (no scan, reading, door or decision): longer than
    /// a pairing window, so that no one is waiting for a temperature when it starts.
    public var quietSeconds = 20.0
    /// An announcement that cannot find a quiet moment this many minutes after its time is
    /// skipped (and the skip logged).
    public var lateMinutes = 30
    public init() {}
}

public enum AnnouncementPlan {
    public enum Step: Equatable {
        case play(Int)
        case skip(Int)
        case wait
        case idle
    }

    /// What to do at local `minute` given which items already played (or were skipped) today and
    /// how long the gate has been quiet. The earliest item due comes first.
    public static func next(_ s: AnnouncementSettings, minute: Int, done: Set<Int>, quietFor: Double, playing: Bool) -> Step {
        let due = s.items.indices.filter { i in !done.contains(i) && s.items[i].minute <= minute }.sorted { s.items[$0].minute < s.items[$1].minute }
        guard let i = due.first else { return .idle }
        if minute - s.items[i].minute >= s.lateMinutes { return .skip(i) }
        guard !playing, quietFor >= s.quietSeconds else { return .wait }
        return .play(i)
    }

    /// `HH:MM` → minute of the day.
    public static func minute(_ s: String) -> Int? {
        let p = s.split(separator: ":", omittingEmptySubsequences: false)
        guard p.count == 2, p[0].count == 2, p[1].count == 2, let h = Int(p[0]), let m = Int(p[1]), (0..<24).contains(h), (0..<60).contains(m) else {
            return nil
        }
        return h * 60 + m
    }
}

/// The announcement on the speaker, if any: started detached, stopped on `interrupt()`.
public final class Announcer: @unchecked Sendable {
    let lock = NSLock()
    var current: Process?
    var interrupted = 0

    public init() {}

    public var playing: Bool { lock.withLock { current?.isRunning ?? false } }

    /// How many announcements the gate has cut short.
    public var interruptions: Int { lock.withLock { interrupted } }

    /// Starts `command`; false if it could not start.
    @discardableResult
    public func play(_ command: [String], logger: Logger) -> Bool {
        guard !command.isEmpty else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch {
            logger.warning("announcement could not start (\(command.first ?? "")): \(error)")
            return false
        }
        lock.withLock { current = p }
        return true
    }

    /// Stops the announcement now (the gate needs the speaker).
    public func interrupt() {
        let p: Process? = lock.withLock {
            defer { current = nil }
            return current
        }
        guard let p, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        lock.withLock { interrupted += 1 }
    }
}
