/// The tables of a document while it is being read, and TOML 1.0's rules on who may define them:
/// a table is defined once (by a `[header]`, by dotted keys, or inline), inline tables and static
/// arrays never change after their line, `[[header]]` appends only to arrays it created. Tables are
/// reference-typed builders with a key index while reading, so every insert is O(1) and nothing is
/// copied; `finish()` turns them into `TOMLTable` values once, at the end.
final class TOMLTableBuilder {
    /// How the table came to exist, which decides what may add to it later.
    enum Origin: Equatable {
        case root
        /// Created on the way to a header (`a` in `[a.b]`); a later `[a]` may still define it once.
        case implicit
        /// Defined by `[header]`, or an element of `[[header]]`.
        case header
        /// Created by dotted keys (`a.b = 1`); only dotted keys of the same section may add to it.
        case dotted(section: Int)
    }

    enum Slot {
        case value(TOMLNode)
        case table(TOMLTableBuilder)
        case tableArray(TOMLTableArrayBuilder)
    }

    var origin: Origin
    var line: Int
    /// Containers between the root and this table (an array of tables counts as two: the array and its element).
    let depth: Int
    private(set) var order: [String] = []
    private(set) var slots: [String: Slot] = [:]

    init(origin: Origin, line: Int, depth: Int) {
        self.origin = origin
        self.line = line
        self.depth = depth
    }

    subscript(key: String) -> Slot? { slots[key] }

    func add(_ key: String, _ slot: Slot) {
        order.append(key)
        slots[key] = slot
    }

    func finish() -> TOMLTable {
        var t = TOMLTable(line: line)
        t.reserveCapacity(order.count)
        for key in order {
            switch slots[key]! {
            case .value(let node): t.append(key, node)
            case .table(let sub): t.append(key, TOMLNode(value: .table(sub.finish()), line: sub.line))
            case .tableArray(let a):
                t.append(key, TOMLNode(value: .array(a.elements.map { TOMLNode(value: .table($0.finish()), line: $0.line) }), line: a.line))
            }
        }
        return t
    }
}

final class TOMLTableArrayBuilder {
    let line: Int
    var elements: [TOMLTableBuilder] = []
    init(line: Int) { self.line = line }
}

/// The document's root and the rules applied as headers and key/value lines arrive.
struct TOMLTree {
    let root = TOMLTableBuilder(origin: .root, line: 1, depth: 0)
    /// The table the last header opened (the root before any header).
    private(set) var current: TOMLTableBuilder
    /// Counts sections (the root, then one per header) so dotted-key tables know whose they are.
    /// Inline tables are sections of their own, with ids the reader hands out below zero.
    private var section = 0

    init() { current = root }

    /// `[a.b.c]`: defines the table, creating `a` and `a.b` on the way if needed.
    mutating func defineTable(_ path: [String], line: Int) throws(TOMLError) {
        let parent = try walkHeader(path.dropLast(), line: line)
        let key = path[path.count - 1]
        let name = Self.name(path)
        switch parent[key] {
        case nil:
            let t = try Self.child(of: parent, origin: .header, line: line, extra: 1)
            parent.add(key, .table(t))
            current = t
        case .table(let t):
            switch t.origin {
            case .implicit:
                t.origin = .header
                t.line = line
                current = t
            case .dotted:
                throw TOMLError(line: line, message: "table [\(name)] was already defined by dotted keys on line \(t.line)")
            case .header, .root:
                throw TOMLError(line: line, message: "table [\(name)] is defined twice (first on line \(t.line))")
            }
        case .tableArray(let a):
            throw TOMLError(line: line, message: "[\(name)] is already an array of tables ([[\(name)]] on line \(a.line))")
        case .value(let n):
            throw TOMLError(line: line, message: "`\(name)` is already \(Self.what(n)) (line \(n.line))")
        }
        section += 1
    }

