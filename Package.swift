// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "postern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "postern", targets: ["postern"]),
        .executable(name: "postern-central", targets: ["postern-central"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "GateCore", targets: ["GateCore"]),
        .library(name: "GateStore", targets: ["GateStore"]),
        .library(name: "GateDaemon", targets: ["GateDaemon"]),
        .library(name: "Devices", targets: ["Devices"]),
        .library(name: "Photos", targets: ["Photos"]),
        .library(name: "PosternWeb", targets: ["PosternWeb"]),
        .library(name: "KioskWeb", targets: ["KioskWeb"]),
        .library(name: "CentralWire", targets: ["CentralWire"]),
        .library(name: "CentralStore", targets: ["CentralStore"]),
        .library(name: "CentralServer", targets: ["CentralServer"]),
        .library(name: "Uplink", targets: ["Uplink"]),
        .library(name: "KioskUplink", targets: ["KioskUplink"]),
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
        // The central plane (issue 13): only `postern-central` links the database client.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
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
        // The project's TOML reader, shared by the kiosk's config and central's (its file stays where
        // the kiosk's config code expects it).
        .target(name: "TOMLReader", path: "Sources/GateDaemon/TOML"),
        // What kiosk and central say to each other over HTTP: plain Codable values, no I/O.
        .target(name: "CentralWire", dependencies: ["GateCore"]),
        // The kiosk's side of the central plane: event upload, registry pull, quota claims.
        .target(
            name: "Uplink",
            dependencies: [
                "CentralWire", "GateCore", "EventLog", "GateStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Central's store: PostgreSQL schema, migrations, ingest, registry versions, claims, reports.
        .target(
            name: "CentralStore",
            dependencies: [
                "CentralWire", "GateCore", "EventLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Central's HTTP service and config.
        .target(
            name: "CentralServer",
            dependencies: [
                "CentralStore", "CentralWire", "GateCore", "TOMLReader", "CSysShim", "PosternWeb", "GateStore", "EventLog",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "postern-central",
            dependencies: [
                "CentralServer", "CentralStore", "CentralWire", "GateCore", "Photos",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A city on one machine (PostgreSQL, postern-central and kiosk processes on simulated
        // devices): the end-to-end tests and the city demo.
        .target(
            name: "CityHarness",
            dependencies: [
                "CentralStore", "CentralWire", "GateCore", "Devices",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .executableTarget(name: "postern-city", dependencies: ["CityHarness", "CentralWire", "GateCore", "Photos"]),
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
                "GateCore", "EventLog", "GateStore", "DeviceProtocols", "Devices", "CSysShim", "Photos", "TOMLReader", "CentralWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            exclude: ["TOML"]
        ),
        // The kiosk's uplink service and the admin verbs' --central session, installed into the
        // daemon by the executable (GateDaemon itself never links the HTTP client).
        .target(
            name: "KioskUplink",
            dependencies: [
                "GateDaemon", "Uplink", "CentralWire", "GateCore", "GateStore", "EventLog", "Devices",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "postern",
            dependencies: [
                "KioskUplink", "GateDaemon", "GateCore", "GateStore", "EventLog", "Devices", "DeviceProtocols", "PassCards", "Photos", "PosternWeb", "KioskWeb",
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

        .testTarget(
            name: "CentralTests",
            dependencies: [
                "CentralServer", "CentralStore", "CentralWire", "Uplink", "KioskUplink", "GateCore", "EventLog", "GateDaemon", "GateStore", "GateTestSupport", "CityHarness", "PosternWeb", "Photos",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
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
