-- 0017_incidents: the incident register (docs/INCIDENTS.md, "The incident
-- register"; GDPR Art. 33(5), NIS2 Art. 23).
--
-- Ids, status and times are in the clear; data seals the body (title,
-- alerts, frozen scope, Art. 33(3) fields, conclusion) and fact_mac binds
-- the clocks, the status and the history's head (internal/seal). Incidents
-- are never deleted, and their history is append only: triggers refuse
-- deleting an incident and changing or deleting a history entry.
CREATE TABLE incidents (
    id               text        PRIMARY KEY,
    status           text        NOT NULL CONSTRAINT incidents_status_check CHECK (status IN ('open', 'closed')),
    opened_by        text        NOT NULL,
    opened_at        timestamptz NOT NULL,
    first_alert_at   timestamptz,
    awareness_at     timestamptz,
    awareness_set_by text        NOT NULL DEFAULT '',
    closed_at        timestamptz,
    closed_by        text        NOT NULL DEFAULT '',
    scope_size       bigint      NOT NULL DEFAULT 0,
    history_seq      integer     NOT NULL,
    history_mac      bytea       NOT NULL,
    data             bytea       NOT NULL,
    fact_mac         bytea       NOT NULL
);
CREATE INDEX incidents_opened_idx ON incidents (opened_at DESC, id DESC);

CREATE FUNCTION incidents_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incidents are never deleted';
END
$$;
CREATE TRIGGER incidents_no_delete BEFORE DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_never_deleted();
CREATE TRIGGER incidents_no_truncate BEFORE TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_never_deleted();

CREATE TABLE incident_history (
    incident_id text        NOT NULL CONSTRAINT incident_history_incident_fkey REFERENCES incidents (id),
    seq         integer     NOT NULL CONSTRAINT incident_history_seq_check CHECK (seq > 0),
    at          timestamptz NOT NULL,
    by_id       text        NOT NULL,
    kind        text        NOT NULL,
    data        bytea       NOT NULL,
    mac         bytea       NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE FUNCTION incident_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident_history is append-only';
END
$$;
CREATE TRIGGER incident_history_no_change BEFORE UPDATE OR DELETE ON incident_history
    FOR EACH ROW EXECUTE FUNCTION incident_history_append_only();
CREATE TRIGGER incident_history_no_truncate BEFORE TRUNCATE ON incident_history
    FOR EACH STATEMENT EXECUTE FUNCTION incident_history_append_only();

-- Letters to patients (GDPR Art. 34), sealed under the patient's key (kind
-- incident_letter; rewritten by key rotation, so not update-protected).
CREATE TABLE incident_letters (
    id          text        PRIMARY KEY,
    incident_id text        NOT NULL CONSTRAINT incident_letters_incident_fkey REFERENCES incidents (id),
    patient_id  text        NOT NULL CONSTRAINT incident_letters_patient_fkey REFERENCES patients (id),
    phase       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    mailed      boolean     NOT NULL DEFAULT false,
    data        bytea       NOT NULL
);
CREATE INDEX incident_letters_incident_idx ON incident_letters (incident_id, created_at);
CREATE INDEX incident_letters_patient_idx ON incident_letters (patient_id, created_at);

CREATE FUNCTION incident_letters_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident letters are never deleted';
END
$$;
CREATE TRIGGER incident_letters_no_delete BEFORE DELETE ON incident_letters
    FOR EACH ROW EXECUTE FUNCTION incident_letters_never_deleted();
