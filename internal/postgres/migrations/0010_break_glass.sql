-- 0010_break_glass: emergency access without a care relationship
-- (docs/SECURITY.md, "Break-the-glass").
--
-- Ids, category, status and times are in the clear (the documented
-- metadata); data seals the reason and the reviewer's comment under the
-- patient's key (kind break_glass).
CREATE TABLE break_glass (
    id           text        PRIMARY KEY,
    therapist_id text        NOT NULL CONSTRAINT break_glass_therapist_fkey REFERENCES users (id),
    patient_id   text        NOT NULL CONSTRAINT break_glass_patient_fkey REFERENCES patients (id),
    clinic_id    text        NOT NULL,
    category     text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'open' CONSTRAINT break_glass_status_check CHECK (status IN ('open', 'justified', 'not_justified')),
    reviewed_by  text        NOT NULL DEFAULT '',
    reviewed_at  timestamptz,
    data         bytea       NOT NULL,
    CONSTRAINT break_glass_period_check CHECK (expires_at > created_at)
);

-- A chart access without care looks up the therapist's active grant.
CREATE INDEX break_glass_active_idx ON break_glass (therapist_id, patient_id, expires_at);
-- The review queue, newest first; and a patient's grants (blobs).
CREATE INDEX break_glass_created_idx ON break_glass (created_at DESC, id DESC);
CREATE INDEX break_glass_open_idx ON break_glass (created_at DESC, id DESC) WHERE status = 'open';
CREATE INDEX break_glass_patient_idx ON break_glass (patient_id);
