-- 0012_dpo_role: the data protection officer's role ('dpo'; docs/INCIDENTS.md).
-- SQLite cannot change a CHECK constraint in place, so the users table is
-- rebuilt with the same columns, rows and indexes (SQLite's documented
-- procedure; the migration runs with foreign keys off and checks them
-- before it commits).
CREATE TABLE users_new (
	id            TEXT    NOT NULL PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE,
	display_name  TEXT    NOT NULL DEFAULT '',
	role          TEXT    NOT NULL CHECK (role IN ('therapist', 'patient', 'manager', 'security', 'dpo')),
	patient_id    TEXT    NOT NULL DEFAULT '', -- patients' accounts: the record they read
	password_hash TEXT    NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER,
	created_at    INTEGER NOT NULL,
	email             TEXT    NOT NULL DEFAULT '',
	invited_by        TEXT    NOT NULL DEFAULT '',
	awaiting_approval INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_approval IN (0, 1)),
	approved_by       TEXT    NOT NULL DEFAULT '',
	approved_at       INTEGER,
	disabled_by       TEXT    NOT NULL DEFAULT '',
	fact_mac          BLOB
) STRICT;

INSERT INTO users_new (id, username, display_name, role, patient_id, password_hash, disabled,
	failed_logins, locked_until, created_at, email, invited_by, awaiting_approval, approved_by,
	approved_at, disabled_by, fact_mac)
SELECT id, username, display_name, role, patient_id, password_hash, disabled,
	failed_logins, locked_until, created_at, email, invited_by, awaiting_approval, approved_by,
	approved_at, disabled_by, fact_mac
FROM users;

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_role ON users (role);
CREATE UNIQUE INDEX users_one_portal_account ON users (patient_id) WHERE patient_id <> '';
