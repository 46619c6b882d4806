-- 0002_sealed: encryption at rest. From here on the database never holds
-- clinical content or identifying patient data in the clear: internal/seal
-- encrypts them under the patient's key, and this store keeps the
-- ciphertext (data bytea) and blind indexes (bytea) it is given. What stays
-- in the clear is the documented leakage: opaque ids, clinic, author, record
-- type (note template, measure instrument, attachment content type),
-- status, timestamps and sizes.
--
-- Upgrading a schema-1 database destroys nothing:
--
--   1. (this migration) every table of schema 1 that holds patient data is
--      renamed to v1_<name>, with its indexes, and new, empty tables for
--      sealed rows take the original names;
--   2. internal/seal reads the plaintext records (DB.LegacyPatients,
--      DB.LegacyRecords), writes them sealed through the SealedStore, with
--      the same ids, and deletes them (DB.DeleteLegacyPatient);
--   3. 0003_drop_legacy validates the foreign keys of kept tables against
--      the new patients table and drops the v1_ tables. Migrate refuses to
--      apply it (ErrLegacyPending) while a v1 patient remains.
--
-- Tables without patient data (organisation, clinics, users, user_clinics,
-- sessions, care_relationships) keep their rows. In PostgreSQL a foreign key
-- follows the table it references when that is renamed, so the two that
-- referenced patients are dropped and re-created against the new patients
-- table. They are NOT VALID until 0003: the new table starts empty while
-- existing care relationships and patient accounts refer to patients that
-- are still to be sealed. NOT VALID constraints are checked for every row
-- inserted or whose patient_id changes from now on, so new references are
-- checked at once.
--
-- The conventions of 0001 hold: text ids, timestamptz with NULL for the
-- zero time, patient_id in every clinical table and leading its secondary
-- indexes (hash partitioning by patient later), constraint names as part of
-- the contract with the store code (error mapping).

-- 1. Schema 1's patient data moves aside.

ALTER TABLE patients RENAME TO v1_patients;
ALTER TABLE notes RENAME TO v1_notes;
ALTER TABLE note_versions RENAME TO v1_note_versions;
ALTER TABLE process_notes RENAME TO v1_process_notes;
ALTER TABLE diagnoses RENAME TO v1_diagnoses;
ALTER TABLE treatment_plans RENAME TO v1_treatment_plans;
ALTER TABLE measures RENAME TO v1_measures;
ALTER TABLE attachments RENAME TO v1_attachments;
ALTER TABLE attachment_chunks RENAME TO v1_attachment_chunks;

-- Index names share one namespace per schema with the tables; renaming an
-- index that backs a constraint renames the constraint too. (Foreign key and
-- check constraint names are per table and may stay.)
ALTER INDEX patients_pkey RENAME TO v1_patients_pkey;
ALTER INDEX patients_identity_code_key RENAME TO v1_patients_identity_code_key;
ALTER INDEX patients_clinic_family_idx RENAME TO v1_patients_clinic_family_idx;
ALTER INDEX patients_family_idx RENAME TO v1_patients_family_idx;
ALTER INDEX patients_given_idx RENAME TO v1_patients_given_idx;
ALTER INDEX notes_pkey RENAME TO v1_notes_pkey;
ALTER INDEX notes_patient_id_key RENAME TO v1_notes_patient_id_key;
ALTER INDEX notes_patient_session_idx RENAME TO v1_notes_patient_session_idx;
ALTER INDEX note_versions_pkey RENAME TO v1_note_versions_pkey;
ALTER INDEX process_notes_pkey RENAME TO v1_process_notes_pkey;
ALTER INDEX process_notes_patient_author_idx RENAME TO v1_process_notes_patient_author_idx;
ALTER INDEX diagnoses_pkey RENAME TO v1_diagnoses_pkey;
ALTER INDEX diagnoses_patient_idx RENAME TO v1_diagnoses_patient_idx;
ALTER INDEX treatment_plans_pkey RENAME TO v1_treatment_plans_pkey;
ALTER INDEX treatment_plans_patient_idx RENAME TO v1_treatment_plans_patient_idx;
ALTER INDEX measures_pkey RENAME TO v1_measures_pkey;
ALTER INDEX measures_patient_idx RENAME TO v1_measures_patient_idx;
ALTER INDEX attachments_pkey RENAME TO v1_attachments_pkey;
ALTER INDEX attachments_patient_idx RENAME TO v1_attachments_patient_idx;
ALTER INDEX attachment_chunks_pkey RENAME TO v1_attachment_chunks_pkey;

