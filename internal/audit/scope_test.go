package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// TestAccessedBy: the breach scope of an account counts its events per
// patient in the period across several pages, refusals apart, with the
// first and last times, most recent first, and nothing of other accounts or
// outside the period.
func TestAccessedBy(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := context.Background()
		patients := make([]string, 7)
		for i := range patients {
			patients[i] = confidant.NewID()
		}
		const n = 4000
		var evs []confidant.AuditEvent
		for i := range n {
			x := ev(i, patients[i%7])
			if i%11 == 0 {
				x.Outcome = confidant.OutcomeDenied
			}
			if i%13 == 0 {
				x.PatientID = "" // a sign-in: no patient
			}
			evs = append(evs, x)
		}
		for i := 0; i < n; i += 500 {
			if err := e.log.Record(ctx, evs[i:min(i+500, n)]...); err != nil {
				t.Fatal(err)
			}
		}
		from, to := evs[100].Time, evs[3900].Time
		want := map[string]*confidant.PatientAccess{}
		for _, x := range evs {
			if x.ActorID != "actor0" || x.PatientID == "" || x.Time.Before(from) || !x.Time.Before(to) {
				continue
			}
			w := want[x.PatientID]
			if w == nil {
				w = &confidant.PatientAccess{PatientID: x.PatientID, First: x.Time}
				want[x.PatientID] = w
			}
			w.Events++
			if x.Outcome != confidant.OutcomeOK {
				w.Denied++
			}
			w.Last = x.Time
		}
		got, err := e.log.AccessedBy(ctx, "actor0", from, to)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, g := range got {
			w := want[g.PatientID]
			if w == nil || g.Events != w.Events || g.Denied != w.Denied || !g.First.Equal(w.First) || !g.Last.Equal(w.Last) {
				t.Errorf("patient %d: got %+v, want %+v", i, g, w)
			}
			if i > 0 && g.Last.After(got[i-1].Last) {
				t.Errorf("not most recent first at %d", i)
			}
			total += g.Events
		}
		if len(got) != len(want) || total < 1000 {
			t.Fatalf("%d patients (%d events), want %d patients over more than one page", len(got), total, len(want))
		}
		if got, err := e.log.AccessedBy(ctx, "nobody", from, to); err != nil || len(got) != 0 {
			t.Fatalf("unknown account: %v %v", got, err)
		}
		if got, err := e.log.AccessedBy(ctx, "actor0", evs[0].Time.Add(-2*time.Hour), evs[0].Time.Add(-time.Hour)); err != nil || len(got) != 0 {
			t.Fatalf("empty period: %v %v", got, err)
		}
	})
}

// Concurrent Checkpoint calls while the tree grows (the checkpointer,
// /log/checkpoint and proof bundles at once) all succeed with a checkpoint
// covering what each caller had committed.
func TestConcurrentCheckpoints(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 15 {
				if err := e.log.Record(ctx, ev(g*100+i, confidant.NewID())); err != nil {
					errs <- err
					return
				}
				size, _, _ := e.log.Head(t.Context())
				cp, err := e.log.Checkpoint(ctx)
				if err == nil && cp.Size < size {
					err = fmt.Errorf("checkpoint of size %d, tree %d", cp.Size, size)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
