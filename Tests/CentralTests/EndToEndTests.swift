import CentralWire
import CityHarness
import Foundation
import GateCore
import Testing

/// Several real kiosk processes (`postern serve` on simulated devices) of two communities, one
/// with two gates, against a `postern-central` process and a real PostgreSQL.
@Suite("A city end to end", .serialized)
struct EndToEndTests {
    @Test("second shopper denied at the other gate; single-entry visitor admitted at A denied at B; isolation set at central reaches every gate; the district's seven counts and ledger include both communities")
    func city() async throws {
        let root = NSTemporaryDirectory() + "postern-city-e2e-\(UUID().uuidString.prefix(6))"
        let city = try City(root: root, repo: PGCluster.root)
        defer {
            city.stop()
            try? FileManager.default.removeItem(atPath: root)
        }
        try city.organise(communities: ["c1", "c2"])
        let now = Timestamp(Date().timeIntervalSince1970)
        // Registry at central: the pass key, residents (one household of two in c1), a visitor.
        var c1: [GateEvent] = [city.keyChange()]
        var passes: [String: String] = [:]
        let people: [(String, String, String)] = [("r1", "1-1-101", "c1"), ("r2", "1-1-101", "c1"), ("r3", "1-2-201", "c1"), ("r9", "9-1-101", "c2")]
        var c2: [GateEvent] = [city.keyChange()]
        for (i, (id, hh, c)) in people.enumerated() {
            let p = hh.split(separator: "-").map(String.init)
            let r = Resident(id: id, name: "居民\(id)", sex: .male, idNumber: City.idNumber(i), household: hh, address: Address(building: p[0], unit: p[1], room: p[2]), origin: i == 2 ? .wuhan : .local)
            let (payload, passChange) = try city.issuePass(person: id, kind: .resident, household: hh)
            passes[id] = payload
            let changes = [City.change("resident", id, r), passChange]
            if c == "c1" { c1 += changes } else { c2 += changes }
        }
        let v = Visitor(id: "v1", name: "访客", idNumber: City.idNumber(50), phone: "13800000000", hostHousehold: "1-2-201", reason: "care", approver: "s1", validFrom: now - 60, validUntil: now + 86_400, maxEntries: 1)
        let (vp, vpass) = try city.issuePass(person: "v1", kind: .visitor, household: "1-2-201")
        passes["v1"] = vp
        c1 += [City.change("visitor", "v1", v), vpass]
        try city.registry("c1", c1)
        try city.registry("c2", c2)

        try city.addKiosk(.init(community: "c1", gate: "gA"))
        try city.addKiosk(.init(community: "c1", gate: "gB"))
        try city.addKiosk(.init(community: "c2", gate: "gC"))
        // Every kiosk has pulled the registry (its copy at central's version).
        try await waitFor("registries applied", 30) {
            city.localResidents("gA") == 3 && city.localResidents("gB") == 3 && city.localResidents("gC") == 1
        }
        try await Task.sleep(for: .milliseconds(500))

        // 1. The household's second shopper, at the other gate.
        city.kiosks["gA"]!.pass(passes["r1"]!, direction: .out)
        #expect(try city.awaitPassage(gate: "gA", person: "r1", afterSeq: 0).0 == "admit")
        city.kiosks["gB"]!.pass(passes["r2"]!, direction: .out)
        let second = try city.awaitPassage(gate: "gB", person: "r2", afterSeq: 0)
        #expect(second.0 == "deny" && second.1 == "household_quota")

        // 2. A single-entry visitor: admitted at A, denied at B.
        city.kiosks["gA"]!.pass(passes["v1"]!, direction: .in)
        #expect(try city.awaitPassage(gate: "gA", person: "v1", afterSeq: 0).0 == "admit")
        try await Task.sleep(for: .milliseconds(300))
        city.kiosks["gB"]!.pass(passes["v1"]!, direction: .in)
        let again = try city.awaitPassage(gate: "gB", person: "v1", afterSeq: 0)
        #expect(again.0 == "deny" && again.1 == "not_resident")

        // 3. Isolation set at central reaches every gate of the community: the admin verb run
        // with --central by a community admin; the same verb on a kiosk is refused, naming central.
        _ = try city.centralCLI(["account", "admin-c1", "--role", "community_admin", "--scope", "c1"], env: ["POSTERN_PASSWORD": "admin-c1-password"])
        do {
            _ = try city.posternCLI(["quarantine", "set", "r3", "--data-dir", city.kiosks["gA"]!.dir + "/data"])
            Issue.record("a local admin write on a central-managed kiosk was accepted")
        } catch let e as CityError {
            #expect("\(e)".contains("kept at central"))
        }
        let adminDir = root + "/admin"
        let out = try city.posternCLI(["quarantine", "set", "r3", "--central", city.centralURLs[0], "--central-community", "c1", "--central-account", "admin-c1", "--data-dir", adminDir], env: ["POSTERN_PASSWORD": "admin-c1-password"])
        #expect(out.contains("written at central"))
        // A community admin of c1 cannot write c2's registry.
        #expect(throws: CityError.self) { _ = try city.posternCLI(["lockdown", "set", "compound", "--central", city.centralURLs[0], "--central-community", "c2", "--central-account", "admin-c1", "--data-dir", adminDir], env: ["POSTERN_PASSWORD": "admin-c1-password"]) }
        try await Task.sleep(for: .milliseconds(1500))
        city.kiosks["gA"]!.pass(passes["r3"]!, direction: .out)
        let qa = try city.awaitPassage(gate: "gA", person: "r3", afterSeq: 0)
        city.kiosks["gB"]!.pass(passes["r3"]!, direction: .out)
        let qb = try city.awaitPassage(gate: "gB", person: "r3", afterSeq: 0)
        #expect(qa.1 == "quarantined" && qb.1 == "quarantined")

        // c2's resident passes at c2's gate, and c1's pass means nothing there.
        city.kiosks["gC"]!.pass(passes["r9"]!, direction: .out)
        #expect(try city.awaitPassage(gate: "gC", person: "r9", afterSeq: 0).0 == "admit")

        // 4. The district's seven counts and ledger cover both communities.
        let seven = try city.centralCLI(["report", "seven", "--district", "hailar", "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(seven.utf8)) as! [String: Any]
        #expect((obj["communities"] as? [String])?.sorted() == ["c1", "c2"])
        #expect(obj["households"] as? Int == 3)
        #expect(obj["wuhan"] as? Int == 1)
        #expect(obj["isolatedNow"] as? Int == 1)
        #expect((obj["passagesOut"] as? Int ?? 0) >= 2)
        #expect((obj["gates"] as? [[String: Any]])?.count == 3)
        let ledger = try city.centralCLI(["ledger", "--district", "hailar", "--format", "csv"])
        #expect(ledger.contains(",c1,gA,") && ledger.contains(",c2,gC,"))
        #expect(ledger.contains("complete through"))
        #expect(!ledger.contains("居民r1"))  // masked by default
        // Nothing lost or repeated: central holds each kiosk's log densely up to its end.
        try await Task.sleep(for: .seconds(1))
        for g in ["gA", "gB", "gC"] {
            #expect(try city.psql("SELECT COUNT(*) = MAX(seq) AND MIN(seq) = 1 FROM events WHERE gate = '\(g)'") == "t")
        }
    }
}

func waitFor(_ what: String, _ seconds: Double, _ cond: () throws -> Bool) async throws {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if try cond() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out waiting for \(what)")
    throw CityError.failed("timed out waiting for \(what)")
}
