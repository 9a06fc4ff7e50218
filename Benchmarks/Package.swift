// swift-tools-version:6.1
// Benchmarks for Postern, kept out of the main package so its tests never pay for them.
//   swift package --package-path Benchmarks benchmark          (ordo-one/benchmark suites)
//   scripts/bench.sh                                           (ratios against raw baselines)
import PackageDescription

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
        .executableTarget(
            name: "PosternBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "EventLog", package: "postern"),
                .product(name: "GateCore", package: "postern"),
            ],
            path: "Benchmarks/PosternBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ratios",
            dependencies: [
                .product(name: "EventLog", package: "postern"),
                .product(name: "GateCore", package: "postern"),
                .product(name: "GateStore", package: "postern"),
                .product(name: "GateDaemon", package: "postern"),
                .product(name: "Devices", package: "postern"),
            ]
        ),
        // The central plane (issue 13): ingest vs raw COPY, registry fan-out, claim latency,
        // scan→relay with the uplink on vs off. Starts its own throwaway PostgreSQL.
        .executableTarget(
            name: "central-ratios",
            dependencies: [
                .product(name: "CentralServer", package: "postern"),
                .product(name: "CentralStore", package: "postern"),
                .product(name: "CentralWire", package: "postern"),
                .product(name: "Uplink", package: "postern"),
                .product(name: "KioskUplink", package: "postern"),
                .product(name: "EventLog", package: "postern"),
                .product(name: "GateCore", package: "postern"),
                .product(name: "GateStore", package: "postern"),
                .product(name: "GateDaemon", package: "postern"),
                .product(name: "Devices", package: "postern"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The live view through central: decision at a kiosk → SSE viewer of central's web front
        // (paired with the kiosk's own), and 1,000 viewers of one community.
        .executableTarget(
            name: "central-webbench",
            dependencies: [
                .product(name: "CentralServer", package: "postern"),
                .product(name: "CentralStore", package: "postern"),
                .product(name: "CentralWire", package: "postern"),
                .product(name: "KioskUplink", package: "postern"),
                .product(name: "KioskWeb", package: "postern"),
                .product(name: "PosternWeb", package: "postern"),
                .product(name: "EventLog", package: "postern"),
                .product(name: "GateCore", package: "postern"),
                .product(name: "GateStore", package: "postern"),
                .product(name: "GateDaemon", package: "postern"),
                .product(name: "Devices", package: "postern"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Live view delivery: decision → SSE client, one viewer and many.
        .executableTarget(
            name: "webbench",
            dependencies: [
                .product(name: "EventLog", package: "postern"),
                .product(name: "GateCore", package: "postern"),
                .product(name: "GateStore", package: "postern"),
                .product(name: "GateDaemon", package: "postern"),
                .product(name: "Devices", package: "postern"),
                .product(name: "PosternWeb", package: "postern"),
                .product(name: "KioskWeb", package: "postern"),
            ]
        ),
    ]
)
