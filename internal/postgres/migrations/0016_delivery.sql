-- 0016_delivery: recipients of alerts and the durable outbox
-- (docs/INCIDENTS.md, "Recipients, delivery and the board digest").
--
-- A recipient's kind, label, status and who changed it when are in the
-- clear and authenticated by fact_mac; data seals the address (or URL)
-- and the webhook secret under the system key "~delivery", bound to the
-- row's id. Rows are never deleted: a removal is a status.
CREATE TABLE recipients (
    id                 text        PRIMARY KEY,
    kind               text        NOT NULL CONSTRAINT recipients_kind_check CHECK (kind IN ('email', 'webhook')),
    label              text        NOT NULL CONSTRAINT recipients_label_check CHECK (label IN ('board', 'dpo', 'security', 'other')),
    status             text        NOT NULL CONSTRAINT recipients_status_check CHECK (status IN ('pending', 'active', 'removing', 'removed')),
    proposed_by        text        NOT NULL,
    proposed_at        timestamptz NOT NULL,
    approved_by        text        NOT NULL DEFAULT '',
    approved_at        timestamptz,
    remove_proposed_by text        NOT NULL DEFAULT '',
    remove_proposed_at timestamptz,
    removed_by         text        NOT NULL DEFAULT '',
    removed_at         timestamptz,
    data               bytea       NOT NULL,
    fact_mac           bytea
);

-- One message to one recipient: unique (message_key, recipient), so that
-- queuing a message twice delivers it once. data seals the destination
-- and the message under "~delivery", bound to the row's id; last_error
-- is a short code.
CREATE TABLE outbox (
    id              text        PRIMARY KEY,
    message_key     text        NOT NULL,
    recipient       text        NOT NULL,
    channel         text        NOT NULL CONSTRAINT outbox_channel_check CHECK (channel IN ('email', 'webhook')),
    data            bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_owner     text        NOT NULL DEFAULT '',
    lease_until     timestamptz,
    delivered_at    timestamptz,
    last_error      text        NOT NULL DEFAULT '',
    CONSTRAINT outbox_message_recipient_key UNIQUE (message_key, recipient)
);

-- The worker's claim: undelivered rows by due time.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_created_idx ON outbox (created_at DESC, id DESC);
