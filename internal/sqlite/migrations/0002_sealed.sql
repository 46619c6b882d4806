-- 0002_sealed: encryption at rest. From here on the database holds clinical
-- content and identifying patient data only as ciphertext made by
-- internal/seal (the data BLOB columns) and blind indexes (the *_index BLOB
-- columns); see confidant.SealedStore for what stays in the clear.
--
-- The plaintext tables of schema 1 are not destroyed: each table that holds
-- patient data is renamed to v1_<name>, and new sealed tables take the
-- original names. internal/seal then reads the v1_ tables (DB.LegacyPatients,
-- DB.LegacyRecords), writes every patient sealed, verifies it and deletes the
-- plaintext rows (DB.DeleteLegacyPatient); migration 0003 drops the empty
-- v1_ tables and Migrate refuses to apply it before that (ErrLegacyPending).
--
-- Renaming a table rewrites the REFERENCES clauses that name it, in every
-- table (foreign keys are on). That keeps the v1_ tables consistent among
-- themselves (v1_note_versions -> v1_notes -> v1_patients), but it also
-- pointed care.patient_id at v1_patients; care holds no patient data and
-- keeps its rows, so it is rebuilt below to reference the new patients
-- table. Until the upgrade has sealed a patient, that patient's care rows
-- refer to a row that is only in v1_patients; Migrate's reference check
-- accepts exactly those. users.patient_id has no foreign key.
--
-- Tables without patient data keep their rows: organisation, clinics, users,
-- user_clinics, sessions, care, schema_migrations.

-- Schema 1 tables, children before parents.
ALTER TABLE attachment_chunks RENAME TO v1_attachment_chunks;
ALTER TABLE attachments RENAME TO v1_attachments;
ALTER TABLE measure_answers RENAME TO v1_measure_answers;
ALTER TABLE measures RENAME TO v1_measures;
ALTER TABLE plans RENAME TO v1_plans;
ALTER TABLE diagnoses RENAME TO v1_diagnoses;
ALTER TABLE process_notes RENAME TO v1_process_notes;
ALTER TABLE note_versions RENAME TO v1_note_versions;
ALTER TABLE notes RENAME TO v1_notes;
ALTER TABLE patients RENAME TO v1_patients;

-- Indexes keep their names when their table is renamed. The name indexes of
-- schema 1 hold plaintext and nothing searches them any more; the others get
-- a v1_ name (the legacy reader looks records up by patient), freeing the
-- names for the new tables.
DROP INDEX patients_identity_code;
DROP INDEX patients_clinic;
DROP INDEX patients_family_norm;
DROP INDEX patients_given_norm;
DROP INDEX notes_patient_session;
DROP INDEX process_notes_patient_author;
DROP INDEX diagnoses_patient;
DROP INDEX plans_patient;
DROP INDEX measures_patient;
DROP INDEX attachments_patient;
CREATE INDEX v1_notes_patient ON v1_notes (patient_id);
CREATE INDEX v1_process_notes_patient ON v1_process_notes (patient_id);
CREATE INDEX v1_diagnoses_patient ON v1_diagnoses (patient_id);
CREATE INDEX v1_plans_patient ON v1_plans (patient_id);
CREATE INDEX v1_measures_patient ON v1_measures (patient_id);
CREATE INDEX v1_attachments_patient ON v1_attachments (patient_id);

-- Patients: ids, clinic and times in the clear; everything identifying in
-- data; blind indexes for exact-match search. Indexes are not unique (they
-- are truncated, so different values may share one) and are NULL when not
-- set and after erasure.
CREATE TABLE patients (
	id                 TEXT    NOT NULL PRIMARY KEY,
	clinic_id          TEXT    NOT NULL REFERENCES clinics (id),
	created_at         INTEGER NOT NULL,
	erased_at          INTEGER, -- NULL unless crypto-shredded
	data               BLOB    NOT NULL,
	identity_index     BLOB,
	surname_index      BLOB,
	surname_year_index BLOB,
	CHECK (erased_at IS NULL OR (identity_index IS NULL AND surname_index IS NULL AND surname_year_index IS NULL))
) STRICT;

CREATE INDEX patients_created ON patients (created_at, id);
CREATE INDEX patients_clinic ON patients (clinic_id, created_at, id);
CREATE INDEX patients_identity_index ON patients (identity_index) WHERE identity_index IS NOT NULL;
CREATE INDEX patients_surname_index ON patients (surname_index) WHERE surname_index IS NOT NULL;
CREATE INDEX patients_surname_year_index ON patients (surname_year_index) WHERE surname_year_index IS NOT NULL;

