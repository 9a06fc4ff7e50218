import ArgumentParser
import DeviceProtocols
import Crypto
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Event log maintenance.", subcommands: [Verify.self, Salvage.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check framing, sequence, hash chain and signed checkpoints; exit 1 on any problem.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long) var json = false
        func run() async throws {
            try await guarded {
                let dir = global.dataDir + "/log"
                guard FileManager.default.fileExists(atPath: dir) else { throw Exit.io("no event log in \(global.dataDir)") }
                let kioskKey = KioskKey.publicKey(dataDir: global.dataDir)
                let rep = try LogVerifier(directory: dir, keys: { $0 == "kiosk" ? kioskKey : nil }).run()
                if json {
                    let o: [String: Any] = ["ok": rep.ok, "segments": rep.segments, "records": rep.records, "first_seq": rep.firstSeq as Any, "last_seq": rep.lastSeq as Any, "checkpoints_verified": rep.checkpointsVerified, "last_checkpoint_seq": rep.lastCheckpointSeq as Any, "redacted": rep.redacted, "torn_tail_bytes": rep.tornTailBytes, "gaps": rep.gaps, "warnings": rep.warnings, "problems": rep.problems.map(\.description)]
                    outJSON(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    out("\(rep.segments) segment(s), \(rep.records) record(s), seq \(rep.firstSeq ?? 0)…\(rep.lastSeq ?? 0)")
                    out("hash chain checked; \(rep.checkpointsVerified) signed checkpoint(s) verified\(rep.lastCheckpointSeq.map { ", last at seq \($0)" } ?? "")\(kioskKey == nil ? " (no kiosk.pub: checkpoints not checkable)" : "")")
                    if rep.redacted > 0 { out("\(rep.redacted) redacted payload(s) (chain still intact)") }
                    if rep.tornTailBytes > 0 { out("torn tail of \(rep.tornTailBytes) bytes (an interrupted write; cut at the next open, never acknowledged)") }
                    for g in rep.gaps { out("gap recorded: \(g)") }
                    for w in rep.warnings { out("WARNING: \(w)") }
                    for p in rep.problems { out("PROBLEM: \(p)") }
                    if let last = rep.lastCheckpointSeq, let end = rep.lastSeq, end > last { out("\(end - last) record(s) after the last checkpoint are covered by the chain only") }
                }
                if !rep.ok { throw ExitCode(1) }
                if !json { out("ok") }
            }
        }
    }

    struct Salvage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open the log for writing: cut a torn tail, set damaged ranges aside behind gap records, keep every valid record.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await guarded {
                let w = try openForMaintenance(global.dataDir)
                let r = w.recovery
                w.close()
                out("seq \(r.firstSeq)…\(r.lastSeq) in \(r.segments) segment(s); \(r.truncatedBytes) torn byte(s) cut")
                for g in r.gaps { out("set aside: records \(g.lostFrom)…\(g.lostTo) (\(g.reason))" + (g.keptAt.isEmpty ? "" : ", bytes kept in \(g.keptAt)")) }
                for s in r.setAside { out("set aside: \(s)") }
                if r.gaps.isEmpty && r.setAside.isEmpty && r.truncatedBytes == 0 { out("nothing to salvage") }
            }
        }
    }
}

