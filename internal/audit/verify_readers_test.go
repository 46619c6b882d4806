package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// checkYield reads src.Events to the end and checks that it yields the
// first n events of want, in order, without an error.
func checkYield(t *testing.T, src source, want [][]byte, n int) {
	t.Helper()
	var i int
	for ev, err := range src.Events(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if i >= n || ev.Index != uint64(i) || !bytes.Equal(ev.Event, want[i]) || (want[i] == nil) != (ev.Event == nil) ||
			ev.Nonce != [32]byte(bytes.Repeat([]byte{byte(i)}, 32)) {
			t.Fatalf("event %d: got index %d, encoding %x", i, ev.Index, ev.Event)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d events yielded, want %d", i, n)
	}
}

// TestEventsTwoReaders: with a second transaction, the pages are read in
// both, the second reading only pages wholly below the tree size of the
// first, and Events yields every row once, in order.
func TestEventsTwoReaders(t *testing.T) {
	n := 10*pageRows + 17
	src, want, tx := pipelineSource(t, n, 3*pageRows+5)
	tx.delay = 20 * time.Millisecond // so that the second reader takes pages
	tx2 := &scanTx{evs: tx.evs, failAt: -1}
	var open atomic.Bool
	src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error {
		open.Store(true)
		defer open.Store(false)
		return fn(tx2)
	}
	checkYield(t, src, want, n)
	if open.Load() {
		t.Error("the second transaction is still open after Events returned")
	}
	if len(tx2.froms) == 0 {
		t.Fatal("nothing was read in the second transaction")
	}
	read := make(map[uint64]int)
	for _, from := range tx2.froms {
		if from%pageRows != 0 || from+pageRows > uint64(n) {
			t.Errorf("the second transaction read from %d, not a page wholly below %d", from, n)
		}
		read[from]++
	}
	for _, from := range tx.froms {
		read[from]++
	}
	for k := uint64(0); k <= uint64(n)/pageRows; k++ {
		if read[k*pageRows] != 1 {
			t.Errorf("page %d read %d times", k, read[k*pageRows])
		}
	}
}

// TestEventsTwoReadersGaps: where indexes are missing, a page holds rows
// of the next; Events yields each row once, in order, whichever
// transaction read it, and stops at a short page.
func TestEventsTwoReadersGaps(t *testing.T) {
	n := 8*pageRows + 40
	src, _, tx := pipelineSource(t, n, -1)
	// Drop indexes 1000 to 1099 and 5*pageRows+3.
	var evs []confidant.StoredEvent
	for _, e := range tx.evs {
		if (e.Index < 1000 || e.Index >= 1100) && e.Index != 5*pageRows+3 {
			evs = append(evs, e)
		}
	}
	tx.evs, tx.size, tx.delay = evs, uint64(n), 3*time.Millisecond
	tx2 := &scanTx{evs: evs, size: uint64(n), failAt: -1}
	src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error { return fn(tx2) }
	var got []uint64
	for ev, err := range src.Events(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Index)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d events yielded, want %d", len(got), len(evs))
	}
	for i, e := range evs {
		if got[i] != e.Index {
			t.Fatalf("event %d has index %d, want %d", i, got[i], e.Index)
		}
	}
}

// TestEventsSecondSnapshotShort: rows missing from the second snapshot
// (deleted while Verify ran) end the events where they are missing, so
// that Verify reports them: they are not read from the first instead.
func TestEventsSecondSnapshotShort(t *testing.T) {
	n := 10 * pageRows
	src, want, tx := pipelineSource(t, n, -1)
	tx.delay = 50 * time.Millisecond
	short := 5*pageRows + 3
	tx2 := &scanTx{evs: tx.evs[:short], failAt: -1}
	src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error { return fn(tx2) }
	var i int
	for ev, err := range src.Events(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Index != uint64(i) || !bytes.Equal(ev.Event, want[i]) {
			t.Fatalf("event %d has index %d", i, ev.Index)
		}
		i++
	}
	// The events end at the first page at or after index short that the
	// second transaction read: at short, or at the page's start.
	end := n
	for _, from := range tx2.froms {
		if from+pageRows > uint64(short) {
			end = min(end, max(short, int(from)))
		}
	}
	if i != end {
		t.Fatalf("%d events yielded, want %d (the second transaction read from %v)", i, end, tx2.froms)
	}
}

// TestEventsSecondTransactionUnavailable: if the second transaction cannot
// begin (no free connection), the first reader reads every page, and the
// attempt has ended when Events returns, also when the caller stops early.
func TestEventsSecondTransactionUnavailable(t *testing.T) {
	n := 6*pageRows + 1
	src, want, tx := pipelineSource(t, n, -1)
	var waiting atomic.Bool
	src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error {
		waiting.Store(true)
		defer waiting.Store(false)
		<-ctx.Done()
		return ctx.Err()
	}
	checkYield(t, src, want, n)
	if waiting.Load() {
		t.Error("the second transaction is still waiting after Events returned")
	}
	if len(tx.froms) != n/pageRows+1 {
		t.Errorf("the first transaction read %d pages, want %d", len(tx.froms), n/pageRows+1)
	}
	for range src.Events(t.Context()) {
		break
	}
	if waiting.Load() {
		t.Error("the second transaction is still waiting after Events stopped early")
	}
}

// TestEventsTwoReadersStop: stopping early ends the second transaction
// before Events returns.
func TestEventsTwoReadersStop(t *testing.T) {
	src, _, tx := pipelineSource(t, 20*pageRows, -1)
	tx.delay = time.Millisecond
	tx2 := &scanTx{evs: tx.evs, failAt: -1, delay: time.Millisecond}
	var open atomic.Bool
	src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error {
		open.Store(true)
		defer open.Store(false)
		return fn(tx2)
	}
	for ev := range src.Events(t.Context()) {
		if ev.Index == 3*pageRows+1 {
			break
		}
	}
	if open.Load() {
		t.Error("the second transaction is still open after Events stopped early")
	}
	if rows := tx.passed + tx2.passed; rows > (pagesAhead+5)*pageRows {
		t.Errorf("%d rows read for %d events", rows, 3*pageRows+2)
	}
}

// TestVerifyOneReaderConnection: with a single read connection in the
// pool, Verify does not wait for a second one: it reads in one
// transaction.
func TestVerifyOneReaderConnection(t *testing.T) {
	ctx := context.Background()
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
	db, err := sqlite.Open(ctx, filepath.Join(dir, "confidant.db"), sqlite.Options{Readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := Open(ctx, db, k, Config{Origin: "test.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 3*pageRows + 10
	for i := 0; i < n; i += 500 {
		var evs []confidant.AuditEvent
		for j := i; j < min(i+500, n); j++ {
			evs = append(evs, confidant.AuditEvent{Time: time.Now(), ActorID: fmt.Sprint("actor", j%3), Role: confidant.RoleTherapist,
				Action: "chart.read", PatientID: fmt.Sprint("p", j%5), Outcome: confidant.OutcomeOK, Purpose: "reason", Client: "192.0.2.1"})
		}
		if err := l.Record(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.Verify(vctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	// The connection is free again.
	if _, err := l.ReadTile(vctx, 0, 0, 256); err != nil {
		t.Fatal(err)
	}
}
