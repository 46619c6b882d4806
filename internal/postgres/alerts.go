package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Alerts and honeytokens (docs/INCIDENTS.md; docs/SECURITY.md, "Alerts and
// honeytokens").

const alertColumns = `id, rule, severity, actor_id, clinic_id, alert_key, created_at, status, decided_by, decided_at,
	incident_id, from_at, to_at, first_index, last_index, data, fact_mac`

func scanAlert(sc interface{ Scan(...any) error }) (confidant.SealedAlert, error) {
	var a confidant.SealedAlert
	var first, last int64
	err := sc.Scan(&a.ID, &a.Rule, &a.Severity, &a.ActorID, &a.ClinicID, &a.Key, tm(&a.CreatedAt), &a.Status,
		&a.DecidedBy, tm(&a.DecidedAt), &a.IncidentID, tm(&a.From), tm(&a.To), &first, &last, &a.Data, &a.FactMAC)
	a.FirstIndex, a.LastIndex = uint64(first), uint64(last)
	return a, err
}

// CreateAlert stores an alert unless its key exists.
func (t *tx) CreateAlert(ctx context.Context, a confidant.SealedAlert) (bool, error) {
	tag, err := t.tx.Exec(t.c(ctx), `INSERT INTO alerts (`+alertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (alert_key) DO NOTHING`,
		a.ID, a.Rule, string(a.Severity), a.ActorID, a.ClinicID, a.Key, ts(a.CreatedAt), string(a.Status),
		a.DecidedBy, ts(a.DecidedAt), a.IncidentID, ts(a.From), ts(a.To),
		int64(a.FirstIndex), int64(a.LastIndex), nonNil(a.Data), nonNil(a.FactMAC))
	if err != nil {
		return false, mapErr(err, "create alert", "Alert")
	}
	return tag.RowsAffected() == 1, nil
}

// Alert returns an alert.
func (t *tx) Alert(ctx context.Context, id string) (confidant.SealedAlert, error) {
	a, err := scanAlert(t.tx.QueryRow(t.c(ctx), `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	return a, mapErr(err, "get alert", "Alert")
}

// ListAlerts returns alerts matching f, newest first.
func (t *tx) ListAlerts(ctx context.Context, f confidant.AlertFilter) ([]confidant.SealedAlert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return `$` + strconv.Itoa(len(args))
	}
	if !f.Since.IsZero() {
		q += ` AND created_at >= ` + arg(f.Since.UTC())
	}
	if f.Status != "" {
		q += ` AND status = ` + arg(string(f.Status))
	}
	if f.Rule != "" {
		q += ` AND rule = ` + arg(f.Rule)
	}
	if f.Before != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM alerts WHERE id = ` + arg(f.Before) + `)`
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, _ := t.tx.Query(t.c(ctx), q, args...)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedAlert, error) { return scanAlert(row) })
	return out, mapErr(err, "list alerts", "")
}

// SetAlertStatus changes an alert's status if it is from.
func (t *tx) SetAlertStatus(ctx context.Context, id string, from confidant.AlertStatus, c confidant.SealedAlertChange) error {
	if !c.Status.Valid() {
		return confidant.Errorf(confidant.KindInvalid, "invalid_status", "Unknown alert status.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE alerts SET status = $3, decided_by = $4, decided_at = $5, incident_id = $6, data = $7, fact_mac = $8
		WHERE id = $1 AND status = $2`,
		id, string(from), string(c.Status), c.DecidedBy, ts(c.DecidedAt), c.IncidentID, nonNil(c.Data), nonNil(c.FactMAC))
	if err != nil {
		return mapErr(err, "set alert status", "Alert")
	}
	if tag.RowsAffected() == 0 {
		if _, err := t.Alert(ctx, id); err != nil {
			return err
		}
		return conflict("alert_status_changed", "The alert's status has changed meanwhile.")
	}
	return nil
}

// CountAlerts counts alerts created in [since, until) by rule.
func (t *tx) CountAlerts(ctx context.Context, since, until time.Time) (map[string]int, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT rule, count(*) FROM alerts WHERE created_at >= $1 AND created_at < $2 GROUP BY rule`,
		since.UTC(), until.UTC())
	type rc struct {
		rule string
		n    int64
	}
	rs, err := collect(rows, func(row pgx.CollectableRow) (rc, error) {
		var r rc
		err := row.Scan(&r.rule, &r.n)
		return r, err
	})
	if err != nil {
		return nil, mapErr(err, "count alerts", "")
	}
	out := make(map[string]int, len(rs))
	for _, r := range rs {
		out[r.rule] = int(r.n)
	}
	return out, nil
}

const honeytokenColumns = `id, tag, clinic_id, created_by, created_at, data, fact_mac`

func scanHoneytoken(sc interface{ Scan(...any) error }) (confidant.SealedHoneytoken, error) {
	var h confidant.SealedHoneytoken
	err := sc.Scan(&h.ID, &h.Tag, &h.ClinicID, &h.CreatedBy, tm(&h.CreatedAt), &h.Data, &h.FactMAC)
	return h, err
}

// CreateHoneytoken stores a honeytoken.
func (t *tx) CreateHoneytoken(ctx context.Context, h confidant.SealedHoneytoken) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO honeytokens (`+honeytokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		h.ID, nonNil(h.Tag), h.ClinicID, h.CreatedBy, ts(h.CreatedAt), nonNil(h.Data), nonNil(h.FactMAC))
	e := mapErr(err, "create honeytoken", "Honeytoken")
	if confidant.IsKind(e, confidant.KindConflict) {
		return conflict("honeytoken_exists", "This patient is a honeytoken already.")
	}
	return e
}

// ListHoneytokens returns every honeytoken, newest first.
func (t *tx) ListHoneytokens(ctx context.Context) ([]confidant.SealedHoneytoken, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+honeytokenColumns+` FROM honeytokens ORDER BY created_at DESC, id DESC`)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedHoneytoken, error) { return scanHoneytoken(row) })
	return out, mapErr(err, "list honeytokens", "")
}

// HoneytokenByTag returns the honeytoken with this tag.
func (t *tx) HoneytokenByTag(ctx context.Context, tag []byte) (confidant.SealedHoneytoken, error) {
	h, err := scanHoneytoken(t.tx.QueryRow(t.c(ctx), `SELECT `+honeytokenColumns+` FROM honeytokens WHERE tag = $1`, nonNil(tag)))
	return h, mapErr(err, "get honeytoken", "Honeytoken")
}
