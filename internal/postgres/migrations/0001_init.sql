-- 0001_init: the first schema of Confidant on PostgreSQL.
--
-- Conventions:
--   * ids are text (confidant.NewID); times are timestamptz and a zero
--     time.Time is stored as NULL; binary values are bytea; optional strings
--     are '' rather than NULL, except where NULL keeps a constraint meaningful
--     (identity codes, users.patient_id).
--   * Every clinical table carries patient_id, and its secondary indexes lead
--     with patient_id, so that a later migration can partition those tables
--     by patient_id (HASH) with partition-local indexes. Child tables
--     (note_versions, attachment_chunks) carry patient_id too, so they can be
--     co-partitioned with their parents. Such a migration would copy each
--     table into a partitioned one whose primary key is (patient_id, id),
--     keep a plain (non-unique) index on id for the Tx methods that look
--     records up by id alone, and fill attachment_chunks.patient_id, which is
--     NULL until CreateAttachment (PutAttachmentChunk is not told the
--     patient).
--   * Constraint names are part of the contract with store code: the store
--     maps unique violations to error codes by constraint name.

CREATE TABLE organisation (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz,
    -- An installation holds exactly one organisation.
    singleton  boolean NOT NULL DEFAULT true CONSTRAINT organisation_singleton_check CHECK (singleton),
    CONSTRAINT organisation_singleton_key UNIQUE (singleton)
);

CREATE TABLE clinics (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    city       text NOT NULL DEFAULT '',
    created_at timestamptz
);

CREATE TABLE patients (
    id               text PRIMARY KEY,
    clinic_id        text NOT NULL CONSTRAINT patients_clinic_fkey REFERENCES clinics (id),
    given_name       text NOT NULL DEFAULT '',
    family_name      text NOT NULL DEFAULT '',
    -- confidant.NormalizeName of the names, for case-insensitive prefix
    -- search by range comparison. COLLATE "C" makes the order bytewise
    -- (= code point order for UTF-8), which the range bounds rely on.
    given_name_norm  text COLLATE "C" NOT NULL DEFAULT '',
    family_name_norm text COLLATE "C" NOT NULL DEFAULT '',
    identity_code    text CONSTRAINT patients_identity_code_key UNIQUE, -- NULL when unknown
    birth_date       timestamptz,
    phone            text NOT NULL DEFAULT '',
    email            text NOT NULL DEFAULT '',
    address          text NOT NULL DEFAULT '',
    created_at       timestamptz
);
CREATE INDEX patients_clinic_family_idx ON patients (clinic_id, family_name_norm, given_name_norm, id);
CREATE INDEX patients_family_idx ON patients (family_name_norm, given_name_norm, id);
CREATE INDEX patients_given_idx ON patients (given_name_norm);

CREATE TABLE users (
    id            text PRIMARY KEY,
    username      text NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL CONSTRAINT users_role_check
                      CHECK (role IN ('therapist', 'patient', 'manager', 'security')),
    patient_id    text CONSTRAINT users_patient_fkey REFERENCES patients (id), -- patients only
    password_hash text NOT NULL DEFAULT '',
    disabled      boolean NOT NULL DEFAULT false,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz
);
CREATE INDEX users_role_idx ON users (role, username);
CREATE INDEX users_patient_idx ON users (patient_id) WHERE patient_id IS NOT NULL;

-- Clinic memberships of staff. position keeps the order of User.ClinicIDs.
CREATE TABLE user_clinics (
    user_id   text NOT NULL CONSTRAINT user_clinics_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    clinic_id text NOT NULL CONSTRAINT user_clinics_clinic_fkey REFERENCES clinics (id),
    position  integer NOT NULL,
    PRIMARY KEY (user_id, clinic_id)
);
CREATE INDEX user_clinics_clinic_idx ON user_clinics (clinic_id, user_id);

