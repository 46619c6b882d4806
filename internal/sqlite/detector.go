package sqlite

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
)

// Detector watermarks (internal/detect): one row per named detector.

func (t *tx) DetectorState(ctx context.Context, name string) (uint64, time.Time, error) {
	var next int64
	var at time.Time
	err := t.get(ctx, "Detector state", "detector state",
		`SELECT next_index, updated_at FROM detector_state WHERE name = ?`, []any{name}, &next, tm(&at))
	if confidant.IsKind(err, confidant.KindNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return uint64(next), at, nil
}

func (t *tx) AdvanceDetector(ctx context.Context, name string, old, next uint64, at time.Time) (bool, error) {
	if old > 1<<62 || next > 1<<62 {
		return false, confidant.Errorf(confidant.KindInvalid, "invalid_index", "The detector's position is out of range.")
	}
	if old == 0 {
		if _, err := t.exec(ctx, "create detector state",
			`INSERT INTO detector_state (name, next_index, updated_at) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING`,
			name, at.UnixMicro()); err != nil {
			return false, err
		}
	}
	n, err := t.exec(ctx, "advance detector",
		`UPDATE detector_state SET next_index = ?, updated_at = ? WHERE name = ? AND next_index = ?`,
		int64(next), at.UnixMicro(), name, int64(old))
	return n == 1, err
}
