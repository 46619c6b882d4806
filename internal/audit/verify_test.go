package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// scanTx is a LogTx holding stored events in memory, for source.Events:
// only ScanEvents and what Events reads ahead with it are implemented. After failAt rows in all, ScanEvents
// fails.
type scanTx struct {
	confidant.LogTx
	evs    []confidant.StoredEvent
	size   uint64 // LogSize if not zero, else len(evs)
	failAt int
	passed int
	delay  time.Duration // before each ScanEvents
	froms  []uint64      // the from of each ScanEvents
}

var errScan = errors.New("scan failed")

func (s *scanTx) LogSize(context.Context) (uint64, error) {
	if s.size != 0 {
		return s.size, nil
	}
	return uint64(len(s.evs)), nil
}

func (s *scanTx) Tile(context.Context, uint64, uint64, int) ([]byte, error) {
	return nil, confidant.ErrNotFound
}

func (s *scanTx) EntryBundle(context.Context, uint64, int) ([]byte, error) {
	return nil, confidant.ErrNotFound
}

func (s *scanTx) ScanEvents(ctx context.Context, from uint64, limit int, fn func(*confidant.EventRow) error) error {
	time.Sleep(s.delay)
	s.froms = append(s.froms, from)
	start := sort.Search(len(s.evs), func(i int) bool { return s.evs[i].Index >= from })
	for i := start; i < len(s.evs) && limit > 0; i, limit = i+1, limit-1 {
		if s.passed == s.failAt {
			return errScan
		}
		s.passed++
		e := &s.evs[i]
		r := confidant.EventRow{Index: e.Index, Time: e.Time, ActorID: []byte(e.ActorID), Role: []byte(e.Role),
			ClinicID: []byte(e.ClinicID), Action: []byte(e.Action), PatientID: []byte(e.PatientID),
			RecordID: []byte(e.RecordID), Outcome: []byte(e.Outcome), SessionID: []byte(e.SessionID),
			PatientSeq: e.PatientSeq, PatientPrev: e.PatientPrev, Nonce: e.Nonce, Sealed: e.Sealed, Leaf: e.Leaf}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// pipelineSource returns a source over n stored events (a few pages), the
// canonical encoding each must yield, and its transaction. Even indexes
// are events of version 1 (written before version 2), odd ones of version
// 2. The event at badIndex has sealed text that does not decrypt; every
// seventh event has no purpose or client address (and, in version 1, no
// sealed text).
func pipelineSource(t *testing.T, n, badIndex int) (source, [][]byte, *scanTx) {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	l := &Log{}
	if l.aead, err = aead.New(h); err != nil {
		t.Fatal(err)
	}
	tx := &scanTx{failAt: -1}
	var want [][]byte
	t0 := time.UnixMicro(1_700_000_000_000_000).UTC()
	for i := range n {
		e := auditlog.Event{Index: uint64(i), Time: t0.Add(time.Duration(i) * time.Millisecond), ActorID: fmt.Sprint("actor", i%5),
			Role: "therapist", ClinicID: "clinic", Action: "chart.read", RecordID: fmt.Sprint("rec", i), Outcome: "ok",
			SessionID: "s", PatientSeq: 0, PatientPrev: -1}
		if i%7 != 0 {
			e.Purpose, e.Client = fmt.Sprint("purpose ", i), "192.0.2.1"
		}
		if i%3 == 0 {
			e.PatientID, e.PatientSeq, e.PatientPrev = "patient", uint64(i/3+1), max(int64(i-3), -1)
		}
		var canon, sealed []byte
		if i%2 == 0 {
			// As written before version 2.
			e.Version = auditlog.EventV1
			sealed, err = l.sealFree(e.Index, freeText{Purpose: e.Purpose, Client: e.Client})
			if err == nil {
				canon, err = e.MarshalCanonical()
			}
		} else {
			canon, sealed, err = l.encode(e)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == badIndex {
			sealed = append([]byte(nil), sealed...)
			sealed[len(sealed)-1] ^= 1
			canon = nil
		}
		want = append(want, canon)
		tx.evs = append(tx.evs, confidant.StoredEvent{Index: uint64(i), Time: e.Time, ActorID: e.ActorID, Role: confidant.Role(e.Role),
			ClinicID: e.ClinicID, Action: e.Action, PatientID: e.PatientID, RecordID: e.RecordID, Outcome: e.Outcome,
			SessionID: e.SessionID, PatientSeq: e.PatientSeq, PatientPrev: e.PatientPrev,
			Nonce: bytes.Repeat([]byte{byte(i)}, 32), Sealed: sealed, Leaf: bytes.Repeat([]byte{byte(i + 1)}, 32)})
	}
	return newSource(t.Context(), l, tx), want, tx
}

// TestEventsPipeline: Events yields every row in order across pages,
// rebuilt as EventOf would, and a row whose sealed text does not decrypt
// without an encoding, at its index.
func TestEventsPipeline(t *testing.T) {
	n := 3*pageRows + 17
	src, want, _ := pipelineSource(t, n, pageRows+6)
	var i int
	for ev, err := range src.Events(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Index != uint64(i) || !bytes.Equal(ev.Event, want[i]) || (want[i] == nil) != (ev.Event == nil) ||
			ev.Nonce != [32]byte(bytes.Repeat([]byte{byte(i)}, 32)) || ev.Commitment != [32]byte(bytes.Repeat([]byte{byte(i + 1)}, 32)) {
			t.Fatalf("event %d: got index %d, encoding %x; want %x", i, ev.Index, ev.Event, want[i])
		}
		i++
	}
	if i != n {
		t.Fatalf("%d events yielded, want %d", i, n)
	}
}

// TestEventsPipelineError: a read error comes after the events read before
// it, and nothing after it.
func TestEventsPipelineError(t *testing.T) {
	src, _, tx := pipelineSource(t, 3*pageRows, -1)
	tx.failAt = 2*pageRows + 10
	var i int
	var got error
	for ev, err := range src.Events(t.Context()) {
		if got != nil {
			t.Fatal("Events yielded after an error")
		}
		if err != nil {
			got = err
			continue
		}
		if ev.Index != uint64(i) {
			t.Fatalf("event %d has index %d", i, ev.Index)
		}
		i++
	}
	if !errors.Is(got, errScan) || i != tx.failAt {
		t.Fatalf("got %d events then %v, want %d then %v", i, got, tx.failAt, errScan)
	}
}

// TestEventsPipelineStop: stopping early stops the reader and the
// decoders before Events returns.
func TestEventsPipelineStop(t *testing.T) {
	src, _, tx := pipelineSource(t, 20*pageRows, -1)
	before := runtime.NumGoroutine()
	for ev := range src.Events(t.Context()) {
		if ev.Index == pageRows+1 {
			break
		}
	}
	// The goroutines have called Done; give them a moment to exit.
	g := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); g > before && time.Now().Before(deadline); g = runtime.NumGoroutine() {
		time.Sleep(time.Millisecond)
	}
	if g > before {
		t.Errorf("%d goroutines after stopping, %d before", g, before)
	}
	if tx.passed > (pagesAhead+2)*pageRows {
		t.Errorf("the reader read %d rows for %d events", tx.passed, pageRows+2)
	}
}

// TestVerifyTamperAcrossPages: on a log of several pages in SQLite, Verify
// names the first bad index of an edit in a later page, at a page's first
// row, of a deletion after a page boundary, and of sealed text that no
// longer decrypts.
func TestVerifyTamperAcrossPages(t *testing.T) {
	ctx := context.Background()
	const n = 3*pageRows + 100
	for _, tc := range []struct {
		name, sql string
		index     uint64
	}{
		{"change an actor", `UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 1500`, 1500},
		{"change a page's first actor", fmt.Sprintf(`UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = %d`, pageRows), pageRows},
		{"delete an event", fmt.Sprintf(`DELETE FROM audit_events WHERE idx = %d`, 2*pageRows+1), 2*pageRows + 1},
		{"corrupt sealed text", `UPDATE audit_events SET sealed = zeroblob(40) WHERE idx = 2100`, 2100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kpath := filepath.Join(dir, "keys", "kek.json")
			if err := keys.CreateFile(kpath, nil); err != nil {
				t.Fatal(err)
			}
			k, err := keys.Open(keys.Config{File: kpath})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			path := filepath.Join(dir, "confidant.db")
			open := func() (*Log, func()) {
				db, err := sqlite.Open(ctx, path, sqlite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				l, err := Open(ctx, db, k, Config{Origin: "test.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					db.Close()
					t.Fatal(err)
				}
				return l, func() { l.Close(); db.Close() }
			}
			l, done := open()
			for i := 0; i < n; i += 500 {
				var evs []confidant.AuditEvent
				for j := i; j < min(i+500, n); j++ {
					evs = append(evs, confidant.AuditEvent{Time: time.Now(), ActorID: fmt.Sprint("actor", j%3), Role: confidant.RoleTherapist,
						Action: "chart.read", PatientID: fmt.Sprint("p", j%5), Outcome: confidant.OutcomeOK, Purpose: fmt.Sprint("reason ", j), Client: "192.0.2.1"})
				}
				if err := l.Record(ctx, evs...); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			if err := l.Verify(ctx, nil, nil); err != nil {
				t.Fatalf("verify before tampering: %v", err)
			}
			done()
			raw, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{`DROP TRIGGER IF EXISTS audit_events_no_update`, `DROP TRIGGER IF EXISTS audit_events_no_delete`} {
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			l, done = open()
			defer done()
			err = l.Verify(ctx, nil, nil)
			var f *auditlog.Fault
			if !errors.As(err, &f) || f.Index != tc.index {
				t.Fatalf("verify after tampering: %v (want a fault at %d)", err, tc.index)
			}
		})
	}
}
