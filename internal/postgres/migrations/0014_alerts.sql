-- 0014_alerts: the detector's alerts and the honeytokens (decoy patients)
-- (docs/INCIDENTS.md, docs/SECURITY.md "Alerts and honeytokens").
--
-- An alert's metadata is in the clear; data seals its patients, its
-- explanation and a dismissal's reason under the alerts keyset, bound to
-- the alert's id; fact_mac authenticates rule, severity, actor, clinic,
-- key, status, decision, incident and creation time, under a key the
-- database holds only wrapped by the KEK. Alerts are never deleted.
CREATE TABLE alerts (
    id          text        PRIMARY KEY,
    rule        text        NOT NULL,
    severity    text        NOT NULL CONSTRAINT alerts_severity_check CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    actor_id    text        NOT NULL DEFAULT '',
    clinic_id   text        NOT NULL DEFAULT '',
    alert_key   text        NOT NULL CONSTRAINT alerts_key_unique UNIQUE, -- raising is idempotent by key
    created_at  timestamptz NOT NULL,
    status      text        NOT NULL CONSTRAINT alerts_status_check CHECK (status IN ('new', 'acknowledged', 'dismissed', 'escalated')),
    decided_by  text        NOT NULL DEFAULT '',
    decided_at  timestamptz,
    incident_id text        NOT NULL DEFAULT '',
    from_at     timestamptz,
    to_at       timestamptz,
    first_index bigint      NOT NULL DEFAULT 0,
    last_index  bigint      NOT NULL DEFAULT 0,
    data        bytea       NOT NULL,
    fact_mac    bytea       NOT NULL
);

-- Listings newest first, by status and by rule; counts by period.
CREATE INDEX alerts_created_idx ON alerts (created_at DESC, id DESC);
CREATE INDEX alerts_status_idx ON alerts (status, created_at DESC, id DESC);
CREATE INDEX alerts_rule_idx ON alerts (rule, created_at);

-- Which patients are decoys: tag is HMAC(key outside the database, the
-- patient's id), for the detector's membership test; data seals the id
-- for listing to security officers. No patient id in the clear.
CREATE TABLE honeytokens (
    id         text        PRIMARY KEY,
    tag        bytea       NOT NULL CONSTRAINT honeytokens_tag_unique UNIQUE,
    clinic_id  text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    data       bytea       NOT NULL,
    fact_mac   bytea       NOT NULL
);
