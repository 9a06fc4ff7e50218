import Foundation
import GateCore

/// `postern residents import FILE.csv`. Columns (header row required, any order):
/// `id,name,sex,id_number,building,unit,room,household,origin,return_date,quarantine_until,rental,landlord_contact,phone`
/// — `sex` M/F (or 男/女), `origin` local|hubei|wuhan|other-province|returnee, dates YYYY-MM-DD,
/// `rental` yes/no. Required: id, name, sex, id_number, building, unit, room. `household` defaults
/// to the address. A return date without a quarantine date sets home isolation until return +
/// isolation days. A UTF-8 BOM and CRLF line ends are accepted. Any bad row rejects the whole file.
public enum ResidentImport {
    public struct RowError: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    static let known: Set<String> = ["id", "name", "sex", "id_number", "building", "unit", "room", "household", "origin", "return_date", "quarantine_until", "rental", "landlord_contact", "phone"]
    static let required = ["id", "name", "sex", "id_number", "building", "unit", "room"]

    /// Every bad row of a file, each with its line number.
    public struct Errors: Error, CustomStringConvertible {
        public let rows: [RowError]
        public var description: String { rows.map(\.description).joined(separator: "\n") }
    }

    /// Parses the whole file; returns every resident or every error found (with line numbers).
    public static func parse(_ text: String, isolationDays: Int, utcOffset: Int = TimeZone.current.secondsFromGMT()) -> Result<[Resident], Errors> {
        parseRows(text, isolationDays: isolationDays, utcOffset: utcOffset).map { $0.map(\.resident) }
    }

    /// Like `parse`, with the line each resident came from (so registry conflicts can name it).
    public static func parseRows(_ text: String, isolationDays: Int, utcOffset: Int = TimeZone.current.secondsFromGMT()) -> Result<[(line: Int, resident: Resident)], Errors> {
        var t = text
        if t.hasPrefix("\u{FEFF}") { t.removeFirst() }
        let rows: [(line: Int, fields: [String])]
        switch CSV.parse(t) {
        case .failure(let e): return .failure(Errors(rows: [e]))
        case .success(let r): rows = r
        }
        guard let header = rows.first else { return .failure(Errors(rows: [RowError(line: 1, message: "empty file: a header row is required")])) }
        let cols = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var errors: [RowError] = []
        for c in cols where !known.contains(c) { errors.append(RowError(line: header.line, message: "unknown column \"\(c)\" (known: \(known.sorted().joined(separator: ", ")))")) }
        for r in required where !cols.contains(r) { errors.append(RowError(line: header.line, message: "missing required column \"\(r)\"")) }
        if !errors.isEmpty { return .failure(Errors(rows: errors)) }
        var out: [(line: Int, resident: Resident)] = []
        var seenIDs: [String: Int] = [:]
        var seenNumbers: [String: Int] = [:]
        for row in rows.dropFirst() {
            if row.fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            guard row.fields.count == cols.count else {
                errors.append(RowError(line: row.line, message: "\(row.fields.count) fields, header has \(cols.count)"))
                continue
            }
            var f: [String: String] = [:]
            for (c, v) in zip(cols, row.fields) { f[c] = v.trimmingCharacters(in: .whitespaces) }
            func fail(_ m: String) { errors.append(RowError(line: row.line, message: m)) }
            for r in required where f[r, default: ""].isEmpty { fail("\(r) is empty") }
            if required.contains(where: { f[$0, default: ""].isEmpty }) { continue }
            let sex: Sex? = switch f["sex"]!.uppercased() {
            case "M", "男", "1": .male
            case "F", "女", "2": .female
            default: nil
            }
            guard let sex else { fail("sex \"\(f["sex"]!)\" is not M or F"); continue }
            let number = f["id_number"]!.uppercased()
            guard IDNumber.isValid(number) else { fail("id_number \"\(IDNumber.masked(number))\" fails the GB 11643 check digit"); continue }
            let origin = f["origin", default: ""].isEmpty ? Origin.local : Origin(rawValue: f["origin"]!.lowercased())
            guard let origin else { fail("origin \"\(f["origin"]!)\" is not one of \(Origin.allCases.map(\.rawValue).joined(separator: ", "))"); continue }
            var dates: [String: Timestamp] = [:]
            var bad = false
            for k in ["return_date", "quarantine_until"] where !f[k, default: ""].isEmpty {
                guard let d = parseDay(f[k]!, utcOffset: utcOffset) else { fail("\(k) \"\(f[k]!)\" is not a date (YYYY-MM-DD)"); bad = true; continue }
                dates[k] = d
            }
            if bad { continue }
            let rental: Bool
            switch f["rental", default: ""].lowercased() {
            case "", "no", "n", "0", "false", "否": rental = false
            case "yes", "y", "1", "true", "是": rental = true
            default: fail("rental \"\(f["rental"]!)\" is not yes or no"); continue
            }
            guard PersonID.isValid(f["id"]!) else { fail("id \"\(Printable.escaped(f["id"]!))\" is not a valid person id (\(PersonID.rule))"); continue }
            if let prev = seenIDs[f["id"]!] { fail("id \(f["id"]!) already used on line \(prev)"); continue }
            if let prev = seenNumbers[number] { fail("id_number already used on line \(prev)"); continue }
            seenIDs[f["id"]!] = row.line
            seenNumbers[number] = row.line
            let addr = Address(building: f["building"]!, unit: f["unit"]!, room: f["room"]!)
            let q = dates["quarantine_until"] ?? dates["return_date"].map { $0 + Timestamp(isolationDays) * 86_400 }
            out.append((row.line, Resident(id: f["id"]!, name: f["name"]!, sex: sex, idNumber: number, household: f["household", default: ""].isEmpty ? addr.description : f["household"]!, address: addr, origin: origin, returnDate: dates["return_date"], quarantineUntil: q, rental: rental, landlordContact: f["landlord_contact"].flatMap { $0.isEmpty ? nil : $0 }, phone: f["phone"].flatMap { $0.isEmpty ? nil : $0 })))
        }
        return errors.isEmpty ? .success(out) : .failure(Errors(rows: errors))
    }

