/// Central's PostgreSQL schema, as numbered migrations applied at start in one transaction each
/// (an advisory lock keeps two starting instances from racing). docs/CENTRAL.md explains each table.
enum CentralSchema {
    static let migrations: [String] = [
        // 1: organisation, gates, accounts, events, registry, claims, findings
        """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE org_units(
            id text PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('city','district','street')),
            parent text REFERENCES org_units(id), name text NOT NULL,
            CHECK ((kind = 'city') = (parent IS NULL)));
        CREATE TABLE communities(
            id text PRIMARY KEY, street text NOT NULL REFERENCES org_units(id), name text NOT NULL,
            next_seq bigint NOT NULL DEFAULT 0,
            registry_version bigint NOT NULL DEFAULT 0,
            registry_floor bigint NOT NULL DEFAULT 0,
            quota_exits int NOT NULL DEFAULT 1, quota_days int NOT NULL DEFAULT 2);
        CREATE TABLE gates(
            id text PRIMARY KEY, community text NOT NULL REFERENCES communities(id), name text NOT NULL,
            token_hash bytea NOT NULL, kiosk_key bytea,
            acked_seq bigint NOT NULL DEFAULT 0,
            chain_head bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
            durable_seq bigint NOT NULL DEFAULT 0,
            last_wall_ns bigint, last_upload timestamptz,
            integrity text, rebase boolean NOT NULL DEFAULT false,
            enrolled_at timestamptz NOT NULL DEFAULT now());
        CREATE INDEX gates_community ON gates(community);
        CREATE TABLE accounts(
            name text PRIMARY KEY, password_hash text NOT NULL,
            role text NOT NULL CHECK (role IN ('admin','community_admin','operator','street_supervisor','district_supervisor','city_supervisor')),
            scope text, created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE events(
            gate text NOT NULL REFERENCES gates(id), seq bigint NOT NULL,
            community text NOT NULL, community_seq bigint NOT NULL,
            type int NOT NULL, flags int NOT NULL, wall_ns bigint NOT NULL, mono_ns bigint NOT NULL,
            chain bytea NOT NULL, payload bytea NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(), late boolean NOT NULL,
            kind text, lane text, direction text, outcome text, reason text, person text, person_kind text,
            household text, temperature double precision, alert text, flags_text text, day date,
            PRIMARY KEY (gate, seq));
        CREATE UNIQUE INDEX events_community_seq ON events(community, community_seq);
        CREATE INDEX events_community_day ON events(community, day);
        CREATE TABLE integrity_findings(
            id bigserial PRIMARY KEY, gate text NOT NULL, seq bigint, kind text NOT NULL, message text NOT NULL,
            found_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE registry_changes(
            community text NOT NULL REFERENCES communities(id), version bigint NOT NULL,
            actor text NOT NULL, at timestamptz NOT NULL DEFAULT now(), entity text NOT NULL, key text NOT NULL,
            body text NOT NULL, PRIMARY KEY (community, version));
        CREATE TABLE registry_state(
            community text NOT NULL REFERENCES communities(id), entity text NOT NULL, key text NOT NULL,
            version bigint NOT NULL, body text NOT NULL, PRIMARY KEY (community, entity, key));
        CREATE TABLE claims(
            id bigserial PRIMARY KEY, community text NOT NULL, kind text NOT NULL, subject text NOT NULL,
            slot int NOT NULL, during int8range NOT NULL, gate text NOT NULL, person text NOT NULL,
            at bigint NOT NULL, offline boolean NOT NULL DEFAULT false, claimed_at timestamptz NOT NULL DEFAULT now(),
            EXCLUDE USING gist (community WITH =, kind WITH =, subject WITH =, slot WITH =, during WITH &&));
        CREATE TABLE overdrafts(
            id bigserial PRIMARY KEY, community text NOT NULL, gate text NOT NULL, seq bigint NOT NULL,
            kind text NOT NULL, subject text NOT NULL, person text, at bigint NOT NULL,
            found_at timestamptz NOT NULL DEFAULT now(), UNIQUE (gate, seq));
        CREATE TABLE signing_keys(
            id text PRIMARY KEY, private_key bytea NOT NULL, public_key bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now());
        """,
        // 2: the web front: operators' actions (alarm acknowledgements) in the community's
        // sequence beside the gates' events, and residents' photos kept by central.
        """
        CREATE TABLE web_actions(
            community text NOT NULL REFERENCES communities(id), community_seq bigint NOT NULL,
            actor text NOT NULL, action text NOT NULL, wall_ns bigint NOT NULL, payload bytea NOT NULL,
            at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (community, community_seq));
        CREATE TABLE photos(
            community text NOT NULL REFERENCES communities(id), person text NOT NULL,
            jpeg bytea NOT NULL, sha256 text NOT NULL, set_by text NOT NULL,
            set_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (community, person));
        """,
    ]
}
