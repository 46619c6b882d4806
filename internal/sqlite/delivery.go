package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Recipients of alerts and the outbox (docs/INCIDENTS.md, "Recipients,
// delivery and the board digest").

const recipientColumns = `id, kind, label, status, proposed_by, proposed_at, approved_by, approved_at,
	remove_proposed_by, remove_proposed_at, removed_by, removed_at, data, fact_mac`

func scanRecipient(sc interface{ Scan(...any) error }, r *confidant.SealedRecipient) error {
	return sc.Scan(&r.ID, &r.Kind, &r.Label, &r.Status, &r.ProposedBy, tm(&r.ProposedAt), &r.ApprovedBy, tm(&r.ApprovedAt),
		&r.RemoveProposedBy, tm(&r.RemoveProposedAt), &r.RemovedBy, tm(&r.RemovedAt), &r.Data, &r.FactMAC)
}

func (t *tx) CreateRecipient(ctx context.Context, r confidant.SealedRecipient) error {
	_, err := t.exec(ctx, "create recipient",
		`INSERT INTO recipients (`+recipientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, string(r.Kind), r.Label, string(r.Status), r.ProposedBy, micros(r.ProposedAt), r.ApprovedBy, micros(r.ApprovedAt),
		r.RemoveProposedBy, micros(r.RemoveProposedAt), r.RemovedBy, micros(r.RemovedAt), nonNil(r.Data), r.FactMAC)
	if isUnique(err) {
		return conflict("conflict", "The recipient already exists.")
	}
	return err
}

func (t *tx) Recipient(ctx context.Context, id string) (confidant.SealedRecipient, error) {
	var r confidant.SealedRecipient
	err := scanRecipient(t.queryRow(ctx, `SELECT `+recipientColumns+` FROM recipients WHERE id = ?`, id), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("recipient")
	}
	return r, dbErr("get recipient", err)
}

func (t *tx) ListRecipients(ctx context.Context) ([]confidant.SealedRecipient, error) {
	var out []confidant.SealedRecipient
	err := t.list(ctx, "list recipients", `SELECT `+recipientColumns+` FROM recipients ORDER BY proposed_at, id`, nil,
		func(rows *sql.Rows) error {
			var r confidant.SealedRecipient
			err := scanRecipient(rows, &r)
			out = append(out, r)
			return err
		})
	return out, err
}

func (t *tx) UpdateRecipient(ctx context.Context, r confidant.SealedRecipient, from confidant.RecipientStatus) error {
	n, err := t.exec(ctx, "update recipient",
		`UPDATE recipients SET status = ?, approved_by = ?, approved_at = ?, remove_proposed_by = ?, remove_proposed_at = ?,
			removed_by = ?, removed_at = ?, fact_mac = ?
		WHERE id = ? AND status = ?`,
		string(r.Status), r.ApprovedBy, micros(r.ApprovedAt), r.RemoveProposedBy, micros(r.RemoveProposedAt),
		r.RemovedBy, micros(r.RemovedAt), r.FactMAC, r.ID, string(from))
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := t.Recipient(ctx, r.ID); err != nil {
			return err
		}
		return conflict("recipient_changed", "The recipient was changed in the meantime.")
	}
	return nil
}

const outboxColumns = `id, message_key, recipient, channel, data, created_at, attempts, next_attempt_at,
	lease_owner, lease_until, delivered_at, last_error`

func scanOutbox(sc interface{ Scan(...any) error }, o *confidant.SealedOutboxItem) error {
	return sc.Scan(&o.ID, &o.MessageKey, &o.Recipient, &o.Channel, &o.Data, tm(&o.CreatedAt), &o.Attempts, tm(&o.NextAttemptAt),
		&o.LeaseOwner, tm(&o.LeaseUntil), tm(&o.DeliveredAt), &o.LastError)
}

func (t *tx) EnqueueOutbox(ctx context.Context, items []confidant.SealedOutboxItem) error {
	for _, o := range items {
		_, err := t.exec(ctx, "enqueue outbox",
			`INSERT INTO outbox (id, message_key, recipient, channel, data, created_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_key, recipient) DO NOTHING`,
			o.ID, o.MessageKey, o.Recipient, string(o.Channel), nonNil(o.Data), micros(o.CreatedAt), micros(o.NextAttemptAt))
		if isUnique(err) {
			return conflict("conflict", "The outbox item already exists.")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ClaimOutbox leases due rows: SQLite has one writer at a time, and each
// row is taken by a conditional update all the same, so that the rule is
// the same as PostgreSQL's.
func (t *tx) ClaimOutbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]confidant.SealedOutboxItem, error) {
	var due []confidant.SealedOutboxItem
	err := t.list(ctx, "claim outbox", `SELECT `+outboxColumns+` FROM outbox
		WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
		ORDER BY next_attempt_at, id LIMIT ?`, []any{micros(now), micros(now), limitArg(limit)},
		func(rows *sql.Rows) error {
			var o confidant.SealedOutboxItem
			err := scanOutbox(rows, &o)
			due = append(due, o)
			return err
		})
	if err != nil {
		return nil, err
	}
	out := due[:0]
	for _, o := range due {
		n, err := t.exec(ctx, "claim outbox",
			`UPDATE outbox SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)`,
			owner, micros(until), o.ID, micros(now))
		if err != nil {
			return nil, err
		}
		if n == 1 {
			o.LeaseOwner, o.LeaseUntil = owner, until.UTC().Truncate(time.Microsecond)
			out = append(out, o)
		}
	}
	return out, nil
}

func (t *tx) FinishOutbox(ctx context.Context, id, owner string, at time.Time) error {
	n, err := t.exec(ctx, "finish outbox",
		`UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = '', lease_owner = '', lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL`, micros(at), id, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return conflict("lease_lost", "This delivery is no longer leased to this worker.")
	}
	return nil
}

func (t *tx) FailOutbox(ctx context.Context, id, owner string, next time.Time, code string) error {
	n, err := t.exec(ctx, "fail outbox",
		`UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = '', lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL`, code, micros(next), id, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return conflict("lease_lost", "This delivery is no longer leased to this worker.")
	}
	return nil
}

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
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_status", "The status is pending, failed or delivered.")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	var out []confidant.SealedOutboxItem
	err := t.list(ctx, "list outbox", q, []any{limitArg(f.Limit)}, func(rows *sql.Rows) error {
		var o confidant.SealedOutboxItem
		err := scanOutbox(rows, &o)
		out = append(out, o)
		return err
	})
	return out, err
}