CREATE TABLE sessions (
    id         text PRIMARY KEY,
    token_hash bytea NOT NULL CONSTRAINT sessions_token_hash_key UNIQUE,
    user_id    text NOT NULL CONSTRAINT sessions_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL DEFAULT '',
    created_at timestamptz,
    last_seen  timestamptz,
    expires_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE care_relationships (
    id           text PRIMARY KEY,
    patient_id   text NOT NULL CONSTRAINT care_patient_fkey REFERENCES patients (id),
    therapist_id text NOT NULL CONSTRAINT care_therapist_fkey REFERENCES users (id),
    clinic_id    text NOT NULL CONSTRAINT care_clinic_fkey REFERENCES clinics (id),
    from_at      timestamptz, -- NULL: since always
    to_at        timestamptz, -- NULL: open-ended; exclusive
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz,
    ended_by     text NOT NULL DEFAULT ''
);
-- Hot paths: a therapist's patient list and the per-request access check
-- (therapist, patient, at); a patient's care team.
CREATE INDEX care_therapist_idx ON care_relationships (therapist_id, patient_id, from_at);
CREATE INDEX care_patient_idx ON care_relationships (patient_id, from_at);
CREATE INDEX care_clinic_idx ON care_relationships (clinic_id, from_at);

CREATE TABLE notes (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT notes_patient_fkey REFERENCES patients (id),
    author_id   text NOT NULL DEFAULT '',
    session_at  timestamptz,
    created_at  timestamptz,
    released_at timestamptz, -- NULL until released to the patient
    released_by text NOT NULL DEFAULT '',
    -- The target of note_versions' foreign key, which thereby also checks
    -- that a version belongs to the same patient as its note.
    CONSTRAINT notes_patient_id_key UNIQUE (patient_id, id)
);
-- A patient's notes, newest session first (Tx.ListNotes).
CREATE INDEX notes_patient_session_idx ON notes (patient_id, session_at DESC NULLS LAST, created_at DESC NULLS LAST, id);

CREATE TABLE note_versions (
    patient_id text NOT NULL,
    note_id    text NOT NULL,
    version    integer NOT NULL CONSTRAINT note_versions_version_check CHECK (version >= 1),
    template   text NOT NULL DEFAULT '',
    body       text NOT NULL DEFAULT '',
    status     text NOT NULL CONSTRAINT note_versions_status_check CHECK (status IN ('draft', 'signed')),
    author_id  text NOT NULL DEFAULT '',
    created_at timestamptz,
    updated_at timestamptz,
    signed_at  timestamptz,
    signed_by  text NOT NULL DEFAULT '',
    reason     text NOT NULL DEFAULT '',
    PRIMARY KEY (patient_id, note_id, version),
    CONSTRAINT note_versions_note_fkey FOREIGN KEY (patient_id, note_id) REFERENCES notes (patient_id, id)
);

CREATE TABLE process_notes (
    id         text PRIMARY KEY,
    patient_id text NOT NULL CONSTRAINT process_notes_patient_fkey REFERENCES patients (id),
    author_id  text NOT NULL,
    body       text NOT NULL DEFAULT '',
    created_at timestamptz
);
CREATE INDEX process_notes_patient_author_idx ON process_notes (patient_id, author_id, created_at DESC NULLS LAST, id);

CREATE TABLE diagnoses (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT diagnoses_patient_fkey REFERENCES patients (id),
    code        text NOT NULL,
    title       text NOT NULL DEFAULT '',
    note        text NOT NULL DEFAULT '',
    status      text NOT NULL CONSTRAINT diagnoses_status_check CHECK (status IN ('active', 'resolved')),
    recorded_by text NOT NULL DEFAULT '',
    recorded_at timestamptz
);
CREATE INDEX diagnoses_patient_idx ON diagnoses (patient_id, recorded_at DESC NULLS LAST, id);

CREATE TABLE treatment_plans (
    id            text PRIMARY KEY,
    patient_id    text NOT NULL CONSTRAINT treatment_plans_patient_fkey REFERENCES patients (id),
    goals         text NOT NULL DEFAULT '',
    interventions text NOT NULL DEFAULT '',
    review_on     timestamptz,
    author_id     text NOT NULL DEFAULT '',
    created_at    timestamptz
);
CREATE INDEX treatment_plans_patient_idx ON treatment_plans (patient_id, created_at DESC NULLS LAST, id);

CREATE TABLE measures (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL CONSTRAINT measures_patient_fkey REFERENCES patients (id),
    instrument  text NOT NULL,
    answers     integer[],
    score       integer NOT NULL DEFAULT 0,
    severity    text NOT NULL DEFAULT '',
    recorded_by text NOT NULL DEFAULT '',
    taken_at    timestamptz
);
CREATE INDEX measures_patient_idx ON measures (patient_id, taken_at NULLS FIRST, id);

CREATE TABLE attachments (
    id           text PRIMARY KEY,
    patient_id   text NOT NULL CONSTRAINT attachments_patient_fkey REFERENCES patients (id),
    filename     text NOT NULL DEFAULT '',
    content_type text NOT NULL DEFAULT '',
    size         bigint NOT NULL DEFAULT 0,
    sha256       bytea,
    chunks       integer NOT NULL DEFAULT 0,
    uploaded_by  text NOT NULL DEFAULT '',
    created_at   timestamptz
);
CREATE INDEX attachments_patient_idx ON attachments (patient_id, created_at DESC NULLS LAST, id);

-- Chunks are written before their attachment row (Tx.PutAttachmentChunk does
-- not know the patient); CreateAttachment fills in patient_id. The deferred
-- foreign key makes a transaction that leaves chunks without metadata fail
-- at commit.
CREATE TABLE attachment_chunks (
    attachment_id text NOT NULL CONSTRAINT attachment_chunks_attachment_fkey
                      REFERENCES attachments (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    idx           integer NOT NULL CONSTRAINT attachment_chunks_idx_check CHECK (idx >= 0),
    patient_id    text,
    data          bytea NOT NULL,
    PRIMARY KEY (attachment_id, idx)
);
