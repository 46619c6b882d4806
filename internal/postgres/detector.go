package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/jackc/pgx/v5"
)

// Detector watermarks (internal/detect): one row per named detector.

func (t *tx) DetectorState(ctx context.Context, name string) (uint64, time.Time, error) {
	var next int64
	var at time.Time
	err := t.tx.QueryRow(t.c(ctx), `SELECT next_index, updated_at FROM detector_state WHERE name = $1`, name).Scan(&next, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, mapErr(err, "detector state", "")
	}
	return uint64(next), at.UTC(), nil
}

func (t *tx) AdvanceDetector(ctx context.Context, name string, old, next uint64, at time.Time) (bool, error) {
	if old > 1<<62 || next > 1<<62 {
		return false, confidant.Errorf(confidant.KindInvalid, "invalid_index", "The detector's position is out of range.")
	}
	if old == 0 {
		if _, err := t.tx.Exec(t.c(ctx), `INSERT INTO detector_state (name, next_index, updated_at) VALUES ($1, 0, $2)
			ON CONFLICT (name) DO NOTHING`, name, at.UTC()); err != nil {
			return false, mapErr(err, "create detector state", "")
		}
	}
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE detector_state SET next_index = $1, updated_at = $2 WHERE name = $3 AND next_index = $4`,
		int64(next), at.UTC(), name, int64(old))
	if err != nil {
		return false, mapErr(err, "advance detector", "")
	}
	return tag.RowsAffected() == 1, nil
}
