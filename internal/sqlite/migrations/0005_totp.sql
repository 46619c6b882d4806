-- 0005_totp: the TOTP second factor of sign-in (docs/SECURITY.md).
--
-- One row per user who has started an enrolment. secret and pending are
-- sealed by internal/seal under the "~totp" system keyset with associated
-- data "totp/v1|<user id>": a stolen database does not yield them. The
-- last accepted time step is in the clear; the conditional updates of
-- ConfirmTOTP and UseTOTPStep compare it, so that one code is accepted
-- once even when two requests send it at the same time.
CREATE TABLE user_totp (
	user_id     TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret      BLOB,             -- NULL while not enrolled
	pending     BLOB,             -- NULL when no enrolment is pending
	last_step   INTEGER NOT NULL DEFAULT 0,
	enrolled_at INTEGER,          -- unix microseconds, UTC; NULL while not enrolled
	updated_at  INTEGER NOT NULL
) STRICT;

-- Wrong second-factor codes sent with a pending sign-in (a session of kind
-- "mfa"), which ends at a cap. A table of its own rather than a column of
-- sessions, which the store reads also on a schema 2 database waiting for
-- its sealing upgrade.
CREATE TABLE session_failures (
	session_id TEXT    NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	failures   INTEGER NOT NULL
) STRICT;
