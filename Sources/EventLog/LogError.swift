/// Errors of the event log, with a stable `code` callers can switch on.
public struct LogError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case locked, io, corrupt, writerFailed, closed, badSegment, tooLarge, notFound
    }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