/// Storage maintenance needs the single-writer lock: with the daemon running, say so plainly.
func openForMaintenance(_ dataDir: String) throws -> LogWriter {
    do { return try LogWriter.open(directory: dataDir + "/log") } catch let e as LogError where e.code == .locked {
        throw Exit.io("\(e.message): stop the daemon first (systemctl stop postern)")
    }
}

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove personal data recorded before DATE: log payloads redacted (chain stays verifiable), mirror rows cleared.", discussion: """
        Passage, registry-change and alert events before DATE keep their sequence number, time and
        chain link; their payload becomes its SHA-256, so `postern log verify` still checks the whole
        chain and every signed checkpoint. What the gate's rules still read is kept: the registry in
        force (restated into the log first), admitted passages of the last 31 days (quota windows),
        each person's last admitted passage (anti-passback, courier stays) and visitors' entries
        under a current approval. The ID numbers of people no longer registered are forgotten
        (their ids stay retired). The daemon must be stopped.
        """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "YYYY-MM-DD: data recorded before this day is purged.") var before: String

    func run() async throws {
        try await guarded {
            // Nothing recorded from now on is purged: that keeps the restated registry below.
            let cutoff = min(try parseDay(before) * 1_000_000_000, Int64(Date().timeIntervalSince1970 * 1e9))
            let personal: Set<UInt16> = [GateEvent.Kind.passage.recordType, GateEvent.Kind.registryChange.recordType, GateEvent.Kind.alert.recordType]
            // The registry in force must outlive its redacted history: restate every current
            // entity into the log first (after the cutoff), so `mirror rebuild` recreates it.
            do {
                let w = try openForMaintenance(global.dataDir)
                defer { w.close() }
                let store = try Store.open(dataDir: global.dataDir)
                _ = try store.drainAudit(into: w)
                _ = try store.restateRegistry(actor: "purge")
                _ = try store.drainAudit(into: w)
            }
            // What the rules read stays readable (the same query the kiosk's start replays).
            let keep: Set<UInt64>
            do {
                let store = try Store.open(dataDir: global.dataDir)
                try Mirror(store: store, logDir: global.dataDir + "/log").catchUp()
                keep = try store.historySeqs(since: nowTS() - Store.historyDays * 86_400)
            }
            let n: Int
            do {
                n = try LogRedaction.redact(directory: global.dataDir + "/log", where: { $0.wallNs < cutoff && personal.contains($0.type) && !keep.contains($0.seq) }, damagedRecordedBefore: cutoff)
            } catch let e as LogError where e.code == .locked {
                throw Exit.io("\(e.message): stop the daemon first (systemctl stop postern)")
            }
            let s = try Store.open(dataDir: global.dataDir)
            // Photos go with the people: removed (or expired visitors) before the date. Decided
            // from the mirror before its rows are cleared; their `photo purge` audit events are
            // drained into the log below.
            let photos = try s.purgePhotos(beforeNs: cutoff, actor: "purge")
            try s.db.transaction {
                try s.db.run("UPDATE events SET payload = json_object('kind', kind, 'redacted', 1), person = NULL, household = NULL WHERE wall_ns < ? AND type IN (1, 3, 6) AND seq NOT IN (\(keep.isEmpty ? "-1" : keep.map(String.init).joined(separator: ",")))", [.int(cutoff)])
                try s.forgetRemovedIDNumbers()
            }
            if !photos.isEmpty {
                let w = try openForMaintenance(global.dataDir)
                defer { w.close() }
                _ = try s.drainAudit(into: w)
            }
            out("\(n) record(s) redacted in the log; mirror rows before \(before) cleared of personal data; \(keep.count) passage(s) the gate's rules still read kept; \(photos.count) photo(s) of people removed before \(before) deleted")
        }
    }
}

struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mirror", abstract: "The SQLite mirror.", subcommands: [Rebuild.self])
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recreate the database (events and registry) from the event log.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await guarded {
                // The log must hold every registry change first: take the writer lock and drain.
                let w = try openForMaintenance(global.dataDir)
                defer { w.close() }
                if FileManager.default.fileExists(atPath: global.dataDir + "/postern.db") {
                    _ = try Store.open(dataDir: global.dataDir).drainAudit(into: w)
                }
                let n = try Mirror.rebuild(dataDir: global.dataDir, logDir: global.dataDir + "/log")
                out("rebuilt from \(n) event(s)")
            }
        }
    }
}

/// Hidden helpers for tests that need a real process (SIGKILL).
struct Debug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "debug", shouldDisplay: false, subcommands: [AppendStress.self, LogDigest.self, HidPosReports.self])

    struct HidPosReports: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "hid-pos-reports", abstract: "Write the 64-byte HID-POS reports a Honeywell scanner sends for TEXT to stdout (write them to /dev/hidgN one report per write: dd bs=64).")
        @Argument var text: String
        func run() async throws {
            for r in HidPosDecoder.reports(for: text) { FileHandle.standardOutput.write(Data(r)) }
        }
    }

    struct LogDigest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open the log as the daemon would (recovery included) and print `rec SEQ CRC` for every record.")
        @Option var dataDir: String
        func run() async throws {
            let w = try LogWriter.open(directory: dataDir + "/log")
            let r = w.recovery
            w.close()
            out("recovery truncated=\(r.truncatedBytes) gaps=\(r.gaps.count) last=\(r.lastSeq)")
            let c = LogCursor(directory: dataDir + "/log", from: 1)
            while true {
                let recs = try c.next(limit: 4096)
                if recs.isEmpty { break }
                for rec in recs { out("rec \(rec.seq) \(CRC32C.checksum(rec.payload))") }
            }
        }
    }

    struct AppendStress: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append events from concurrent writers and print each acknowledged sequence number as soon as it is durable.")
        @Option var dataDir: String
        @Option var writers: Int = 8
        @Option var count: Int = 100_000
        func run() async throws {
            let w = try LogWriter.open(directory: dataDir + "/log")
            out("open \(w.recovery.lastSeq)")
            try await withThrowingTaskGroup(of: Void.self) { g in
                for t in 0..<writers {
                    g.addTask {
                        for i in 0..<count {
                            let payload = Array("w\(t) i\(i) ".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: i % 300)
                            let s = try await w.append(type: 1, payload: payload)
                            out("ack \(s) \(CRC32C.checksum(payload))")
                        }
                    }
                }
                try await g.waitForAll()
            }
        }
    }
}
