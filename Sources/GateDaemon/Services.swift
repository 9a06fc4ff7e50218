import EventLog
import Foundation
import GateCore
import Logging
import ServiceLifecycle
import UnixSignals
import Devices

/// The decision loop: feeds the controller every input in arrival order. A failed log write ends
/// the service with an error, so the daemon exits and systemd restarts it (reopening re-verifies
/// the tail); nothing is acknowledged or opened after a failed write.
struct LaneService: Service {
    let kiosk: Kiosk
    func run() async throws {
        for await input in kiosk.inputs.cancelOnGracefulShutdown() {
            do {
                try await kiosk.controller.handle(input)
            } catch {
                kiosk.logger.critical("gate stopped: \(error)")
                for io in kiosk.io.values {
                    io.set(.relay, false)
                    io.set(.red, true)
                }
                throw error
            }
        }
        // Graceful shutdown: passages still waiting go into the log before the writer closes.
        do {
            try await kiosk.controller.stopLanes()
        } catch {
            kiosk.logger.error("could not record the passages pending at shutdown: \(error)")
        }
    }
}

struct TickService: Service {
    let kiosk: Kiosk
    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            kiosk.feed.yield(.tick)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(kiosk.options.tickInterval * 1000))) }
        }
    }
}

/// Devices and GPIO: started here; on shutdown every device stops and every output goes safe.
struct DeviceService: Service {
    let kiosk: Kiosk
    func run() async throws {
        for d in kiosk.devices { d.start() }
        // USB hotplug: a configured vendor:product arriving wakes its device at once.
        var byID: [UsbHotplug.USBID: [SerialDevice]] = [:]
        for (cfg, dev) in zip(kiosk.config.devices, kiosk.devices) {
            if let id = cfg.usb.flatMap(UsbHotplug.USBID.init) { byID[id, default: []].append(dev) }
        }
        var hotplug: UsbHotplug?
        if !byID.isEmpty {
            let targets = byID
            let logger = kiosk.logger
            let (h, why) = UsbHotplug.start(watching: Set(byID.keys)) { change in
                if case .arrived(let id) = change {
                    logger.info("USB \(id) arrived; reopening its device")
                    // Give udev a moment to make the /dev/postern/ link, then retry at once.
                    DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { for d in targets[id] ?? [] { d.wake() } }
                }
            }
            hotplug = h
            if let why { kiosk.logger.notice("USB hotplug unavailable (\(why)); devices are retried periodically") }
        }
        try? await gracefulShutdown()
        hotplug?.stop()
        for d in kiosk.devices { d.stop() }
        for io in kiosk.io.values { io.shutdown() }
    }
}

/// Follows the durable end of the log into SQLite, at its own pace.
struct MirrorService: Service {
    let kiosk: Kiosk
    func run() async throws {
        for await durable in kiosk.writer.durableUpdates().cancelOnGracefulShutdown() {
            do { try kiosk.mirror.catchUp(upTo: durable) } catch {
                kiosk.logger.error("mirror: \(error); retrying on the next append")
            }
        }
        try? kiosk.mirror.catchUp(upTo: kiosk.writer.durableSeq)
    }
}

/// Picks up registry changes made by admin commands (SQLite data_version) within a poll interval,
/// moves their audit events into the log, and hands the controller a fresh snapshot.
struct RegistryService: Service {
    let kiosk: Kiosk
    func run() async throws {
        var version = (try? kiosk.registryStore.db.dataVersion()) ?? 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Waits in short steps against the interval in force, so a reload of
            // `registry_poll_ms` applies at once, even from a long wait.
            let start = monoSeconds()
            while !Task.isShuttingDownGracefully && !Task.isCancelled && (monoSeconds() - start) * 1000 < Double(kiosk.config.registryPollMs) {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(min(kiosk.config.registryPollMs, 100))) }
            }
            guard let v = try? kiosk.registryStore.db.dataVersion(), v != version else { continue }
            version = v
            do {
                let moved = try kiosk.registryStore.drainAudit(into: kiosk.writer)
                let snap = try kiosk.registryStore.snapshot(extraKeys: kiosk.config.keys)
                kiosk.feed.yield(.registry(snap))
                if moved > 0 { kiosk.logger.info("registry changed: \(moved) audit event(s) logged") }
            } catch {
                kiosk.logger.error("registry reload failed, keeping the previous snapshot: \(error)")
            }
        }
    }
}

/// SIGHUP: re-read the config; a valid file takes effect between passages, an invalid one is
/// rejected and logged and the old config stays.
struct ReloadService: Service {
    let kiosk: Kiosk
    let enabled: Bool
    func run() async throws {
        guard enabled, let path = kiosk.configPath else {
            try? await gracefulShutdown()
            return
        }
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            kiosk.options.notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(UInt64(monoSeconds() * 1_000_000))")
            do {
                let (c, hash) = try KioskConfig.load(path: path)
                try c.checkServable(file: path)
                kiosk.feed.yield(.config(c, hash: hash))
            } catch {
                kiosk.logger.error("config reload rejected, keeping the running config:\n\(error)")
                kiosk.feed.yield(.configRejected("\(error)"))
            }
            kiosk.options.notifier.notify("READY=1")
        }
    }
}

