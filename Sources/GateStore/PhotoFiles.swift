import Crypto
import Foundation
import GateCore

/// Where the registry keeps photos: one already-normalised JPEG per person in `DATA/photos/ID.jpg`
/// (0640, folder 0750). Files, not database rows, so `mirror rebuild` (which replaces the
/// database) keeps them; every change is a `registry_change` (entity `photo`) carrying the
/// photo's SHA-256 and size, never its bytes.
public struct PhotoRecord: Codable, Sendable, Equatable {
    public var person: String
    public var sha256: String
    public var bytes: Int
    public var width: Int
    public var height: Int
    public init(person: String, sha256: String, bytes: Int, width: Int, height: Int) {
        self.person = person
        self.sha256 = sha256
        self.bytes = bytes
        self.width = width
        self.height = height
    }
}

extension Store {
    public var dataDir: String { (path as NSString).deletingLastPathComponent }
    public var photoDir: String { dataDir + "/photos" }

    /// The photo file of a person (ids are checked safe file names; anything else has none).
    public func photoPath(person: String) -> String? {
        PersonID.isValid(person) ? photoDir + "/" + person + ".jpg" : nil
    }

    public func photo(person: String) -> [UInt8]? {
        guard let p = photoPath(person: person), let d = FileManager.default.contents(atPath: p) else { return nil }
        return Array(d)
    }

    /// Which kind of registered person `id` is, if any.
    public func personKind(_ id: String) throws -> PersonKind? {
        for (kind, table) in [(PersonKind.resident, "residents"), (.visitor, "visitors"), (.courier, "couriers"), (.staff, "staff")] {
            if try db.query("SELECT 1 FROM \(table) WHERE id = ?", [.text(id)], { _ in true }).first == true { return kind }
        }
        return nil
    }

    /// Stores a normalised JPEG as the person's photo and queues its audit event. The person must
    /// be registered. The file is replaced atomically, after the audit row is committed.
    public func setPhotos(_ photos: [(person: String, jpeg: [UInt8], record: PhotoRecord)], actor: String) throws {
        for p in photos {
            guard try personKind(p.person) != nil, photoPath(person: p.person) != nil else {
                throw RegistryConflict(message: "no registered person \(Printable.escaped(p.person)); nothing changed")
            }
        }
        try FileManager.default.createDirectory(atPath: photoDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try db.transaction {
            for p in photos {
                let before = try? readRecord(p.person)
                var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
                (e.entity, e.key, e.action, e.actor) = ("photo", p.person, "set", actor)
                e.before = json(before ?? nil)
                e.after = json(p.record)
                try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
            }
            for p in photos { try writeFile(Data(p.jpeg), to: photoPath(person: p.person)!) }
        }
    }

    func readRecord(_ person: String) throws -> PhotoRecord? {
        guard let d = photo(person: person) else { return nil }
        return PhotoRecord(person: person, sha256: SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined(), bytes: d.count, width: 0, height: 0)
    }

    /// Photos of people who are no longer registered, or whose registration ended, before
    /// `cutoffNs` (nanoseconds since the epoch): removed couriers (by the time of their `remove` in the log), visitors
    /// whose approval ended, and any photo left without a person whose file is that old.
    /// Removes them and queues a `photo` `purge` audit event for each; returns the ids.
    public func purgePhotos(beforeNs cutoffNs: Int64, actor: String) throws -> [String] {
        let cutoff = Double(cutoffNs) / 1e9
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: photoDir) else { return [] }
        var gone: [String] = []
        for n in names.sorted() where n.hasSuffix(".jpg") {
            let id = String(n.dropLast(4))
            guard let path = photoPath(person: id) else { continue }
            var old = false
            switch try personKind(id) {
            case .visitor?:
                old = Double(try db.query("SELECT valid_until FROM visitors WHERE id = ?", [.text(id)]) { $0.int(0) }.first ?? .max) < cutoff
            case nil:
                let removed =
                    try db.query(
                        "SELECT MAX(wall_ns) FROM events WHERE kind = 'registry_change' AND json_extract(payload, '$.key') = ? AND json_extract(payload, '$.action') = 'remove'",
                        [.text(id)]
                    ) { $0.optInt(0) }.first ?? nil
                if let r = removed {
                    old = r < cutoffNs
                } else {
                    let mtime = ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                    old = mtime < cutoff
                }
            default:
                old = false
            }
            guard old else { continue }
            try db.transaction {
                var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
                (e.entity, e.key, e.action, e.actor) = ("photo", id, "purge", actor)
                try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
                try FileManager.default.removeItem(atPath: path)
            }
            gone.append(id)
        }
        return gone
    }

    func writeFile(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o640]) else {
            throw Database.Error(message: "cannot write \(tmp)")
        }
        let fd = Glibc.open(tmp, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw Database.Error(message: "cannot write \(path)")
        }
    }
}
