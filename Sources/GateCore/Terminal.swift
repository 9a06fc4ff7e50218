/// What both command-line tools (`postern`, `postern-central`) print, in one place: every
/// human-readable line goes through `Printable.escaped` (tabs and line breaks keep the layout),
/// JSON through `Printable.jsonSafe`, so no name, lane, reason or payload from a gate can drive
/// the operator's terminal (OSC 52 clipboard writes, screen clears, bidi overrides).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Terminal {
    /// A human-readable line on standard output, escaped.
    public static func line(_ s: String) {
        raw(Printable.escaped(s, keepingLayout: true))
    }

    /// A line for standard error (messages quote names, keys and file contents), escaped.
    public static func error(_ s: String) {
        write(2, Printable.escaped(s, keepingLayout: true) + "\n")
    }

    /// A JSON document or line: DEL, C1 and bidi characters inside strings as `\uXXXX`.
    public static func json(_ s: String) {
        raw(Printable.jsonSafe(s))
    }

    /// Text that is already safe (escaped cell by cell, like the CSV and HTML ledgers), with a
    /// line break unless it ends in its own.
    public static func raw(_ s: String, newline: Bool = true) {
        write(1, newline ? s + "\n" : s)
    }

    /// Unbuffered, like FileHandle: output keeps its order with anything else written to the fd.
    static func write(_ fd: Int32, _ s: String) {
        var bytes = Array(s.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { p in
                #if canImport(Glibc)
                Glibc.write(fd, p.baseAddress, p.count)
                #else
                Darwin.write(fd, p.baseAddress, p.count)
                #endif
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(n)
        }
    }
}