    /// `[[a.b]]`: appends a new table to the array of tables at `a.b`.
    mutating func appendTable(_ path: [String], line: Int) throws(TOMLError) {
        let parent = try walkHeader(path.dropLast(), line: line)
        let key = path[path.count - 1]
        let name = Self.name(path)
        let array: TOMLTableArrayBuilder
        switch parent[key] {
        case nil:
            array = TOMLTableArrayBuilder(line: line)
            parent.add(key, .tableArray(array))
        case .tableArray(let a):
            array = a
        case .table(let t):
            throw TOMLError(line: line, message: "[[\(name)]] cannot append to the table `\(name)` defined on line \(t.line)")
        case .value(let n):
            throw TOMLError(line: line, message: "[[\(name)]] cannot append to `\(name)`: it is \(Self.what(n)) (line \(n.line))")
        }
        let t = try Self.child(of: parent, origin: .header, line: line, extra: 2)
        array.elements.append(t)
        current = t
        section += 1
    }

    /// `a.b.c = v` below the current header.
    mutating func set(_ path: [String], _ node: TOMLNode) throws(TOMLError) {
        try Self.set(path, node, in: current, section: section)
    }

    /// Sets a dotted key in `table`, creating the tables its dots name; used for the document's
    /// sections and for inline tables (each inline table is a section of its own).
    static func set(_ path: [String], _ node: TOMLNode, in table: TOMLTableBuilder, section: Int) throws(TOMLError) {
        var t = table
        for (i, key) in path.dropLast().enumerated() {
            switch t[key] {
            case nil:
                let sub = try child(of: t, origin: .dotted(section: section), line: node.line, extra: 1)
                t.add(key, .table(sub))
                t = sub
            case .table(let sub):
                switch sub.origin {
                case .dotted(let s) where s == section:
                    t = sub
                case .implicit:
                    sub.origin = .dotted(section: section)
                    sub.line = node.line
                    t = sub
                case .dotted:
                    throw TOMLError(
                        line: node.line,
                        message: "`\(name(path[...i]))` was defined by dotted keys in another table (line \(sub.line)); it cannot be extended here")
                case .header, .root:
                    throw TOMLError(
                        line: node.line,
                        message: "`\(name(path[...i]))` is a table defined by a header on line \(sub.line); dotted keys cannot add to it from here")
                }
            case .tableArray(let a):
                throw TOMLError(line: node.line, message: "`\(name(path[...i]))` is an array of tables (line \(a.line)); dotted keys cannot add to it")
            case .value(let n):
                throw TOMLError(line: node.line, message: "`\(name(path[...i]))` is already \(what(n)) (line \(n.line)), so it cannot hold `\(path[i + 1])`")
            }
        }
        let key = path[path.count - 1]
        if let existing = t[key] {
            let first =
                switch existing {
                case .value(let n): n.line
                case .table(let s): s.line
                case .tableArray(let a): a.line
                }
            throw TOMLError(line: node.line, message: "duplicate key `\(name(path))` (first set on line \(first))")
        }
        t.add(key, .value(node))
    }

    /// Follows a header's path up to (not including) its last key.
    private func walkHeader(_ path: ArraySlice<String>, line: Int) throws(TOMLError) -> TOMLTableBuilder {
        var t = root
        for (i, key) in path.enumerated() {
            switch t[key] {
            case nil:
                let sub = try Self.child(of: t, origin: .implicit, line: line, extra: 1)
                t.add(key, .table(sub))
                t = sub
            case .table(let sub):
                t = sub
            case .tableArray(let a):
                t = a.elements[a.elements.count - 1]
            case .value(let n):
                throw TOMLError(
                    line: line, message: "`\(Self.name(path.prefix(i + 1)))` is already \(Self.what(n)) (line \(n.line)), so it cannot hold a table")
            }
        }
        return t
    }

    private static func child(of parent: TOMLTableBuilder, origin: TOMLTableBuilder.Origin, line: Int, extra: Int) throws(TOMLError) -> TOMLTableBuilder {
        let depth = parent.depth + extra
        guard depth <= TOML.maxDepth else { throw TOML.tooDeep(line: line) }
        return TOMLTableBuilder(origin: origin, line: line, depth: depth)
    }

    /// How an error names a key path: dotted, with keys that are not bare quoted.
    static func name<S: Sequence<String>>(_ path: S) -> String {
        path.map { k in
            !k.isEmpty && k.utf8.allSatisfy { TOMLReader.isBareKeyByte($0) }
                ? k : "\"" + k.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\\\"") + "\""
        }.joined(separator: ".")
    }

    private static func what(_ n: TOMLNode) -> String {
        switch n.value {
        case .table: "an inline table, which cannot be changed after its line"
        case .array: "an array, which cannot be changed after its line"
        default: "a value"
        }
    }
}
