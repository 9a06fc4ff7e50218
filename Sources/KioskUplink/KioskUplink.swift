import CentralWire
import Devices
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore
import Logging
import ServiceLifecycle
import Uplink

/// The kiosk's link to central (issue 13), installed into the daemon by the `postern`
/// executable: `KioskUplink.install()` before serving.
public enum KioskUplink {
    public static func install() {
        CentralUplinkFactory.make = { kiosk in try kiosk.makeUplink() }
        CentralAdminHooks.install()
    }
}

/// Claims at central with the bounded wait, and the offline budget when central does not answer.
final class CentralCrossGate: CrossGateHook {
    let claimer: Claimer
    let budget: Shared<CrossGate.OfflineBudget>

    init(claimer: Claimer, budget: CrossGate.OfflineBudget) {
        self.claimer = claimer
        self.budget = Shared(budget)
    }

    func review(_ actions: [Lane.Action], lane: String, registry: RegistrySnapshot, rules: RulesConfig, now: Timestamp) async -> [Lane.Action] {
        // Each decision with the outputs that follow it, settled one by one.
        var out: [Lane.Action] = []
        var segment: [Lane.Action] = []
        func flush() async {
            defer { segment = [] }
            guard case .decided(let d, let s)? = segment.first,
                  let claim = CrossGate.claim(for: d, direction: s.direction, registry: registry, config: rules, at: now)
            else { return out += segment }
            let result = await claimer.claim(claim, lane: lane, at: now)
            let seg = segment
            out += budget.update { CrossGate.settle(seg, claim: claim, result: result, budget: &$0, at: now) }
        }
        for a in actions {
            if case .decided = a, !segment.isEmpty { await flush() }
            segment.append(a)
        }
        await flush()
        return out
    }
}

/// The kiosk's link to central, run as a service of the daemon: ships the log, pulls the
/// registry, follows the other gates' passages, and alerts when the registry copy goes stale.
struct UplinkService: Service {
    let kiosk: Kiosk
    let link: CentralLink
    let client: CentralClient
    let community: String

    func run() async throws {
        let logger = kiosk.kioskLogger
        let shipper = EventShipper(client: client, logDir: kiosk.logDir, durableSeq: { [writer = kiosk.writer] in writer.durableSeq }, logger: logger)
        let puller = try RegistryPuller(client: client, dataDir: kiosk.config.dataDir, logger: logger)
        let peers = PeerFollower(client: client, logger: logger)
        let store = try Store.open(dataDir: kiosk.config.dataDir)
        let feed = kiosk.inputFeed
        let selfGate = kiosk.config.gate
        kiosk.uplinkProbe.set { [writer = kiosk.writer] in
            let s = shipper.status.get()
            let durable = writer.durableSeq
            return UplinkReading(
                ackedSeq: s.ackedSeq, backlog: durable > s.ackedSeq ? durable - s.ackedSeq : 0, batches: s.batches, records: s.records,
                failing: s.lastError != nil || s.integrity != nil || puller.status.get().lastError != nil)
        }
        defer { kiosk.uplinkProbe.set(nil) }
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await shipper.run(wakeups: kiosk.writer.durableUpdates()) }
            g.addTask { await puller.run(community: community, store: store) }
            g.addTask {
                await peers.run { ps in
                    let mine = ps.filter { $0.gate != selfGate }
                    if !mine.isEmpty { feed.yield(.peers(mine)) }
                }
            }
            g.addTask {
                // Staleness: one alert when the copy passes the limit, another when it recovers.
                var alerted = false
                let started = Date().timeIntervalSince1970
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(min(30, max(1, link.registryStaleSeconds / 10))))
                    // The store's confirmation time: the one tail, reports, /metrics and the live view show.
                    let confirmed = (try? store.centralState()?.appliedAt).flatMap { $0 }.map(Double.init) ?? started
                    let age = Date().timeIntervalSince1970 - confirmed
                    if age > Double(link.registryStaleSeconds), !alerted {
                        alerted = true
                        var e = GateEvent(kind: .alert, at: wallSeconds())
                        e.alert = "registry_stale"
                        e.message = "registry not confirmed by central for \(Int(age)) s (limit \(link.registryStaleSeconds) s); deciding from the local copy"
                        _ = try? await kiosk.journal.append(e)
                        logger.warning("ALERT registry_stale: \(e.message!)")
                    } else if age <= Double(link.registryStaleSeconds), alerted {
                        alerted = false
                        logger.notice("registry confirmed by central again")
                    }
                }
            }
            try? await gracefulShutdown()
            g.cancelAll()
        }
        await client.shutdown()
    }
}


extension Kiosk {
    /// Prepares the uplink for `[central]`: reads the token, marks the registry as central's,
    /// and installs the claim hook before any passage is decided. Returns the service.
    func makeUplink() throws -> (any Service)? {
        guard let link = config.central else { return nil }
        let token = try CentralClient.readToken(link.tokenFile)
        let client = try CentralClient(link: link, token: token)
        let community = Self.community(ofToken: token) ?? "?"
        try store.setCentral(url: link.urls.first ?? "", community: community, now: Timestamp(Date().timeIntervalSince1970))
        controller.crossGate.set(CentralCrossGate(claimer: Claimer(client: client), budget: try Self.offlineBudget(store: store, perWindow: link.offlineBudget, rules: config.rules)))
        return UplinkService(kiosk: self, link: link, client: client, community: community)
    }

    /// The offline budget as the log left it: admits this gate made without central in the last
    /// quota window (and under visitors' approvals) count again after a restart.
    static func offlineBudget(store: Store, perWindow: Int, rules: RulesConfig) throws -> CrossGate.OfflineBudget {
        var b = CrossGate.OfflineBudget(perWindow: perWindow)
        let since = Int64(Date().timeIntervalSince1970) - Int64(max(rules.quotaDays, 1)) * 86_400 - 86_400
        let rows = try store.db.query("SELECT payload FROM events WHERE kind = 'passage' AND outcome = 'admit' AND wall_ns >= ? AND payload LIKE '%offline_budget%' ORDER BY seq", [.int(since * 1_000_000_000)]) { $0.text(0) }
        let registry = try store.snapshot()
        for text in rows {
            guard let e = try? JSONDecoder().decode(GateEvent.self, from: Data(text.utf8)), let d = e.decision, d.flags.contains(CrossGate.Flag.offline), let dir = e.direction else { continue }
            var undecided = d
            undecided.flags.removeAll { $0 == CrossGate.Flag.offline }
            if let c = CrossGate.claim(for: undecided, direction: dir, registry: registry, config: rules, at: Timestamp(e.at)) { b.spend(c, at: Timestamp(e.at)) }
        }
        return b
    }

    /// Tokens look like `pst1.COMMUNITY.GATE.SECRET`.
    static func community(ofToken t: String) -> String? {
        let p = t.split(separator: ".")
        return p.count == 4 && p[0] == "pst1" ? String(p[1]) : nil
    }
}