    /// `YYYY-MM-DD` at local midnight.
    public static func parseDay(_ s: String, utcOffset: Int) -> Timestamp? {
        let p = s.split(separator: "-").map { Int($0) }
        guard p.count == 3, let y = p[0], let m = p[1], let d = p[2], (1...12).contains(m), (1...31).contains(d), y > 1900 else { return nil }
        var c = DateComponents()
        (c.year, c.month, c.day) = (y, m, d)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(secondsFromGMT: utcOffset)!
        guard let date = cal.date(from: c), cal.component(.day, from: date) == d else { return nil }
        return Timestamp(date.timeIntervalSince1970)
    }
}

extension Store {
    /// Imports residents all-or-nothing: one transaction, one audit event per resident. An ID
    /// number that belongs to another person, or an existing id whose ID number differs (a new
    /// person under an old id), rejects the whole file with every such row named by its line.
    public func importResidents(_ rows: [(line: Int, resident: Resident)], actor: String) throws {
        var errors: [ResidentImport.RowError] = []
        for (line, r) in rows {
            if let why = try identityConflict(kind: .resident, id: r.id, idNumber: r.idNumber) ?? Self.textProblem(Self.textFields(r)) { errors.append(.init(line: line, message: why)) }
        }
        if !errors.isEmpty { throw ResidentImport.Errors(rows: errors) }
        try db.transaction {
            for (_, r) in rows {
                let before = try resident(r.id)
                try writeResident(r)
                var e = GateEvent(kind: .registryChange, at: Date().timeIntervalSince1970)
                e.entity = "resident"
                e.key = r.id
                e.action = before == nil ? "import" : "import_update"
                e.actor = actor
                e.before = json(before)
                e.after = json(r)
                try db.run("INSERT INTO audit_outbox(event) VALUES (?)", [.text(json(e)!)])
            }
        }
    }

    public func importResidents(_ rs: [Resident], actor: String) throws {
        try importResidents(rs.enumerated().map { ($0.offset + 2, $0.element) }, actor: actor)
    }
}

/// RFC 4180 CSV: quoted fields with doubled quotes, embedded commas and newlines, CRLF or LF.
enum CSV {
    static func parse(_ s: String) -> Result<[(line: Int, fields: [String])], ResidentImport.RowError> {
        var rows: [(Int, [String])] = []
        var field = ""
        var fields: [String] = []
        var inQuotes = false
        var line = 1
        var rowStart = 1
        var chars = Array(s.unicodeScalars)
        if chars.last != "\n" { chars.append("\n") }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\r" {
                // CR of CRLF: ignored
            } else if c == "\n" {
                fields.append(field)
                rows.append((rowStart, fields))
                fields = []
                field = ""
                line += 1
                rowStart = line
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes { return .failure(.init(line: rowStart, message: "unterminated quoted field")) }
        return .success(rows)
    }
}
