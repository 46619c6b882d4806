-- 0015_delivery: recipients of alerts and the durable outbox
-- (docs/INCIDENTS.md, "Recipients, delivery and the board digest").
--
-- A recipient's kind, label, status and who changed it when are in the
-- clear and authenticated by fact_mac; data seals the address (or URL)
-- and the webhook secret under the system key "~delivery", bound to the
-- row's id. Rows are never deleted: a removal is a status.
CREATE TABLE recipients (
	id                 TEXT    NOT NULL PRIMARY KEY,
	kind               TEXT    NOT NULL CHECK (kind IN ('email', 'webhook')),
	label              TEXT    NOT NULL CHECK (label IN ('board', 'dpo', 'security', 'other')),
	status             TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'removing', 'removed')),
	proposed_by        TEXT    NOT NULL,
	proposed_at        INTEGER NOT NULL,
	approved_by        TEXT    NOT NULL DEFAULT '',
	approved_at        INTEGER,
	remove_proposed_by TEXT    NOT NULL DEFAULT '',
	remove_proposed_at INTEGER,
	removed_by         TEXT    NOT NULL DEFAULT '',
	removed_at         INTEGER,
	data               BLOB    NOT NULL,
	fact_mac           BLOB
) STRICT;

-- One message to one recipient: unique (message_key, recipient), so that
-- queuing a message twice delivers it once. data seals the destination
-- and the message under "~delivery", bound to the row's id; last_error
-- is a short code.
CREATE TABLE outbox (
	id              TEXT    NOT NULL PRIMARY KEY,
	message_key     TEXT    NOT NULL,
	recipient       TEXT    NOT NULL,
	channel         TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
	data            BLOB    NOT NULL,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER,
	delivered_at    INTEGER,
	last_error      TEXT    NOT NULL DEFAULT '',
	UNIQUE (message_key, recipient)
) STRICT;

-- The worker's claim: undelivered rows by due time.
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_created ON outbox (created_at, id);
