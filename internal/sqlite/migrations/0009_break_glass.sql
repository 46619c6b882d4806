-- 0009_break_glass: emergency access without a care relationship
-- (docs/SECURITY.md, "Break-the-glass").
--
-- Ids, category, status and times are in the clear (the documented
-- metadata); data seals the reason and the reviewer's comment under the
-- patient's key (kind break_glass).
CREATE TABLE break_glass (
	id           TEXT    NOT NULL PRIMARY KEY,
	therapist_id TEXT    NOT NULL REFERENCES users (id),
	patient_id   TEXT    NOT NULL REFERENCES patients (id),
	clinic_id    TEXT    NOT NULL,
	category     TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	status       TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'justified', 'not_justified')),
	reviewed_by  TEXT    NOT NULL DEFAULT '',
	reviewed_at  INTEGER,
	data         BLOB    NOT NULL,
	CHECK (expires_at > created_at)
) STRICT;

-- A chart access without care looks up the therapist's active grant.
CREATE INDEX break_glass_active ON break_glass (therapist_id, patient_id, expires_at);
-- The review queue, newest first; and a patient's grants (blobs).
CREATE INDEX break_glass_created ON break_glass (created_at, id);
CREATE INDEX break_glass_open ON break_glass (created_at, id) WHERE status = 'open';
CREATE INDEX break_glass_patient ON break_glass (patient_id);
