import Foundation
import Prometheus
import Synchronization

/// `/metrics` in the Prometheus text format. Names (documented in docs/METRICS.md):
///
/// - from the records the web follows (so the same on a kiosk and at central):
///   `postern_passages_total{lane,direction,outcome,reason}`, `postern_alarms_raised_total{alert}`,
///   `postern_alarms_acknowledged_total`, `postern_device_connected{device}` (1/0),
///   `postern_device_faults_total{device}`;
/// - from the daemon through swift-metrics (GateDaemon): `postern_decision_seconds`,
///   `postern_scan_to_relay_seconds`, `postern_log_append_seconds` (histograms);
/// - sampled at scrape time: `postern_log_batches`, `postern_log_records`,
///   `postern_log_write_sync_seconds` (mean batch size = records / batches),
///   `postern_log_durable_seq`, `process_resident_memory_bytes`;
/// - the web itself: `postern_web_viewers`, `postern_web_events_delivered_total`,
///   `postern_web_logins_total{result}`.
public final class WebMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let samplers: Mutex<[@Sendable (PrometheusCollectorRegistry) -> Void]> = Mutex([])
    let viewerCount = Mutex(0)
    let viewerGauge: Gauge
    let delivered: Counter
    /// Whether the records the live feeds read are counted (passages, alarms, devices). A kiosk's
    /// one feed reads its whole log; central's feeds exist only while a community is watched, so
    /// central counts from its database instead.
    let countsRecords: Bool

    public convenience init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.init(registry: registry, countsRecords: true)
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), countsRecords: Bool) {
        self.registry = registry
        self.countsRecords = countsRecords
        viewerGauge = registry.makeGauge(descriptor: .named("postern_web_viewers", "Open event streams (live view and board)."))
        delivered = registry.makeCounter(descriptor: .named("postern_web_events_delivered_total", "Event frames written to viewers."))
    }

    /// A swift-metrics factory writing into the same registry, for `MetricsSystem.bootstrap`, with
    /// histogram buckets suited to a gate (100 µs … 5 s).
    public func factory() -> PrometheusMetricsFactory {
        var f = PrometheusMetricsFactory(registry: registry)
        let buckets: [Duration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        f.defaultDurationHistogramBuckets = buckets
        return f
    }

    /// Adds a function that sets gauges or counters right before each scrape.
    public func addSampler(_ f: @escaping @Sendable (PrometheusCollectorRegistry) -> Void) {
        samplers.withLock { $0.append(f) }
    }

    func observe(_ records: [LiveRecord]) {
        guard countsRecords else { return }
        for r in records {
            guard let e = r.event else { continue }
            switch e.kind {
            case .passage:
                guard let d = e.decision else { continue }
                registry.makeCounter(
                    descriptor: .named("postern_passages_total", "Passages decided, by lane, direction, outcome and reason."),
                    labels: [
                        ("lane", e.lane ?? ""), ("direction", e.direction?.rawValue ?? ""), ("outcome", d.outcome.rawValue), ("reason", d.reason.rawValue),
                    ]
                ).increment()
            case .alert:
                registry.makeCounter(descriptor: .named("postern_alarms_raised_total", "Alerts raised, by kind."), labels: [("alert", e.alert ?? "")])
                    .increment()
            case .system where e.action == Views.ackAction:
                registry.makeCounter(descriptor: .named("postern_alarms_acknowledged_total", "Alarms acknowledged by an operator.")).increment()
            case .deviceState:
                guard let dev = e.device else { continue }
                registry.makeGauge(descriptor: .named("postern_device_connected", "1 while the device is connected."), labels: [("device", dev)]).set(
                    Int64(e.message?.hasPrefix("connected") == true ? 1 : 0))
            case .deviceFault:
                guard let dev = e.device else { continue }
                registry.makeCounter(descriptor: .named("postern_device_faults_total", "Device faults recorded."), labels: [("device", dev)]).increment()
            default:
                break
            }
        }
    }

    func viewers(delta: Int) {
        let n = viewerCount.withLock { v in
            v += delta
            return v
        }
        viewerGauge.set(Int64(n))
    }

    func deliveredFrames(_ n: Int) { if n > 0 { delivered.increment(by: Int64(n)) } }

    func login(ok: Bool) {
        registry.makeCounter(descriptor: .named("postern_web_logins_total", "Login attempts."), labels: [("result", ok ? "ok" : "refused")]).increment()
    }

    /// The exposition text.
    public func scrape() -> [UInt8] {
        for f in samplers.withLock({ $0 }) { f(registry) }
        registry.makeGauge(descriptor: .named("process_resident_memory_bytes", "Resident set size of this process.")).set(Self.residentBytes())
        return registry.emitToBuffer()
    }

    /// Resident set size from /proc/self/statm (pages × page size).
    public static func residentBytes() -> Int64 {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let f = s.split(separator: " ")
        guard f.count > 1, let pages = Int64(f[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}

extension MetricNameDescriptor {
    /// A metric name with its help text (no namespace or unit suffix: the names are written out).
    public static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
