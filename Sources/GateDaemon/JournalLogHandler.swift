import Foundation
import Logging

/// Log lines on stderr that journald understands: with `JOURNAL_STREAM` set, each line starts with
/// a `<N>` syslog priority; otherwise a timestamp and the level.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let journal: Bool

    public init(label: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        journal = environment["JOURNAL_STREAM"] != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ l: Logger.Level) -> Int {
        switch l {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        let meta = metadata.merging(event.metadata ?? [:]) { $1 }
        let m = meta.isEmpty ? "" : " " + meta.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = journal
            ? "<\(Self.priority(event.level))>\(event.message)\(m)\n"
            : "\(ISO8601DateFormatter().string(from: Date())) \(event.level) \(label): \(event.message)\(m)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
