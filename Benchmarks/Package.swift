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
