-- 0006_login_failures: sign-in throttling (docs/SECURITY.md, "Throttling").
--
-- Failed sign-ins counted per (client, account), shared by every server of
-- one database. client_key is a keyed hash (HMAC-SHA-256 under a key
-- derived from the KEK-wrapped blind-index key, 128 bits) of the client's
-- address: the database holds no client address. account is a user id or,
-- for a username no account has, a keyed hash of that username prefixed by
-- "~". Rows are deleted by a successful sign-in, by a security officer, or
-- by the server's sweep a day after their last failure.
--
-- The users table's failed_logins and locked_until columns of the account
-- lockout this replaces are kept but no longer read by the service.
CREATE TABLE login_failures (
	client_key   BLOB    NOT NULL,
	account      TEXT    NOT NULL,
	failures     INTEGER NOT NULL,
	last_failure INTEGER NOT NULL, -- unix microseconds, UTC
	PRIMARY KEY (client_key, account)
) STRICT;
CREATE INDEX login_failures_account ON login_failures (account);
CREATE INDEX login_failures_last ON login_failures (last_failure);
