import Foundation
import GateTestSupport
import Testing

/// Every parser that takes outside bytes, through the fuzz harness binary (`PosternFuzz`, built
/// with the package): the seed corpus (checked examples and every input that once crashed) plus
/// seeded random mutations of it. A crash fails the test with the target's name.
@Suite("Hostile input through every parser", .serialized)
struct HostileInputTests {
    static let targets = ["gy", "modbus", "ascii", "lines", "evdev", "hidpos", "ga467", "pass", "config", "csv", "log", "photo"]
    static var corpus: String { Binary.root + "/Tests/FuzzCorpus" }
    static var harness: String { Binary.root + "/.build/debug/PosternFuzz" }

    @Test("seed corpus and 300 seeded mutations per target run without a crash", arguments: targets)
    func mutate(target: String) throws {
        let dir = NSTemporaryDirectory() + "postern-mut-\(target)-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seedDir = Self.corpus + "/" + target
        let seeds = try FileManager.default.contentsOfDirectory(atPath: seedDir).compactMap { FileManager.default.contents(atPath: seedDir + "/" + $0).map { [UInt8]($0) } }
        var g = SplitMix64(seed: UInt64(target.hashValue & 0xFFFF))
        for i in 0..<300 {
            var b = seeds.randomElement(using: &g) ?? []
            for _ in 0..<Int.random(in: 1...8, using: &g) {
                switch Int.random(in: 0..<5, using: &g) {
                case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &g)] ^= UInt8.random(in: 1...255, using: &g)
                case 1: b.insert(UInt8.random(in: 0...255, using: &g), at: Int.random(in: 0...b.count, using: &g))
                case 2 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &g))
                case 3: b += b.prefix(Int.random(in: 0...64, using: &g))
                default: b += (0..<Int.random(in: 0...16, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
                }
            }
            try Data(b).write(to: URL(fileURLWithPath: "\(dir)/m\(i)"))
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.harness)
        p.arguments = [target, seedDir, dir]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(target) crashed: \(text.suffix(400))")
        #expect(text.contains("inputs replayed"))
    }
}
