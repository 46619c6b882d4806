-- 0006_invitations: accounts by invitation and two people for clinical
-- access (docs/SECURITY.md, "Separation of duties").
--
-- Accounts from before count as approved (awaiting_approval 0).
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN invited_by TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN awaiting_approval INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_approval IN (0, 1));
ALTER TABLE users ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN approved_at INTEGER;
ALTER TABLE users ADD COLUMN disabled_by TEXT NOT NULL DEFAULT '';

-- A patient has at most one portal account.
CREATE UNIQUE INDEX users_one_portal_account ON users (patient_id) WHERE patient_id <> '';

-- One-time invitations to set a password: only the SHA-256 of the random
-- token is stored, so a copy of the database opens no account.
CREATE TABLE invitations (
	token_hash BLOB    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_by TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER            -- NULL while unused
) STRICT;

CREATE INDEX invitations_user ON invitations (user_id);
