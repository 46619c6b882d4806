package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Break-the-glass grants (docs/SECURITY.md, "Break-the-glass").

const breakGlassColumns = `id, therapist_id, patient_id, clinic_id, category, created_at, expires_at, status, reviewed_by, reviewed_at, data, fact_mac`

func scanBreakGlass(sc interface{ Scan(...any) error }, g *confidant.SealedBreakGlass) error {
	return sc.Scan(&g.ID, &g.TherapistID, &g.PatientID, &g.ClinicID, &g.Category, tm(&g.CreatedAt), tm(&g.ExpiresAt),
		&g.Status, &g.ReviewedBy, tm(&g.ReviewedAt), &g.Data, &g.FactMAC)
}

func (t *tx) CreateBreakGlass(ctx context.Context, g confidant.SealedBreakGlass) error {
	status := g.Status
	if status == "" {
		status = confidant.BreakGlassOpen
	}
	_, err := t.exec(ctx, "create break-glass grant",
		`INSERT INTO break_glass (`+breakGlassColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.TherapistID, g.PatientID, g.ClinicID, g.Category, micros(g.CreatedAt), micros(g.ExpiresAt),
		string(status), g.ReviewedBy, micros(g.ReviewedAt), nonNil(g.Data), g.FactMAC)
	if isUnique(err) {
		return conflict("conflict", "The grant already exists.")
	}
	return err
}

func (t *tx) BreakGlass(ctx context.Context, id string) (confidant.SealedBreakGlass, error) {
	var g confidant.SealedBreakGlass
	err := scanBreakGlass(t.queryRow(ctx, `SELECT `+breakGlassColumns+` FROM break_glass WHERE id = ?`, id), &g)
	if errors.Is(err, sql.ErrNoRows) {
		return g, notFound("grant")
	}
	return g, dbErr("get break-glass grant", err)
}

func (t *tx) ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (confidant.ActiveGrant, error) {
	var g confidant.ActiveGrant
	err := t.queryRow(ctx, `
		SELECT id, expires_at FROM break_glass
		WHERE therapist_id = ? AND patient_id = ? AND expires_at > ? AND created_at <= ?
		ORDER BY expires_at DESC, id LIMIT 1`,
		therapistID, patientID, micros(at), micros(at)).Scan(&g.ID, tm(&g.ExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return confidant.ActiveGrant{}, nil
	}
	return g, dbErr("active break-glass grant", err)
}

// breakGlassWhere is the WHERE clause of f (constant text, values as
// parameters).
func breakGlassWhere(f confidant.BreakGlassFilter) (string, []any) {
	q := ` WHERE 1 = 1`
	var args []any
	if f.Reviewed != nil {
		if *f.Reviewed {
			q += ` AND status <> 'open'`
		} else {
			q += ` AND status = 'open'`
		}
	}
	if f.PatientID != "" {
		q += ` AND patient_id = ?`
		args = append(args, f.PatientID)
	}
	return q, args
}

func (t *tx) CountBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) (int, error) {
	where, args := breakGlassWhere(f)
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM break_glass`+where, args...).Scan(&n)
	return n, dbErr("count break-glass grants", err)
}

func (t *tx) ListBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) ([]confidant.SealedBreakGlass, error) {
	where, args := breakGlassWhere(f)
	q := `SELECT ` + breakGlassColumns + ` FROM break_glass` + where
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []confidant.SealedBreakGlass
	err := t.list(ctx, "list break-glass grants", q, args, func(r *sql.Rows) error {
		var g confidant.SealedBreakGlass
		err := scanBreakGlass(r, &g)
		out = append(out, g)
		return err
	})
	return out, err
}

func (t *tx) ReviewBreakGlass(ctx context.Context, id string, status confidant.BreakGlassStatus, by string, at time.Time, data []byte) error {
	if status != confidant.BreakGlassJustified && status != confidant.BreakGlassNotJustified {
		return confidant.Errorf(confidant.KindInvalid, "invalid_outcome", "The outcome of a review is justified or not justified.")
	}
	var d any
	if data != nil {
		d = data
	}
	n, err := t.exec(ctx, "review break-glass grant",
		`UPDATE break_glass SET status = ?, reviewed_by = ?, reviewed_at = ?, data = coalesce(?, data)
		WHERE id = ? AND status = 'open'`,
		string(status), by, micros(at), d, id)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := t.BreakGlass(ctx, id); err != nil {
			return err
		}
		return conflict("already_reviewed", "This emergency access has already been reviewed.")
	}
	return nil
}
