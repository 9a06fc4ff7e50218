import Foundation

/// What the board at the gate shows besides the last decision (notice §1 and §3): the people in
/// charge with the duty and phone number each agreed to publish, who is on duty today, and the
/// community's notices. Admin-edited on the web; kept in one JSON file, every change also in the
/// log (`registry_change`, entity `board`).
public struct BoardSettings: Codable, Sendable, Equatable {
    public struct Duty: Codable, Sendable, Equatable {
        /// A registered staff member (name and role come from the registry).
        public var staff: String
        /// 社区干部, 社区民警, 网格员, 卫健人员 …
        public var duty: String
        /// The number this person agreed to publish.
        public var phone: String
        /// The day (YYYY-MM-DD) an admin marked this person on duty: the board says "on duty"
        /// only on that day, so yesterday's roster never stays up by mistake.
        public var onDutyDay: String?
        public init(staff: String, duty: String, phone: String, onDutyDay: String?) {
            self.staff = staff
            self.duty = duty
            self.phone = phone
            self.onDutyDay = onDutyDay
        }
        public func onDuty(today: String) -> Bool { onDutyDay == today }
    }

    public var roster: [Duty] = []
    public var notices: [String] = []

    public init(roster: [Duty] = [], notices: [String] = []) {
        self.roster = roster
        self.notices = notices
    }

    public static let maxNotices = 10
    public static let maxNoticeLength = 200

    /// Why a submitted board is refused, or nil.
    public func problem() -> String? {
        if roster.count > 50 { return "at most 50 people on the roster" }
        for d in roster {
            if d.duty.count > 32 || d.duty.contains(where: { $0.isNewline }) { return "a duty is at most 32 characters on one line" }
            if d.phone.count > 20 || !d.phone.allSatisfy({ $0.isASCII && ($0.isNumber || "+- ".contains($0)) }) {
                return "a phone number is at most 20 of 0-9 + - and spaces"
            }
        }
        if notices.count > Self.maxNotices { return "at most \(Self.maxNotices) notices" }
        if notices.contains(where: { $0.count > Self.maxNoticeLength }) { return "a notice is at most \(Self.maxNoticeLength) characters" }
        return nil
    }

    public static func load(_ path: String) -> BoardSettings? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(BoardSettings.self, from: d)
    }

    public func save(_ path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try e.encode(self)
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o640]), rename(tmp, path) == 0 else {
            unlink(tmp)
            throw WebError("cannot write \(path)")
        }
    }
}