/// Deletes old log segments per `[log] retention_days` / `retention_max_mb` (read from the config
/// in force at each pass, so a reload applies at the next pass; at most a minute away), never any
/// the mirror has not consumed yet.
struct RetentionService: Service {
    let kiosk: Kiosk
    func run() async throws {
        var lastPass = -Double.infinity
        var lastSettings: (Int, Int)?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let c = kiosk.config
            let policy = RetentionPolicy(maxAgeSeconds: c.retentionDays > 0 ? Int64(c.retentionDays) * 86_400 : nil, maxBytes: c.retentionMaxMB > 0 ? c.retentionMaxMB << 20 : nil)
            let changed = lastSettings.map { $0 != (c.retentionDays, c.retentionMaxMB) } ?? true
            let due = (policy.maxAgeSeconds != nil || policy.maxBytes != nil) && (changed || monoSeconds() - lastPass >= 3600)
            lastSettings = (c.retentionDays, c.retentionMaxMB)
            if !due {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(kiosk.options.servicePollSeconds)) }
                continue
            }
            lastPass = monoSeconds()
            do {
                let mirrored = try kiosk.registryStore.db.query("SELECT last_seq FROM mirror_cursor WHERE id = 1") { UInt64($0.int(0)) }.first ?? 0
                let gone = try kiosk.writer.applyRetention(policy, keepFrom: mirrored + 1, nowNs: Int64(Date().timeIntervalSince1970 * 1e9))
                if !gone.isEmpty { kiosk.logger.notice("retention removed \(gone.count) segment(s): \(gone.joined(separator: ", "))") }
            } catch {
                kiosk.logger.error("retention: \(error)")
            }
        }
    }
}

/// Signs (sequence, chain hash, gap records since the last checkpoint) with the kiosk key at start
/// and every `checkpoint_hours` after the last one — the interval in force is read at each poll,
/// so a reload applies at once.
struct CheckpointService: Service {
    let kiosk: Kiosk
    func run() async throws {
        var last = -Double.infinity
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if monoSeconds() - last >= Double(kiosk.config.checkpointHours * 3600) {
                last = monoSeconds()
                do {
                    let key = kiosk.kioskKey
                    try await kiosk.writer.appendCheckpoint(keyID: "kiosk", key: key)
                } catch {
                    kiosk.logger.error("checkpoint failed: \(error)")
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(kiosk.options.servicePollSeconds)) }
        }
    }
}

/// WATCHDOG=1 only while the decision loop's heartbeat is fresh; STATUS lines with counts.
struct NotifierService: Service {
    let kiosk: Kiosk
    func run() async throws {
        let n = kiosk.options.notifier
        let interval = n.watchdogInterval ?? 5
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) }
            let last = await kiosk.controller.lastTick
            let decisions = await kiosk.controller.decisions
            if n.watchdogInterval != nil && monoSeconds() - last < max(2, interval) { n.notify("WATCHDOG=1") }
            n.notify("STATUS=\(decisions) decisions, log at seq \(kiosk.writer.durableSeq)")
        }
    }
}

/// 宣传广播: plays each scheduled announcement once a day, when the gate has been quiet, and
/// records it (or its skip) in the log. Reads the config in force, so a reload applies.
struct AnnouncementService: Service {
    let kiosk: Kiosk
    func run() async throws {
        var day = ""
        var done: Set<Int> = []
        var items: [Announcement] = []
        var started = false
        let announcer = kiosk.controller.announcer
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let s = kiosk.config.announcements
            if s.items != items {
                items = s.items
                done = []
            }
            let now = Date()
            let c = Calendar.current.dateComponents([.year, .month, .day, .hour, .minute], from: now)
            let today = "\(c.year ?? 0)-\(c.month ?? 0)-\(c.day ?? 0)"
            if today != day {
                day = today
                done = []
            }
            let minute = (c.hour ?? 0) * 60 + (c.minute ?? 0)
            if done.isEmpty, !s.items.isEmpty, day == today, !started {
                // At start: what is already past its late window is not played, nor logged as
                // skipped again.
                done = Set(s.items.indices.filter { minute - s.items[$0].minute >= s.lateMinutes })
                started = true
            }
            let quiet = now.timeIntervalSince1970 - (await kiosk.controller.lastActivity)
            switch AnnouncementPlan.next(s, minute: minute, done: done, quietFor: quiet, playing: announcer.playing) {
            case .play(let i):
                done.insert(i)
                let a = s.items[i]
                let command = a.file.map { kiosk.config.soundPlayer + [$0] } ?? (s.speaker + [a.text ?? ""])
                let started = announcer.play(command, logger: kiosk.logger)
                var e = GateEvent(kind: .system, at: now.timeIntervalSince1970)
                e.action = started ? "announcement" : "announcement_failed"
                e.key = String(format: "%02d:%02d", a.minute / 60, a.minute % 60)
                e.message = a.file.map { "file \($0)" } ?? "text \(a.text ?? "")"
                _ = try? await kiosk.journal.append(e)
            case .skip(let i):
                done.insert(i)
                let a = s.items[i]
                var e = GateEvent(kind: .system, at: now.timeIntervalSince1970)
                e.action = "announcement_skipped"
                e.key = String(format: "%02d:%02d", a.minute / 60, a.minute % 60)
                e.message = "no quiet moment within \(s.lateMinutes) min"
                _ = try? await kiosk.journal.append(e)
                kiosk.logger.notice("announcement \(e.key!) skipped: the gate was busy for \(s.lateMinutes) min")
            case .wait, .idle:
                break
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
        }
        announcer.interrupt()
    }
}
