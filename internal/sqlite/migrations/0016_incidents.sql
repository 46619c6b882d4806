-- 0016_incidents: the incident register (docs/INCIDENTS.md, "The incident
-- register"; GDPR Art. 33(5), NIS2 Art. 23).
--
-- Ids, status and times are in the clear; data seals the body (title,
-- alerts, frozen scope, Art. 33(3) fields, conclusion) and fact_mac binds
-- the clocks, the status and the history's head (internal/seal). Incidents
-- are never deleted, and their history is append only: triggers refuse
-- deleting an incident and changing or deleting a history entry.
CREATE TABLE incidents (
	id               TEXT    NOT NULL PRIMARY KEY,
	status           TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
	opened_by        TEXT    NOT NULL,
	opened_at        INTEGER NOT NULL,
	first_alert_at   INTEGER,
	awareness_at     INTEGER,
	awareness_set_by TEXT    NOT NULL DEFAULT '',
	closed_at        INTEGER,
	closed_by        TEXT    NOT NULL DEFAULT '',
	scope_size       INTEGER NOT NULL DEFAULT 0,
	history_seq      INTEGER NOT NULL,
	history_mac      BLOB    NOT NULL,
	data             BLOB    NOT NULL,
	fact_mac         BLOB    NOT NULL
) STRICT;
CREATE INDEX incidents_opened ON incidents (opened_at, id);

CREATE TRIGGER incidents_no_delete BEFORE DELETE ON incidents
BEGIN
	SELECT RAISE(ABORT, 'incidents are never deleted');
END;

CREATE TABLE incident_history (
	incident_id TEXT    NOT NULL REFERENCES incidents (id),
	seq         INTEGER NOT NULL CHECK (seq > 0),
	at          INTEGER NOT NULL,
	by_id       TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	mac         BLOB    NOT NULL,
	PRIMARY KEY (incident_id, seq)
) STRICT;

CREATE TRIGGER incident_history_no_update BEFORE UPDATE ON incident_history
BEGIN
	SELECT RAISE(ABORT, 'incident_history is append-only');
END;
CREATE TRIGGER incident_history_no_delete BEFORE DELETE ON incident_history
BEGIN
	SELECT RAISE(ABORT, 'incident_history is append-only');
END;

-- Letters to patients (GDPR Art. 34), sealed under the patient's key (kind
-- incident_letter; rewritten by key rotation, so not update-protected).
CREATE TABLE incident_letters (
	id          TEXT    NOT NULL PRIMARY KEY,
	incident_id TEXT    NOT NULL REFERENCES incidents (id),
	patient_id  TEXT    NOT NULL REFERENCES patients (id),
	phase       TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	created_by  TEXT    NOT NULL,
	mailed      INTEGER NOT NULL DEFAULT 0,
	data        BLOB    NOT NULL
) STRICT;
CREATE INDEX incident_letters_incident ON incident_letters (incident_id, created_at);
CREATE INDEX incident_letters_patient ON incident_letters (patient_id, created_at);

CREATE TRIGGER incident_letters_no_delete BEFORE DELETE ON incident_letters
BEGIN
	SELECT RAISE(ABORT, 'incident letters are never deleted');
END;
