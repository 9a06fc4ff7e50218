/// What a kiosk and central say to each other (JSON over HTTPS). Plain values, no I/O: the kiosk's
/// uplink and the central service both build and check these, and the tests feed them hostile
/// variants. Field names are the wire contract; docs/CENTRAL.md describes each exchange.
import Foundation
import GateCore
#if canImport(Glibc)
import Glibc
#endif

public enum Wire {
    /// Protocol version; a peer that sees another refuses with `version_mismatch`.
    public static let version = 1
    /// Largest request body central reads (a batch of records, a registry write).
    public static let maxBodyBytes = 4 << 20
    /// Most records in one upload batch.
    public static let maxBatchRecords = 2000
    /// Most bytes of records a kiosk puts in one batch: half of `maxBodyBytes`, so a batch is
    /// never refused for size (413). The log's largest record (EventLog's `Record.maxPayload`,
    /// 1 MiB, plus its 68-byte header) fits on its own, so no record is ever too large to ship.
    public static let maxBatchBytes = maxBodyBytes / 2
    /// A binary batch: these four bytes, the protocol version, the kiosk's durable end (u64 LE),
    /// then the records in the log's own framing (content type `application/x-postern-records`).
    public static let framedMagic: [UInt8] = Array("PSTB".utf8)
    public static let framedContentType = "application/x-postern-records"

    public static func framedBatch(durableSeq: UInt64, records: [UInt8]) -> [UInt8] {
        var out = framedMagic
        out.append(UInt8(version))
        for i in 0..<8 { out.append(UInt8((durableSeq >> (8 * UInt64(i))) & 0xFF)) }
        return out + records
    }