-- A patient's keyset, wrapped by the key-encryption key. Deleting the row
-- is crypto-shredding. The reference is checked at commit, so the key and
-- the patient may be written in either order.
CREATE TABLE patient_keys (
	patient_id TEXT    NOT NULL PRIMARY KEY REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	kek_id     TEXT    NOT NULL,
	wrapped    BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- Keys of the installation (the blind-index key, later the audit key),
-- wrapped by the key-encryption key.
CREATE TABLE system_keys (
	name       TEXT    NOT NULL PRIMARY KEY,
	kek_id     TEXT    NOT NULL,
	wrapped    BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE notes (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	author_id   TEXT    NOT NULL REFERENCES users (id),
	session_at  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	released_at INTEGER, -- NULL until released to the patient
	released_by TEXT    NOT NULL DEFAULT '',
	UNIQUE (id, patient_id) -- target of note_versions' reference
) STRICT;

CREATE INDEX notes_patient_session ON notes (patient_id, session_at DESC, id);

-- data seals the body and the amendment reason. patient_id repeats the
-- note's, enforced by the reference, so a patient's blobs are found by one
-- index.
CREATE TABLE note_versions (
	note_id    TEXT    NOT NULL,
	patient_id TEXT    NOT NULL,
	version    INTEGER NOT NULL CHECK (version >= 1),
	template   TEXT    NOT NULL,
	status     TEXT    NOT NULL CHECK (status IN ('draft', 'signed')),
	author_id  TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER,
	signed_at  INTEGER,
	signed_by  TEXT    NOT NULL DEFAULT '',
	data       BLOB    NOT NULL,
	PRIMARY KEY (note_id, version),
	FOREIGN KEY (note_id, patient_id) REFERENCES notes (id, patient_id)
) STRICT;

CREATE INDEX note_versions_patient ON note_versions (patient_id);

CREATE TABLE process_notes (
	id         TEXT    NOT NULL PRIMARY KEY,
	patient_id TEXT    NOT NULL REFERENCES patients (id),
	author_id  TEXT    NOT NULL REFERENCES users (id),
	created_at INTEGER NOT NULL,
	data       BLOB    NOT NULL
) STRICT;

CREATE INDEX process_notes_patient_author ON process_notes (patient_id, author_id, created_at);

-- data seals code, title and comment.
CREATE TABLE diagnoses (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	status      TEXT    NOT NULL CHECK (status IN ('active', 'resolved')),
	recorded_by TEXT    NOT NULL DEFAULT '',
	recorded_at INTEGER NOT NULL,
	data        BLOB    NOT NULL
) STRICT;

CREATE INDEX diagnoses_patient ON diagnoses (patient_id, recorded_at DESC);

-- data seals goals, interventions and review date.
CREATE TABLE plans (
	id         TEXT    NOT NULL PRIMARY KEY,
	patient_id TEXT    NOT NULL REFERENCES patients (id),
	author_id  TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	data       BLOB    NOT NULL
) STRICT;

CREATE INDEX plans_patient ON plans (patient_id, created_at DESC);

-- data seals answers, score and severity; the instrument is in the clear.
CREATE TABLE measures (
	id          TEXT    NOT NULL PRIMARY KEY,
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	instrument  TEXT    NOT NULL,
	recorded_by TEXT    NOT NULL DEFAULT '',
	taken_at    INTEGER NOT NULL,
	data        BLOB    NOT NULL
) STRICT;

CREATE INDEX measures_patient ON measures (patient_id, taken_at);

-- data seals file name and digest. size is the plaintext size.
CREATE TABLE attachments (
	id           TEXT    NOT NULL PRIMARY KEY,
	patient_id   TEXT    NOT NULL REFERENCES patients (id),
	content_type TEXT    NOT NULL DEFAULT '',
	size         INTEGER NOT NULL CHECK (size >= 0),
	chunks       INTEGER NOT NULL CHECK (chunks >= 0),
	uploaded_by  TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	data         BLOB    NOT NULL,
	UNIQUE (id, patient_id) -- target of attachment_chunks' reference
) STRICT;

CREATE INDEX attachments_patient ON attachments (patient_id, created_at DESC);

-- Each chunk is sealed on its own. Chunks are put before their attachment
-- row in the same transaction, without the patient id, which
-- CreateAttachment fills in; both references are checked at commit, so a
-- transaction that leaves chunks without metadata fails as a whole.
CREATE TABLE attachment_chunks (
	attachment_id TEXT    NOT NULL REFERENCES attachments (id) DEFERRABLE INITIALLY DEFERRED,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	patient_id    TEXT, -- NULL only until CreateAttachment
	data          BLOB    NOT NULL,
	PRIMARY KEY (attachment_id, idx),
	FOREIGN KEY (attachment_id, patient_id) REFERENCES attachments (id, patient_id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE INDEX attachment_chunks_patient ON attachment_chunks (patient_id);

-- care: rebuilt so that patient_id references the new patients table (the
-- rename above pointed it at v1_patients). Same columns, rows and indexes.
CREATE TABLE care_sealed (
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

INSERT INTO care_sealed (id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by)
	SELECT id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by FROM care;
DROP TABLE care;
ALTER TABLE care_sealed RENAME TO care;

CREATE INDEX care_therapist ON care (therapist_id, patient_id, from_at);
CREATE INDEX care_patient ON care (patient_id, from_at);
CREATE INDEX care_clinic ON care (clinic_id);
