-- 0006_totp: the TOTP second factor of sign-in (docs/SECURITY.md).
--
-- One row per user who has started an enrolment. secret and pending are
-- sealed by internal/seal under the "~totp" system keyset with associated
-- data "totp/v1|<user id>": a stolen database does not yield them. The
-- last accepted time step is in the clear; the conditional updates of
-- ConfirmTOTP and UseTOTPStep compare it, so that one code is accepted
-- once even when two requests send it at the same time.
CREATE TABLE user_totp (
    user_id     text PRIMARY KEY CONSTRAINT user_totp_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    secret      bytea,              -- NULL while not enrolled
    pending     bytea,              -- NULL when no enrolment is pending
    last_step   bigint NOT NULL DEFAULT 0,
    enrolled_at timestamptz,        -- NULL while not enrolled
    updated_at  timestamptz NOT NULL
);

-- Wrong second-factor codes sent with a pending sign-in (a session of kind
-- "mfa"), which ends at a cap (a table of its own, as on SQLite).
CREATE TABLE session_failures (
    session_id text PRIMARY KEY CONSTRAINT session_failures_session_fkey REFERENCES sessions (id) ON DELETE CASCADE,
    failures   integer NOT NULL
);
