package detect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestDemoTraffic: the demo's own generated history (a small data set)
// raises no high or critical alert with the default thresholds. The counts
// per rule are logged (docs/INCIDENTS.md quotes them).
func TestDemoTraffic(t *testing.T) {
	k := testfix.Keyring(t)
	st := testfix.Seal(t, testfix.SQLiteBackend(t), k)
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	opt := demo.Options{Seed: 1, Clinics: 3, Therapists: 12, Patients: 150, Months: 3, Now: now, Hasher: testfix.FastHasher{}}
	if n, _ := strconv.Atoi(os.Getenv("DETECT_DEMO_PATIENTS")); n > 0 { // a larger set, for docs/INCIDENTS.md
		opt.Clinics, opt.Therapists, opt.Patients, opt.Months = 10, n/20, n, 6
	}
	_, err := demo.Generate(context.Background(), st, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	d, err := New(testfix.Log(st), st, Config{Sink: s.raise, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Surname: func(f string) ([]byte, error) { return seal.SurnameIndex(k, f) }})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	_, size := watermark(t, testfix.Log(st), "detector")
	accesses := 0
	for _, a := range d.st.accounts {
		for _, ps := range a.days {
			accesses += len(ps.patients)
		}
	}
	if accesses == 0 {
		t.Fatal("the rules saw no record access in the demo's history")
	}
	t.Logf("%d accounts with %d distinct (account, patient, day) record accesses in the rules' windows", len(d.st.accounts), accesses)
	counts := s.counts()
	var lines []string
	for r, n := range counts {
		lines = append(lines, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(lines)
	t.Logf("demo history: %d events; alerts per rule/severity: %v", size, lines)
	for _, a := range s.stored {
		if a.Severity == confidant.AlertHigh || a.Severity == confidant.AlertCritical {
			t.Errorf("the demo's normal traffic raised a %s %s alert: %s", a.Severity, a.Rule, a.Explanation)
		}
	}
}
