-- 0001_init: the first schema.
--
-- Conventions: ids are TEXT; times are INTEGER unix microseconds UTC, with
-- NULL for the zero time (only in columns where zero means "not set");
-- optional text is '' rather than NULL. Tables are STRICT, so a wrong type
-- is an error rather than a silent conversion.

CREATE TABLE organisation (
	id         TEXT    NOT NULL PRIMARY KEY,
	singleton  INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1), -- an installation holds exactly one
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE clinics (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	city       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE patients (
	id            TEXT    NOT NULL PRIMARY KEY,
	clinic_id     TEXT    NOT NULL REFERENCES clinics (id),
	given_name    TEXT    NOT NULL DEFAULT '',
	family_name   TEXT    NOT NULL DEFAULT '',
	given_norm    TEXT    NOT NULL DEFAULT '', -- confidant.NormalizeName(given_name), for prefix search
	family_norm   TEXT    NOT NULL DEFAULT '', -- confidant.NormalizeName(family_name)
	identity_code TEXT    NOT NULL DEFAULT '',
	birth_date    INTEGER,
	phone         TEXT    NOT NULL DEFAULT '',
	email         TEXT    NOT NULL DEFAULT '',
	address       TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX patients_identity_code ON patients (identity_code) WHERE identity_code <> '';
CREATE INDEX patients_clinic ON patients (clinic_id, family_norm);
CREATE INDEX patients_family_norm ON patients (family_norm);
CREATE INDEX patients_given_norm ON patients (given_norm);

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE,
	display_name  TEXT    NOT NULL DEFAULT '',
	role          TEXT    NOT NULL CHECK (role IN ('therapist', 'patient', 'manager', 'security')),
	patient_id    TEXT    NOT NULL DEFAULT '', -- patients' accounts: the record they read
	password_hash TEXT    NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX users_role ON users (role);

-- Staff clinic memberships; ListUsers filters on them.
CREATE TABLE user_clinics (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	clinic_id TEXT NOT NULL REFERENCES clinics (id),
	PRIMARY KEY (user_id, clinic_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX user_clinics_clinic ON user_clinics (clinic_id, user_id);

CREATE TABLE sessions (
	id         TEXT    NOT NULL PRIMARY KEY,
	token_hash BLOB    NOT NULL UNIQUE,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE care (
	id           TEXT    NOT NULL PRIMARY KEY,
	patient_id   TEXT    NOT NULL REFERENCES patients (id),
	therapist_id TEXT    NOT NULL REFERENCES users (id),
	clinic_id    TEXT    NOT NULL REFERENCES clinics (id),
	from_at      INTEGER NOT NULL,
	to_at        INTEGER, -- NULL: open-ended
	created_by   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	ended_by     TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Access checks (HasActiveCare) and a therapist's patient list.
CREATE INDEX care_therapist ON care (therapist_id, patient_id, from_at);
CREATE INDEX care_patient ON care (patient_id, from_at);
CREATE INDEX care_clinic ON care (clinic_id);

CREATE TABLE notes (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	author_id   TEXT    NOT NULL REFERENCES users (id),
	session_at  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	released_at INTEGER, -- NULL until released to the patient
	released_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX notes_patient_session ON notes (patient_id, session_at DESC, id);

CREATE TABLE note_versions (
	note_id    TEXT    NOT NULL REFERENCES notes (id),
	version    INTEGER NOT NULL CHECK (version >= 1),
	template   TEXT    NOT NULL,
	body       TEXT    NOT NULL DEFAULT '',
	status     TEXT    NOT NULL CHECK (status IN ('draft', 'signed')),
	author_id  TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER,
	signed_at  INTEGER,
	signed_by  TEXT    NOT NULL DEFAULT '',
	reason     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (note_id, version)
) STRICT;

CREATE TABLE process_notes (
	id         TEXT    NOT NULL PRIMARY KEY,
	patient_id TEXT    NOT NULL REFERENCES patients (id),
	author_id  TEXT    NOT NULL REFERENCES users (id),
	body       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX process_notes_patient_author ON process_notes (patient_id, author_id, created_at);

CREATE TABLE diagnoses (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	code        TEXT    NOT NULL,
	title       TEXT    NOT NULL DEFAULT '',
	note        TEXT    NOT NULL DEFAULT '',
	status      TEXT    NOT NULL CHECK (status IN ('active', 'resolved')),
	recorded_by TEXT    NOT NULL DEFAULT '',
	recorded_at INTEGER NOT NULL
) STRICT;

CREATE INDEX diagnoses_patient ON diagnoses (patient_id, recorded_at DESC);

CREATE TABLE plans (
	id            TEXT    NOT NULL PRIMARY KEY,
	patient_id    TEXT    NOT NULL REFERENCES patients (id),
	goals         TEXT    NOT NULL DEFAULT '',
	interventions TEXT    NOT NULL DEFAULT '',
	review_on     INTEGER,
	author_id     TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX plans_patient ON plans (patient_id, created_at DESC);

CREATE TABLE measures (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	instrument  TEXT    NOT NULL,
	score       INTEGER NOT NULL,
	severity    TEXT    NOT NULL DEFAULT '',
	recorded_by TEXT    NOT NULL DEFAULT '',
	taken_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX measures_patient ON measures (patient_id, taken_at);

-- One row per answered item, in item order.
CREATE TABLE measure_answers (
	measure_id TEXT    NOT NULL REFERENCES measures (id),
	item       INTEGER NOT NULL CHECK (item >= 0),
	answer     INTEGER NOT NULL,
	PRIMARY KEY (measure_id, item)
) STRICT, WITHOUT ROWID;

CREATE TABLE attachments (
	id           TEXT    NOT NULL PRIMARY KEY,
	patient_id   TEXT    NOT NULL REFERENCES patients (id),
	filename     TEXT    NOT NULL DEFAULT '',
	content_type TEXT    NOT NULL DEFAULT '',
	size         INTEGER NOT NULL CHECK (size >= 0),
	sha256       BLOB    NOT NULL,
	chunks       INTEGER NOT NULL CHECK (chunks >= 0),
	uploaded_by  TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX attachments_patient ON attachments (patient_id, created_at DESC);

-- Chunks are put before their attachment row in the same transaction, so
-- the reference is checked at commit: a transaction that leaves chunks
-- without metadata fails as a whole.
CREATE TABLE attachment_chunks (
	attachment_id TEXT    NOT NULL REFERENCES attachments (id) DEFERRABLE INITIALLY DEFERRED,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	data          BLOB    NOT NULL,
	PRIMARY KEY (attachment_id, idx)
) STRICT;
