import Benchmark
import Crypto
import EventLog
import Foundation
import GateCore

/// ordo-one/benchmark suites: durable append, CRC32C, pass verification and a decision against a
/// 100,000-resident registry. `scripts/bench.sh` prints the ratios against raw baselines.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident], maxDuration: .seconds(5), maxIterations: 2000)

    Benchmark("Durable append (200 B, one writer)") { benchmark in
        let dir = NSTemporaryDirectory() + "postern-bench-\(UUID().uuidString)"
        let w = try LogWriter.open(directory: dir)
        let payload = [UInt8](repeating: 7, count: 200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try w.appendBlocking([LogEntry(type: 1, payload: payload)]) }
        benchmark.stopMeasurement()
        w.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    Benchmark("CRC32C 1 MiB", configuration: .init(metrics: [.wallClock, .throughput])) { benchmark in
        let bytes = [UInt8](repeating: 0xA5, count: 1 << 20)
        for _ in benchmark.scaledIterations { blackHole(CRC32C.checksum(bytes)) }
    }

    let key = Curve25519.Signing.PrivateKey()
    var registry = RegistrySnapshot()
    registry.keys = [TrustedKey(id: "k", publicKey: Array(key.publicKey.rawRepresentation))]
    for i in 0..<100_000 {
        let body = String(format: "1507021980%07d", i)
        registry.add(Resident(id: "r\(i)", name: "居民\(i)", sex: .male, idNumber: body + String(IDNumber.checkCharacter(for: body)!), household: "h\(i / 3)", address: Address(building: "\(i % 40)", unit: "\(i % 4)", room: "\(i)")))
    }
    let pass = try! PassCodec.encode(Pass(id: 1, kind: .resident, person: "r4242", household: "h1414", issued: 0, expires: Timestamp(Int32.max), keyID: "k"), signingKey: key)
    let snapshot = registry

    Benchmark("Decision, QR pass, 100k residents") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Policy.decide(PassageFacts(lane: "l", direction: .out, credential: .qr(pass), readings: [Reading(celsius: 36.5, device: "t", at: 1000)], now: 1000), registry: snapshot, config: RulesConfig()))
        }
    }

    Benchmark("Ed25519 verify (one pass signature)") { benchmark in
        let (_, body, sig) = PassCodec.parse(pass)!
        for _ in benchmark.scaledIterations { blackHole(key.publicKey.isValidSignature(sig, for: body)) }
    }
}
