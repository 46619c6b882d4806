package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/confidanthealth/confidant"
)

// These tests cover the access log's storage (confidant.LogTx) where this
// store makes its own choices: the lock that keeps appends contiguous under
// concurrency, replace semantics of growing tiles, checkpoint refusal,
// savepoints, and the query plans' filters. The contract itself is checked
// by storetest.RunLog (TestLogConformance).

// logTx returns tx's access-log methods. confidant.SealedTx does not embed
// LogTx yet.
func logTx(t testing.TB, tx confidant.SealedTx) confidant.LogTx {
	t.Helper()
	l, ok := tx.(confidant.LogTx)
	if !ok {
		t.Fatalf("%T does not implement confidant.LogTx", tx)
	}
	return l
}

var logBase = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testEvents returns n events from index first, one a minute from logBase,
// about patients[i%len(patients)] ("" for none), with the per-patient chain
// filled in from heads (which it updates).
func testEvents(first uint64, n int, patients []string, heads map[string]confidant.ChainHead) []confidant.StoredEvent {
	evs := make([]confidant.StoredEvent, n)
	actions := []string{"record.read", "record.write", "export"}
	for i := range evs {
		idx := first + uint64(i)
		e := confidant.StoredEvent{
			Index:       idx,
			Time:        logBase.Add(time.Duration(idx) * time.Minute),
			ActorID:     fmt.Sprintf("actor-%d", idx%3),
			Role:        confidant.RoleTherapist,
			ClinicID:    "clinic-1",
			Action:      actions[idx%3],
			RecordID:    fmt.Sprintf("rec-%d", idx),
			Outcome:     "ok",
			SessionID:   "sess-1",
			PatientPrev: -1,
			Nonce:       randBytes(32),
			Sealed:      append([]byte{0, 0xff}, randBytes(20)...),
			Leaf:        randBytes(32),
		}
		if len(patients) > 0 {
			e.PatientID = patients[int(idx)%len(patients)]
		}
		if e.PatientID != "" {
			h, ok := heads[e.PatientID]
			if !ok {
				h.Index = -1
			}
			e.PatientSeq, e.PatientPrev = h.Seq+1, h.Index
			heads[e.PatientID] = confidant.ChainHead{Seq: e.PatientSeq, Index: int64(idx)}
		}
		evs[i] = e
	}
	return evs
}

func appendEvents(t testing.TB, db *DB, evs []confidant.StoredEvent) {
	t.Helper()
	err := db.Update(context.Background(), func(tx confidant.SealedTx) error {
		return logTx(t, tx).AppendEvents(context.Background(), evs)
	})
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
}

func wantKind(t *testing.T, what string, err error, kind confidant.Kind) {
	t.Helper()
	if confidant.KindOf(err) != kind {
		t.Errorf("%s = %v, want %v", what, err, kind)
	}
}

