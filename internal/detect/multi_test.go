package detect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// server is one server's storage stack over a shared database.
type server struct {
	st  *seal.Store
	log *audit.Log
}

// workload appends n events in batches through the servers in turn: a
// mix that makes most rules fire (small thresholds, see multiRules).
func workload(t *testing.T, w *testfix.World, servers []server, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	actors := []confidant.User{w.Manager, w.ManagerB, w.Therapist, w.OtherTherapist}
	pts := []string{w.PatientA.ID, w.PatientC.ID}
	for i := range 40 {
		pts = append(pts, fmt.Sprintf("fake%02d", i))
	}
	at := time.Date(2026, 3, 23, 3, 0, 0, 0, time.UTC)
	for i := 0; i < n; {
		var evs []confidant.AuditEvent
		for k := 0; k < 7 && i < n; k, i = k+1, i+1 {
			at = at.Add(time.Duration(5+rng.IntN(60)) * time.Second)
			u := actors[rng.IntN(len(actors))]
			out := confidant.OutcomeOK
			if rng.IntN(8) == 0 {
				out = confidant.OutcomeDenied
			}
			evs = append(evs, ev(at, u, "chart.read", pts[rng.IntN(len(pts))], out))
		}
		if err := servers[i%len(servers)].log.Record(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
	}
}

func multiRules(c *Config) {
	c.Rules.VolumeHour, c.Rules.VolumeDay, c.Rules.RefusalBurst = 8, 25, 1
	c.Rules.Hours = nil // the default: the workload starts at night
	c.Batch = 16
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
}

// twoServers runs a detector on each server, concurrently with the
// workload, until both are at the end of the log; then a reference
// detector (its own watermark) processes the whole log alone. Every event
// must have been processed once in total, and the alerts must be exactly
// the reference's.
func twoServers(t *testing.T, k *keys.Keyring, a, b server) {
	w := testfix.New(t, a.st)
	shared := newSink()
	mk := func(s server, sk *sink, name string) *Detector {
		cfg := Config{Name: name, Sink: sk.raise, Surname: func(f string) ([]byte, error) { return seal.SurnameIndex(k, f) }}
		multiRules(&cfg)
		d, err := New(s.log, s.st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1, d2 := mk(a, shared, "detector"), mk(b, shared, "detector")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, d := range []*Detector{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := d.Step(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	workload(t, w, []server{a, b}, 600, 7)
	// Let them reach the end, then stop them.
	for i := 0; ; i++ {
		next, size := watermark(t, a.log, "detector")
		if next == size {
			break
		}
		if i > 3000 {
			t.Fatalf("the detectors are stuck at %d of %d", next, size)
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, size := watermark(t, a.log, "detector")
	if got := d1.Processed() + d2.Processed(); got != size {
		t.Fatalf("the two detectors processed %d events (%d + %d), the log has %d", got, d1.Processed(), d2.Processed(), size)
	}
	if d1.Processed() == 0 || d2.Processed() == 0 {
		t.Logf("one detector did all the work (%d, %d): no race this time", d1.Processed(), d2.Processed())
	}
	ref := newSink()
	drain(t, mk(a, ref, "reference"))
	want, got := ref.keys(), shared.keys()
	if !slices.Equal(got, want) {
		t.Fatalf("the two detectors raised %d keys, the reference %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	t.Logf("%d events, %d + %d processed, %d alerts %v, %d raised again (idempotent)", size, d1.Processed(), d2.Processed(), len(want), ref.counts(), shared.repeats)
	for _, r := range []string{RuleNoCare, RuleVolumeHour, RuleVolumeDay, RuleAfterHours, RuleRefusalBurst} {
		if len(ref.byRule(r)) == 0 {
			t.Errorf("the workload raised no %s: it does not exercise the rule state", r)
		}
	}
}

func TestTwoServersSQLite(t *testing.T) {
	k := testfix.Keyring(t)
	path := filepath.Join(t.TempDir(), "confidant.db")
	open := func() server {
		db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st := testfix.Seal(t, db, k)
		return server{st: st, log: testfix.Log(st)}
	}
	a := open()
	b := open()
	twoServers(t, k, a, b)
}

func TestTwoServersPostgres(t *testing.T) {
	dsn := testfix.PostgresDSN(t, "detector on PostgreSQL")
	schema := testfix.PostgresSchema(t, dsn, "detect_")
	k := testfix.Keyring(t)
	open := func() server {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st := testfix.Seal(t, db, k)
		return server{st: st, log: testfix.Log(st)}
	}
	a := open()
	b := open()
	twoServers(t, k, a, b)
}