-- The kept tables' references to patients would now point at v1_patients.
ALTER TABLE users DROP CONSTRAINT users_patient_fkey;
ALTER TABLE care_relationships DROP CONSTRAINT care_patient_fkey;

-- 2. Sealed tables.

-- data seals name, identity code, birth date and contact details. The blind
-- indexes are NULL when absent and after erasure; they are truncated keyed
-- hashes, so they are not unique (internal/seal checks identity-code
-- uniqueness by decrypting the candidates).
CREATE TABLE patients (
    id                 text PRIMARY KEY,
    clinic_id          text NOT NULL CONSTRAINT patients_clinic_fkey REFERENCES clinics (id),
    created_at         timestamptz,
    erased_at          timestamptz, -- NULL unless crypto-shredded
    data               bytea NOT NULL,
    identity_index     bytea,
    surname_index      bytea,
    surname_year_index bytea
);
-- Lists are in registration order (created_at, then id; NULL is the zero
-- time, the earliest).
CREATE INDEX patients_created_idx ON patients (created_at NULLS FIRST, id);
CREATE INDEX patients_clinic_created_idx ON patients (clinic_id, created_at NULLS FIRST, id);
CREATE INDEX patients_identity_index_idx ON patients (identity_index) WHERE identity_index IS NOT NULL;
CREATE INDEX patients_surname_index_idx ON patients (surname_index) WHERE surname_index IS NOT NULL;
CREATE INDEX patients_surname_year_index_idx ON patients (surname_year_index) WHERE surname_year_index IS NOT NULL;

-- Wrapped keys. A patient's keyset wrapped by the KEK (kek_id names the KEK
-- key, so rotation finds what to re-wrap); erasure deletes the row. The
-- foreign key is deferred: a transaction may store the keyset before the
-- patient row. Owners are compared and ordered bytewise (COLLATE "C"), as
-- ListPatientKeys pages by owner; equality is the same as in patients.id.
CREATE TABLE patient_keys (
    patient_id text COLLATE "C" PRIMARY KEY CONSTRAINT patient_keys_patient_fkey
                   REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    updated_at timestamptz
);

-- System keys (the blind-index key, later the audit key), by name.
CREATE TABLE system_keys (
    name       text COLLATE "C" PRIMARY KEY,
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    updated_at timestamptz
);

CREATE TABLE notes (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT notes_patient_fkey REFERENCES patients (id),
    author_id   text NOT NULL DEFAULT '',
    session_at  timestamptz,
    created_at  timestamptz,
    released_at timestamptz, -- NULL until released to the patient
    released_by text NOT NULL DEFAULT '',
    CONSTRAINT notes_patient_id_key UNIQUE (patient_id, id)
);
CREATE INDEX notes_patient_session_idx ON notes (patient_id, session_at DESC NULLS LAST, created_at DESC NULLS LAST, id);

-- data seals the body and the amendment reason.
CREATE TABLE note_versions (
    patient_id text NOT NULL,
    note_id    text NOT NULL,
    version    integer NOT NULL CONSTRAINT note_versions_version_check CHECK (version >= 1),
    template   text NOT NULL DEFAULT '',
    status     text NOT NULL CONSTRAINT note_versions_status_check CHECK (status IN ('draft', 'signed')),
    author_id  text NOT NULL DEFAULT '',
    created_at timestamptz,
    updated_at timestamptz,
    signed_at  timestamptz,
    signed_by  text NOT NULL DEFAULT '',
    data       bytea NOT NULL,
    PRIMARY KEY (patient_id, note_id, version),
    CONSTRAINT note_versions_note_fkey FOREIGN KEY (patient_id, note_id) REFERENCES notes (patient_id, id)
);

