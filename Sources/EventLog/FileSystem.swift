#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file operations the log needs, behind a seam so crash tests can substitute a layer that
/// forgets unsynced data. `PosixFileSystem` is the real one.
package protocol LogFileSystem: Sendable {
    func list(_ dir: String) throws -> [String]
    func open(_ path: String, create: Bool) throws -> any LogFile
    func rename(_ from: String, _ to: String) throws
    func remove(_ path: String) throws
    func syncDirectory(_ dir: String) throws
    func makeDirectory(_ dir: String) throws
    /// Takes an exclusive advisory lock held until the returned token is released.
    func lock(_ path: String) throws -> any LogLock
    /// Whether some writer holds the lock at `path` now, asked without taking it (a reader that
    /// took even a shared lock for a moment could make a starting writer fail).
    func isLocked(_ path: String) -> Bool
}

package protocol LogFile: AnyObject {
    func size() throws -> Int
    func read(at offset: Int, count: Int) throws -> [UInt8]
    func write(_ bytes: [UInt8], at offset: Int) throws
    /// fdatasync: when it returns, every byte written before is durable.
    func sync() throws
    func truncate(to size: Int) throws
    func close()
}

package protocol LogLock: AnyObject {
    func release()
}

package struct PosixFileSystem: LogFileSystem {
    package init() {}

    static func err(_ what: String, _ path: String) -> LogError {
        LogError(.io, "\(what) \(path): \(String(cString: strerror(errno)))")
    }

    package func list(_ dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw Self.err("cannot list", dir) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    package func open(_ path: String, create: Bool) throws -> any LogFile {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o640)
        guard fd >= 0 else { throw Self.err("cannot open", path) }
        return PosixFile(fd: fd, path: path)
    }

    package func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw Self.err("cannot rename", from) }
    }

    package func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw Self.err("cannot remove", path) }
    }

    package func syncDirectory(_ dir: String) throws {
        let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.err("cannot open directory", dir) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw Self.err("fsync failed on directory", dir) }
    }

    package func makeDirectory(_ dir: String) throws {
        var prefix = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST { throw Self.err("cannot create directory", prefix) }
        }
    }

    package func lock(_ path: String) throws -> any LogLock {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Self.err("cannot open lock file", path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? PosixFile(fd: fd, path: path).read(at: 0, count: 32)).map { String(decoding: $0, as: UTF8.self).trimmingSpaces } ?? "?"
            Glibc.close(fd)
            throw LogError(.locked, "data directory is in use by another writer (pid \(holder.isEmpty ? "?" : holder)); lock file \(path)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        // Also an open-file-description record lock on the same file, which readers can query
        // with F_OFD_GETLK without taking anything (flock has no such query). It belongs to this
        // open file, so another descriptor of the file closed in this process does not drop it.
        var fl = flock()
        fl.l_type = Int16(F_WRLCK)
        fl.l_whence = Int16(SEEK_SET)
        _ = fcntl(fd, Self.F_OFD_SETLK, &fl)
        return PosixLock(fd: fd)
    }

    static let F_OFD_GETLK: Int32 = 36
    static let F_OFD_SETLK: Int32 = 37

    package func isLocked(_ path: String) -> Bool {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var fl = flock()
        fl.l_type = Int16(F_RDLCK)
        fl.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, Self.F_OFD_GETLK, &fl) == 0 else { return false }
        return fl.l_type != Int16(F_UNLCK)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

final class PosixLock: LogLock {
    var fd: Int32
    init(fd: Int32) { self.fd = fd }
    func release() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
    deinit { release() }
}

final class PosixFile: LogFile {
    let fd: Int32
    let path: String
    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    func size() throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PosixFileSystem.err("cannot stat", path) }
        return Int(st.st_size)
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PosixFileSystem.err("read failed on", path)
            }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PosixFileSystem.err("write failed on", path)
            }
            done += n
        }
    }

    func sync() throws {
        guard fdatasync(fd) == 0 else { throw PosixFileSystem.err("fdatasync failed on", path) }
    }

    func truncate(to size: Int) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw PosixFileSystem.err("truncate failed on", path) }
    }

    func close() { Glibc.close(fd) }
}
