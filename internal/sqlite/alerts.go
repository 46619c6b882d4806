package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Alerts and honeytokens (docs/INCIDENTS.md; docs/SECURITY.md, "Alerts and
// honeytokens").

const alertColumns = `id, rule, severity, actor_id, clinic_id, alert_key, created_at, status, decided_by, decided_at,
	incident_id, from_at, to_at, first_index, last_index, data, fact_mac`

func scanAlert(sc interface{ Scan(...any) error }, a *confidant.SealedAlert) error {
	var first, last int64
	err := sc.Scan(&a.ID, &a.Rule, &a.Severity, &a.ActorID, &a.ClinicID, &a.Key, tm(&a.CreatedAt), &a.Status,
		&a.DecidedBy, tm(&a.DecidedAt), &a.IncidentID, tm(&a.From), tm(&a.To), &first, &last, &a.Data, &a.FactMAC)
	a.FirstIndex, a.LastIndex = uint64(first), uint64(last)
	return err
}

func (t *tx) CreateAlert(ctx context.Context, a confidant.SealedAlert) (bool, error) {
	n, err := t.exec(ctx, "create alert",
		`INSERT INTO alerts (`+alertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (alert_key) DO NOTHING`,
		a.ID, a.Rule, string(a.Severity), a.ActorID, a.ClinicID, a.Key, micros(a.CreatedAt), string(a.Status),
		a.DecidedBy, micros(a.DecidedAt), a.IncidentID, micros(a.From), micros(a.To),
		int64(a.FirstIndex), int64(a.LastIndex), nonNil(a.Data), nonNil(a.FactMAC))
	if isUnique(err) {
		return false, conflict("conflict", "The alert already exists.")
	}
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

func (t *tx) Alert(ctx context.Context, id string) (confidant.SealedAlert, error) {
	var a confidant.SealedAlert
	err := scanAlert(t.queryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id), &a)
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("alert")
	}
	return a, dbErr("get alert", err)
}

func (t *tx) ListAlerts(ctx context.Context, f confidant.AlertFilter) ([]confidant.SealedAlert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts WHERE 1 = 1`
	var args []any
	if !f.Since.IsZero() {
		q += ` AND created_at >= ?`
		args = append(args, micros(f.Since))
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.Rule != "" {
		q += ` AND rule = ?`
		args = append(args, f.Rule)
	}
	if f.Before != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM alerts WHERE id = ?)`
		args = append(args, f.Before)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []confidant.SealedAlert
	err := t.list(ctx, "list alerts", q, args, func(r *sql.Rows) error {
		var a confidant.SealedAlert
		err := scanAlert(r, &a)
		out = append(out, a)
		return err
	})
	return out, err
}

func (t *tx) SetAlertStatus(ctx context.Context, id string, from confidant.AlertStatus, c confidant.SealedAlertChange) error {
	if !c.Status.Valid() {
		return confidant.Errorf(confidant.KindInvalid, "invalid_status", "Unknown alert status.")
	}
	n, err := t.exec(ctx, "set alert status",
		`UPDATE alerts SET status = ?, decided_by = ?, decided_at = ?, incident_id = ?, data = ?, fact_mac = ?
		WHERE id = ? AND status = ?`,
		string(c.Status), c.DecidedBy, micros(c.DecidedAt), c.IncidentID, nonNil(c.Data), nonNil(c.FactMAC), id, string(from))
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := t.Alert(ctx, id); err != nil {
			return err
		}
		return conflict("alert_status_changed", "The alert's status has changed meanwhile.")
	}
	return nil
}

func (t *tx) CountAlerts(ctx context.Context, since, until time.Time) (map[string]int, error) {
	out := map[string]int{}
	err := t.list(ctx, "count alerts",
		`SELECT rule, count(*) FROM alerts WHERE created_at >= ? AND created_at < ? GROUP BY rule`,
		[]any{since.UnixMicro(), until.UnixMicro()}, func(r *sql.Rows) error {
			var rule string
			var n int
			if err := r.Scan(&rule, &n); err != nil {
				return err
			}
			out[rule] = n
			return nil
		})
	return out, err
}

const honeytokenColumns = `id, tag, clinic_id, created_by, created_at, data, fact_mac`

func scanHoneytoken(sc interface{ Scan(...any) error }, h *confidant.SealedHoneytoken) error {
	return sc.Scan(&h.ID, &h.Tag, &h.ClinicID, &h.CreatedBy, tm(&h.CreatedAt), &h.Data, &h.FactMAC)
}

func (t *tx) CreateHoneytoken(ctx context.Context, h confidant.SealedHoneytoken) error {
	_, err := t.exec(ctx, "create honeytoken",
		`INSERT INTO honeytokens (`+honeytokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		h.ID, nonNil(h.Tag), h.ClinicID, h.CreatedBy, micros(h.CreatedAt), nonNil(h.Data), nonNil(h.FactMAC))
	if isUnique(err) {
		return conflict("honeytoken_exists", "This patient is a honeytoken already.")
	}
	return err
}

func (t *tx) ListHoneytokens(ctx context.Context) ([]confidant.SealedHoneytoken, error) {
	var out []confidant.SealedHoneytoken
	err := t.list(ctx, "list honeytokens", `SELECT `+honeytokenColumns+` FROM honeytokens ORDER BY created_at DESC, id DESC`, nil,
		func(r *sql.Rows) error {
			var h confidant.SealedHoneytoken
			err := scanHoneytoken(r, &h)
			out = append(out, h)
			return err
		})
	return out, err
}

func (t *tx) HoneytokenByTag(ctx context.Context, tag []byte) (confidant.SealedHoneytoken, error) {
	var h confidant.SealedHoneytoken
	err := scanHoneytoken(t.queryRow(ctx, `SELECT `+honeytokenColumns+` FROM honeytokens WHERE tag = ?`, nonNil(tag)), &h)
	if errors.Is(err, sql.ErrNoRows) {
		return h, notFound("honeytoken")
	}
	return h, dbErr("get honeytoken", err)
}
