package main

import (
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/detect"
)

// TestVerifyRaisesIntegrity: the server's scheduled verification of the
// log finds an altered event and raises a critical integrity alert through
// the detector; an intact log raises none.
func TestVerifyRaisesIntegrity(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCmd(t, "init", "--data", dir, "--org", "Test Oy", "--clinic", "Helsinki"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", dir)
	ctx := context.Background()
	a, err := openApp(ctx, cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 5 {
		if err := a.log.Record(ctx, confidant.AuditEvent{Time: time.Now(), ActorID: "someone", Role: confidant.RoleTherapist,
			Action: "chart.read", PatientID: confidant.NewID(), Outcome: confidant.OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []confidant.Alert
	det, err := detect.New(a.log, a.store, detect.Config{Sink: func(_ context.Context, as []confidant.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, as...)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logText strings.Builder
	logged := func() string { logMu.Lock(); defer logMu.Unlock(); return logText.String() }
	in := &integrity{d: det, log: newLogger(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logText.Write(b)
	}), cfg.LogLevel)}
	verifyOnce := func() []confidant.Alert {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		before := strings.Count(logged(), "the access log verifies")
		vctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { runVerify(vctx, a.log, time.Hour, in, in.log); close(done) }()
		// The first verification runs at once, the next an hour later:
		// wait for the first one's outcome (an alert, or the log line of
		// an intact log), then stop.
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n > 0 || strings.Count(logged(), "the access log verifies") > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no outcome of the verification: %s", logged())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]confidant.Alert(nil), got...)
	}
	if as := verifyOnce(); len(as) != 0 {
		t.Fatalf("an intact log raised %+v", as)
	}
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A database writer drops the append-only trigger and alters an event.
	for _, q := range []string{`DROP TRIGGER IF EXISTS audit_events_no_update`,
		`UPDATE audit_events SET action = 'patient.read' WHERE idx = (SELECT max(idx) FROM audit_events)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	as := verifyOnce()
	if len(as) != 1 || as[0].Rule != detect.RuleIntegrity || as[0].Severity != confidant.AlertCritical ||
		!strings.Contains(as[0].Explanation, "failed its verification") || !strings.HasPrefix(as[0].Key, "integrity|verify|") {
		t.Fatalf("alerts after tampering: %+v", as)
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
