import Foundation
import Testing

/// The shipped unit file passes `systemd-analyze verify` and keeps a low exposure score.
@Suite("systemd unit")
struct SystemdUnitTests {
    static let analyze = "/usr/bin/systemd-analyze"

    func unitWithBuiltBinary() throws -> String {
        let dir = NSTemporaryDirectory() + "postern-unit-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: Binary.root + "/systemd/postern.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/postern", with: Binary.path)
        try text.write(toFile: dir + "/postern.service", atomically: true, encoding: .utf8)
        return dir + "/postern.service"
    }

    func run(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.analyze)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    @Test("systemd-analyze verify passes", .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func verify() throws {
        // --man=no: the man page named in Documentation= is installed by the package, not here.
        let (status, out) = try run(["verify", "--man=no", try unitWithBuiltBinary()])
        #expect(status == 0, "\(out)")
        #expect(!out.contains("Unknown key"), "\(out)")
    }

    @Test("systemd-analyze security rates the sandbox SAFE (exposure ≤ 0.9)", .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func security() throws {
        let (_, out) = try run(["security", "--offline=true", try unitWithBuiltBinary()])
        guard let line = out.split(separator: "\n").last(where: { $0.contains("Overall exposure level") }),
            let score = line.split(separator: " ").compactMap({ Double($0) }).first
        else {
            Issue.record("no exposure score in: \(out.suffix(300))")
            return
        }
        #expect(score <= 0.9, "\(line)")
    }

    func score(_ unit: String) throws -> Double? {
        let (_, out) = try run(["security", "--offline=true", unit])
        let line = out.split(separator: "\n").last { $0.contains("Overall exposure level") }
        return line?.split(separator: " ").compactMap { Double($0) }.first
    }

    @Test("with the web drop-in (IP sockets allowed) the unit still verifies and stays OK (exposure ≤ 2.5)", .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func webDropIn() throws {
        // A copy of its own: the other tests read the unit without the drop-in, maybe meanwhile.
        let dir = NSTemporaryDirectory() + "postern-unit-web-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let unit = dir + "/postern.service"
        try? FileManager.default.removeItem(atPath: unit)
        try FileManager.default.copyItem(atPath: try unitWithBuiltBinary(), toPath: unit)
        let without = try #require(try score(unit))
        let dropIns = unit + ".d"
        try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Binary.root + "/systemd/postern-web.conf", toPath: dropIns + "/web.conf")
        defer { try? FileManager.default.removeItem(atPath: dropIns) }
        let (status, out) = try run(["verify", "--man=no", unit])
        #expect(status == 0, "\(out)")
        let with = try #require(try score(unit))
        #expect(with > without, "the drop-in was not applied (\(with) vs \(without))")
        #expect(with <= 2.5, "\(with)")
    }

    @Test("with the central-uplink drop-in the kiosk unit has the host's network and stays OK (exposure ≤ 2.5)", .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func uplinkDropIn() throws {
        let dir = NSTemporaryDirectory() + "postern-unit-uplink-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let unit = dir + "/postern.service"
        try? FileManager.default.removeItem(atPath: unit)
        try FileManager.default.copyItem(atPath: try unitWithBuiltBinary(), toPath: unit)
        let dropIns = unit + ".d"
        try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Binary.root + "/systemd/postern.service.d/central-uplink.conf", toPath: dropIns + "/central-uplink.conf")
        defer { try? FileManager.default.removeItem(atPath: dropIns) }
        let (status, out) = try run(["verify", "--man=no", unit])
        #expect(status == 0, "\(out)")
        #expect(!out.contains("Unknown key"), "\(out)")
        let (_, sec) = try run(["security", "--offline=true", unit])
        // Address families alone leave the kiosk in its private network namespace, where central
        // is unreachable: the drop-in must give the host's network back.
        #expect(sec.contains("✗ PrivateNetwork="), "PrivateNetwork still on with the uplink drop-in")
        #expect(sec.contains("✗ IPAddressDeny="), "IPAddressDeny=any still on with the uplink drop-in")
        let with = try #require(try score(unit))
        #expect(with <= 2.5, "\(with)")
    }

    /// postern-central's unit, its ExecStart pointed at a binary that exists here (verify checks
    /// that the executable is there; which one does not matter to it).
    func centralUnit() throws -> String {
        let dir = NSTemporaryDirectory() + "postern-central-unit-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: Binary.root + "/systemd/postern-central.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/postern-central", with: Binary.path)
        try text.write(toFile: dir + "/postern-central.service", atomically: true, encoding: .utf8)
        return dir + "/postern-central.service"
    }

    @Test("postern-central's unit verifies and rates OK (exposure ≤ 1.1)", .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func central() throws {
        let unit = try centralUnit()
        let (status, out) = try run(["verify", "--man=no", unit])
        #expect(status == 0, "\(out)")
        #expect(!out.contains("Unknown key"), "\(out)")
        let score = try #require(try score(unit))
        #expect(score <= 1.1, "\(score)")
    }
}
