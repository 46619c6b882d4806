-- 0013_alerts: the detector's alerts and the honeytokens (decoy patients)
-- (docs/INCIDENTS.md, docs/SECURITY.md "Alerts and honeytokens").
--
-- An alert's metadata is in the clear; data seals its patients, its
-- explanation and a dismissal's reason under the alerts keyset, bound to
-- the alert's id; fact_mac authenticates rule, severity, actor, clinic,
-- key, status, decision, incident and creation time, under a key the
-- database holds only wrapped by the KEK. Alerts are never deleted.
CREATE TABLE alerts (
	id          TEXT    NOT NULL PRIMARY KEY,
	rule        TEXT    NOT NULL,
	severity    TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
	actor_id    TEXT    NOT NULL DEFAULT '',
	clinic_id   TEXT    NOT NULL DEFAULT '',
	alert_key   TEXT    NOT NULL UNIQUE, -- raising is idempotent by key
	created_at  INTEGER NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('new', 'acknowledged', 'dismissed', 'escalated')),
	decided_by  TEXT    NOT NULL DEFAULT '',
	decided_at  INTEGER,
	incident_id TEXT    NOT NULL DEFAULT '',
	from_at     INTEGER,
	to_at       INTEGER,
	first_index INTEGER NOT NULL DEFAULT 0,
	last_index  INTEGER NOT NULL DEFAULT 0,
	data        BLOB    NOT NULL,
	fact_mac    BLOB    NOT NULL
) STRICT;

-- Listings newest first, by status and by rule; counts by period.
CREATE INDEX alerts_created ON alerts (created_at, id);
CREATE INDEX alerts_status ON alerts (status, created_at, id);
CREATE INDEX alerts_rule ON alerts (rule, created_at);

-- Which patients are decoys: tag is HMAC(key outside the database, the
-- patient's id), for the detector's membership test; data seals the id
-- for listing to security officers. No patient id in the clear.
CREATE TABLE honeytokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	tag        BLOB    NOT NULL UNIQUE,
	clinic_id  TEXT    NOT NULL,
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	fact_mac   BLOB    NOT NULL
) STRICT;