    public static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(b.count * 2)
        for x in b {
            out.append(digits[Int(x >> 4)])
            out.append(digits[Int(x & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func unhex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

/// The one range check for a time that arrives from outside (a gate's claim, an account's
/// registry write, a record's wall clock): seconds since the epoch, not negative and before
/// 2100-01-01. Whatever passes can be added to, subtracted from and scaled to nanoseconds
/// without overflow, so arithmetic after the check cannot trap. Central's ingest can use the
/// same check (`WireTime.isSane(nanoseconds:)` for `wallNs`, `isSane(_: Double)` for JSON times).
public enum WireTime {
    /// 2100-01-01T00:00:00Z.
    public static let latest: Int64 = 4_102_444_800
    public static let range: ClosedRange<Int64> = 0...latest

    public static func isSane(_ seconds: Int64) -> Bool { range.contains(seconds) }

    /// A JSON number: finite and in range (1e300, NaN and -0.5 are not).
    public static func isSane(_ seconds: Double) -> Bool { seconds.isFinite && seconds >= 0 && seconds <= Double(latest) }

    public static func isSane(nanoseconds: Int64) -> Bool { nanoseconds >= 0 && nanoseconds / 1_000_000_000 <= latest }

    /// `a + b` clamped to Int64's range: for arithmetic on values read back from storage, which
    /// an older version may have written without the checks above.
    public static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (v, o) = a.addingReportingOverflow(b)
        return o ? (b > 0 ? .max : .min) : v
    }
}

/// Where plain HTTP is allowed (central's `listen` without TLS, a kiosk's `http://` central URL):
/// only a loopback IP literal (127.0.0.0/8, ::1) or exactly `localhost`. A name is never
/// resolved for this check: `127.attacker.example` is a DNS name, not a loopback address.
public enum Loopback {
    public static func isLiteral(_ host: String) -> Bool {
        var h = host
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, h, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
        }
        return false
    }
}

/// A refusal, with a code a program can switch on.
public struct WireError: Codable, Sendable, Error, CustomStringConvertible {
    public var code: String
    public var message: String
    /// Central's acknowledged sequence for the gate, when the refusal is about a batch.
    public var ackedSeq: UInt64?
    public init(code: String, message: String, ackedSeq: UInt64? = nil) {
        self.code = code
        self.message = message
        self.ackedSeq = ackedSeq
    }
    public var description: String { "\(code): \(message)" }
}

// MARK: events up

/// One log record as shipped: the fields the chain covers, so central can recompute it.
public struct WireRecord: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var type: UInt16
    public var flags: UInt16
    public var wallNs: Int64
    public var monoNs: UInt64
    /// Chain hash, hex (64 characters).
    public var chain: String
    /// Payload, base64.
    public var payload: String
    public init(seq: UInt64, type: UInt16, flags: UInt16, wallNs: Int64, monoNs: UInt64, chain: String, payload: String) {
        self.seq = seq
        self.type = type
        self.flags = flags
        self.wallNs = wallNs
        self.monoNs = monoNs
        self.chain = chain
        self.payload = payload
    }
}

/// A batch: records `seq` contiguous, the first one right after central's acknowledged sequence.
public struct UploadBatch: Codable, Sendable {
    public var v: Int = Wire.version
    public var records: [WireRecord]
    /// The kiosk's durable end when it sent this (how far behind central is).
    public var durableSeq: UInt64
    public init(records: [WireRecord], durableSeq: UInt64) {
        self.records = records
        self.durableSeq = durableSeq
    }
}

/// Sent only after central's commit; the kiosk advances its cursor from `ackedSeq` alone.
public struct UploadAck: Codable, Sendable, Equatable {
    public var ackedSeq: UInt64
    /// Records of this batch central flagged late (received well after they were written).
    public var late: Int
    /// Offline decisions central found beyond the household quota in this batch.
    public var overdrafts: Int
    public init(ackedSeq: UInt64, late: Int, overdrafts: Int) {
        self.ackedSeq = ackedSeq
        self.late = late
        self.overdrafts = overdrafts
    }
}

/// The kiosk's greeting: who it is, where its log ends, and its chain at central's acknowledged
/// sequence (asked for in a first round), so a rewritten or truncated kiosk log shows at once.
public struct Hello: Codable, Sendable {
    public var v: Int = Wire.version
    public var durableSeq: UInt64
    /// The kiosk's chain at `atSeq` (hex), when it still has that record.
    public var atSeq: UInt64?
    public var chainAtSeq: String?
    public var registryVersion: Int64
    public init(durableSeq: UInt64, atSeq: UInt64? = nil, chainAtSeq: String? = nil, registryVersion: Int64) {
        self.durableSeq = durableSeq
        self.atSeq = atSeq
        self.chainAtSeq = chainAtSeq
        self.registryVersion = registryVersion
    }
}

public struct GateStatus: Codable, Sendable {
    public var gate: String
    public var community: String
    public var ackedSeq: UInt64
    /// Set when central found this gate's log altered; uploads are refused until an admin clears it.
    public var integrity: String?
    public var serverTime: Double
    public init(gate: String, community: String, ackedSeq: UInt64, integrity: String?, serverTime: Double) {
        self.gate = gate
        self.community = community
        self.ackedSeq = ackedSeq
        self.integrity = integrity
        self.serverTime = serverTime
    }
}

// MARK: registry down

/// One registry change as the kiosk applies it: the same shape as a `registry_change` event
/// (entity, key, action, after), numbered by the community's registry version.
public struct RegistryChange: Codable, Sendable, Equatable {
    public var version: Int64
    public var event: GateEvent
    public init(version: Int64, event: GateEvent) {
        self.version = version
        self.event = event
    }
}

/// A page of the registry feed. `snapshot`: the changes restate the whole registry at `version`
/// and replace the kiosk's copy (its cursor was older than central keeps).
public struct RegistryFeed: Codable, Sendable {
    public var community: String
    public var version: Int64
    public var snapshot: Bool
    public var changes: [RegistryChange]
    /// Ed25519 signature (base64url) of `signedBytes` by central's registry key, for snapshots.
    public var signature: String?
    public var keyID: String?
    public init(community: String, version: Int64, snapshot: Bool, changes: [RegistryChange]) {
        self.community = community
        self.version = version
        self.snapshot = snapshot
        self.changes = changes
    }

    /// What the snapshot signature covers: the feed without its signature, as canonical JSON.
    public var signedBytes: [UInt8] {
        var copy = self
        copy.signature = nil
        copy.keyID = nil
        return Array((try? Wire.encoder.encode(copy)) ?? Data())
    }
}

/// A registry write by an account (admin verbs with `--central`).
public struct RegistryWrite: Codable, Sendable {
    public var community: String
    public var changes: [GateEvent]
    public init(community: String, changes: [GateEvent]) {
        self.community = community
        self.changes = changes
    }
}

public struct RegistryWriteResult: Codable, Sendable {
    public var version: Int64
    public init(version: Int64) { self.version = version }
}

// MARK: cross-gate claims and the community's passages

public struct ClaimRequest: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case quota, visitorEntry = "visitor_entry" }
    public var kind: Kind
    /// Household (quota) or visitor id (entry).
    public var subject: String
    public var person: String
    /// Decision time, seconds since the epoch.
    public var at: Int64
    public var lane: String
    /// Quota window (seconds) and exits allowed in it; for a visitor, the approval's start and
    /// the entries it allows.
    public var window: Int64
    public var allowed: Int
    public init(kind: Kind, subject: String, person: String, at: Int64, lane: String, window: Int64, allowed: Int) {
        self.kind = kind
        self.subject = subject
        self.person = person
        self.at = at
        self.lane = lane
        self.window = window
        self.allowed = allowed
    }
}

