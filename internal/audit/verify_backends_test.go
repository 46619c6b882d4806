package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// TestVerifyManyPages: on both backends, with a log of several pages of
// events (which Verify reads in two transactions), Verify passes an intact
// log and names the first bad index of an edit and of a deletion.
func TestVerifyManyPages(t *testing.T) {
	ctx := context.Background()
	const n = 5*1024 + 100
	backends(t, func(t *testing.T, kind string) {
		for _, tc := range []struct {
			name, sql string
			index     uint64
		}{
			{"intact", "", 0},
			{"change an actor", `UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 2500`, 2500},
			{"delete an event", `DELETE FROM audit_events WHERE idx = 4097`, 4097},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnvOn(t, kind)
				for i := 0; i < n; i += 1000 {
					var evs []confidant.AuditEvent
					for j := i; j < min(i+1000, n); j++ {
						evs = append(evs, ev(j, fmt.Sprint("p", j%7)))
					}
					if err := e.log.Record(ctx, evs...); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := e.log.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				if err := e.log.Verify(ctx, nil, nil); err != nil {
					t.Fatalf("verify: %v", err)
				}
				if tc.sql == "" {
					return
				}
				e.close()
				e.tamper(t, tc.sql)
				e.open(t)
				err := e.log.Verify(ctx, nil, nil)
				var f *auditlog.Fault
				if !errors.As(err, &f) || f.Index != tc.index {
					t.Fatalf("verify after tampering: %v (want a fault at %d)", err, tc.index)
				}
			})
		}
	})
}
