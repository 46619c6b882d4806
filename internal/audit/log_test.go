package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/jackc/pgx/v5"
	_ "github.com/ncruces/go-sqlite3/driver"
	"golang.org/x/mod/sumdb/note"
)

type env struct {
	kind   string // "sqlite" or "postgres"
	path   string // sqlite: the database file
	dsn    string // postgres
	schema string // postgres: this test's schema
	db     confidant.SealedStore
	k      *keys.Keyring
	log    *audit.Log
}

func newEnv(t *testing.T) *env { return newEnvOn(t, "sqlite") }

// backends runs f on SQLite and, when CONFIDANT_TEST_POSTGRES is set, on
// PostgreSQL (mandatory in CI).
func backends(t *testing.T, f func(t *testing.T, kind string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite") })
	t.Run("postgres", func(t *testing.T) {
		testfix.PostgresDSN(t, "the PostgreSQL access-log tests")
		f(t, "postgres")
	})
}

func newEnvOn(t *testing.T, kind string) *env {
	t.Helper()
	e := &env{kind: kind, k: testfix.Keyring(t)}
	switch kind {
	case "sqlite":
		e.path = filepath.Join(t.TempDir(), "confidant.db")
	case "postgres":
		e.dsn = testfix.PostgresDSN(t, "the PostgreSQL access-log tests")
		e.schema = testfix.PostgresSchema(t, e.dsn, "audit_")
	}
	e.open(t)
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	if err := e.tryOpen(t); err != nil {
		t.Fatal(err)
	}
}

// tryOpen opens the database and the log, returning the log's refusal.
func (e *env) tryOpen(t *testing.T) error {
	t.Helper()
	db, l, err := e.openHandle(t)
	if err != nil {
		return err
	}
	e.db, e.log = db, l
	return nil
}

// openHandle opens a new handle on e's database and a Log over it, closed
// when the test ends; it returns the log's refusal.
func (e *env) openHandle(t *testing.T) (confidant.SealedStore, *audit.Log, error) {
	t.Helper()
	var db confidant.SealedStore
	var err error
	if e.kind == "sqlite" {
		db, err = sqlite.Open(context.Background(), e.path, sqlite.Options{})
	} else {
		db, err = postgres.Open(context.Background(), e.dsn, postgres.Options{Schema: e.schema})
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), db, e.k, audit.Config{Origin: "test.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { l.Close(); db.Close() })
	return db, l, nil
}

func (e *env) close() { e.log.Close(); e.db.Close() }

// tamper edits the database directly, as someone with write access would:
// first disabling any append-only protection, then running stmt.
func (e *env) tamper(t *testing.T, stmt string) {
	t.Helper()
	if e.kind == "postgres" {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		for _, q := range append([]string{"SET search_path TO " + e.schema, "ALTER TABLE audit_events DISABLE TRIGGER ALL"}, strings.Split(stmt, ";")...) {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	raw, err := sql.Open("sqlite3", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, n := range triggers {
		if _, err := raw.Exec(`DROP TRIGGER "` + n + `"`); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range strings.Split(stmt, ";") {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func ev(i int, patient string) confidant.AuditEvent {
	return confidant.AuditEvent{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second), ActorID: "actor" + fmt.Sprint(i%3),
		Role: confidant.RoleTherapist, Action: "chart.read", PatientID: patient, Outcome: confidant.OutcomeOK,
		Purpose: fmt.Sprintf("reason %d", i), Client: "192.0.2.1",
	}
}

// TestGroupCommit: concurrent requests are committed, all of them, with
// contiguous indexes and correct per-patient chains, and the log verifies.
func TestGroupCommit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	patients := []string{confidant.NewID(), confidant.NewID(), confidant.NewID()}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.log.Record(ctx, ev(i, patients[i%3]))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if size, _, _ := e.log.Head(t.Context()); size != 300 {
		t.Fatalf("size %d, want 300", size)
	}
	if _, err := e.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.log.Verify(ctx, nil, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	evs, err := e.log.Query(ctx, confidant.EventFilter{PatientID: patients[1], Limit: 1000})
	if err != nil || len(evs) != 100 {
		t.Fatalf("patient events: %d %v", len(evs), err)
	}
	for i, se := range evs { // newest first
		if se.PatientSeq != uint64(100-i) {
			t.Fatalf("chain: event %d has seq %d", i, se.PatientSeq)
		}
	}
	p, c, err := e.log.OpenFree(evs[0])
	if err != nil || c != "192.0.2.1" || p == "" {
		t.Fatalf("free text: %q %q %v", p, c, err)
	}
}

// TestWritesCarryTheirEvents: an Update's events commit with its writes, a
// failed Update leaves neither, and a panicking one does not disturb the
// others in its batch.
func TestWritesCarryTheirEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "A", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err := e.log.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		return tx.(interface {
			Audit(confidant.AuditEvent) error
		}).Audit(ev(1, ""))
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = e.log.Update(ctx, func(tx confidant.SealedTx) error {
		tx.CreateClinic(ctx, confidant.Clinic{ID: confidant.NewID(), Name: "B", CreatedAt: clinic.CreatedAt})
		tx.(interface {
			Audit(confidant.AuditEvent) error
		}).Audit(ev(2, ""))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed update: %v", err)
	}
	var wg sync.WaitGroup
	var panicErr, okErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		panicErr = e.log.Update(ctx, func(tx confidant.SealedTx) error { panic("no data here") })
	}()
	go func() {
		defer wg.Done()
		okErr = e.log.Record(ctx, ev(3, ""))
	}()
	wg.Wait()
	if panicErr == nil || okErr != nil {
		t.Fatalf("panic isolation: panic %v, other %v", panicErr, okErr)
	}
	if size, _, _ := e.log.Head(t.Context()); size != 2 {
		t.Fatalf("size %d, want 2 (the failed update's event must not be in the log)", size)
	}
	var cs []confidant.Clinic
	e.db.View(ctx, func(tx confidant.SealedTx) error { cs, _ = tx.ListClinics(ctx); return nil })
	if len(cs) != 1 {
		t.Fatalf("clinics %d, want 1", len(cs))
	}
}

// TestFailClosed: when the log cannot be written, every request of the
// batch fails and nothing is committed.
func TestFailClosed(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := context.Background()
		if err := e.log.Record(ctx, ev(0, "")); err != nil {
			t.Fatal(err)
		}
		// Break the log: rename the events table under the running server.
		e.tamper(t, `ALTER TABLE audit_events RENAME TO audit_events_gone`)
		clinic := confidant.Clinic{ID: confidant.NewID(), Name: "C", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		err := e.log.Update(ctx, func(tx confidant.SealedTx) error {
			if err := tx.CreateClinic(ctx, clinic); err != nil {
				return err
			}
			return tx.(interface {
				Audit(confidant.AuditEvent) error
			}).Audit(ev(1, ""))
		})
		if confidant.CodeOf(err) != "audit_unavailable" {
			t.Fatalf("update with a broken log: %v", err)
		}
		if err := e.log.Record(ctx, ev(2, "")); confidant.CodeOf(err) != "audit_unavailable" {
			t.Fatalf("record with a broken log: %v", err)
		}
		var cs []confidant.Clinic
		e.db.View(ctx, func(tx confidant.SealedTx) error { cs, _ = tx.ListClinics(ctx); return nil })
		if len(cs) != 0 {
			t.Fatal("the write was committed although its event was not")
		}
	})
}

// TestTamperDetected: editing the database directly is caught by Verify,
// which names the index, on SQLite and PostgreSQL.
func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, kind string) {
		timeEdit := `UPDATE audit_events SET time = time + 1000000 WHERE idx = 41`
		if kind == "postgres" {
			timeEdit = `UPDATE audit_events SET "time" = "time" + interval '1 second' WHERE idx = 41`
		}
		for _, tc := range []struct {
			name, sql string
			index     uint64
		}{
			{"change an actor", `UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 40`, 40},
			{"change a time", timeEdit, 41},
			{"change a patient", `UPDATE audit_events SET patient_id = 'pzzzzzzzzzzzzzzzzzzzzzzzzz' WHERE idx = 42`, 42},
			{"delete an event", `DELETE FROM audit_events WHERE idx = 43`, 43},
			{"swap two events", `UPDATE audit_events SET idx = 1000000 WHERE idx = 44;UPDATE audit_events SET idx = 44 WHERE idx = 45;UPDATE audit_events SET idx = 45 WHERE idx = 1000000`, 44},
			{"truncate the tail", `DELETE FROM audit_events WHERE idx >= 90`, 90},
			{"insert a forged event", `INSERT INTO audit_events (idx, "time", actor_id, role, clinic_id, action, patient_id, record_id, outcome, session_id, patient_seq, patient_prev, nonce, sealed, leaf) ` +
				`SELECT 100, "time", 'forger', role, clinic_id, action, patient_id, record_id, outcome, session_id, patient_seq, patient_prev, nonce, sealed, leaf FROM audit_events WHERE idx = 99`, 100},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnvOn(t, kind)
				fill(t, e.log, 0, 100, 95)
				if err := e.log.Verify(ctx, nil, nil); err != nil {
					t.Fatalf("verify before tampering: %v", err)
				}
				e.close()
				e.tamper(t, tc.sql)
				// The log opens (it reads no tile until it appends), so
				// that Verify can name the index.
				if err := e.tryOpen(t); err != nil {
					t.Fatalf("after %s the log failed to open: %v", tc.name, err)
				}
				err := e.log.Verify(ctx, nil, nil)
				var f *auditlog.Fault
				if !errors.As(err, &f) || f.Index != tc.index {
					t.Fatalf("verify after %s: %v (want a fault at %d)", tc.name, err, tc.index)
				}
			})
		}
	})
}