public struct ClaimResponse: Codable, Sendable, Equatable {
    public var granted: Bool
    /// Who holds the claim when refused (gate and person), for the log.
    public var heldBy: String?
    public init(granted: Bool, heldBy: String? = nil) {
        self.granted = granted
        self.heldBy = heldBy
    }
}

/// A passage at another gate of the same community (what cross-gate rules read).
public struct PeerPassage: Codable, Sendable, Equatable {
    public var communitySeq: Int64
    public var gate: String
    public var lane: String
    public var at: Double
    public var person: String
    public var personKind: PersonKind
    public var household: String?
    public var direction: Direction
    public init(communitySeq: Int64, gate: String, lane: String, at: Double, person: String, personKind: PersonKind, household: String?, direction: Direction) {
        self.communitySeq = communitySeq
        self.gate = gate
        self.lane = lane
        self.at = at
        self.person = person
        self.personKind = personKind
        self.household = household
        self.direction = direction
    }
}

public struct PeerFeed: Codable, Sendable {
    public var after: Int64
    public var passages: [PeerPassage]
    public init(after: Int64, passages: [PeerPassage]) {
        self.after = after
        self.passages = passages
    }
}

/// The `[central]` section of a kiosk's config (parsed by the kiosk's config reader).
public struct CentralLink: Sendable, Equatable {
    /// Central's base URLs, tried in order; the kiosk stays with one that answers.
    public var urls: [String] = []
    /// The gate's credential (from `postern-central gate enrol`), read from a 0600 file.
    public var tokenFile = ""
    /// A CA certificate (PEM) to trust for central's TLS certificate (a private CA).
    public var caFile: String?
    public var connectTimeoutMs = 2000
    public var requestTimeoutMs = 10_000
    /// The longest a person at the gate waits for a quota or visitor claim; then the offline
    /// budget decides.
    public var claimTimeoutMs = 300
    /// Admits per household per quota window (and per visitor approval) a gate may make while
    /// central does not answer.
    public var offlineBudget = 1
    public var batchRecords = 500
    public var longPollSeconds = 20
    /// An alert when the registry copy has not been confirmed by central for this long.
    public var registryStaleSeconds = 3600
    /// Central's registry-signing public key (base64url Ed25519); snapshots must verify with it.
    public var registryKey: String?

    public init() {}
}

