/// `postern-city`: the central plane on one machine, as a demo (scripts/city-demo.sh). A throwaway
/// PostgreSQL, `postern-central`, and three `postern serve` kiosks on simulated devices — two
/// gates of one community and one gate of another — then a crowd that crosses gates: the
/// household's second shopper at the other gate, a single-entry visitor trying both gates, an
/// isolation set at central. Each passage prints as central stores it; at the end, the
/// district's seven counts.
import CentralWire
import CityHarness
import Foundation
import GateCore
import Photos

var duration = 40.0
var keep = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--duration": duration = Double(args.popFirst() ?? "") ?? duration
    case "--keep": keep = true
    case "-h", "--help":
        print("usage: postern-city [--duration SECONDS] [--keep]   (run scripts/city-demo.sh to build first)")
        exit(0)
    default:
        FileHandle.standardError.write(Data("postern-city: unknown argument \(a)\n".utf8))
        exit(2)
    }
}

/// The checkout the binary was built in (it holds scripts/pg-cluster.sh), else the working directory.
let repo: String = {
    var u = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while u.path != "/" {
        u.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: u.path + "/scripts/pg-cluster.sh") { return u.path }
    }
    return FileManager.default.currentDirectoryPath
}()
let root = NSTemporaryDirectory() + "postern-city-\(getpid())"
nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []
func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

