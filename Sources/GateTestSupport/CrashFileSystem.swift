/// An in-memory file system that remembers what was made durable (fdatasync, directory fsync) and,
/// on `crash`, forgets or tears everything else the way a power cut on an SD card can: whole
/// writes lost, partial sectors, zero-filled extents, files whose directory entry never reached disk.
/// Used only to test crash recovery of the event log; the log's real I/O is tested on real files.
import EventLog
import Synchronization

package final class CrashFileSystem: LogFileSystem, @unchecked Sendable {
    final class Node {
        var current: [UInt8] = []
        var durable: [UInt8] = []
    }
    struct State {
        var files: [String: Node] = [:]       // what a process sees now
        var durableNames: [String: Node] = [:] // what the directory holds on disk
        var opsLeft = Int.max
        var crashed = false
        /// Lock files held by a live writer (a power cut ends every process, so it clears them).
        var locks: [String: Set<ObjectIdentifier>] = [:]
    }
    let state = Mutex(State())

    package init() {}

    /// After `n` more mutating operations every further one fails, as if power was lost then.
    package func powerFails(afterOps n: Int) {
        state.withLock { $0.opsLeft = n }
    }

    struct PowerLost: Error {}

    func tick() throws {
        try state.withLock { s in
            if s.crashed || s.opsLeft <= 0 {
                s.crashed = true
                throw LogError(.io, "power lost")
            }
            s.opsLeft -= 1
        }
    }

    /// Replaces the visible state by what survives a power cut, tearing unsynced data by `rng`.
    package func crash<G: RandomNumberGenerator>(using rng: inout G) {
        state.withLock { s in
            var survivors: [String: Node] = [:]
            for (name, node) in s.durableNames { survivors[name] = node }
            // A created file whose directory entry was not synced survives only by chance.
            for (name, node) in s.files where s.durableNames[name] == nil && Bool.random(using: &rng) {
                survivors[name] = node
            }
            for node in Set(survivors.values.map { ObjectIdentifier($0) }).compactMap({ id in survivors.values.first { ObjectIdentifier($0) == id } }) {
                node.current = Self.tear(durable: node.durable, current: node.current, using: &rng)
                node.durable = node.current
            }
            s.files = survivors
            s.durableNames = survivors
            s.locks = [:]
            s.crashed = false
            s.opsLeft = .max
        }
    }

    static func tear<G: RandomNumberGenerator>(durable: [UInt8], current: [UInt8], using rng: inout G) -> [UInt8] {
        // Bytes past the durable length, or rewritten in place (records written over space the
        // log preallocated), are not safe; where an unsynced write did not land, the durable
        // bytes are still there.
        var common = 0
        while common < durable.count && common < current.count && durable[common] == current[common] { common += 1 }
        if common < durable.count && current.count < durable.count && common == current.count {
            // A truncation not yet synced: the old length may come back.
            return Bool.random(using: &rng) ? current : durable
        }
        if common == current.count && common == durable.count { return current }
        let unsynced = current.count - common
        func overDurable(_ head: ArraySlice<UInt8>) -> [UInt8] {
            head.count >= durable.count ? Array(head) : Array(head) + durable[head.count...]
        }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: return overDurable(current[..<common])
        case 1: return overDurable(current[..<(common + Int.random(in: 0...unsynced, using: &rng))])
        case 2:
            // Sector-granular: whole 512-byte sectors, the next one zero-filled.
            let sectors = (unsynced + 511) / 512
            let keep = Int.random(in: 0...sectors, using: &rng)
            var out = Array(current[..<(common + min(unsynced, keep * 512))])
            if keep < sectors { out += [UInt8](repeating: 0, count: min(512, unsynced - keep * 512)) }
            return overDurable(out[...])
        case 3:
            // An extent allocated but never written: zeros where data should be.
            var u = current
            let a = Int.random(in: common..<current.count, using: &rng)
            let b = Int.random(in: a...current.count, using: &rng)
            for i in a..<b { u[i] = 0 }
            return u
        default: return current
        }
    }

    package func list(_ dir: String) throws -> [String] {
        let prefix = dir + "/"
        return state.withLock { s in s.files.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }.map { String($0.dropFirst(prefix.count)) }.sorted() }
    }

    package func open(_ path: String, create: Bool) throws -> any LogFile {
        let node: Node? = try state.withLock { s in
            if let n = s.files[path] { return n }
            guard create else { return nil }
            if s.crashed || s.opsLeft <= 0 { s.crashed = true; throw LogError(.io, "power lost") }
            s.opsLeft -= 1
            let n = Node()
            s.files[path] = n
            return n
        }
        guard let node else { throw LogError(.notFound, "no such file \(path)") }
        return File(fs: self, node: node)
    }

    package func rename(_ from: String, _ to: String) throws {
        try tick()
        state.withLock { s in
            if let n = s.files.removeValue(forKey: from) { s.files[to] = n }
        }
    }

    package func remove(_ path: String) throws {
        try tick()
        _ = state.withLock { $0.files.removeValue(forKey: path) }
    }

    package func syncDirectory(_ dir: String) throws {
        try tick()
        state.withLock { s in
            let prefix = dir + "/"
            s.durableNames = s.durableNames.filter { !$0.key.hasPrefix(prefix) }
            for (k, v) in s.files where k.hasPrefix(prefix) { s.durableNames[k] = v }
        }
    }

    package func makeDirectory(_ dir: String) throws {}

    package func lock(_ path: String) throws -> any LogLock {
        let l = HeldLock(fs: self, path: path)
        state.withLock { _ = $0.locks[path, default: []].insert(ObjectIdentifier(l)) }
        return l
    }

    package func isLocked(_ path: String) -> Bool {
        state.withLock { !($0.locks[path] ?? []).isEmpty }
    }

    final class HeldLock: LogLock {
        let fs: CrashFileSystem
        let path: String
        var held = true
        init(fs: CrashFileSystem, path: String) {
            self.fs = fs
            self.path = path
        }
        func release() {
            guard held else { return }
            held = false
            let id = ObjectIdentifier(self)
            _ = fs.state.withLock { $0.locks[path]?.remove(id) }
        }
    }

    final class File: LogFile {
        let fs: CrashFileSystem
        let node: Node
        init(fs: CrashFileSystem, node: Node) {
            self.fs = fs
            self.node = node
        }
        func size() throws -> Int { fs.state.withLock { _ in node.current.count } }
        func read(at offset: Int, count: Int) throws -> [UInt8] {
            fs.state.withLock { _ in
                guard offset < node.current.count else { return [] }
                return Array(node.current[offset..<min(node.current.count, offset + count)])
            }
        }
        func write(_ bytes: [UInt8], at offset: Int) throws {
            try fs.tick()
            fs.state.withLock { _ in
                if node.current.count < offset + bytes.count {
                    node.current += [UInt8](repeating: 0, count: offset + bytes.count - node.current.count)
                }
                node.current.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            }
        }
        func sync() throws {
            try fs.tick()
            fs.state.withLock { _ in node.durable = node.current }
        }
        func truncate(to size: Int) throws {
            try fs.tick()
            fs.state.withLock { _ in
                if node.current.count > size { node.current.removeLast(node.current.count - size) }
                else { node.current += [UInt8](repeating: 0, count: size - node.current.count) }
            }
        }
        func close() {}
    }
}

/// A small deterministic generator so a failing seed can be replayed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
