// swift-tools-version:6.1
// Benchmarks for Postern, kept out of the main package so its tests never pay for them.
//   swift package --package-path Benchmarks benchmark          (ordo-one/benchmark suites)
//   scripts/bench.sh                                           (ratios against raw baselines)
import PackageDescription

/// Products of the main package, by name.
func postern(_ names: String...) -> [Target.Dependency] { names.map { .product(name: $0, package: "postern") } }
/// A kiosk's modules: what BenchSupport and every executable below imports.
let kiosk = postern("EventLog", "GateCore", "GateStore", "GateDaemon", "Devices")

let package = Package(
    name: "PosternBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "postern", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // What the benchmark executables below share: figures (percentiles, ms), the bench kiosk
        // (config, pty devices, passages, relay stamps, one-resident data directory, its registry
        // at central), a loopback HTTP client with SSE viewers, and process helpers.
        .target(name: "BenchSupport", dependencies: kiosk + postern("CentralWire")),
        .executableTarget(
            name: "PosternBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "benchmark")] + postern("EventLog", "GateCore"),
            path: "Benchmarks/PosternBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(name: "ratios", dependencies: ["BenchSupport"] + kiosk),
        // The central plane (issue 13): ingest vs raw COPY, registry fan-out, claim latency,
        // scan→relay with the uplink on vs off. Starts its own throwaway PostgreSQL.
        .executableTarget(
            name: "central-ratios",
            dependencies: ["BenchSupport"] + kiosk + postern("CentralServer", "CentralStore", "CentralWire", "Uplink", "KioskUplink") + [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The live view through central: decision at a kiosk → SSE viewer of central's web front
        // (paired with the kiosk's own), and 1,000 viewers of one community.
        .executableTarget(
            name: "central-webbench",
            dependencies: ["BenchSupport"] + kiosk + postern("CentralServer", "CentralStore", "CentralWire", "KioskUplink", "KioskWeb", "PosternWeb") + [
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // Live view delivery: decision → SSE client, one viewer and many.
        .executableTarget(name: "webbench", dependencies: ["BenchSupport"] + kiosk + postern("PosternWeb", "KioskWeb")),
    ]
)
