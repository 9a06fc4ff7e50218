import CentralWire
import CityHarness
import EventLog
import Foundation
import GateCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Faults at random moments while a crowd crosses two gates of one community, each fault at
/// least 20 times, with two central instances the kiosks fail over between: PostgreSQL killed
/// and restarted, a central instance killed mid-batch, a kiosk SIGKILLed mid-upload, central
/// unreachable (both instances frozen) and then the backlog drains. After each kind: every
/// record each kiosk has durably written is at central exactly once, per-gate sequences dense,
/// every chain equal to the kiosk's own, no integrity finding.
@Suite("Faults", .serialized)
struct FaultTests {
    static let rounds = Int(ProcessInfo.processInfo.environment["POSTERN_FAULT_ROUNDS"] ?? "") ?? 20

    @Test("20× each: PostgreSQL killed, central killed mid-batch, kiosk SIGKILLed mid-upload, central unreachable, failover between two instances — nothing lost or duplicated")
    func faults() async throws {
        let root = NSTemporaryDirectory() + "postern-faults-\(UUID().uuidString.prefix(6))"
        let city = try City(root: root, repo: PGCluster.root, instances: 2)
        defer {
            city.stop()
            try? FileManager.default.removeItem(atPath: root)
        }
        try city.organise(communities: ["c1"])
        var changes: [GateEvent] = [city.keyChange()]
        var passes: [String] = []
        var households = Set<String>()
        for i in 0..<24 {
            let hh = "\(i / 2 + 1)-1-101"
            households.insert(hh)
            let r = Resident(id: "r\(i)", name: "居民\(i)", sex: .female, idNumber: City.idNumber(100 + i), household: hh, address: Address(building: String(i / 2 + 1), unit: "1", room: "101"))
            let (p, c) = try city.issuePass(person: "r\(i)", kind: .resident, household: hh)
            passes.append(p)
            changes += [City.change("resident", "r\(i)", r), c]
        }
        try city.registry("c1", changes)
        try city.addKiosk(.init(community: "c1", gate: "gA"))
        try city.addKiosk(.init(community: "c1", gate: "gB"))
        try await waitFor("registries applied", 30) { city.localResidents("gA") == 24 && city.localResidents("gB") == 24 }

        // The crowd: a passage on some lane every ~150 ms.
        let crowd = Task.detached {
            var rng = SystemRandomNumberGenerator()
            while !Task.isCancelled {
                let k = city.kiosks[Bool.random(using: &rng) ? "gA" : "gB"]!
                k.pass(passes.randomElement(using: &rng)!, direction: Bool.random(using: &rng) ? .in : .out)
                try? await Task.sleep(for: .milliseconds(150))
            }
        }
        var rng = SystemRandomNumberGenerator()
        func pause(_ r: ClosedRange<Double>) async throws { try await Task.sleep(for: .milliseconds(Int(Double.random(in: r, using: &rng) * 1000))) }
        var report: [String] = []

        // 1. PostgreSQL killed (as a crash) and restarted.
        for _ in 0..<Self.rounds {
            try await pause(0.1...0.8)
            try runTool(["/bin/bash", city.repo + "/scripts/pg-cluster.sh", "kill", city.pgDir])
            try await pause(0.1...0.8)
            try runTool(["/bin/bash", city.repo + "/scripts/pg-cluster.sh", "start", city.pgDir, String(city.pgPort)])
        }
        report.append(try await settle(city, "postgres killed"))

        // 2. A central instance killed mid-batch (the kiosks fail over to the other meanwhile).
        for i in 0..<Self.rounds {
            try await pause(0.1...0.6)
            city.centrals[i % 2].crash()
            try await pause(0.1...0.6)
            try city.startCentral(i % 2)
        }
        report.append(try await settle(city, "central killed"))

        // 3. A kiosk SIGKILLed mid-upload, then restarted (its log recovers; it ships the rest).
        for i in 0..<Self.rounds {
            try await pause(0.2...0.8)
            let g = i % 2 == 0 ? "gA" : "gB"
            city.kiosks[g]!.process!.crash()
            try await pause(0.05...0.3)
            try city.startKiosk(g)
        }
        report.append(try await settle(city, "kiosk killed"))

        // 4. Central unreachable (both instances frozen: connections hang), then the backlog drains.
        for _ in 0..<Self.rounds {
            try await pause(0.1...0.5)
            for c in city.centrals { kill(c.pid, SIGSTOP) }
            try await pause(0.5...2.0)
            for c in city.centrals { kill(c.pid, SIGCONT) }
        }
        report.append(try await settle(city, "central unreachable"))

        // 5. Failover: one instance at a time is down; kiosks move to the other.
        for i in 0..<Self.rounds {
            let down = i % 2
            city.centrals[down].stop(grace: 2)
            try await pause(0.3...1.0)
            try city.startCentral(down)
        }
        crowd.cancel()
        _ = await crowd.value
        report.append(try await settle(city, "failover"))

        // Overdrafts: offline admits beyond the quota, against the bound the budget sets.
        let overdrafts = Int(try city.psql("SELECT COUNT(*) FROM overdrafts")) ?? -1
        let offline = Int(try city.psql("SELECT COUNT(*) FROM events WHERE flags_text LIKE '%offline_budget%' AND outcome = 'admit'")) ?? -1
        let bound = households.count * 2 * city.offlineBudget
        report.append("overdrafts \(overdrafts) from \(offline) offline admits; bound households×gates×budget = \(bound) per quota window")
        #expect(overdrafts >= 0 && overdrafts <= bound)
        print("FAULTS: " + report.joined(separator: "; "))
    }

    /// Waits until central holds every durable record of each kiosk, then checks density, chains
    /// and integrity. Returns a line for the report.
    func settle(_ city: City, _ phase: String) async throws -> String {
        var counts: [String] = []
        for g in ["gA", "gB"] {
            let dir = city.kiosks[g]!.dir + "/data/log"
            var end: UInt64 = 0
            try await waitFor("\(phase): \(g) drained", 90) {
                let recs = try LogCursor(directory: dir, from: 1).next(limit: 1_000_000)
                end = recs.last?.seq ?? 0
                return try city.ackedSeq(g) >= Int64(end) && end > 0
            }
            let recs = try LogCursor(directory: dir, from: 1).next(limit: 1_000_000, upTo: end)
            let rows = try city.psql("SELECT seq || ':' || encode(chain, 'hex') FROM events WHERE gate = '\(g)' AND seq <= \(end) ORDER BY seq")
            let central = rows.split(separator: "\n").map(String.init)
            let kiosk = recs.map { "\($0.seq):" + Wire.hex($0.chain) }
            #expect(central.count == kiosk.count, "\(phase): \(g) central holds \(central.count) of \(kiosk.count)")
            #expect(central == kiosk, "\(phase): \(g) records differ from the kiosk's")
            #expect(try city.psql("SELECT COUNT(*) = MAX(seq) FROM events WHERE gate = '\(g)'") == "t")
            counts.append("\(g) \(kiosk.count)")
        }
        let findings = try city.psql("SELECT string_agg(message, '; ') FROM integrity_findings")
        #expect(try city.psql("SELECT COUNT(*) FROM gates WHERE integrity IS NOT NULL") == "0", "\(phase): \(findings)")
        return "\(phase): " + counts.joined(separator: ", ") + " records, all at central once"
    }
}