CREATE TABLE process_notes (
    id         text PRIMARY KEY,
    patient_id text NOT NULL CONSTRAINT process_notes_patient_fkey REFERENCES patients (id),
    author_id  text NOT NULL,
    created_at timestamptz,
    data       bytea NOT NULL
);
CREATE INDEX process_notes_patient_author_idx ON process_notes (patient_id, author_id, created_at DESC NULLS LAST, id);

-- data seals code, title and comment.
CREATE TABLE diagnoses (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT diagnoses_patient_fkey REFERENCES patients (id),
    status      text NOT NULL CONSTRAINT diagnoses_status_check CHECK (status IN ('active', 'resolved')),
    recorded_by text NOT NULL DEFAULT '',
    recorded_at timestamptz,
    data        bytea NOT NULL
);
CREATE INDEX diagnoses_patient_idx ON diagnoses (patient_id, recorded_at DESC NULLS LAST, id);

-- data seals goals, interventions and review date.
CREATE TABLE treatment_plans (
    id         text PRIMARY KEY,
    patient_id text NOT NULL CONSTRAINT treatment_plans_patient_fkey REFERENCES patients (id),
    author_id  text NOT NULL DEFAULT '',
    created_at timestamptz,
    data       bytea NOT NULL
);
CREATE INDEX treatment_plans_patient_idx ON treatment_plans (patient_id, created_at DESC NULLS LAST, id);

-- data seals answers, score and severity; the instrument is the record type.
CREATE TABLE measures (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT measures_patient_fkey REFERENCES patients (id),
    instrument  text NOT NULL,
    recorded_by text NOT NULL DEFAULT '',
    taken_at    timestamptz,
    data        bytea NOT NULL
);
CREATE INDEX measures_patient_idx ON measures (patient_id, taken_at NULLS FIRST, id);

-- data seals the file name and digest; size is the plaintext size.
CREATE TABLE attachments (
    id           text PRIMARY KEY,
    patient_id   text NOT NULL CONSTRAINT attachments_patient_fkey REFERENCES patients (id),
    content_type text NOT NULL DEFAULT '',
    size         bigint NOT NULL DEFAULT 0,
    chunks       integer NOT NULL DEFAULT 0,
    uploaded_by  text NOT NULL DEFAULT '',
    created_at   timestamptz,
    data         bytea NOT NULL
);
CREATE INDEX attachments_patient_idx ON attachments (patient_id, created_at DESC NULLS LAST, id);

-- Each chunk is sealed on its own. As in 0001, chunks are written before
-- their attachment row, which fills in patient_id; the deferred foreign key
-- makes a transaction that leaves chunks without metadata fail at commit.
CREATE TABLE attachment_chunks (
    attachment_id text NOT NULL CONSTRAINT attachment_chunks_attachment_fkey
                      REFERENCES attachments (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    idx           integer NOT NULL CONSTRAINT attachment_chunks_idx_check CHECK (idx >= 0),
    patient_id    text,
    data          bytea NOT NULL,
    PRIMARY KEY (attachment_id, idx)
);
-- PatientBlobs and RewriteBlob find a patient's chunks by patient_id.
CREATE INDEX attachment_chunks_patient_idx ON attachment_chunks (patient_id, attachment_id, idx);

-- 3. The kept tables refer to the new patients table; existing rows are
-- validated by 0003, once their patients have been sealed.
ALTER TABLE users ADD CONSTRAINT users_patient_fkey
    FOREIGN KEY (patient_id) REFERENCES patients (id) NOT VALID;
ALTER TABLE care_relationships ADD CONSTRAINT care_patient_fkey
    FOREIGN KEY (patient_id) REFERENCES patients (id) NOT VALID;
