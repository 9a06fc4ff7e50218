import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The gate's outputs and inputs over one GPIO backend: timed relay pulses, lights, alarm,
/// debounced input edges delivered as `DeviceEvent.input`. All outputs start safe and end safe.
public final class GateIO: @unchecked Sendable {
    let backend: any GpioBackend
    private let lock = NSLock()
    private var outputs: [OutputRole: any OutputLine] = [:]
    private var inputs: [InputRole: any InputLine] = [:]
    private var pulseGeneration: [OutputRole: Int] = [:]
    private var shut = false
    private let queue = DispatchQueue(label: "postern.gpio.timers")
    private var inputThread: Thread?
    private var wake: [Int32] = [-1, -1]
    let debounce: Double
    let sink: DeviceSink

    public init(backend: any GpioBackend, outputs out: [OutputRole: GpioLine], inputs ins: [InputRole: GpioLine], debounceMs: Int = 30, sink: @escaping DeviceSink) throws {
        self.backend = backend
        self.debounce = Double(debounceMs) / 1000
        self.sink = sink
        _ = pipe(&wake)
        do {
            for (role, line) in out.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                outputs[role] = try backend.output(role, line, initial: false)
            }
            for (role, line) in ins {
                let l = try backend.input(role, line) { [weak self] active in self?.edge(role, active) }
                inputs[role] = l
                lastEdge[role] = (l.value() ?? false, 0)
            }
        } catch {
            for o in outputs.values { o.release() }
            for i in inputs.values { i.release() }
            throw error
        }
        if inputs.values.contains(where: { $0.eventFD >= 0 }) {
            let t = Thread { [self] in inputLoop() }
            t.name = "postern-gpio-inputs"
            inputThread = t
            t.start()
        }
    }

    public var backendDescription: String { backend.description }

    public func set(_ role: OutputRole, _ active: Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard !shut, let o = outputs[role] else { return }
        pulseGeneration[role, default: 0] += 1
        do { try o.set(active) } catch { sink(.fault(device: "gpio", message: "\(error)")) }
    }

    /// Activates `role` for `ms` milliseconds; a new pulse during one extends it.
    public func pulse(_ role: OutputRole, ms: Int) {
        lock.lock()
        guard !shut, let o = outputs[role] else {
            lock.unlock()
            return
        }
        pulseGeneration[role, default: 0] += 1
        let gen = pulseGeneration[role]!
        do { try o.set(true) } catch { sink(.fault(device: "gpio", message: "\(error)")) }
        lock.unlock()
        queue.asyncAfter(deadline: .now() + .milliseconds(ms)) { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            if !self.shut, self.pulseGeneration[role] == gen { try? self.outputs[role]?.set(false) }
        }
    }

    public func inputValue(_ role: InputRole) -> Bool? {
        lock.lock()
        defer { lock.unlock() }
        return inputs[role]?.value()
    }

    /// Every output to its safe value, then released. Idempotent.
    public func shutdown() {
        lock.lock()
        if shut {
            lock.unlock()
            return
        }
        shut = true
        for (_, o) in outputs {
            try? o.set(false)
            o.release()
        }
        outputs = [:]
        lock.unlock()
        var b: UInt8 = 1
        _ = Glibc.write(wake[1], &b, 1)
        while inputThread?.isFinished == false { usleep(1000) }
        for i in inputs.values { i.release() }
        inputs = [:]
    }

    deinit { shutdown() }

    private var lastEdge: [InputRole: (Bool, Double)] = [:]

    /// Debounce: an edge counts when the line still reads the new value `debounce` later.
    private func edge(_ role: InputRole, _ active: Bool) {
        let at = wallSeconds()
        queue.asyncAfter(deadline: .now() + debounce) { [weak self] in
            guard let self else { return }
            self.lock.lock()
            let now = self.inputs[role]?.value()
            let last = self.lastEdge[role]?.0
            let ok = !self.shut && now == active && last != active
            if ok { self.lastEdge[role] = (active, at) }
            self.lock.unlock()
            if ok { self.sink(.input(role: role, active: active, at: at)) }
        }
    }

    private func inputLoop() {
        let watched = inputs.filter { $0.value.eventFD >= 0 }
        while true {
            var fds = [pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)] + watched.map { pollfd(fd: $0.value.eventFD, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), 1000)
            lock.lock()
            let done = shut
            lock.unlock()
            if done { return }
            guard n > 0 else { continue }
            for (i, (role, line)) in watched.enumerated() where fds[i + 1].revents != 0 {
                if let v = line.readEdge() { edge(role, v) }
            }
        }
    }
}
