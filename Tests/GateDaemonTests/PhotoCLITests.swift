import EventLog
import Foundation
import GateCore
import GateStore
import GateTestSupport
import Photos
import Testing

@testable import GateDaemon

/// Photos through the real `postern` binary: folder import (all or nothing), `photo set`, cards
/// that carry the photo, and purge.
@Suite("Photos in the registry (postern binary)", .serialized)
struct PhotoCLITests {
    func run(_ args: [String], _ dir: String) throws -> Binary.Result { try Binary.run(args + ["--data-dir", dir]) }

    static func image(_ w: Int, _ h: Int, png: Bool) throws -> Data {
        Data(try Photo.encode(rgb: Photo.sample(seed: w, width: w, height: h), width: w, height: h, png: png))
    }

    func community() throws -> String {
        let dir = tempPath("photos")
        let csv = tempPath("photos.csv")
        try "id,name,sex,id_number,building,unit,room\nr1,张伟,M,\(idn("15070219800101001")),1,1,101\nr2,李娜,F,\(idn("15070219820202002")),1,1,101\n".write(
            toFile: csv, atomically: true, encoding: .utf8)
        #expect(try run(["residents", "import", csv], dir).status == 0)
        return dir
    }

    @Test("a folder with any bad photo imports nothing and names every bad file; a good folder stores bounded JPEGs and audits them")
    func folderImport() throws {
        let dir = try community()
        let bad = tempPath("photos-bad")
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try Data("<?php system($_GET[1]); ?>".utf8).write(to: URL(fileURLWithPath: bad + "/r2.png"))
        try Self.image(50, 50, png: true).write(to: URL(fileURLWithPath: bad + "/nobody.png"))
        try Self.image(50, 50, png: true).write(to: URL(fileURLWithPath: bad + "/notes.txt"))
        mkfifo(bad + "/r1.jpg", 0o600)
        let r = try run(["residents", "import", bad], dir)
        #expect(r.status == 1)
        for needle in [
            "r2.png: neither a JPEG nor a PNG", "nobody.png: no registered person nobody", "notes.txt: not a photo name", "r1.jpg: not a regular file",
            "nothing imported",
        ] {
            #expect(r.stderr.contains(needle), "\(needle) in \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/photos/r1.jpg"))

        let good = tempPath("photos-good")
        try FileManager.default.createDirectory(atPath: good, withIntermediateDirectories: true)
        try Self.image(1000, 1400, png: false).write(to: URL(fileURLWithPath: good + "/r1.JPG"))
        try Self.image(90, 120, png: true).write(to: URL(fileURLWithPath: good + "/r2.png"))
        let ok = try run(["residents", "import", good], dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("2 photo(s)"))
        let stored = try Photo.normalise(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/photos/r1.jpg"))))
        #expect(stored.width <= 300 && stored.height <= 400)
        var st = stat()
        stat(dir + "/photos/r1.jpg", &st)
        #expect(st.st_mode & 0o777 == 0o640)
        let tail = try run(["tail", "--json"], dir)
        #expect(tail.stdout.contains("\"entity\":\"photo\""))
        #expect(!tail.stdout.contains("/9j/"))  // no photo bytes (base64 JPEG) in the log
    }

    @Test("photo set replaces one photo; a hostile file or an unknown person changes nothing; cards carry the photo")
    func photoSetAndCard() throws {
        let dir = try community()
        let f = tempPath("one.png")
        try Self.image(200, 260, png: true).write(to: URL(fileURLWithPath: f))
        let ok = try run(["residents", "photo", "set", "r1", f], dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        let junk = tempPath("junk.jpg")
        try Data([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0, count: 100)).write(to: URL(fileURLWithPath: junk))
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/photos/r1.jpg"))
        #expect(try run(["residents", "photo", "set", "r1", junk], dir).status == 1)
        #expect(try run(["residents", "photo", "set", "../../etc/x", f], dir).status == 1)
        #expect(try run(["residents", "photo", "set", "ghost", f], dir).status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/photos/r1.jpg")) == before)
        #expect(try run(["keys", "generate"], dir).status == 0)
        let out = tempPath("cards")
        #expect(try run(["pass", "print", "--all", "--out", out], dir).status == 0)
        let card1 = try String(contentsOfFile: out + "/pass-r1.svg", encoding: .utf8)
        let card2 = try String(contentsOfFile: out + "/pass-r2.svg", encoding: .utf8)
        #expect(card1.contains("href=\"data:image/jpeg;base64,/9j/"))
        #expect(card2.contains("照片") && !card2.contains("data:image/jpeg"))
    }

    @Test("purge deletes the photos of people removed before the date and keeps everyone else's")
    func purge() throws {
        let dir = try community()
        #expect(try run(["courier", "add", "--id", "c1", "--name", "快递", "--id-number", idn("15070219960606006"), "--company", "SF"], dir).status == 0)
        let f = tempPath("c.jpg")
        try Self.image(120, 160, png: false).write(to: URL(fileURLWithPath: f))
        #expect(try run(["residents", "photo", "set", "c1", f], dir).status == 0)
        #expect(try run(["residents", "photo", "set", "r1", f], dir).status == 0)
        #expect(try run(["courier", "remove", "c1"], dir).status == 0)
        // The mirror learns of the removal from the log.
        #expect(try run(["mirror", "rebuild"], dir).status == 0)
        let tomorrow = Date().addingTimeInterval(86_400)
        let df = DateFormatter()
        df.dateFormat = "yyyy-MM-dd"
        let p = try run(["purge", "--before", df.string(from: tomorrow)], dir)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("1 photo(s)"), "\(p.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/photos/c1.jpg"))
        #expect(FileManager.default.fileExists(atPath: dir + "/photos/r1.jpg"))
    }
}
