package audit_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
)

// liveness bounds how long a test waits for something that must happen
// without waiting for anything else; it is not a measure of speed (a
// broken promise makes the test fail here instead of hanging).
const liveness = 30 * time.Second

// createClinic stores a clinic, inline, and returns it.
func createClinic(t *testing.T, l *audit.Log, id, city string) confidant.Clinic {
	t.Helper()
	c := confidant.Clinic{ID: id, Name: "Clinic " + id, City: city, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := l.Update(t.Context(), func(tx confidant.SealedTx) error { return tx.CreateClinic(t.Context(), c) }); err != nil {
		t.Fatal(err)
	}
	return c
}

func clinicCity(t *testing.T, l *audit.Log, id string) string {
	t.Helper()
	var c confidant.Clinic
	err := l.View(t.Context(), func(tx confidant.SealedTx) error {
		var err error
		c, err = tx.Clinic(t.Context(), id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.City
}

func audited(tx confidant.SealedTx, i int) error {
	a, ok := tx.(interface {
		Audit(confidant.AuditEvent) error
	})
	if !ok {
		return errors.New("the transaction keeps no access log")
	}
	return a.Audit(ev(i, ""))
}

// TestStagedWorkOutsideSequencer: a write's work (here: waiting, as
// decrypting, authorizing and sealing would take time) runs outside the
// sequencer, so a read's event commits while the write is still working;
// then the write is applied, with its event.
func TestStagedWorkOutsideSequencer(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := confidant.Rerunnable(t.Context())
		createClinic(t, e.log, "c1", "Turku")
		size0, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		working, release := make(chan struct{}), make(chan struct{})
		var runs atomic.Int32
		wrote := make(chan error, 1)
		go func() {
			wrote <- e.log.Update(ctx, func(tx confidant.SealedTx) error {
				c, err := tx.Clinic(ctx, "c1")
				if err != nil {
					return err
				}
				if runs.Add(1) == 1 {
					close(working)
					<-release
				}
				c.City = "Tampere"
				if err := tx.UpdateClinic(ctx, c); err != nil {
					return err
				}
				return audited(tx, 1)
			})
		}()
		select {
		case <-working:
		case <-time.After(liveness):
			t.Fatal("the write's function did not start")
		}
		recorded := make(chan error, 1)
		go func() { recorded <- e.log.Record(t.Context(), ev(2, "p1")) }()
		select {
		case err := <-recorded:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(liveness):
			close(release)
			t.Fatal("a read's event waited behind a write's work")
		}
		close(release)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if got := clinicCity(t, e.log, "c1"); got != "Tampere" {
			t.Errorf("city %q after the staged write", got)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("the function ran %d times, want once", n)
		}
		if s := e.log.Stats(); s.Staged != 1 || s.Restaged != 0 {
			t.Errorf("stats %+v: want one staged request, none run again", s)
		}
		size, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if size != size0+2 {
			t.Errorf("the log grew by %d events, want 2 (the read's and the write's)", size-size0)
		}
		if err := e.log.Verify(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStagedNoLostUpdate: requests that all read the same value in their
// snapshots, on two sequencers (two servers) over one database, and write
// it back incremented: the re-check finds all but the first stale, they
// run again on the current value, and no increment is lost.
func TestStagedNoLostUpdate(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		other := e.openAnother(t)
		ctx := confidant.Rerunnable(t.Context())
		createClinic(t, e.log, "c1", "0")
		size0, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// Three at once: the pools have at least four connections, and
		// each sequencer needs one besides the snapshots.
		const n = 3
		var read sync.WaitGroup
		read.Add(n)
		var wg sync.WaitGroup
		for i := range n {
			l := e.log
			if i%2 == 1 {
				l = other
			}
			first := true
			wg.Go(func() {
				err := l.Update(ctx, func(tx confidant.SealedTx) error {
					c, err := tx.Clinic(ctx, "c1")
					if err != nil {
						return err
					}
					if first {
						// Every request reads before any writes.
						first = false
						read.Done()
						read.Wait()
					}
					v, err := strconv.Atoi(c.City)
					if err != nil {
						return err
					}
					c.City = strconv.Itoa(v + 1)
					if err := tx.UpdateClinic(ctx, c); err != nil {
						return err
					}
					return audited(tx, 10+i)
				})
				if err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if got := clinicCity(t, e.log, "c1"); got != strconv.Itoa(n) {
			t.Fatalf("the value is %s after %d increments", got, n)
		}
		a, b := e.log.Stats(), other.Stats()
		if staged, again := a.Staged+b.Staged, a.Restaged+b.Restaged; staged != 1 || again != n-1 {
			t.Errorf("%d applied as staged, %d run again; want 1 and %d (stats %+v, %+v)", staged, again, n-1, a, b)
		}
		size, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if size != size0+n {
			t.Errorf("the log grew by %d events, want %d", size-size0, n)
		}
		if err := e.log.Verify(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStagedWriteFails: a staged write that fails when replayed (another
// request created the same clinic meanwhile) is rolled back, and the
// function runs again inside the batch, where it meets the conflict and
// fails: nothing of it, writes or events, is stored.
func TestStagedWriteFails(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := confidant.Rerunnable(t.Context())
		size0, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		first := true
		err = e.log.Update(ctx, func(tx confidant.SealedTx) error {
			if _, err := tx.Organisation(ctx); err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
				return err
			}
			c := confidant.Clinic{ID: "c2", Name: "Mine", City: "Oulu", CreatedAt: time.Now()}
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
			if first {
				first = false
				createClinic(t, e.log, "c2", "Vaasa") // someone else's, committed now
			}
			return audited(tx, 3)
		})
		if !confidant.IsKind(err, confidant.KindConflict) {
			t.Fatalf("Update = %v, want a conflict", err)
		}
		if got := clinicCity(t, e.log, "c2"); got != "Vaasa" {
			t.Errorf("city %q: the failed request's write was stored", got)
		}
		if s := e.log.Stats(); s.Restaged != 1 || s.Staged != 0 {
			t.Errorf("stats %+v: want the staged request run again once", s)
		}
		size, _, err := e.log.Head(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if size != size0 {
			t.Errorf("the log grew by %d events, want none", size-size0)
		}
	})
}

// TestStagedReadAfterWrite: a function that reads after it has written
// cannot be staged (the snapshot would not show its own write): it runs
// inside the batch, and what its staged run wrote is not applied as well.
func TestStagedReadAfterWrite(t *testing.T) {
	e := newEnv(t)
	ctx := confidant.Rerunnable(t.Context())
	var runs int
	err := e.log.Update(ctx, func(tx confidant.SealedTx) error {
		runs++
		if err := tx.CreateClinic(ctx, confidant.Clinic{ID: "c3", Name: "Three", City: "Pori", CreatedAt: time.Now()}); err != nil {
			return err
		}
		c, err := tx.Clinic(ctx, "c3")
		if err != nil {
			return err
		}
		if c.City != "Pori" {
			return errors.New("the function's own write is not visible to it")
		}
		return audited(tx, 4)
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Errorf("the function ran %d times, want 2 (staged, stopped at the read; then inline)", runs)
	}
	if s := e.log.Stats(); s.Unstaged != 1 || s.Staged != 0 {
		t.Errorf("stats %+v: want one request that could not be staged", s)
	}
	if got := clinicCity(t, e.log, "c3"); got != "Pori" {
		t.Errorf("city %q", got)
	}
}

// TestStagedRefusal: a function that fails on its snapshot is answered
// with its error (or, if it panicked, a fixed one) and writes nothing; one
// whose context is not marked Rerunnable runs once, inside the batch.
func TestStagedRefusal(t *testing.T) {
	e := newEnv(t)
	ctx := confidant.Rerunnable(t.Context())
	size0, _, err := e.log.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	refused := confidant.Errorf(confidant.KindPermission, "forbidden", "No.")
	var runs int
	err = e.log.Update(ctx, func(tx confidant.SealedTx) error {
		runs++
		if err := audited(tx, 5); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) || runs != 1 {
		t.Fatalf("Update = %v after %d runs, want the function's refusal after one", err, runs)
	}
	err = e.log.Update(ctx, func(tx confidant.SealedTx) error { panic("patient data") })
	if confidant.KindOf(err) != confidant.KindInternal || err == nil || strings.Contains(err.Error(), "patient data") {
		t.Fatalf("Update after a panic = %v, want a fixed internal error", err)
	}
	if s := e.log.Stats(); s.Refused != 2 {
		t.Errorf("stats %+v: want two refused", s)
	}
	runs = 0
	err = e.log.Update(t.Context(), func(tx confidant.SealedTx) error {
		runs++
		return tx.CreateClinic(t.Context(), confidant.Clinic{ID: "c4", Name: "Four", City: "Kotka", CreatedAt: time.Now()})
	})
	if err != nil || runs != 1 {
		t.Fatalf("an unmarked Update = %v after %d runs, want success after one", err, runs)
	}
	if s := e.log.Stats(); s.Inline != 1 {
		t.Errorf("stats %+v: want the unmarked request inline", s)
	}
	size, _, err := e.log.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if size != size0 {
		t.Errorf("the log grew by %d events, want none", size-size0)
	}
}
