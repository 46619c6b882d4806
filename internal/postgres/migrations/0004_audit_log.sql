-- 0004_audit_log: storage for the access log (DESIGN.md section 6,
-- confidant.LogTx): events, the Merkle tree as C2SP tlog-tiles, and signed
-- checkpoints. internal/auditlog is the only writer, through one sequencer.
--
-- No table here has a foreign key to patients, users or clinics: the log
-- must outlive erased patients and deleted accounts, and its ids are
-- opaque. Nothing here is ever updated or deleted except the two heads,
-- the partial tiles and the note of the latest checkpoint.
--
-- Conventions of 0001 hold (text ids, '' rather than NULL for absent
-- strings, constraint names as part of the contract), except that event
-- times are NOT NULL: every event has one.

-- Events. idx is the event's position in the log, from 0, without gaps.
--
-- Partitioning: the table is designed so that a later migration can turn it
-- into one partitioned by RANGE (idx) (say, 100 million events a partition,
-- old partitions moved to cheaper storage or detached under retention):
-- the primary key is idx alone, there is no other unique constraint, and
-- every secondary index is a plain one that works partition-locally.
-- Queries are newest first by idx, so they read the newest partitions first.
--
-- Ids, role, action, outcome and time are in the clear so that security
-- queries run in SQL; free text and the client address are in sealed
-- (encrypted under the audit key by the caller). leaf is the 32-byte hiding
-- commitment the tree is built over, nonce the 32 random bytes in it.
CREATE TABLE audit_events (
    idx          bigint PRIMARY KEY CONSTRAINT audit_events_idx_check CHECK (idx >= 0),
    "time"       timestamptz NOT NULL,
    actor_id     text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    clinic_id    text NOT NULL DEFAULT '',
    action       text NOT NULL,
    patient_id   text NOT NULL DEFAULT '', -- '' for events not about a patient
    record_id    text NOT NULL DEFAULT '',
    outcome      text NOT NULL DEFAULT '',
    session_id   text NOT NULL DEFAULT '',
    -- The patient's own event number (from 1; 0 without a patient) and the
    -- log index of the patient's previous event (-1 for none): a chain per
    -- patient, for gap detection.
    -- AppendEvents checks these rules first (KindInvalid); the
    -- constraints are the last line.
    patient_seq  bigint NOT NULL DEFAULT 0,
    patient_prev bigint NOT NULL DEFAULT -1,
    nonce        bytea NOT NULL,
    sealed       bytea NOT NULL,
    leaf         bytea NOT NULL,
    CONSTRAINT audit_events_patient_seq_check CHECK ((patient_id = '') = (patient_seq = 0) AND patient_seq >= 0),
    CONSTRAINT audit_events_patient_prev_check CHECK (patient_prev >= -1 AND patient_prev < idx
        AND (patient_id <> '' OR patient_prev = -1))
);
-- A patient's history, newest first, and the head of each patient's chain
-- (DB.PatientHeads: one index probe per patient).
CREATE INDEX audit_events_patient_idx ON audit_events (patient_id, idx);
-- What one account did, and who did what, in a time range.
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, "time");
CREATE INDEX audit_events_action_idx ON audit_events (action, "time");
-- Everything in a time range.
CREATE INDEX audit_events_time_idx ON audit_events ("time");

-- The log is append-only. LogTx has no method that changes or deletes an
-- event; these make any other path (a bug, a hand-written statement) fail
-- too. They cost appends nothing. Someone who owns the table can disable
-- them, which is what the Merkle tree and external checkpoints are for. A
-- future retention policy would detach or drop old partitions instead.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The log's size, in one row. AppendEvents moves it forward with a
-- conditional UPDATE (size = first new index), which locks the row: two
-- writers cannot both append at the same index, whatever the isolation
-- level, and LogSize needs no max() over a (possibly partitioned) table.
--
-- max_time and lateness_us turn a time window into a range of log indexes
-- (QueryEvents orders by index, and the planner does not know that times
-- follow indexes): max_time is the latest event time so far, lateness_us
-- the most any event's time was behind the latest time before it, in
-- microseconds. So every event after one at time T is at T - lateness or
-- later, and the window [From, To) lies strictly between the indexes of
-- any event before From - lateness and any event at To + lateness or later.
CREATE TABLE audit_log_head (
    size        bigint NOT NULL CONSTRAINT audit_log_head_size_check CHECK (size >= 0),
    max_time    timestamptz, -- NULL while the log is empty
    lateness_us bigint NOT NULL DEFAULT 0 CONSTRAINT audit_log_head_lateness_check CHECK (lateness_us >= 0),
    singleton   boolean NOT NULL DEFAULT true CONSTRAINT audit_log_head_singleton_check CHECK (singleton),
    CONSTRAINT audit_log_head_singleton_key UNIQUE (singleton)
);
INSERT INTO audit_log_head (size) VALUES (0);

-- The size of the largest checkpoint, in one row, so that PutCheckpoint
-- can refuse an older one under the row's lock. Apart from
-- audit_log_head, so that a transaction storing a checkpoint (and maybe
-- waiting for a signature) never holds up appends.
CREATE TABLE audit_checkpoint_head (
    size      bigint, -- NULL before the first checkpoint
    singleton boolean NOT NULL DEFAULT true CONSTRAINT audit_checkpoint_head_singleton_check CHECK (singleton),
    CONSTRAINT audit_checkpoint_head_singleton_key UNIQUE (singleton)
);
INSERT INTO audit_checkpoint_head (size) VALUES (NULL);

-- Hash tiles (C2SP tlog-tiles): level, index within the level, and width,
-- the number of 32-byte hashes held (1..256; 256 is full). Each width is
-- its own row, read back exactly as written; a second write of the same
-- width replaces it. A partial tile grows as the log grows, and every
-- width of it stays readable (clients verifying against an older
-- checkpoint ask for the narrower widths) until the full tile is written,
-- which deletes them: a client that finds no partial tile falls back to
-- the full one, whose prefix it is (as Tessera's clients do). So at most
-- one tile per level has partial rows at any time, instead of up to 255
-- partial copies of every tile.
CREATE TABLE audit_tiles (
    level bigint NOT NULL CONSTRAINT audit_tiles_level_check CHECK (level >= 0),
    idx   bigint NOT NULL CONSTRAINT audit_tiles_idx_check CHECK (idx >= 0),
    width integer NOT NULL CONSTRAINT audit_tiles_width_check CHECK (width BETWEEN 1 AND 256),
    data  bytea NOT NULL,
    CONSTRAINT audit_tiles_pkey PRIMARY KEY (level, idx, width)
);

-- Entry bundles (tlog-tiles "tile/entries"): the leaf commitments of data
-- tile idx, with the same widths and semantics as audit_tiles.
CREATE TABLE audit_entries (
    idx   bigint NOT NULL CONSTRAINT audit_entries_idx_check CHECK (idx >= 0),
    width integer NOT NULL CONSTRAINT audit_entries_width_check CHECK (width BETWEEN 1 AND 256),
    data  bytea NOT NULL,
    CONSTRAINT audit_entries_pkey PRIMARY KEY (idx, width)
);

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per tree size.
CREATE TABLE audit_checkpoints (
    size       bigint PRIMARY KEY CONSTRAINT audit_checkpoints_size_check CHECK (size >= 0),
    root       bytea NOT NULL,
    note       bytea NOT NULL,
    created_at timestamptz
);
