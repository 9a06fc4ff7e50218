import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The repository's root (this file is Benchmarks/Sources/BenchSupport/Process.swift).
public let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A progress line on stderr ("· …"), apart from the figures on stdout.
public func progress(_ s: String) { FileHandle.standardError.write(Data("· \(s)\n".utf8)) }

/// Integer options (`--name N`) taken out of the command line; what is left stays in `rest`.
public struct BenchOptions {
    public var rest: [String]
    public init(_ args: [String] = Array(CommandLine.arguments.dropFirst())) { rest = args }
    public mutating func int(_ name: String, _ def: Int) -> Int {
        guard let i = rest.firstIndex(of: name), i + 1 < rest.count, let v = Int(rest[i + 1]) else { return def }
        rest.removeSubrange(i...(i + 1))
        return v
    }
}

/// The open-file limit raised to its hard maximum (a thousand viewers are a thousand sockets).
public func raiseOpenFileLimit() {
    var lim = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    lim.rlim_cur = lim.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
}

/// posix_spawn with stdin from /dev/null and stdout and stderr to `out`.
private func launch(_ args: [String], out: String, flags: Int32, mode: mode_t) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out, flags, mode)
    posix_spawn_file_actions_addopen(&actions, 2, out, flags, mode)
    var cargs = args.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, args[0], &actions, nil, &cargs, environ) == 0 else { throw CocoaError(.executableLoad) }
    return pid
}

/// Runs a command to its end, its output discarded (posix_spawn + waitpid: Foundation's Process
/// waits on a run loop that top-level code never turns).
public func sh(_ args: [String]) throws {
    let pid = try launch(args, out: "/dev/null", flags: O_WRONLY, mode: 0)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
}

/// Starts a program in the background (its output appended to `log`); returns its pid.
public func spawn(_ args: [String], log: String) throws -> pid_t {
    try launch(args, out: log, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
}
