-- 0007_invitations: accounts by invitation and two people for clinical
-- access (docs/SECURITY.md, "Separation of duties").
--
-- Accounts from before count as approved (awaiting_approval false).
ALTER TABLE users
    ADD COLUMN email             text    NOT NULL DEFAULT '',
    ADD COLUMN invited_by        text    NOT NULL DEFAULT '',
    ADD COLUMN awaiting_approval boolean NOT NULL DEFAULT false,
    ADD COLUMN approved_by       text    NOT NULL DEFAULT '',
    ADD COLUMN approved_at       timestamptz,
    ADD COLUMN disabled_by       text    NOT NULL DEFAULT '';

-- A patient has at most one portal account.
CREATE UNIQUE INDEX users_one_portal_account ON users (patient_id) WHERE patient_id IS NOT NULL;

-- One-time invitations to set a password: only the SHA-256 of the random
-- token is stored, so a copy of the database opens no account.
CREATE TABLE invitations (
    token_hash bytea       PRIMARY KEY,
    user_id    text        NOT NULL CONSTRAINT invitations_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz              -- NULL while unused
);

CREATE INDEX invitations_user_idx ON invitations (user_id);