func TestLogEvents(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	heads := map[string]confidant.ChainHead{}
	patients := []string{"p1", "", "p2", "p1"}
	evs := testEvents(0, 10, patients, heads)
	evs[3].Time = evs[3].Time.Add(123456789 * time.Nanosecond) // truncated to µs
	appendEvents(t, db, evs[:1])
	appendEvents(t, db, evs[1:10])
	evs[3].Time = evs[3].Time.Truncate(time.Microsecond)

	err := db.View(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		if n, err := tx.LogSize(ctx); n != 10 || err != nil {
			t.Errorf("LogSize = %d, %v; want 10", n, err)
		}
		got, err := tx.Events(ctx, 0, 100)
		if err != nil {
			return err
		}
		if d := cmp.Diff(evs, got); d != "" {
			t.Errorf("Events (-want +got):\n%s", d)
		}
		got, err = tx.Events(ctx, 4, 3)
		if err != nil {
			return err
		}
		if d := cmp.Diff(evs[4:7], got); d != "" {
			t.Errorf("Events(4, 3) (-want +got):\n%s", d)
		}
		if got, err := tx.Events(ctx, 10, 5); got != nil || err != nil {
			t.Errorf("Events past the end = %v, %v", got, err)
		}
		_, err = tx.Events(ctx, 0, 0)
		wantKind(t, "Events with limit 0", err, confidant.KindInvalid)

		hs, err := tx.PatientHeads(ctx, []string{"p1", "p2", "p1", "", "nobody"})
		if err != nil {
			return err
		}
		want := map[string]confidant.ChainHead{"p1": heads["p1"], "p2": heads["p2"]}
		if d := cmp.Diff(want, hs); d != "" {
			t.Errorf("PatientHeads (-want +got):\n%s", d)
		}
		if hs, err := tx.PatientHeads(ctx, nil); len(hs) != 0 || err != nil {
			t.Errorf("PatientHeads(nil) = %v, %v", hs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogAppendConflicts(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	evs := testEvents(0, 6, []string{"p"}, map[string]confidant.ChainHead{})
	appendEvents(t, db, evs[:3])
	err := db.Update(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		wantKind(t, "append over the end", tx.AppendEvents(ctx, evs[2:4]), confidant.KindConflict)
		wantKind(t, "append with a gap", tx.AppendEvents(ctx, evs[4:6]), confidant.KindConflict)
		gappy := []confidant.StoredEvent{evs[3], evs[5]}
		wantKind(t, "batch with a gap", tx.AppendEvents(ctx, gappy), confidant.KindConflict)
		if err := tx.AppendEvents(ctx, nil); err != nil {
			t.Errorf("AppendEvents(nil) = %v", err)
		}
		// Broken rules: refused before anything is written. (The CHECK
		// constraints would refuse them too, but abort the transaction.)
		for name, change := range map[string]func(e *confidant.StoredEvent){
			"no time":          func(e *confidant.StoredEvent) { e.Time = time.Time{} },
			"seq, no patient":  func(e *confidant.StoredEvent) { e.PatientID, e.PatientPrev = "", -1 },
			"patient, no seq":  func(e *confidant.StoredEvent) { e.PatientSeq = 0 },
			"link below -1":    func(e *confidant.StoredEvent) { e.PatientPrev = -2 },
			"link to itself":   func(e *confidant.StoredEvent) { e.PatientPrev = int64(e.Index) },
			"link, no patient": func(e *confidant.StoredEvent) { e.PatientID, e.PatientSeq = "", 0 },
			"seq out of range": func(e *confidant.StoredEvent) { e.PatientSeq = 1 << 63 },
		} {
			bad := testEvents(3, 3, []string{"p"}, map[string]confidant.ChainHead{"p": {Seq: 3, Index: 2}})
			change(&bad[2])
			wantKind(t, name, tx.AppendEvents(ctx, bad), confidant.KindInvalid)
		}
		if n, err := tx.LogSize(ctx); n != 3 || err != nil {
			t.Errorf("LogSize after refused batches = %d, %v; want 3", n, err)
		}
		// None of that aborted the transaction.
		return tx.AppendEvents(ctx, evs[3:6])
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(stx confidant.SealedTx) error {
		return logTx(t, stx).AppendEvents(ctx, testEvents(6, 1, nil, nil))
	})
	wantKind(t, "append in View", err, confidant.KindInternal)
}

// TestLogAppendConcurrent checks that two transactions cannot both append at
// the same index: the second waits for the first and then conflicts.
func TestLogAppendConcurrent(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	evA := testEvents(0, 2, nil, nil)
	evB := testEvents(0, 1, nil, nil)
	appended := make(chan struct{})
	proceed := make(chan struct{})
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() {
		<-appended // A holds the head
		errB = db.Update(ctx, func(stx confidant.SealedTx) error {
			tx := logTx(t, stx)
			n, err := tx.LogSize(ctx) // sees 0: A has not committed
			if err != nil || n != 0 {
				t.Errorf("LogSize in B = %d, %v; want 0", n, err)
			}
			close(proceed)
			return tx.AppendEvents(ctx, evB) // waits for A's commit
		})
	})
	err := db.Update(ctx, func(stx confidant.SealedTx) error {
		if err := logTx(t, stx).AppendEvents(ctx, evA); err != nil {
			return err
		}
		close(appended)
		<-proceed
		time.Sleep(50 * time.Millisecond) // let B block on the head row
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	wantKind(t, "concurrent append at the same index", errB, confidant.KindConflict)

	// Many writers racing: every index is taken once, without gaps.
	const writers, rounds = 8, 10
	for range writers {
		wg.Go(func() {
			for range rounds {
				err := db.Update(ctx, func(stx confidant.SealedTx) error {
					tx := logTx(t, stx)
					n, err := tx.LogSize(ctx)
					if err != nil {
						return err
					}
					return tx.AppendEvents(ctx, testEvents(n, 3, nil, nil))
				})
				if k := confidant.KindOf(err); err != nil && k != confidant.KindConflict {
					t.Errorf("racing append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	err = db.View(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		n, err := tx.LogSize(ctx)
		if err != nil {
			return err
		}
		evs, err := tx.Events(ctx, 0, int(n)+10)
		if err != nil {
			return err
		}
		if uint64(len(evs)) != n || n < 2+3 {
			t.Errorf("LogSize %d, %d events", n, len(evs))
		}
		for i, e := range evs {
			if e.Index != uint64(i) {
				t.Fatalf("event %d has index %d", i, e.Index)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogQueryEvents(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	evs := testEvents(0, 30, []string{"p1", "p2", ""}, map[string]confidant.ChainHead{})
	appendEvents(t, db, evs)

	// idxs returns the indexes of evs matching keep, newest first.
	idxs := func(keep func(confidant.StoredEvent) bool) []uint64 {
		var out []uint64
		for i := len(evs) - 1; i >= 0; i-- {
			if keep(evs[i]) {
				out = append(out, evs[i].Index)
			}
		}
		return out
	}
	at := func(i int) time.Time { return logBase.Add(time.Duration(i) * time.Minute) }
	tests := []struct {
		name string
		f    confidant.EventFilter
		want []uint64
	}{
		{"all", confidant.EventFilter{Limit: 1000}, idxs(func(confidant.StoredEvent) bool { return true })},
		{"limit", confidant.EventFilter{Limit: 2}, []uint64{29, 28}},
		{"before", confidant.EventFilter{Before: 5, Limit: 10}, []uint64{4, 3, 2, 1, 0}},
		{"patient", confidant.EventFilter{PatientID: "p1", Limit: 100},
			idxs(func(e confidant.StoredEvent) bool { return e.PatientID == "p1" })},
		{"patient page", confidant.EventFilter{PatientID: "p1", Before: 12, Limit: 2}, []uint64{9, 6}},
		{"actor and action", confidant.EventFilter{ActorID: "actor-1", Action: "record.write", Limit: 100},
			idxs(func(e confidant.StoredEvent) bool { return e.ActorID == "actor-1" && e.Action == "record.write" })},
		{"action", confidant.EventFilter{Action: "export", Limit: 100},
			idxs(func(e confidant.StoredEvent) bool { return e.Action == "export" })},
		{"from inclusive, to exclusive", confidant.EventFilter{From: at(10), To: at(13), Limit: 100}, []uint64{12, 11, 10}},
		{"from in another zone", confidant.EventFilter{From: at(27).In(time.FixedZone("EET", 2*3600)), Limit: 100}, []uint64{29, 28, 27}},
		{"no match", confidant.EventFilter{PatientID: "p1", ActorID: "nobody", Limit: 10}, nil},
	}
	err := db.View(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		for _, tc := range tests {
			got, err := tx.QueryEvents(ctx, tc.f)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			var gotIdx []uint64
			for _, e := range got {
				gotIdx = append(gotIdx, e.Index)
			}
			if d := cmp.Diff(tc.want, gotIdx); d != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, d)
			}
		}
		for _, limit := range []int{0, -1, 1001} {
			_, err := tx.QueryEvents(ctx, confidant.EventFilter{Limit: limit})
			wantKind(t, fmt.Sprintf("QueryEvents with limit %d", limit), err, confidant.KindInvalid)
		}
		got, err := tx.QueryEvents(ctx, confidant.EventFilter{PatientID: "p2", Limit: 1})
		if err != nil {
			return err
		}
		if d := cmp.Diff([]confidant.StoredEvent{evs[28]}, got); d != "" {
			t.Errorf("QueryEvents returns the event (-want +got):\n%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLogTiles checks that partial tiles are kept per width until the full
// tile replaces them all, for tiles and entry bundles alike.
func TestLogTiles(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	type ops struct {
		name string
		put  func(tx confidant.LogTx, index uint64, width int, data []byte) error
		get  func(tx confidant.LogTx, index uint64, width int) ([]byte, error)
		size int
	}
	for _, o := range []ops{
		{"tile", func(tx confidant.LogTx, i uint64, w int, d []byte) error { return tx.PutTile(ctx, 1, i, w, d) },
			func(tx confidant.LogTx, i uint64, w int) ([]byte, error) { return tx.Tile(ctx, 1, i, w) }, 32},
		{"bundle", func(tx confidant.LogTx, i uint64, w int, d []byte) error { return tx.PutEntryBundle(ctx, i, w, d) },
			func(tx confidant.LogTx, i uint64, w int) ([]byte, error) { return tx.EntryBundle(ctx, i, w) }, 34},
	} {
		err := db.Update(ctx, func(stx confidant.SealedTx) error {
			tx := logTx(t, stx)
			_, err := o.get(tx, 5, 1)
			wantKind(t, o.name+" before any", err, confidant.KindNotFound)
			stored := map[int][]byte{}
			for _, w := range []int{3, 7, 7, 200} {
				stored[w] = randBytes(w * o.size)
				if err := o.put(tx, 5, w, stored[w]); err != nil {
					return err
				}
			}
			next := randBytes(4 * o.size)
			if err := o.put(tx, 6, 4, next); err != nil {
				return err
			}
			for w, want := range stored {
				if d, err := o.get(tx, 5, w); err != nil || !bytes.Equal(d, want) {
					t.Errorf("%s (5, %d) = %d bytes, %v", o.name, w, len(d), err)
				}
			}
			for _, w := range []int{1, 4, 256} {
				_, err := o.get(tx, 5, w)
				wantKind(t, fmt.Sprintf("%s (5, %d)", o.name, w), err, confidant.KindNotFound)
			}
			// The full one replaces the partial ones, of this tile only.
			full := randBytes(256 * o.size)
			if err := o.put(tx, 5, 256, full); err != nil {
				return err
			}
			if d, err := o.get(tx, 5, 256); err != nil || !bytes.Equal(d, full) {
				t.Errorf("full %s = %d bytes, %v", o.name, len(d), err)
			}
			for w := range stored {
				_, err := o.get(tx, 5, w)
				wantKind(t, fmt.Sprintf("%s (5, %d) after the full one", o.name, w), err, confidant.KindNotFound)
			}
			if d, err := o.get(tx, 6, 4); err != nil || !bytes.Equal(d, next) {
				t.Errorf("%s (6, 4) after the full (5) = %d bytes, %v", o.name, len(d), err)
			}
			for _, w := range []int{0, 257, -1} {
				wantKind(t, fmt.Sprintf("put %s width %d", o.name, w), o.put(tx, 0, w, randBytes(o.size)), confidant.KindInvalid)
				_, err := o.get(tx, 0, w)
				wantKind(t, fmt.Sprintf("%s width %d", o.name, w), err, confidant.KindInvalid)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := db.Update(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		wantKind(t, "PutTile of 33 bytes", tx.PutTile(ctx, 0, 0, 1, randBytes(33)), confidant.KindInvalid)
		wantKind(t, "PutTile empty", tx.PutTile(ctx, 0, 0, 1, nil), confidant.KindInvalid)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_tiles) + (SELECT count(*) FROM audit_entries)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 4 {
		t.Errorf("%d tile and bundle rows stored, want 4 (two full, two partial)", rows)
	}
}

func TestLogCheckpoints(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	cp := func(size uint64) confidant.LogCheckpoint {
		return confidant.LogCheckpoint{Size: size, Root: randBytes(32), Note: []byte(fmt.Sprintf("log\n%d\n", size)), CreatedAt: logBase}
	}
	c5, c10 := cp(5), cp(10)
	err := db.Update(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		_, err := tx.LatestCheckpoint(ctx)
		wantKind(t, "LatestCheckpoint before any", err, confidant.KindNotFound)
		for _, c := range []confidant.LogCheckpoint{cp(0), c5, c5} {
			if err := tx.PutCheckpoint(ctx, c); err != nil {
				return err
			}
		}
		// Cosigned: the same size and root, another note.
		c5.Note, c5.CreatedAt = append(c5.Note, "cosigned"...), logBase.Add(time.Second)
		if err := tx.PutCheckpoint(ctx, c5); err != nil {
			t.Errorf("PutCheckpoint with a new note = %v", err)
		}
		if got, err := tx.LatestCheckpoint(ctx); err != nil || cmp.Diff(c5, got) != "" {
			t.Errorf("LatestCheckpoint = %+v, %v; want %+v", got, err, c5)
		}
		err = tx.PutCheckpoint(ctx, cp(5))
		wantKind(t, "PutCheckpoint of another root at the same size", err, confidant.KindConflict)
		if confidant.CodeOf(err) != "checkpoint_fork" {
			t.Errorf("fork: code %q", confidant.CodeOf(err))
		}
		err = tx.PutCheckpoint(ctx, cp(4))
		wantKind(t, "PutCheckpoint older", err, confidant.KindConflict)
		if confidant.CodeOf(err) != "checkpoint_old" {
			t.Errorf("older: code %q", confidant.CodeOf(err))
		}
		if err := tx.PutCheckpoint(ctx, c10); err != nil {
			return err
		}
		wantKind(t, "PutCheckpoint of an older one again", tx.PutCheckpoint(ctx, c5), confidant.KindConflict)
		got, err := tx.LatestCheckpoint(ctx)
		if d := cmp.Diff(c10, got); err != nil || d != "" {
			t.Errorf("LatestCheckpoint = %v (-want +got):\n%s", err, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogSavepoint(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	evs := testEvents(0, 6, nil, nil)
	errFn := errors.New("request failed")
	err := db.Update(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		if err := tx.AppendEvents(ctx, evs[:1]); err != nil {
			return err
		}
		// fn fails: its writes are undone.
		err := tx.Savepoint(ctx, func() error {
			if err := tx.AppendEvents(ctx, evs[1:3]); err != nil {
				return err
			}
			return errFn
		})
		if err != errFn {
			t.Errorf("Savepoint = %v, want fn's error", err)
		}
		// fn hits an SQL error that aborts the transaction: undone too.
		err = tx.Savepoint(ctx, func() error {
			if err := tx.AppendEvents(ctx, evs[1:2]); err != nil {
				return err
			}
			return stx.CreateClinic(ctx, confidant.Clinic{ID: "c", Name: "bad\x00name"})
		})
		wantKind(t, "Savepoint with an SQL error", err, confidant.KindInvalid)
		// Nested: the inner one fails, the outer one keeps its writes.
		err = tx.Savepoint(ctx, func() error {
			if err := tx.AppendEvents(ctx, evs[1:2]); err != nil {
				return err
			}
			if err := tx.Savepoint(ctx, func() error {
				if err := tx.AppendEvents(ctx, evs[2:3]); err != nil {
					return err
				}
				return errFn
			}); err != errFn {
				t.Errorf("inner Savepoint = %v", err)
			}
			return tx.AppendEvents(ctx, evs[2:3])
		})
		if err != nil {
			return err
		}
		if n, err := tx.LogSize(ctx); n != 3 || err != nil {
			t.Errorf("LogSize after the savepoints = %d, %v; want 3", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	err = db.View(ctx, func(stx confidant.SealedTx) error {
		n, err = logTx(t, stx).LogSize(ctx)
		return err
	})
	if n != 3 || err != nil {
		t.Fatalf("committed LogSize = %d, %v; want 3", n, err)
	}

	// A panic in fn propagates, and Update rolls back everything.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic", r)
			}
		}()
		_ = db.Update(ctx, func(stx confidant.SealedTx) error {
			tx := logTx(t, stx)
			if err := tx.AppendEvents(ctx, evs[3:4]); err != nil {
				return err
			}
			return tx.Savepoint(ctx, func() error {
				if err := tx.AppendEvents(ctx, evs[4:5]); err != nil {
					return err
				}
				panic("boom")
			})
		})
	}()
	err = db.View(ctx, func(stx confidant.SealedTx) error {
		n, err = logTx(t, stx).LogSize(ctx)
		return err
	})
	if n != 3 || err != nil {
		t.Fatalf("LogSize after a panic = %d, %v; want 3", n, err)
	}
}

// TestLogQueryPlans checks that the security queries use the indexes
// meant for them on a log large enough for the planner to care.
func TestLogQueryPlans(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	const n = 20000
	patients := make([]string, 500)
	for i := range patients {
		patients[i] = fmt.Sprintf("patient-%d", i)
	}
	heads := map[string]confidant.ChainHead{}
	for first := uint64(0); first < n; first += 1000 {
		appendEvents(t, db, testEvents(first, 1000, patients, heads))
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	plan := func(sql string, args ...any) string {
		t.Helper()
		rows, err := db.pool.Query(ctx, `EXPLAIN `+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out += line + "\n"
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Each query must use an index; which one is the planner's choice
	// where several fit (actor and time, say), except for a patient.
	tests := []struct{ sql, index string }{
		{`SELECT idx FROM audit_events WHERE patient_id = 'patient-7' ORDER BY idx DESC LIMIT 50`, "audit_events_patient_idx"},
		{`SELECT idx FROM audit_events WHERE actor_id = 'actor-1' AND "time" >= '2026-03-01 10:00Z' AND "time" < '2026-03-01 11:00Z' ORDER BY idx DESC LIMIT 50`, ""},
		{`SELECT idx FROM audit_events WHERE action = 'export' AND "time" >= '2026-03-05 10:00Z' ORDER BY idx DESC LIMIT 50`, ""},
		{`SELECT idx FROM audit_events WHERE "time" >= '2026-03-01 10:00Z' AND "time" < '2026-03-01 11:00Z' ORDER BY idx DESC LIMIT 50`, "audit_events_time_idx"},
		{`SELECT idx FROM audit_events WHERE idx < 5000 ORDER BY idx DESC LIMIT 50`, "audit_events_pkey"},
	}
	for _, tc := range tests {
		p := plan(tc.sql)
		if strings.Contains(p, "Seq Scan") || !strings.Contains(p, tc.index) {
			t.Errorf("%s\ndoes not use an index (%s):\n%s", tc.sql, tc.index, p)
		}
	}
	err := db.View(ctx, func(stx confidant.SealedTx) error {
		hs, err := logTx(t, stx).PatientHeads(ctx, patients)
		if err != nil {
			return err
		}
		if d := cmp.Diff(heads, hs, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("PatientHeads (-want +got):\n%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLogCheckpointDoesNotBlockAppends checks that a transaction that has
// stored a checkpoint and not yet committed (signing, say) does not hold up
// the sequencer's appends.
func TestLogCheckpointDoesNotBlockAppends(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	stored := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := db.Update(ctx, func(stx confidant.SealedTx) error {
			c := confidant.LogCheckpoint{Size: 0, Root: randBytes(32), Note: []byte("n"), CreatedAt: logBase}
			if err := logTx(t, stx).PutCheckpoint(ctx, c); err != nil {
				return err
			}
			close(stored)
			<-done
			return nil
		})
		if err != nil {
			t.Errorf("checkpoint transaction: %v", err)
		}
	})
	<-stored
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := db.Update(actx, func(stx confidant.SealedTx) error {
		return logTx(t, stx).AppendEvents(actx, testEvents(0, 2, nil, nil))
	})
	cancel()
	if err != nil {
		t.Errorf("append while a checkpoint is being stored: %v", err)
	}
	close(done)
	wg.Wait()
}

// TestLogQueryWindows checks the index bounds QueryEvents derives from a
// time window against a brute-force filter, on a log whose times run
// late, early and backwards across batches and transactions.
func TestLogQueryWindows(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	rng := mrand.New(mrand.NewPCG(1, 2))
	const n = 2000
	evs := testEvents(0, n, []string{"p1", "p2", "", "p3"}, map[string]confidant.ChainHead{})
	clock := logBase
	for i := range evs {
		clock = clock.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
		e := &evs[i]
		e.Time = clock
		switch r := rng.IntN(100); {
		case r < 5: // late by up to a minute
			e.Time = clock.Add(-time.Duration(rng.Int64N(int64(time.Minute))))
		case r < 6: // a clock set an hour ahead, set back at once
			e.Time = clock.Add(time.Hour)
		case r < 8: // the same microsecond as the one before
			if i > 0 {
				e.Time = evs[i-1].Time
			}
		}
		e.Time = e.Time.Add(time.Duration(rng.IntN(1000))) // nanoseconds, truncated
	}
	// The largest lateness across two batches (the last two events).
	evs[n-2].Time = clock.Add(3 * time.Hour)
	evs[n-1].Time = clock
	for rest := evs[:n-2]; len(rest) > 0; {
		k := 1 + rng.IntN(4) // mostly small: lateness across batches too
		if rng.IntN(10) == 0 {
			k = 40
		}
		k = min(len(rest), k)
		appendEvents(t, db, rest[:k])
		rest = rest[k:]
	}
	appendEvents(t, db, evs[n-2:n-1])
	appendEvents(t, db, evs[n-1:])
	var late int64
	for i := range evs {
		for j := range i {
			late = max(late, evs[j].Time.Truncate(time.Microsecond).Sub(evs[i].Time.Truncate(time.Microsecond)).Microseconds())
		}
	}
	var stored int64
	if err := db.pool.QueryRow(ctx, `SELECT lateness_us FROM audit_log_head`).Scan(&stored); err != nil || stored != late {
		t.Errorf("lateness_us = %d (%v), want %d", stored, err, late)
	}

	pick := func() time.Time {
		i := rng.IntN(n)
		if rng.IntN(8) == 0 {
			i = n - 1 - rng.IntN(3) // around the latest lateness
		}
		e := evs[i].Time.Truncate(time.Microsecond)
		switch rng.IntN(3) {
		case 0:
			return e
		case 1:
			return e.Add(time.Microsecond)
		}
		return e.Add(time.Duration(rng.Int64N(int64(10*time.Minute))) - 5*time.Minute)
	}
	err := db.View(ctx, func(stx confidant.SealedTx) error {
		tx := logTx(t, stx)
		for i := range 300 {
			f := confidant.EventFilter{Limit: 1 + rng.IntN(60)}
			if rng.IntN(4) > 0 {
				f.From = pick()
			}
			if rng.IntN(4) > 0 {
				f.To = pick()
			}
			if !f.From.IsZero() && f.To.Before(f.From) && rng.IntN(4) > 0 {
				f.From, f.To = f.To, f.From
			}
			if rng.IntN(3) == 0 {
				f.Before = uint64(rng.IntN(n + 10))
			}
			if rng.IntN(4) == 0 {
				f.ActorID = fmt.Sprintf("actor-%d", rng.IntN(3))
			}
			if rng.IntN(4) == 0 {
				f.PatientID = "p2"
			}
			var want []uint64
			for j := n - 1; j >= 0 && len(want) < f.Limit; j-- {
				e := evs[j]
				at := e.Time.Truncate(time.Microsecond)
				if (f.From.IsZero() || !at.Before(f.From)) && (f.To.IsZero() || at.Before(f.To)) &&
					(f.Before == 0 || e.Index < f.Before) && (f.ActorID == "" || e.ActorID == f.ActorID) &&
					(f.PatientID == "" || e.PatientID == f.PatientID) {
					want = append(want, e.Index)
				}
			}
			got, err := tx.QueryEvents(ctx, f)
			if err != nil {
				return err
			}
			var gotIdx []uint64
			for _, e := range got {
				gotIdx = append(gotIdx, e.Index)
			}
			if d := cmp.Diff(want, gotIdx); d != "" {
				t.Fatalf("query %d %+v (-want +got):\n%s", i, f, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLogAppendOnly checks that stored events cannot be changed or deleted
// by any statement, not just through LogTx.
func TestLogAppendOnly(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	appendEvents(t, db, testEvents(0, 3, []string{"p"}, map[string]confidant.ChainHead{}))
	for _, stmt := range []string{
		`UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 1`,
		`DELETE FROM audit_events WHERE idx = 2`,
		`TRUNCATE audit_events`,
	} {
		if _, err := db.pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded", stmt)
		}
	}
	err := db.View(ctx, func(stx confidant.SealedTx) error {
		evs, err := logTx(t, stx).Events(ctx, 0, 10)
		if len(evs) != 3 || evs[1].ActorID != "actor-1" {
			t.Errorf("events after the attempts: %d, %v", len(evs), err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
