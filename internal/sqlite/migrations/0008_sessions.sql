-- 0008_sessions: what users see of their own sign-ins (docs/SECURITY.md,
-- "Sessions and notices"): each session's client, the clients an account
-- has signed in from (only a SHA-256 of user, address and agent), and
-- security notices (new client, repeated failures). No patient data.
ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN agent TEXT NOT NULL DEFAULT '';

CREATE TABLE known_clients (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_key BLOB    NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_key)
) STRICT;

CREATE TABLE notices (
	id         TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	client     TEXT    NOT NULL DEFAULT '',
	agent      TEXT    NOT NULL DEFAULT '',
	count      INTEGER NOT NULL DEFAULT 0,
	read_at    INTEGER
) STRICT;

CREATE INDEX notices_user ON notices (user_id, at);

-- Single sign-on: a staff account linked (by accepting its invitation) to
-- one identity of the configured OpenID Connect provider.
CREATE TABLE external_identities (
	issuer     TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject)
) STRICT;

CREATE INDEX external_identities_user ON external_identities (user_id);
