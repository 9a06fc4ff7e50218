/// The database layout and its migrations (PRAGMA user_version). One database holds the registry
/// and the event mirror, so reports can join them.
enum Schema {
    static let migrations: [String] = [
        // 1: registry and event mirror
        """
        CREATE TABLE residents(
            id TEXT PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, id_number TEXT NOT NULL UNIQUE,
            household TEXT NOT NULL, building TEXT NOT NULL, unit TEXT NOT NULL, room TEXT NOT NULL,
            origin TEXT NOT NULL, return_date INTEGER, quarantine_until INTEGER, rental INTEGER NOT NULL DEFAULT 0,
            landlord_contact TEXT, phone TEXT);
        CREATE INDEX residents_household ON residents(household);
        CREATE TABLE visitors(
            id TEXT PRIMARY KEY, name TEXT NOT NULL, id_number TEXT NOT NULL, phone TEXT NOT NULL,
            host_household TEXT NOT NULL, reason TEXT NOT NULL, approver TEXT NOT NULL,
            valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL, max_entries INTEGER NOT NULL, entries_used INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE couriers(
            id TEXT PRIMARY KEY, name TEXT NOT NULL, id_number TEXT NOT NULL UNIQUE, company TEXT NOT NULL,
            start_minute INTEGER NOT NULL, end_minute INTEGER NOT NULL);
        CREATE TABLE staff(id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, id_number TEXT NOT NULL UNIQUE);
        CREATE TABLE passes(
            id INTEGER PRIMARY KEY, person TEXT NOT NULL, kind TEXT NOT NULL, household TEXT NOT NULL,
            issued INTEGER NOT NULL, expires INTEGER NOT NULL, key_id TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0, revoked_reason TEXT, current INTEGER NOT NULL DEFAULT 1);
        CREATE INDEX passes_person ON passes(person);
        CREATE TABLE lockdowns(scope TEXT PRIMARY KEY, since INTEGER NOT NULL, reason TEXT NOT NULL);
        CREATE TABLE exemptions(person TEXT PRIMARY KEY, reason TEXT NOT NULL, until INTEGER NOT NULL);
        CREATE TABLE keys(id TEXT PRIMARY KEY, public_key BLOB NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER);
        CREATE TABLE audit_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);

        CREATE TABLE events(
            seq INTEGER PRIMARY KEY, type INTEGER NOT NULL, kind TEXT NOT NULL, wall_ns INTEGER NOT NULL,
            day TEXT NOT NULL, lane TEXT, direction TEXT, outcome TEXT, reason TEXT, person TEXT,
            person_kind TEXT, household TEXT, temperature REAL, alert TEXT, clock_unsynced INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL);
        CREATE INDEX events_day ON events(day, lane);
        CREATE INDEX events_person ON events(person, seq);
        CREATE INDEX events_household ON events(household, direction, outcome, wall_ns);
        CREATE INDEX events_reason ON events(reason, day);
        CREATE TABLE mirror_cursor(id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL);
        INSERT INTO mirror_cursor VALUES (1, 0);
        """,
        // 2: rows whose records the log later lost (a gap record names them) are kept, marked
        """
        ALTER TABLE events ADD COLUMN lost_from_log INTEGER NOT NULL DEFAULT 0;
        """,
        // 3: every person id ever registered, with its kind and ID number: an id names one person
        // for good, across residents, visitors, couriers and staff (purge forgets the numbers of
        // people no longer registered; their ids stay retired).
        """
        CREATE TABLE person_ids(id TEXT PRIMARY KEY, kind TEXT NOT NULL, id_number TEXT);
        INSERT OR IGNORE INTO person_ids SELECT id, 'resident', id_number FROM residents;
        INSERT OR IGNORE INTO person_ids SELECT id, 'visitor', id_number FROM visitors;
        INSERT OR IGNORE INTO person_ids SELECT id, 'courier', id_number FROM couriers;
        INSERT OR IGNORE INTO person_ids SELECT id, 'staff', id_number FROM staff;
        """,
        // 4: a visitor's entries are counted from the passage history (PassageHistory), the one
        // owner of that count; the column that was meant to hold it was never read.
        """
        ALTER TABLE visitors DROP COLUMN entries_used;
        """,
    ]

    /// Brings the schema to the newest version. The version is read again inside the write
    /// transaction: several processes opening a fresh database at once (the daemon's first start
    /// and an admin command) queue on the write lock and only the first migrates.
    static func migrate(_ db: Database) throws {
        let seen = try db.query("PRAGMA user_version") { Int($0.int(0)) }.first ?? 0
        guard seen < migrations.count else { return }
        try db.transaction {
            let version = try db.query("PRAGMA user_version") { Int($0.int(0)) }.first ?? 0
            guard version < migrations.count else { return }
            for v in version..<migrations.count {
                try db.exec(migrations[v])
            }
            try db.exec("PRAGMA user_version = \(migrations.count)")
        }
    }
}
