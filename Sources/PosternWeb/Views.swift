import Foundation
import GateCore

/// What the pages and the stream show of one record: pure functions of the record (and whether a
/// photo exists), so a frame rendered for the live ring and one rendered while catching a client
/// up from the log are byte for byte the same. Names are masked here, once; no view carries a
/// person id, an ID number or a phone.
enum Views {
    struct Entry: Encodable, Equatable {
        var seq: UInt64
        var time: String
        var lane: String
        var dir: String
        var dirZh: String
        var outcome: String
        var outcomeZh: String
        var outcomeEn: String
        var reason: String
        var reasonZh: String
        var reasonEn: String
        var name: String
        var kind: String
        var temp: String
        var photo: Bool
        var late: Bool
        var unsynced: Bool
        var attempts: Int
        var override: Bool
    }

    struct Alarm: Encodable, Equatable {
        var seq: UInt64
        var time: String
        var alert: String
        var textZh: String
        var textEn: String
        var lane: String
        var detail: String
        var late: Bool
    }

    struct Ack: Encodable, Equatable {
        var seq: UInt64
        var time: String
        var ackOf: UInt64
        var by: String
    }

    struct Device: Encodable, Equatable {
        var seq: UInt64
        var time: String
        var device: String
        var state: String
        var message: String
    }

    /// The board's view of a decision: outcome, temperature, instruction. Never who.
    struct Board: Encodable, Equatable {
        var seq: UInt64
        var time: String
        var lane: String
        var outcome: String
        var temp: String
        var instructionZh: String
        var instructionEn: String
    }

    static func time(_ wallNs: Int64) -> String {
        let secs = time_t(wallNs / 1_000_000_000)
        var t = tm()
        var s = secs
        localtime_r(&s, &t)
        return String(format: "%02d:%02d:%02d", t.tm_hour, t.tm_min, t.tm_sec)
    }

    static func day(_ wallNs: Int64) -> String {
        var s = time_t(wallNs / 1_000_000_000)
        var t = tm()
        localtime_r(&s, &t)
        return String(format: "%04d-%02d-%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday)
    }

    static func temp(_ e: GateEvent) -> String {
        if let t = e.decision?.temperature { return String(format: "%.1f", t) }
        return (e.readings ?? []).last.map { String(format: "%.1f", $0.celsius) } ?? ""
    }

    static func entry(_ r: LiveRecord, _ e: GateEvent, hasPhoto: Bool) -> Entry? {
        guard e.kind == .passage, let d = e.decision else { return nil }
        return Entry(
            seq: r.seq, time: time(r.wallNs), lane: e.lane ?? "", dir: e.direction?.rawValue ?? "",
            dirZh: e.direction == .in ? "进" : e.direction == .out ? "出" : "",
            outcome: d.outcome.rawValue, outcomeZh: ReasonText.outcome(d.outcome, .zh), outcomeEn: ReasonText.outcome(d.outcome, .en),
            reason: d.reason.rawValue, reasonZh: ReasonText.text(d.reason, .zh), reasonEn: ReasonText.text(d.reason, .en),
            name: d.personName.map(maskName) ?? "", kind: d.personKind?.rawValue ?? "", temp: temp(e),
            photo: hasPhoto, late: r.late, unsynced: r.clockUnsynced, attempts: e.attempts ?? 1, override: d.override != nil)
    }

    /// Alert texts. Alerts about a person carry that person's id in their message: the page shows
    /// the kind, lane and time, and the passage row beside it shows the masked name.
    static let alertTexts: [String: (String, String)] = [
        "fever": ("发热报警", "Fever"),
        "quarantine_exit": ("居家隔离人员试图外出", "Isolation exit attempt"),
        "lockdown_exit": ("封闭楼栋人员试图外出", "Lockdown exit attempt"),
        "forced_open": ("门被强行打开", "Door forced open"),
        "held_open": ("门长时间未关", "Door held open"),
        "device_missing": ("设备离线", "Device missing"),
        "overstay": ("快递员逗留超时", "Courier overstay"),
        "impossible_travel": ("同一证件异常使用", "Credential used at two lanes"),
        "log_damage": ("日志损坏已隔离", "Log damage set aside"),
        "log_failure": ("日志写入失败", "Log write failure"),
    ]

    /// Messages that name no person and may be shown as they are.
    static let impersonalAlerts: Set<String> = ["forced_open", "held_open", "device_missing", "log_damage", "log_failure"]

    static func alarm(_ r: LiveRecord, _ e: GateEvent) -> Alarm? {
        guard e.kind == .alert, let kind = e.alert else { return nil }
        let t = alertTexts[kind] ?? (kind, kind)
        return Alarm(
            seq: r.seq, time: time(r.wallNs), alert: kind, textZh: t.0, textEn: t.1, lane: e.lane ?? "",
            detail: impersonalAlerts.contains(kind) ? (e.message ?? "") : "", late: r.late)
    }

    /// An operator's acknowledgement of an alarm, as the log records it.
    static let ackAction = "alarm_ack"

    static func ack(_ r: LiveRecord, _ e: GateEvent) -> Ack? {
        guard e.kind == .system, e.action == ackAction, let of = e.key.flatMap({ UInt64($0) }) else { return nil }
        return Ack(seq: r.seq, time: time(r.wallNs), ackOf: of, by: e.actor ?? "")
    }

    static func device(_ r: LiveRecord, _ e: GateEvent) -> Device? {
        guard e.kind == .deviceState || e.kind == .deviceFault, let dev = e.device else { return nil }
        let state = e.kind == .deviceFault ? "fault" : (e.message?.hasPrefix("connected") == true ? "connected" : "missing")
        return Device(seq: r.seq, time: time(r.wallNs), device: dev, state: state, message: e.message ?? "")
    }

    static func board(_ r: LiveRecord, _ e: GateEvent) -> Board? {
        guard e.kind == .passage, let d = e.decision, !r.late else { return nil }
        let (zh, en) =
            switch d.outcome {
            case .admit: ("体温正常，请通行", "Temperature normal, please pass")
            case .retest: ("请重新测量", "Please measure again")
            case .deny: ("禁止通行", "Entry refused")
            }
        return Board(seq: r.seq, time: time(r.wallNs), lane: e.lane ?? "", outcome: d.outcome.rawValue, temp: temp(e), instructionZh: zh, instructionEn: en)
    }
}

/// Server-Sent Events framing (the whole of it: `id:`, `event:`, `data:`, a blank line).
enum SSE {
    static func frame(id: UInt64, event: String, json: String) -> String {
        // JSON from JSONEncoder is one line; a stray line break would split the data field.
        precondition(!json.contains("\n") && !json.contains("\r"))
        return "id: \(id)\nevent: \(event)\ndata: \(json)\n\n"
    }

    static let heartbeat = ": heartbeat\n\n"

    /// The position a client asks to resume after: `Last-Event-ID` (what a browser sends on
    /// reconnect) wins over `?after=` (what a page passes on its first connect). Anything that is
    /// not a plain decimal number is ignored.
    static func resumePoint(lastEventID: String?, after: String?) -> UInt64? {
        func parse(_ s: String?) -> UInt64? {
            guard let s = s?.trimmingCharacters(in: .whitespaces), !s.isEmpty, s.count <= 20, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return UInt64(s)
        }
        return parse(lastEventID) ?? parse(after)
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

func jsonText<T: Encodable>(_ v: T) -> String {
    String(decoding: (try? jsonEncoder.encode(v)) ?? Data("{}".utf8), as: UTF8.self)
}