// Ctrl-C or SIGTERM: stop every process this demo started, then exit.
nonisolated(unsafe) var running: City?
for sig in [SIGINT, SIGTERM] {
    signal(sig, SIG_IGN)
    let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    src.setEventHandler {
        running?.stop()
        if !keep { try? FileManager.default.removeItem(atPath: root) }
        exit(130)
    }
    src.resume()
    signalSources.append(src)
}
do {
    say("· PostgreSQL (throwaway cluster in \(root)/pg) and postern-central …")
    let city = try City(root: root, repo: repo)
    running = city
    defer {
        city.stop()
        if !keep { try? FileManager.default.removeItem(atPath: root) }
    }
    try city.organise(communities: ["c1", "c2"])
    let now = Timestamp(Date().timeIntervalSince1970)
    var passes: [String: String] = [:]
    var c1: [GateEvent] = [city.keyChange()], c2: [GateEvent] = [city.keyChange()]
    let origins: [Origin] = [.local, .local, .hubei, .wuhan, .otherProvince, .returnee]
    for i in 0..<16 {
        let c = i < 10 ? "c1" : "c2"
        let hh = "\(i / 2 + 1)-1-101"  // two residents per household
        let r = Resident(id: "r\(i)", name: ["张", "李", "王", "赵", "刘", "陈"][i % 6] + "某\(i)", sex: i % 2 == 0 ? .male : .female, idNumber: City.idNumber(i), household: hh, address: Address(building: String(i / 2 + 1), unit: "1", room: "101"), origin: origins[i % 6], rental: i % 5 == 0)
        let (p, change) = try city.issuePass(person: "r\(i)", kind: .resident, household: hh)
        passes["r\(i)"] = p
        if c == "c1" { c1 += [City.change("resident", "r\(i)", r), change] } else { c2 += [City.change("resident", "r\(i)", r), change] }
    }
    let v = Visitor(id: "v1", name: "孙丽", idNumber: City.idNumber(90), phone: "13800000000", hostHousehold: "1-1-101", reason: "care for a parent", approver: "s1", validFrom: now - 60, validUntil: now + 86_400, maxEntries: 1)
    let (vp, vc) = try city.issuePass(person: "v1", kind: .visitor, household: "1-1-101")
    passes["v1"] = vp
    c1 += [City.change("visitor", "v1", v), vc]
    try city.registry("c1", c1)
    try city.registry("c2", c2)
    // Photos kept by central for the live view (placeholder faces: the demo has no real ones).
    for i in 0..<16 {
        let file = root + "/photo-r\(i).png"
        try Data(try Photo.encode(rgb: Photo.sample(seed: i), width: 240, height: 320, png: true)).write(to: URL(fileURLWithPath: file))
        _ = try city.centralCLI(["photo", "--community", i < 10 ? "c1" : "c2", "--actor", "city-demo", "r\(i)", file])
    }
    // Accounts for the live view: an operator of c1 (the guard room) and the street supervisor
    // of both communities (masked names, no photos).
    let webPassword = ProcessInfo.processInfo.environment["POSTERN_CITY_WEB_PASSWORD"] ?? "city-demo-password"
    _ = try city.centralCLI(["account", "op-c1", "--role", "operator", "--scope", "c1"], env: ["POSTERN_PASSWORD": webPassword])
    _ = try city.centralCLI(["account", "sup", "--role", "street_supervisor", "--scope", "street0"], env: ["POSTERN_PASSWORD": webPassword])
    say("· central's live view: \(city.webURLs[0])/  (log in as op-c1, operator of c1, or sup, street supervisor over c1 (masked names, no photos); password \(webPassword))")
    say("· PostgreSQL: 127.0.0.1:\(city.pgPort) database postern (user postgres)")
    say("· kiosks: c1/gA and c1/gB (one community, two gates), c2/gC; each enrolled with its own token")
    for (c, g) in [("c1", "gA"), ("c1", "gB"), ("c2", "gC")] { try city.addKiosk(.init(community: c, gate: g)) }
    while city.localResidents("gA") < 10 || city.localResidents("gB") < 10 || city.localResidents("gC") < 6 { usleep(200_000) }
    say("· registries pulled from central; the crowd starts\n")

    // Prints what central stores, in the community's order.
    let printer = Thread {
        var seen: [String: Int64] = ["c1": 0, "c2": 0]
        while !Thread.current.isCancelled {
            for c in ["c1", "c2"] {
                let rows = (try? city.psql("SELECT community_seq || '|' || gate || '|' || COALESCE(lane,'') || '|' || COALESCE(person,'') || '|' || COALESCE(outcome,'') || '|' || COALESCE(reason,'') || '|' || late || '|' || COALESCE(flags_text,'') FROM events WHERE community = '\(c)' AND kind = 'passage' AND community_seq > \(seen[c]!) ORDER BY community_seq")) ?? ""
                for line in rows.split(separator: "\n") {
                    let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    guard f.count >= 8 else { continue }
                    seen[c] = Int64(f[0]) ?? seen[c]!
                    let mark = f[4] == "admit" ? "✓" : "✗"
                    say("  \(c)#\(f[0])  \(f[1])/\(f[2])  \(f[3].padding(toLength: 4, withPad: " ", startingAt: 0)) \(mark) \(f[4]) \(f[5])\(f[6] == "t" ? " (late)" : "")\(f[7].isEmpty ? "" : "  [\(f[7])]")")
                }
            }
            usleep(300_000)
        }
    }
    printer.start()

    let a = city.kiosks["gA"]!, b = city.kiosks["gB"]!, c = city.kiosks["gC"]!
    func step(_ note: String, _ body: () -> Void) {
        say("→ \(note)")
        body()
        usleep(2_500_000)
    }
    step("r0 goes shopping by gate A") { a.pass(passes["r0"]!, direction: .out) }
    step("r1 (same household) tries gate B: the quota is the household's, across gates") { b.pass(passes["r1"]!, direction: .out) }
    step("visitor v1 enters at gate A (single entry)") { a.pass(passes["v1"]!, direction: .in) }
    step("v1 tries again at gate B") { b.pass(passes["v1"]!, direction: .in) }
    step("central sets r3 in home isolation; r3 tries gate B") {
        var r3 = Resident(id: "r3", name: "赵某3", sex: .female, idNumber: City.idNumber(3), household: "2-1-101", address: Address(building: "2", unit: "1", room: "101"), origin: .wuhan)
        r3.quarantineUntil = now + 14 * 86_400
        try? city.registry("c1", [City.change("resident", "r3", r3)])
        usleep(1_500_000)
        b.pass(passes["r3"]!, direction: .out)
    }
    step("r12 crosses at community c2's gate") { c.pass(passes["r12"]!, direction: .out) }
    step("a fever at gate A") { a.pass(passes["r4"]!, direction: .in, celsius: 38.4) }
    say("→ a crowd crosses all gates for \(Int(duration)) s")
    let end = Date().addingTimeInterval(duration)
    var i = 0
    while Date() < end {
        let (k, ids) = [(a, 0..<10), (b, 0..<10), (c, 10..<16)][i % 3]
        k.pass(passes["r\(Int.random(in: ids))"]!, direction: Bool.random() ? .in : .out, celsius: Double.random(in: 36.0...37.0))
        i += 1
        usleep(450_000)
    }
    usleep(3_000_000)
    printer.cancel()
    say("\n" + (try city.centralCLI(["report", "seven", "--district", "hailar"])))
    if keep { say("\nkept: \(root) (PostgreSQL on 127.0.0.1:\(city.pgPort) stopped)") }
} catch {
    FileHandle.standardError.write(Data("postern-city: \(error)\n".utf8))
    exit(3)
}
