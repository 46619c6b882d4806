-- 0004_audit_log: storage for the access log (DESIGN.md section 6,
-- confidant.LogTx): events, the Merkle tree as C2SP tlog-tiles (hash tiles
-- and entry bundles), and signed checkpoints. internal/auditlog is the only
-- writer, through one sequencer.
--
-- Nothing here refers to other tables: the log must record events about
-- accounts and patients that do not exist (a failed sign-in) or no longer
-- have keys (an erased patient), and nothing may ever block an append.

-- One row per event; idx is the log index (the rowid), contiguous from 0.
-- Ids, role, action, outcome and time are in the clear so that security
-- queries are fast; the purpose or break-the-glass reason and the client
-- address are sealed under the audit key in sealed. leaf is the event's
-- hiding commitment, nonce the commitment's randomness. patient_id is NULL
-- for events not about a patient, so that they stay out of the patient
-- index. The CHECKs are the patient-chain rules of confidant.StoredEvent.
CREATE TABLE audit_events (
	idx          INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
	time         INTEGER NOT NULL, -- unix microseconds, UTC
	actor_id     TEXT    NOT NULL,
	role         TEXT    NOT NULL,
	clinic_id    TEXT    NOT NULL,
	action       TEXT    NOT NULL,
	patient_id   TEXT,
	record_id    TEXT    NOT NULL,
	outcome      TEXT    NOT NULL,
	session_id   TEXT    NOT NULL,
	patient_seq  INTEGER NOT NULL CHECK (patient_seq >= 0),
	patient_prev INTEGER NOT NULL CHECK (patient_prev >= -1 AND patient_prev < idx),
	nonce        BLOB    NOT NULL,
	sealed       BLOB    NOT NULL,
	leaf         BLOB    NOT NULL,
	CHECK ((patient_id IS NULL) = (patient_seq = 0)),
	CHECK (patient_id IS NOT NULL OR patient_prev = -1)
) STRICT;

-- Results are newest first by log index (QueryEvents pages by index), and
-- event times need not be in index order. The patient, actor and action
-- indexes are in log order, read backwards from the page boundary and
-- stopping after a page. A patient has few events, so its index serves all
-- of a patient's queries (and PatientHeads). The actor index ends with
-- time, so that a time window is checked in the index and only matching
-- rows are fetched; an old window costs a read of the actor's entries
-- since then. An action with a window, or a window alone, reads only the
-- window from a (column, time) index and sorts the matching row ids.
-- Every index implicitly ends with idx, the rowid.
--
-- Indexes cost appends dearly where their keys spread (the patient index
-- touches a random page per event, the actor index one per active actor):
-- an (actor_id, time) index as well, for old windows only, halved the
-- append rate (BenchmarkAppendEvents). Actions are few, so their two
-- indexes append at a few places and cost little.
CREATE INDEX audit_events_patient ON audit_events (patient_id, idx) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor_id, idx, time);
CREATE INDEX audit_events_action ON audit_events (action, idx);
CREATE INDEX audit_events_action_time ON audit_events (action, time);
CREATE INDEX audit_events_time ON audit_events (time);

-- The log is append-only. LogTx has no method that changes or deletes an
-- event, and AppendEvents checks that a batch continues the log; these make
-- any other path (a bug, a hand-written statement) fail too: an insert
-- must take the next index (which also stops INSERT OR REPLACE, whose
-- implicit delete fires no delete trigger), and nothing is updated or
-- deleted. A future retention policy would drop them in a migration.
CREATE TRIGGER audit_events_next_index BEFORE INSERT ON audit_events
WHEN NEW.idx IS NOT (SELECT coalesce(max(idx) + 1, 0) FROM audit_events)
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only: an event takes the next index');
END;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Hash tiles (C2SP tlog-tiles), named by level, index and width (1..256;
-- 256 is a full tile). Every width of a tile that is not yet full is kept,
-- not only the newest: a client verifying against the last published
-- checkpoint asks for the width of that checkpoint, which the tree has
-- usually outgrown by then. When the full tile is written its partial
-- versions are deleted (tlog-tiles clients fall back to the full tile, as
-- Tessera's garbage collection expects), so at most one tile per level
-- carries partial versions, bounded by 255 rows of at most 8 KiB each.
-- Rows of up to 8 KiB spill into overflow pages, so this is a rowid table.
CREATE TABLE audit_tiles (
	level INTEGER NOT NULL CHECK (level >= 0),
	idx   INTEGER NOT NULL CHECK (idx >= 0),
	width INTEGER NOT NULL CHECK (width BETWEEN 1 AND 256),
	data  BLOB    NOT NULL,
	PRIMARY KEY (level, idx, width)
) STRICT;

-- Entry bundles (tlog-tiles "tile/entries"), kept like level-0 tiles.
CREATE TABLE audit_entries (
	idx   INTEGER NOT NULL CHECK (idx >= 0),
	width INTEGER NOT NULL CHECK (width BETWEEN 1 AND 256),
	data  BLOB    NOT NULL,
	PRIMARY KEY (idx, width)
) STRICT;

-- Signed checkpoints (C2SP tlog-checkpoint), every one kept; the latest is
-- the one with the largest size. PutCheckpoint refuses a smaller size than
-- the latest, and a different root for the same size.
CREATE TABLE audit_checkpoints (
	size       INTEGER NOT NULL PRIMARY KEY CHECK (size >= 0),
	root       BLOB    NOT NULL,
	note       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
