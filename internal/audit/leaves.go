package audit

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// leafPage is how many events scanLeaves reads at a time.
const leafPage = 4096

// scanLeaves calls fn with the index and stored leaf commitment of every
// event from index from up to (not including) to, in order, reading pages
// of events. An event missing, out of place or with a malformed commitment
// is a *auditlog.Fault naming its index (the events must hold the log
// contiguously up to to); fn's error stops the scan and is returned.
func scanLeaves(ctx context.Context, ltx confidant.LogTx, from, to uint64, fn func(index uint64, leaf [32]byte) error) error {
	next := from
	for next < to {
		want := next + min(to-next, leafPage)
		err := ltx.ScanEvents(ctx, next, int(want-next), func(e *confidant.EventRow) error {
			if e.Index != next || len(e.Leaf) != auditlog.HashSize {
				return &auditlog.Fault{Index: next, Kind: auditlog.FaultDeleted, Detail: "the stored events do not continue the log here"}
			}
			if err := fn(next, [32]byte(e.Leaf)); err != nil {
				return err
			}
			next++
			return nil
		})
		if err != nil {
			return err
		}
		if next != want {
			return &auditlog.Fault{Index: next, Kind: auditlog.FaultTruncated, Detail: "the stored events end before the log's size"}
		}
	}
	return nil
}
