package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Recipients of alerts and the outbox (docs/INCIDENTS.md, "Recipients,
// delivery and the board digest").

const recipientColumns = `id, kind, label, status, proposed_by, proposed_at, approved_by, approved_at,
	remove_proposed_by, remove_proposed_at, removed_by, removed_at, data, fact_mac`

func scanRecipient(sc interface{ Scan(...any) error }) (confidant.SealedRecipient, error) {
	var r confidant.SealedRecipient
	err := sc.Scan(&r.ID, &r.Kind, &r.Label, &r.Status, &r.ProposedBy, tm(&r.ProposedAt), &r.ApprovedBy, tm(&r.ApprovedAt),
		&r.RemoveProposedBy, tm(&r.RemoveProposedAt), &r.RemovedBy, tm(&r.RemovedAt), &r.Data, &r.FactMAC)
	return r, err
}

// CreateRecipient stores a recipient.
func (t *tx) CreateRecipient(ctx context.Context, r confidant.SealedRecipient) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO recipients (`+recipientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		r.ID, string(r.Kind), r.Label, string(r.Status), r.ProposedBy, ts(r.ProposedAt), r.ApprovedBy, ts(r.ApprovedAt),
		r.RemoveProposedBy, ts(r.RemoveProposedAt), r.RemovedBy, ts(r.RemovedAt), nonNil(r.Data), r.FactMAC)
	return mapErr(err, "create recipient", "Recipient")
}

// Recipient returns a recipient.
func (t *tx) Recipient(ctx context.Context, id string) (confidant.SealedRecipient, error) {
	r, err := scanRecipient(t.tx.QueryRow(t.c(ctx), `SELECT `+recipientColumns+` FROM recipients WHERE id = $1`, id))
	return r, mapErr(err, "get recipient", "Recipient")
}

// ListRecipients returns every recipient, oldest first.
func (t *tx) ListRecipients(ctx context.Context) ([]confidant.SealedRecipient, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+recipientColumns+` FROM recipients ORDER BY proposed_at, id`)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedRecipient, error) { return scanRecipient(row) })
	return out, mapErr(err, "list recipients", "")
}

// UpdateRecipient changes a recipient whose status is from.
func (t *tx) UpdateRecipient(ctx context.Context, r confidant.SealedRecipient, from confidant.RecipientStatus) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE recipients SET status = $2, approved_by = $3, approved_at = $4, remove_proposed_by = $5,
			remove_proposed_at = $6, removed_by = $7, removed_at = $8, fact_mac = $9
		WHERE id = $1 AND status = $10`,
		r.ID, string(r.Status), r.ApprovedBy, ts(r.ApprovedAt), r.RemoveProposedBy, ts(r.RemoveProposedAt),
		r.RemovedBy, ts(r.RemovedAt), r.FactMAC, string(from))
	if err != nil {
		return mapErr(err, "update recipient", "Recipient")
	}
	if tag.RowsAffected() == 0 {
		if _, err := t.Recipient(ctx, r.ID); err != nil {
			return err
		}
		return conflict("recipient_changed", "The recipient was changed in the meantime.")
	}
	return nil
}

const outboxColumns = `id, message_key, recipient, channel, data, created_at, attempts, next_attempt_at,
	lease_owner, lease_until, delivered_at, last_error`

func scanOutbox(sc interface{ Scan(...any) error }) (confidant.SealedOutboxItem, error) {
	var o confidant.SealedOutboxItem
	err := sc.Scan(&o.ID, &o.MessageKey, &o.Recipient, &o.Channel, &o.Data, tm(&o.CreatedAt), &o.Attempts, tm(&o.NextAttemptAt),
		&o.LeaseOwner, tm(&o.LeaseUntil), tm(&o.DeliveredAt), &o.LastError)
	return o, err
}

// EnqueueOutbox stores items, skipping those queued already.
func (t *tx) EnqueueOutbox(ctx context.Context, items []confidant.SealedOutboxItem) error {
	for _, o := range items {
		_, err := t.tx.Exec(t.c(ctx), `
			INSERT INTO outbox (id, message_key, recipient, channel, data, created_at, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_key, recipient) DO NOTHING`,
			o.ID, o.MessageKey, o.Recipient, string(o.Channel), nonNil(o.Data), ts(o.CreatedAt), ts(o.NextAttemptAt))
		if err != nil {
			return mapErr(err, "enqueue outbox", "Outbox item")
		}
	}
	return nil
}

// ClaimOutbox leases due rows in one conditional update; rows locked by
// another server's claim are skipped, and a row is taken only while its
// lease is free.
func (t *tx) ClaimOutbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]confidant.SealedOutboxItem, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, _ := t.tx.Query(t.c(ctx), `
		UPDATE outbox SET lease_owner = $1, lease_until = $2
		WHERE id IN (
			SELECT id FROM outbox
			WHERE delivered_at IS NULL AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
			ORDER BY next_attempt_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $3)
		RETURNING `+outboxColumns, owner, ts(until), ts(now), limit)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedOutboxItem, error) { return scanOutbox(row) })
	return out, mapErr(err, "claim outbox", "")
}

// FinishOutbox marks a leased item delivered.
func (t *tx) FinishOutbox(ctx context.Context, id, owner string, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE outbox SET delivered_at = $3, attempts = attempts + 1, last_error = '', lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL`, id, owner, ts(at))
	if err != nil {
		return mapErr(err, "finish outbox", "")
	}
	if tag.RowsAffected() == 0 {
		return conflict("lease_lost", "This delivery is no longer leased to this worker.")
	}
	return nil
}

// FailOutbox records a failed attempt of a leased item.
func (t *tx) FailOutbox(ctx context.Context, id, owner string, next time.Time, code string) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE outbox SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL`, id, owner, code, ts(next))
	if err != nil {
		return mapErr(err, "fail outbox", "")
	}
	if tag.RowsAffected() == 0 {
		return conflict("lease_lost", "This delivery is no longer leased to this worker.")
	}
	return nil
}

// ListOutbox returns items matching f, newest first.
func (t *tx) ListOutbox(ctx context.Context, f confidant.OutboxFilter) ([]confidant.SealedOutboxItem, error) {
	q := `SELECT ` + outboxColumns + ` FROM outbox`
	switch f.Status {
	case "":
	case confidant.OutboxPending:
		q += ` WHERE delivered_at IS NULL AND attempts = 0`
	case confidant.OutboxFailed:
		q += ` WHERE delivered_at IS NULL AND attempts > 0`
	case confidant.OutboxDelivered:
		q += ` WHERE delivered_at IS NOT NULL`
	default:
		return nil, invalid("invalid_status", "The status is pending, failed or delivered.")
	}
	q += ` ORDER BY created_at DESC, id DESC`
	var args []any
	if f.Limit > 0 {
		q += ` LIMIT $1`
		args = append(args, f.Limit)
	}
	rows, _ := t.tx.Query(t.c(ctx), q, args...)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedOutboxItem, error) { return scanOutbox(row) })
	return out, mapErr(err, "list outbox", "")
}
