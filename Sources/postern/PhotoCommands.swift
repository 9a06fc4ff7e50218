import ArgumentParser
import Foundation
import GateCore
import GateDaemon
import GateStore
import Photos

/// Reading photo files an admin hands over: regular files only (a FIFO or device would hang or
/// stream forever), never more than the limit plus one byte, decoded and re-encoded by `Photo`.
enum PhotoInput {
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// The normalised photo in `path`, or why not.
    static func load(_ path: String, limits: Photo.Limits = Photo.Limits()) -> Result<Photo.Normalised, Photo.Refused> {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .failure(.init(description: "cannot read: \(String(cString: strerror(errno)))")) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .failure(.init(description: "not a regular file")) }
        guard Int(st.st_size) <= limits.maxFileBytes else { return .failure(.init(description: "file is \(st.st_size) bytes; at most \(limits.maxFileBytes)")) }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(.init(description: "cannot open: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var data = [UInt8](repeating: 0, count: limits.maxFileBytes + 1)
        var n = 0
        while n < data.count {
            let r = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + n, $0.count - n) }
            if r <= 0 { break }
            n += r
        }
        do {
            return .success(try Photo.normalise(Array(data[..<n]), limits: limits))
        } catch let e as Photo.Refused {
            return .failure(e)
        } catch {
            return .failure(.init(description: "\(error)"))
        }
    }

    /// Every photo in a folder named `PERSON.jpg|.jpeg|.png`; all or nothing: returns the photos,
    /// or one error line per bad file. `known` says whether an id is (or is about to be) registered.
    struct Problems: Error {
        var lines: [String]
    }

    static func folder(_ dir: String, known: (String) throws -> Bool) throws -> Result<[(person: String, photo: Photo.Normalised)], Problems> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { throw Exit.io("cannot read folder \(dir)") }
        var photos: [(String, Photo.Normalised)] = []
        var errors: [String] = []
        var seen: [String: String] = [:]
        for name in names.sorted() where !name.hasPrefix(".") {
            let shown = Printable.escaped(name)
            let ext = (name as NSString).pathExtension.lowercased()
            let id = (name as NSString).deletingPathExtension
            guard extensions.contains(ext) else {
                errors.append("\(dir)/\(shown): not a photo name (PERSON.jpg, .jpeg or .png)")
                continue
            }
            guard PersonID.isValid(id) else {
                errors.append("\(dir)/\(shown): \"\(Printable.escaped(id))\" is not a valid person id (\(PersonID.rule))")
                continue
            }
            if let other = seen[id] {
                errors.append("\(dir)/\(shown): a second photo for \(id) (also \(Printable.escaped(other)))")
                continue
            }
            seen[id] = name
            guard try known(id) else {
                errors.append("\(dir)/\(shown): no registered person \(id)")
                continue
            }
            switch load(dir + "/" + name) {
            case .success(let p): photos.append((id, p))
            case .failure(let e): errors.append("\(dir)/\(shown): \(Printable.escaped(e.description))")
            }
        }
        return errors.isEmpty ? .success(photos) : .failure(Problems(lines: errors))
    }

    static func record(_ person: String, _ p: Photo.Normalised) -> (person: String, jpeg: [UInt8], record: PhotoRecord) {
        (person, p.jpeg, PhotoRecord(person: person, sha256: p.sha256, bytes: p.jpeg.count, width: p.width, height: p.height))
    }
}

struct PhotoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "photo", abstract: "A person's photo (printed on the pass, shown to the guard).", subcommands: [Set.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Set PERSON's photo from a JPEG or PNG (re-encoded to at most \(Photo.maxWidth)×\(Photo.maxHeight); nothing of the file is kept as given).")
        @OptionGroup var global: GlobalOptions
        @Argument var person: String
        @Argument var file: String
        func run() async throws {
            try await guarded {
                let a = try Admin(dataDir: global.dataDir)
                guard PersonID.isValid(person), try a.store.personKind(person) != nil else {
                    throw Exit.invalid("no registered person \(Printable.escaped(person))")
                }
                switch PhotoInput.load(file) {
                case .failure(let e): throw Exit.invalid("\(Printable.escaped(file)): \(Printable.escaped(e.description)); nothing changed")
                case .success(let p):
                    try a.store.setPhotos([PhotoInput.record(person, p)], actor: a.actor)
                    out("photo of \(person): \(p.width)×\(p.height), \(p.jpeg.count) bytes; \(a.flushAudit())")
                }
            }
        }
    }
}
