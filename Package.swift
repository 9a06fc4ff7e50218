// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "postern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "postern", targets: ["postern"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "GateCore", targets: ["GateCore"]),
        .library(name: "GateStore", targets: ["GateStore"]),
        .library(name: "GateDaemon", targets: ["GateDaemon"]),
        .library(name: "Devices", targets: ["Devices"]),
        .library(name: "Photos", targets: ["Photos"]),
        .library(name: "PosternWeb", targets: ["PosternWeb"]),
        .library(name: "KioskWeb", targets: ["KioskWeb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"4.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        // C shims: the only places that see kernel structs Swift cannot import cleanly.
        .target(name: "CSysShim"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CQRencode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0", providers: [.apt(["libusb-1.0-0-dev"])]),
        .target(
            name: "CGpiodShim",
            linkerSettings: [.linkedLibrary("gpiod")]
        ),

        .target(
            name: "EventLog",
            dependencies: ["CSysShim", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "GateCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "DeviceProtocols"),
        .target(
            name: "Devices",
            dependencies: ["DeviceProtocols", "CSysShim", "CGpiodShim", "CLibUSB"]
        ),
        .target(
            name: "GateStore",
            dependencies: ["GateCore", "EventLog", "CSQLite", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Photos: decoded with limits and re-encoded by libjpeg/libpng through a small C shim.
        .target(name: "CImageShim", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "Photos", dependencies: ["CImageShim", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "PassCards", dependencies: ["CQRencode", "GateCore"]),
        // The web front (live view, board, ledger, metrics) over an event source: the kiosk's log
        // today, central's per-community sequence later.
        .target(
            name: "PosternWeb",
            dependencies: [
                "GateCore", "EventLog", "GateStore", "Photos",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The kiosk's side of the web front: its log, registry and devices as a LiveSource, and
        // the server as one more service in the kiosk's ServiceGroup.
        .target(
            name: "KioskWeb",
            dependencies: [
                "GateDaemon", "PosternWeb", "GateStore", "EventLog", "GateCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "GateDaemon",
            dependencies: [
                "GateCore", "EventLog", "GateStore", "DeviceProtocols", "Devices", "CSysShim", "Photos",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "postern",
            dependencies: [
                "GateDaemon", "GateCore", "GateStore", "EventLog", "Devices", "DeviceProtocols", "PassCards", "Photos", "PosternWeb", "KioskWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Fuzz harness: a corpus replayer in normal builds; a libFuzzer binary when scripts/fuzz.sh
        // builds it with -DPOSTERN_FUZZ -sanitize=fuzzer,address.
        .executableTarget(
            name: "PosternFuzz",
            dependencies: ["DeviceProtocols", "EventLog", "GateCore", "GateDaemon", "GateStore", "Photos"]
        ),
        .target(name: "GateTestSupport", dependencies: ["Devices", "DeviceProtocols", "EventLog", "CSysShim"]),

        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "GateTestSupport"]),
        .testTarget(name: "GateCoreTests", dependencies: ["GateCore"]),
        .testTarget(
            name: "PosternWebTests",
            dependencies: [
                "PosternWeb", "KioskWeb", "Photos", "GateDaemon", "GateCore", "GateStore", "EventLog", "GateTestSupport", "Devices",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DeviceProtocolsTests", dependencies: ["DeviceProtocols"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "DeviceProtocols", "GateTestSupport"]),
        .testTarget(name: "GateStoreTests", dependencies: ["GateStore", "GateCore", "EventLog"]),
        .testTarget(
            name: "GateDaemonTests",
            dependencies: [
                "GateDaemon", "GateCore", "EventLog", "GateStore", "GateTestSupport", "Photos", "PosternWeb", "KioskWeb",
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
    ]
)
