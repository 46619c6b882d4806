package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// BenchmarkAppendEvents appends batches of events, one transaction per
// batch as the sequencer's group commit does, to a log that grows during
// the benchmark. "unnest" is AppendEvents (one statement: head update and
// insert); "copy" is the alternative it was measured against (head update,
// then pgx CopyFrom).
func BenchmarkAppendEvents(b *testing.B) {
	for _, method := range []string{"unnest", "copy"} {
		for _, batch := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/batch=%d", method, batch), func(b *testing.B) {
				db := openTest(b, Options{})
				ctx := context.Background()
				patients := make([]string, 1000)
				for i := range patients {
					patients[i] = confidant.NewID()
				}
				heads := map[string]confidant.ChainHead{}
				var next uint64
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					evs := testEvents(next, batch, patients, heads)
					b.StartTimer()
					err := db.Update(ctx, func(stx confidant.SealedTx) error {
						if method == "copy" {
							return appendCopy(ctx, stx.(*tx), evs)
						}
						return logTx(b, stx).AppendEvents(ctx, evs)
					})
					if err != nil {
						b.Fatal(err)
					}
					next += uint64(batch)
				}
				b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// appendCopy is AppendEvents with COPY, for comparison: it takes three
// round trips (the head update, pgx's describe of the table, the copy).
func appendCopy(ctx context.Context, t *tx, evs []confidant.StoredEvent) error {
	first := int64(evs[0].Index)
	tag, err := t.tx.Exec(ctx, `UPDATE audit_log_head SET size = $2 WHERE size = $1`, first, first+int64(len(evs)))
	if err != nil {
		return mapErr(err, "append events", "")
	}
	if tag.RowsAffected() != 1 {
		return conflict("log_not_contiguous", "The events do not continue the log.")
	}
	cols := []string{"idx", "time", "actor_id", "role", "clinic_id", "action", "patient_id", "record_id", "outcome",
		"session_id", "patient_seq", "patient_prev", "nonce", "sealed", "leaf"}
	_, err = t.tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
		e := evs[i]
		return []any{int64(e.Index), e.Time.UTC(), e.ActorID, string(e.Role), e.ClinicID, e.Action, e.PatientID,
			e.RecordID, e.Outcome, e.SessionID, int64(e.PatientSeq), e.PatientPrev, e.Nonce, e.Sealed, e.Leaf}, nil
	}))
	return mapErr(err, "append events", "")
}
