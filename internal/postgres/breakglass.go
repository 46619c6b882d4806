package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Break-the-glass grants (docs/SECURITY.md, "Break-the-glass").

const breakGlassColumns = `id, therapist_id, patient_id, clinic_id, category, created_at, expires_at, status, reviewed_by, reviewed_at, data, fact_mac`

func scanBreakGlass(sc interface{ Scan(...any) error }) (confidant.SealedBreakGlass, error) {
	var g confidant.SealedBreakGlass
	err := sc.Scan(&g.ID, &g.TherapistID, &g.PatientID, &g.ClinicID, &g.Category, tm(&g.CreatedAt), tm(&g.ExpiresAt),
		&g.Status, &g.ReviewedBy, tm(&g.ReviewedAt), &g.Data, &g.FactMAC)
	return g, err
}

// CreateBreakGlass stores a grant.
func (t *tx) CreateBreakGlass(ctx context.Context, g confidant.SealedBreakGlass) error {
	status := g.Status
	if status == "" {
		status = confidant.BreakGlassOpen
	}
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO break_glass (`+breakGlassColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		g.ID, g.TherapistID, g.PatientID, g.ClinicID, g.Category, ts(g.CreatedAt), ts(g.ExpiresAt),
		string(status), g.ReviewedBy, ts(g.ReviewedAt), nonNil(g.Data), g.FactMAC)
	return mapErr(err, "create break-glass grant", "Grant")
}

// BreakGlass returns a grant.
func (t *tx) BreakGlass(ctx context.Context, id string) (confidant.SealedBreakGlass, error) {
	g, err := scanBreakGlass(t.tx.QueryRow(t.c(ctx), `SELECT `+breakGlassColumns+` FROM break_glass WHERE id = $1`, id))
	return g, mapErr(err, "get break-glass grant", "Grant")
}

// ActiveBreakGlass returns the grant of a therapist for a patient active
// at `at` that expires last.
func (t *tx) ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (confidant.ActiveGrant, error) {
	var g confidant.ActiveGrant
	err := t.tx.QueryRow(t.c(ctx), `
		SELECT id, expires_at FROM break_glass
		WHERE therapist_id = $1 AND patient_id = $2 AND expires_at > $3 AND created_at <= $3
		ORDER BY expires_at DESC, id LIMIT 1`,
		therapistID, patientID, ts(at)).Scan(&g.ID, tm(&g.ExpiresAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return confidant.ActiveGrant{}, nil
	}
	return g, mapErr(err, "active break-glass grant", "")
}

// breakGlassWhere is the WHERE clause of f (constant text, values as
// parameters).
func breakGlassWhere(f confidant.BreakGlassFilter) (string, []any) {
	q := ` WHERE true`
	var args []any
	if f.Reviewed != nil {
		if *f.Reviewed {
			q += ` AND status <> 'open'`
		} else {
			q += ` AND status = 'open'`
		}
	}
	if f.PatientID != "" {
		args = append(args, f.PatientID)
		q += ` AND patient_id = $` + strconv.Itoa(len(args))
	}
	return q, args
}

// CountBreakGlass counts the grants matching f.
func (t *tx) CountBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) (int, error) {
	where, args := breakGlassWhere(f)
	var n int
	err := t.tx.QueryRow(t.c(ctx), `SELECT count(*) FROM break_glass`+where, args...).Scan(&n)
	return n, mapErr(err, "count break-glass grants", "")
}

// ListBreakGlass returns grants matching f, newest first.
func (t *tx) ListBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) ([]confidant.SealedBreakGlass, error) {
	where, args := breakGlassWhere(f)
	q := `SELECT ` + breakGlassColumns + ` FROM break_glass` + where
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, _ := t.tx.Query(t.c(ctx), q, args...)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedBreakGlass, error) { return scanBreakGlass(row) })
	return out, mapErr(err, "list break-glass grants", "")
}

// ReviewBreakGlass records the review of an open grant.
func (t *tx) ReviewBreakGlass(ctx context.Context, id string, status confidant.BreakGlassStatus, by string, at time.Time, data []byte) error {
	if status != confidant.BreakGlassJustified && status != confidant.BreakGlassNotJustified {
		return confidant.Errorf(confidant.KindInvalid, "invalid_outcome", "The outcome of a review is justified or not justified.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE break_glass SET status = $2, reviewed_by = $3, reviewed_at = $4, data = coalesce($5, data)
		WHERE id = $1 AND status = 'open'`,
		id, string(status), by, ts(at), data)
	if err != nil {
		return mapErr(err, "review break-glass grant", "Grant")
	}
	if tag.RowsAffected() == 0 {
		if _, err := t.BreakGlass(ctx, id); err != nil {
			return err
		}
		return conflict("already_reviewed", "This emergency access has already been reviewed.")
	}
	return nil
}
