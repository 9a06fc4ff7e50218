/// The values a TOML 1.0 document holds, each with the line it starts on so config validation can
/// say `file:line: key: message`. Produced by `TOML.parse` (TOMLReader.swift); this file only
/// holds the value types.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    /// `1979-05-27T07:32:00-07:00`: a date and time with an offset from UTC, in minutes.
    case offsetDateTime(TOMLDate, TOMLTime, offsetMinutes: Int)
    /// `1979-05-27T07:32:00`: no offset, so not an instant.
    case localDateTime(TOMLDate, TOMLTime)
    case localDate(TOMLDate)
    case localTime(TOMLTime)
    case array([TOMLNode])
    case table(TOMLTable)

    /// How a validation message names the type: "must be an integer, not a local date".
    public var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .offsetDateTime: "a date-time"
        case .localDateTime: "a local date-time"
        case .localDate: "a date"
        case .localTime: "a time of day"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

public struct TOMLDate: Sendable, Hashable, CustomStringConvertible {
    public var year: Int, month: Int, day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD`.
    public var description: String { pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) }
}

public struct TOMLTime: Sendable, Hashable, CustomStringConvertible {
    public var hour: Int, minute: Int, second: Int
    /// Fractional seconds; digits past the ninth are dropped when reading.
    public var nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }

    /// `HH:MM:SS`, then `.fraction` without trailing zeros when there is one.
    public var description: String {
        var s = pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
        if nanosecond > 0 {
            var digits = pad(nanosecond, 9)
            while digits.hasSuffix("0") { digits.removeLast() }
            s += "." + digits
        }
        return s
    }
}

private func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

public struct TOMLNode: Sendable, Equatable {
    public var value: TOMLValue
    /// The line the value (or the header or dotted key that created a table) starts on; 1-based.
    public var line: Int

    public init(value: TOMLValue, line: Int) {
        self.value = value
        self.line = line
    }
}

/// A table: keys in the order the document first named them, each looked up through a hash index
/// (so building a table of n keys is O(n), not O(n²)).
public struct TOMLTable: Sendable, Equatable {
    public private(set) var entries: [(key: String, node: TOMLNode)] = []
    private var positions: [String: Int] = [:]
    public var line: Int

    public init(line: Int = 0) { self.line = line }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.node == $1.node }
    }

    public subscript(key: String) -> TOMLNode? {
        get { positions[key].map { entries[$0].node } }
        set {
            if let i = positions[key] {
                if let n = newValue {
                    entries[i].node = n
                } else {
                    entries.remove(at: i)
                    positions[key] = nil
                    for j in i..<entries.count { positions[entries[j].key] = j }
                }
            } else if let n = newValue {
                append(key, n)
            }
        }
    }

    /// Adds a key the caller knows is new (the reader checks duplicates before it gets here).
    mutating func append(_ key: String, _ node: TOMLNode) {
        positions[key] = entries.count
        entries.append((key, node))
    }

    mutating func reserveCapacity(_ n: Int) {
        entries.reserveCapacity(n)
        positions.reserveCapacity(n)
    }
}

public struct TOMLError: Error, CustomStringConvertible, Sendable, Equatable {
    public var line: Int
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}
