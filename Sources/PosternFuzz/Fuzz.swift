import DeviceProtocols
import EventLog
import Foundation
import GateCore
import GateDaemon
import GateStore
import Photos

/// libFuzzer entry point for every parser that takes bytes from outside: thermometer protocols,
/// scanner framing, evdev keys, GA 467, pass payloads, config files, the CSV import and the log
/// record decoder. Built with `-sanitize=fuzzer,address` by scripts/fuzz.sh; the target is chosen
/// by `POSTERN_FUZZ_TARGET`. A crash or a sanitizer report is a finding; each becomes a test.
enum Targets {
    static let all = ["gy", "modbus", "ascii", "lines", "evdev", "hidpos", "ga467", "pass", "credential", "config", "csv", "log", "photo"]

    static func run(_ name: String, _ data: [UInt8]) {
        switch name {
        case "gy":
            var d = GYMCU90614Decoder()
            for chunk in split(data) { _ = d.feed(chunk) }
        case "modbus":
            guard let first = data.first else { return }
            var d = ModbusRTU.ResponseDecoder(slave: 1, function: 3 + (first & 1), count: Int(first % 8) + 1)
            for chunk in split(Array(data.dropFirst())) { _ = d.feed(chunk) }
            let map = ModbusRTU.RegisterMap.mi3
            let regs = stride(from: 0, to: data.count - 1, by: 2).map { UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]) }
            _ = map.value(regs, at: 1080)
        case "ascii":
            var d = try! AsciiLineDecoder(pattern: #"T=(-?\d+(?:\.\d+)?)"#, unit: .fahrenheit, maxLength: 128)
            for chunk in split(data) { _ = d.feed(chunk) }
        case "lines":
            var f = LineFramer(maxLength: 256)
            for chunk in split(data) { _ = f.feed(chunk) }
            _ = f.flush()
        case "evdev":
            var k = KeyDecoder(maxLength: 64)
            var i = 0
            while i + 8 <= data.count {
                let type = UInt16(data[i]) | UInt16(data[i + 1]) << 8
                let code = UInt16(data[i + 2]) | UInt16(data[i + 3]) << 8
                let value = Int32(bitPattern: UInt32(data[i + 4]) | UInt32(data[i + 5]) << 8 | UInt32(data[i + 6]) << 16 | UInt32(data[i + 7]) << 24)
                _ = k.feed(type: type & 7, code: code & 0x1FF, value: value)
                i += 8
            }
        case "hidpos":
            // Reports of the fuzzer's sizes (hidraw hands over whole reports of any length).
            var d = HidPosDecoder(maxLength: 200)
            for chunk in split(data) { _ = d.feed(report: [HidPosDecoder.reportID] + chunk) }
            _ = d.feed(report: data)
        case "ga467":
            var d = GA467.Decoder()
            for chunk in split(data) {
                for case .success(let f) in d.feed(chunk) { _ = GA467.parseRead(f.data) }
            }
            _ = GA467.parseRead(data)
        case "pass":
            let text = String(decoding: data, as: UTF8.self)
            _ = PassCodec.parse(text)
            _ = PassCodec.verify(text, keys: [TrustedKey(id: "k", publicKey: [UInt8](repeating: 1, count: 32))], now: 0)
            _ = PassCodec.verify("P1" + Base64URL.encode(data), keys: [], now: 0)
        case "credential":
            // Scanner bytes → framed lines → the lanes' classification → rule 1. With no trusted
            // key, nothing a scanner delivers may resolve to a person unless the lane opts into
            // typed ID numbers — in particular not a resident's valid ID number.
            var f = LineFramer(maxLength: 256)
            var lines: [String] = []
            for chunk in split(data) { for case .line(let l) in f.feed(chunk) { lines.append(l) } }
            if case .line(let l)? = f.flush() { lines.append(l) }
            lines.append(String(decoding: data, as: UTF8.self))
            for l in lines {
                let scanned = Credential.classify(l, source: .scanner)
                if case .success = FuzzRegistry.snapshot.resolve(scanned, now: 0) { fatalError("scanner line resolved without a pass: \(l.debugDescription)") }
                _ = FuzzRegistry.snapshot.resolve(Credential.classify(l, source: .scanner, typedIDNumbers: true), now: 0)
                _ = FuzzRegistry.snapshot.resolve(Credential.classify(l, source: .idCardReader), now: 0)
            }
        case "config":
            // Raw bytes (not UTF-8 is an error, never a crash), then the document as tagged JSON.
            _ = try? KioskConfig.parse(bytes: data)
            _ = (try? TOML.parse(bytes: data))?.taggedJSON
        case "csv":
            _ = ResidentImport.parse(String(decoding: data, as: UTF8.self), isolationDays: 14, utcOffset: 28_800)
        case "log":
            _ = LogFuzzHooks.scan(data)
        case "photo":
            // JPEG/PNG from an admin's folder: refused or re-encoded, never a crash; smaller
            // limits than in use, so that bombs are cheap to find.
            var limits = Photo.Limits()
            limits.maxPixels = 4_000_000
            limits.maxSide = 4096
            if let n = try? Photo.normalise(data, limits: limits) {
                precondition(n.width <= Photo.maxWidth && n.height <= Photo.maxHeight && n.jpeg.starts(with: [0xFF, 0xD8]))
            }
        default:
            fatalError("unknown POSTERN_FUZZ_TARGET \(name); one of \(all)")
        }
    }

    enum FuzzRegistry {
        /// One resident whose (valid) ID number the seed corpus holds.
        static let snapshot: RegistrySnapshot = {
            var s = RegistrySnapshot()
            s.add(Resident(id: "r1", name: "张三", sex: .male, idNumber: "11010519491231002X", household: "h1", address: Address(building: "1", unit: "1", room: "101")))
            return s
        }()
    }

    /// Splits the input at points the input itself chooses, so framing across reads is exercised.
    static func split(_ data: [UInt8]) -> [[UInt8]] {
        guard let n = data.first.map({ Int($0 % 13) + 1 }) else { return [] }
        return stride(from: 1, to: data.count, by: n).map { Array(data[$0..<min(data.count, $0 + n)]) }
    }
}

#if POSTERN_FUZZ
nonisolated(unsafe) let target = ProcessInfo.processInfo.environment["POSTERN_FUZZ_TARGET"] ?? "gy"

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// libFuzzer's own `main` (pulled in by -sanitize=fuzzer) calls this.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    Targets.run(target, data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}

/// With libFuzzer linked in (-sanitize=fuzzer): hand our arguments to libFuzzer's driver.
@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, count in
            Targets.run(target, data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
            return 0
        })
    }
}
#else
/// Without libFuzzer: `PosternFuzz TARGET FILE|DIR…` replays inputs (the seed corpus and every
/// crash found, kept as regression inputs) through a target and reports how many ran.
@main
struct Replay {
    static func main() throws {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, Targets.all.contains(name) else {
            print("usage: PosternFuzz TARGET FILE|DIR… (targets: \(Targets.all.joined(separator: " ")))")
            exit(2)
        }
        var n = 0
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            let files = isDir.boolValue ? (try FileManager.default.contentsOfDirectory(atPath: path)).sorted().map { path + "/" + $0 } : [path]
            for f in files {
                guard let d = FileManager.default.contents(atPath: f) else { continue }
                Targets.run(name, Array(d))
                n += 1
            }
        }
        print("\(name): \(n) inputs replayed, no crash")
    }
}
#endif
