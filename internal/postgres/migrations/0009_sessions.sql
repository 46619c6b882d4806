-- 0009_sessions: what users see of their own sign-ins (docs/SECURITY.md,
-- "Sessions and notices"): each session's client, the clients an account
-- has signed in from (only a SHA-256 of user, address and agent), and
-- security notices (new client, repeated failures). No patient data.
ALTER TABLE sessions
    ADD COLUMN client text NOT NULL DEFAULT '',
    ADD COLUMN agent text NOT NULL DEFAULT '';

CREATE TABLE known_clients (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_key bytea NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_key)
);

CREATE TABLE notices (
    id      text NOT NULL PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL,
    at      timestamptz NOT NULL,
    client  text NOT NULL DEFAULT '',
    agent   text NOT NULL DEFAULT '',
    count   integer NOT NULL DEFAULT 0,
    read_at timestamptz
);

CREATE INDEX notices_user ON notices (user_id, at);

-- Single sign-on: a staff account linked (by accepting its invitation) to
-- one identity of the configured OpenID Connect provider.
CREATE TABLE external_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX external_identities_user ON external_identities (user_id);
