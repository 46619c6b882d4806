-- 0011_webauthn: passkeys (WebAuthn) and recovery codes as second factors
-- (docs/SECURITY.md); as SQLite's 0010_webauthn.
--
-- A user's WebAuthn user handle is 32 random bytes: it holds no personal
-- data, and a discoverable sign-in finds the user by it.
CREATE TABLE webauthn_handles (
    user_id    text PRIMARY KEY CONSTRAINT webauthn_handles_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    handle     bytea NOT NULL CONSTRAINT webauthn_handles_handle_key UNIQUE,
    created_at timestamptz NOT NULL
);

-- Registered credentials. data is sealed by internal/seal (public key,
-- attestation, AAGUID, transports, the user's name for it) with associated
-- data "webauthn/v1|<user id>|<id>|<credential id>"; the counter, flags and times are in
-- the clear.
CREATE TABLE webauthn_credentials (
    id              text PRIMARY KEY,
    user_id         text NOT NULL CONSTRAINT webauthn_credentials_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    credential_id   bytea NOT NULL CONSTRAINT webauthn_credentials_credential_id_key UNIQUE,
    user_verified   boolean NOT NULL,
    backup_eligible boolean NOT NULL,
    backup_state    boolean NOT NULL,
    sign_count      bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz,        -- NULL: never used
    data            bytea NOT NULL
);

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Ceremony state between begin and finish, and completed step-ups; each
-- used once (deleted), swept after expires_at.
CREATE TABLE webauthn_ceremonies (
    id         text PRIMARY KEY,
    kind       text NOT NULL,
    user_id    text NOT NULL DEFAULT '',
    session_id text NOT NULL DEFAULT '',
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

-- Single-use recovery codes: argon2id hashes only.
CREATE TABLE recovery_codes (
    user_id    text NOT NULL CONSTRAINT recovery_codes_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    n          integer NOT NULL,
    hash       text NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,             -- NULL while unused
    PRIMARY KEY (user_id, n)
);
