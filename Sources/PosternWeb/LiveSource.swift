/// PosternWeb: the operators' web front — live view, alarms, counts, ledger, the board at the
/// gate, metrics — over a `LiveSource`. It owns HTTP, sessions, pages and the event stream; it
/// must not decide passages, write the registry, or keep a copy of the history: every event it
/// shows is read from its source by sequence number.
public import GateCore
public import GateStore

/// One committed record of a gate's history, as the web sees it.
public struct LiveRecord: Sendable {
    /// The stream's sequence number: the kiosk's log sequence, or central's per-community one.
    public var seq: UInt64
    public var wallNs: Int64
    /// Recorded before the kiosk's clock was synchronised.
    public var clockUnsynced: Bool
    /// Arrived late (central: backfilled after an outage); shown as such, never as live.
    public var late: Bool
    public var gate: String
    /// nil: not a gate event (gap, checkpoint, redacted record).
    public var event: GateEvent?
    /// Whether the pass holder has a photo, when the source read it with the record (central
    /// joins it in the same query); nil: the feed asks `hasPhoto`.
    public var hasPhoto: Bool?

    public init(seq: UInt64, wallNs: Int64, clockUnsynced: Bool = false, late: Bool = false, gate: String, event: GateEvent?, hasPhoto: Bool? = nil) {
        self.seq = seq
        self.wallNs = wallNs
        self.clockUnsynced = clockUnsynced
        self.late = late
        self.gate = gate
        self.event = event
        self.hasPhoto = hasPhoto
    }
}

/// Reads committed records in sequence order from a position; never returns a record that could
/// still be lost (kiosk: not yet durable; central: not yet committed). Async because central
/// reads a database over the network; the kiosk's file reads satisfy it synchronously.
public protocol LiveReader: AnyObject {
    /// Up to `limit` records after the last one returned (possibly none).
    func next(limit: Int) async throws -> [LiveRecord]
}

/// Where the web's events and figures come from. The kiosk implements it over its event log and
/// registry (KioskWeb); central over its per-community sequence in PostgreSQL (CentralServer's
/// `CentralSource`). Every call that may touch a database is async.
public protocol LiveSource: AnyObject, Sendable {
    /// What the pages call this place (the gate, or the community at central).
    var title: String { get }
    /// A reader of records with sequence numbers above `after`.
    func reader(after: UInt64) async throws -> any LiveReader
    /// The highest committed sequence number now.
    func head() async throws -> UInt64
    /// Yields (at least) whenever `head()` moves; ends when the source stops.
    func heads() -> AsyncStream<UInt64>
    /// Where a follower that rebuilds today's state (counts, open alarms, devices) starts reading.
    func stateStart() async throws -> UInt64
    /// Appends an operator's action (an alarm acknowledgement, a board edit) durably; its sequence.
    func append(_ event: GateEvent) async throws -> UInt64
    /// The registry's photo of a person (already normalised JPEG), if any.
    func photo(person: String) async -> [UInt8]?
    /// Whether `photo(person:)` would return one (a source may answer without reading it).
    func hasPhoto(person: String) async -> Bool
    func ledger(day: String) async throws -> [LedgerRow]
    func sevenCounts(day: String, now: Timestamp) async throws -> SevenCounts
    /// Registered staff (for the board's roster).
    func staff() async throws -> [Staff]
    /// The lanes and devices this source has, so the pages can list the silent ones too.
    var lanes: [String] { get }
    var devices: [String] { get }
    /// The kiosk's link to central (registry age, upload backlog), if it has one.
    func link() async -> LinkStatus?
}

/// A kiosk's link to central as the live view shows it (nil: a kiosk on its own, or central).
public struct LinkStatus: Sendable, Encodable, Equatable {
    /// Central's registry version applied here, and seconds since central last confirmed it.
    public var registryVersion: Int64
    public var registryAgeSeconds: Int
    /// Durable records central has not acknowledged yet; nil when the uplink is not running.
    public var backlog: UInt64?
    /// The registry is older than the configured limit, or the last exchange with central failed.
    public var degraded: Bool
    public init(registryVersion: Int64, registryAgeSeconds: Int, backlog: UInt64?, degraded: Bool) {
        self.registryVersion = registryVersion
        self.registryAgeSeconds = registryAgeSeconds
        self.backlog = backlog
        self.degraded = degraded
    }

    /// One line for the status bar, in both languages.
    public var text: String {
        let b = backlog.map { "，待上传 \($0) 条 / \($0) to upload" } ?? ""
        return "中心名册 v\(registryVersion)，\(registryAgeSeconds) 秒前确认 / central registry v\(registryVersion), confirmed \(registryAgeSeconds) s ago" + b
    }
}

extension LiveSource {
    public func hasPhoto(person: String) async -> Bool { await photo(person: person) != nil }
    /// The link to central, for a source that has one.
    public func link() async -> LinkStatus? { nil }
}