// TestBundle: a patient's proof bundle checks with the public key alone.
func TestBundle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 10 {
		if err := e.log.Record(ctx, ev(i, "patient")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := e.log.Bundle(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auditlog.NewVerifier(e.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := auditlog.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := auditlog.CheckBundle(parsed, note.VerifierList(v))
	if err != nil || got.Index != 7 || got.Purpose != "reason 7" {
		t.Fatalf("check: %+v %v", got, err)
	}
}

// TestCloseWhileRecording: requests racing with Close all return (committed
// or refused as closed); none waits forever, and Close returns.
func TestCloseWhileRecording(t *testing.T) {
	for range 20 {
		e := newEnv(t)
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := e.log.Record(context.Background(), ev(i, ""))
				if err != nil && confidant.CodeOf(err) != "audit_unavailable" {
					t.Errorf("record during close: %v", err)
				}
				e.log.KeyUse("~audit", "file:1")
			}()
		}
		done := make(chan struct{})
		go func() { e.log.Close(); wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Close or a request hung")
		}
	}
}

// TestKeyUseRecorded: key unwraps reported by the keyring become events.
func TestKeyUseRecorded(t *testing.T) {
	e := newEnv(t)
	p := confidant.NewID()
	e.log.KeyUse(p, "file:42")
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := e.log.Query(context.Background(), confidant.EventFilter{Action: "key.unwrap", PatientID: p, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			purpose, _, err := e.log.OpenFree(evs[0])
			if err != nil || !strings.Contains(purpose, "file:42") || evs[0].Role != "system" {
				t.Fatalf("key-use event: %+v %q %v", evs[0], purpose, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the key use was not recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
