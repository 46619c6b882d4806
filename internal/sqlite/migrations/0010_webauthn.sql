-- 0010_webauthn: passkeys (WebAuthn) and recovery codes as second factors
-- (docs/SECURITY.md).
--
-- A user's WebAuthn user handle is 32 random bytes: it holds no personal
-- data, and a discoverable sign-in finds the user by it.
CREATE TABLE webauthn_handles (
	user_id    TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	handle     BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

-- Registered credentials. data is sealed by internal/seal (public key,
-- attestation, AAGUID, transports, the user's name for it) with associated
-- data "webauthn/v1|<user id>|<id>|<credential id>"; the counter, flags and times are in
-- the clear.
CREATE TABLE webauthn_credentials (
	id              TEXT    NOT NULL PRIMARY KEY,
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id   BLOB    NOT NULL UNIQUE,
	user_verified   INTEGER NOT NULL CHECK (user_verified IN (0, 1)),
	backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
	backup_state    INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
	sign_count      INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER,          -- NULL: never used
	data            BLOB    NOT NULL
) STRICT;

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Ceremony state between begin and finish, and completed step-ups; each
-- used once (deleted), swept after expires_at.
CREATE TABLE webauthn_ceremonies (
	id         TEXT    NOT NULL PRIMARY KEY,
	kind       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL DEFAULT '',
	session_id TEXT    NOT NULL DEFAULT '',
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

-- Single-use recovery codes: argon2id hashes only.
CREATE TABLE recovery_codes (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	n          INTEGER NOT NULL,
	hash       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,               -- NULL while unused
	PRIMARY KEY (user_id, n)
) STRICT;
