package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/testfix"
	"golang.org/x/mod/sumdb/note"
)

// openAnother opens a second handle on e's database and a second Log over
// it: another writer, as a second server or an operator command would be.
func (e *env) openAnother(t *testing.T) *audit.Log {
	t.Helper()
	_, l, err := e.openHandle(t)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSeveralWriters: three sequencers on one database (as three servers,
// or a server and operator commands) append concurrently and sign
// checkpoints; every event is stored once, the log verifies against every
// checkpoint any of them signed, and each can go on appending.
func TestSeveralWriters(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		ctx := t.Context()
		e := newEnvOn(t, kind)
		logs := []*audit.Log{e.log, e.openAnother(t), e.openAnother(t)}
		var mu sync.Mutex
		var cps []auditlog.Checkpoint
		var wg sync.WaitGroup
		const perWriter = 30
		for w, l := range logs {
			for g := range 3 {
				wg.Go(func() {
					for i := range perWriter {
						if err := l.Record(ctx, ev(1000*w+100*g+i, fmt.Sprintf("p%d", i%5))); err != nil {
							t.Errorf("writer %d: record: %v", w, err)
							return
						}
						if i%10 == 9 {
							cp, err := l.Checkpoint(ctx)
							if err != nil {
								t.Errorf("writer %d: checkpoint: %v", w, err)
								return
							}
							cp.External = true
							mu.Lock()
							cps = append(cps, cp)
							mu.Unlock()
						}
					}
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		size, _, err := e.log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(len(logs) * 3 * perWriter); size != want {
			t.Fatalf("the log holds %d events, want %d", size, want)
		}
		if err := e.log.Verify(ctx, cps, nil); err != nil {
			t.Fatalf("verify against %d checkpoints signed by three writers: %v", len(cps), err)
		}
		for i, l := range logs {
			if err := l.Record(ctx, ev(i, "")); err != nil {
				t.Fatalf("writer %d after the others: %v", i, err)
			}
		}
		if err := e.log.Verify(ctx, cps, nil); err != nil {
			t.Fatalf("verify at the end: %v", err)
		}
	})
}

// lossyStore is a SealedStore whose Update, when armed, answers as if the
// commit's reply were lost: it commits (or, with rollback, does not) and
// returns an outcome_unknown error either way.
type lossyStore struct {
	confidant.SealedStore
	cuts     atomic.Int32
	rollback bool
}

var errRollback = errors.New("rolled back by the test")

func (s *lossyStore) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	if s.cuts.Add(-1) < 0 {
		return s.SealedStore.Update(ctx, fn)
	}
	err := s.SealedStore.Update(ctx, func(tx confidant.SealedTx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.rollback {
			return errRollback
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		return err
	}
	return confidant.ErrOutcomeUnknown(errors.New("the reply to COMMIT was lost (test)"))
}

// TestOutcomeUnknown: when a batch's commit answer is lost, its requests
// get 503 outcome_unknown (not a claim that nothing changed), the log
// keeps appending at the right place whether the commit happened or not,
// and it verifies.
func TestOutcomeUnknown(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%v", !rollback), func(t *testing.T) {
			backends(t, func(t *testing.T, kind string) {
				ctx := t.Context()
				e := newEnvOn(t, kind)
				e.log.Close()
				lossy := &lossyStore{SealedStore: e.db, rollback: rollback}
				l, err := audit.Open(ctx, lossy, e.k, audit.Config{Origin: "test.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				var acked, unknown int
				for round := range 5 {
					for i := range 7 {
						if err := l.Record(ctx, ev(100*round+i, "p1")); err != nil {
							t.Fatal(err)
						}
						acked++
					}
					lossy.cuts.Store(1)
					err := l.Record(ctx, ev(100*round+50, "p1"))
					if confidant.CodeOf(err) != confidant.CodeOutcomeUnknown || confidant.KindOf(err) != confidant.KindUnavailable {
						t.Fatalf("a lost commit reply gave %v, want outcome_unknown", err)
					}
					unknown++
					if _, err := l.Checkpoint(ctx); err != nil {
						t.Fatalf("checkpoint after a lost reply: %v", err)
					}
				}
				size, _, err := l.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				want := uint64(acked)
				if !rollback {
					want += uint64(unknown)
				}
				if size != want {
					t.Fatalf("the log holds %d events, want %d", size, want)
				}
				if err := l.Verify(ctx, nil, nil); err != nil {
					t.Fatalf("verify: %v", err)
				}
			})
		})
	}
}

// TestKeyUseFailsClosed: a key-use event is committed no later than the
// read that follows the unwrap; when it cannot be queued the unwrap is
// refused; what is queued at Close is committed.
func TestKeyUseFailsClosed(t *testing.T) {
	ctx := context.Background()
	t.Run("before the read's event", func(t *testing.T) {
		e := newEnv(t)
		p := confidant.NewID()
		if err := e.log.KeyUse(p, "file:7"); err != nil {
			t.Fatal(err)
		}
		if err := e.log.Record(ctx, ev(1, p)); err != nil {
			t.Fatal(err)
		}
		evs, err := e.log.Query(ctx, confidant.EventFilter{PatientID: p, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[1].Action != confidant.ActionKeyUnwrap || evs[0].Action != "chart.read" {
			t.Fatalf("after Record returned, the patient's events are %v; want the key use, then the read", actions(evs))
		}
	})
	t.Run("queue full", func(t *testing.T) {
		e := newEnv(t)
		// Hold the sequencer inside a batch, so that nothing drains.
		hold, held := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- e.log.Update(ctx, func(confidant.SealedTx) error { close(held); <-hold; return nil })
		}()
		<-held
		var refused error
		n := 0
		for n = 0; n < 20000; n++ {
			if refused = e.log.KeyUse("~audit", "file:1"); refused != nil {
				break
			}
		}
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if refused == nil || confidant.KindOf(refused) != confidant.KindUnavailable {
			t.Fatalf("%d queued key uses and no refusal (%v)", n, refused)
		}
		// Every accepted one is committed by the next batch.
		if err := e.log.Record(ctx, ev(1, "")); err != nil {
			t.Fatal(err)
		}
		size, _, err := e.log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if size != uint64(n)+1 {
			t.Fatalf("the log holds %d events after %d accepted key uses and one record", size, n)
		}
	})
	t.Run("drained at close", func(t *testing.T) {
		e := newEnv(t)
		for range 50 {
			if err := e.log.KeyUse("~audit", "file:1"); err != nil {
				t.Fatal(err)
			}
		}
		e.close()
		if err := e.log.KeyUse("~audit", "file:1"); err == nil {
			t.Fatal("KeyUse after Close was accepted")
		}
		e.open(t)
		size, _, err := e.log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if size != 50 {
			t.Fatalf("after Close the log holds %d of the 50 queued key uses", size)
		}
	})
}

func actions(evs []confidant.StoredEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

// TestDamagedTiles: with a tile gone, the log refuses to sign a checkpoint
// (it must not sign a tree it cannot check) and Verify names the tile;
// with an event forged as well, Verify names the event.
func TestDamagedTiles(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		fill(t, e.log, 0, 300, 150)
		e.close()
		e.tamper(t, `DELETE FROM audit_tiles WHERE level = 0 AND idx = 0`)
		e.open(t)
		_, err := e.log.Checkpoint(ctx)
		var f *auditlog.Fault
		if !errors.As(err, &f) || f.Kind != auditlog.FaultTile {
			t.Fatalf("checkpoint over a damaged tree: %v, want a tile fault", err)
		}
		err = e.log.Verify(ctx, nil, nil)
		if !errors.As(err, &f) || f.Kind != auditlog.FaultTile || f.Index != 0 {
			t.Fatalf("verify with a tile gone: %v, want a tile fault at 0", err)
		}
		e.close()
		e.tamper(t, `UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 77`)
		e.open(t)
		err = e.log.Verify(ctx, nil, nil)
		if !errors.As(err, &f) || f.Kind != auditlog.FaultEdited || f.Index != 77 {
			t.Fatalf("verify with a tile gone and event 77 edited: %v, want an edit at 77", err)
		}
	})
}

// TestRebuildTiles: tiles and bundles deleted or overwritten are rebuilt
// from the leaves, after which the log verifies, signs and appends again;
// a rebuild over tampered events is refused, naming the index, and
// writes nothing.
func TestRebuildTiles(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, kind string) {

		t.Run("damaged tiles", func(t *testing.T) {
			e := newEnvOn(t, kind)
			fill(t, e.log, 0, 700, 400)
			e.close()
			// Tile 0/1 gone, the partial level-1 tile zeroed, bundle 0
			// gone, and a stored partial level-0 tile at the log's width
			// (as a log written before they were derived holds) zeroed.
			e.tamper(t, `DELETE FROM audit_tiles WHERE level = 0 AND idx = 1;UPDATE audit_tiles SET data = `+zeroBlob(kind, 32*2)+` WHERE level = 1 AND idx = 0;DELETE FROM audit_entries WHERE idx = 0;`+
				`INSERT INTO audit_tiles (level, idx, width, data) VALUES (0, 2, 188, `+zeroBlob(kind, 32*188)+`)`)
			e.open(t)
			if _, err := e.log.Checkpoint(ctx); err == nil {
				t.Fatal("signed a checkpoint over damaged tiles")
			}
			size, _, err := e.log.RebuildTiles(ctx, nil, nil)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if size != 700 {
				t.Fatalf("rebuilt %d leaves, want 700", size)
			}
			if err := e.log.Verify(ctx, nil, nil); err != nil {
				t.Fatalf("verify after the rebuild: %v", err)
			}
			if _, err := e.log.Checkpoint(ctx); err != nil {
				t.Fatalf("checkpoint after the rebuild: %v", err)
			}
			if err := e.log.Record(ctx, ev(1, "p1")); err != nil {
				t.Fatal(err)
			}
			if err := e.log.Verify(ctx, nil, nil); err != nil {
				t.Fatalf("verify after appending: %v", err)
			}
		})
		t.Run("tampered events", func(t *testing.T) {
			e := newEnvOn(t, kind)
			fill(t, e.log, 0, 700, 400)
			e.close()
			e.tamper(t, `DELETE FROM audit_tiles WHERE level = 0 AND idx = 0;UPDATE audit_events SET actor_id = 'someone-else' WHERE idx = 123`)
			e.open(t)
			_, _, err := e.log.RebuildTiles(ctx, nil, nil)
			var f *auditlog.Fault
			if !errors.As(err, &f) || f.Index != 123 || f.Kind != auditlog.FaultEdited {
				t.Fatalf("rebuild over an edited event: %v, want a refusal naming 123", err)
			}
			// Nothing was written: the tile is still missing.
			err = e.log.Verify(ctx, nil, nil)
			if !errors.As(err, &f) || f.Index != 123 {
				t.Fatalf("verify after the refused rebuild: %v", err)
			}
		})
	})
}

// zeroBlob is SQL for a blob of n zero bytes.
func zeroBlob(kind string, n int) string {
	if kind == "postgres" {
		return fmt.Sprintf("decode(repeat('00', %d), 'hex')", n)
	}
	return fmt.Sprintf("zeroblob(%d)", n)
}

// TestSameSizeFork: two different trees of one size, both signed with the
// log's key (a copy of the database that went its own way), are told apart
// by the stored-log verifier and by the start-up check against an external
// checkpoint.
func TestSameSizeFork(t *testing.T) {
	ctx := context.Background()
	e, fork := forked(t)
	mine, err := e.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := fork.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mine.Size != theirs.Size || mine.Root == theirs.Root {
		t.Fatalf("not a same-size fork: %d %x, %d %x", mine.Size, mine.Root, theirs.Size, theirs.Root)
	}
	ext, err := e.log.ParseOwn(theirs.Note)
	if err != nil {
		t.Fatalf("the fork's checkpoint does not verify with the log's key: %v", err)
	}
	err = e.log.Verify(ctx, []auditlog.Checkpoint{ext}, nil)
	var f *auditlog.Fault
	if !errors.As(err, &f) || f.Kind != auditlog.FaultRootMismatch {
		t.Fatalf("verify against the fork's checkpoint: %v, want a root mismatch", err)
	}
	if err := e.log.CheckExternal(ctx, ext); !errors.As(err, &f) || f.Kind != auditlog.FaultRollback {
		t.Fatalf("start-up check against the fork's checkpoint: %v, want a refusal", err)
	}
	if err := e.log.Verify(ctx, nil, nil); err != nil {
		t.Fatalf("verify without the fork's checkpoint: %v", err)
	}
}

// copyDB copies a closed SQLite database file.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPartialLevel0NotStored: appends store no partial level-0 tile and no
// partial entry bundle (they change with every append); both are derived
// from the stored leaves when read, for proofs, checkpoints and Verify.
func TestPartialLevel0NotStored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fill(t, e.log, 0, 300, -1)
	cp, err := e.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.log.Bundle(ctx, 299)
	if err != nil {
		t.Fatalf("bundle of an event in the partial tile: %v", err)
	}
	v, err := auditlog.NewVerifier(e.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := auditlog.CheckBundle(b, note.VerifierList(v)); err != nil || got.Index != 299 {
		t.Fatalf("the bundle of event 299, in the partial tile, at size %d: %v %v", cp.Size, got.Index, err)
	}
	if err := e.log.Verify(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.close()
	raw, err := sql.Open("sqlite3", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var tilesN, bundlesN, fullN int
	if err := raw.QueryRow(`SELECT count(*) FROM audit_tiles WHERE level = 0 AND width < 256`).Scan(&tilesN); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM audit_entries WHERE width < 256`).Scan(&bundlesN); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM audit_tiles WHERE level = 0 AND width = 256`).Scan(&fullN); err != nil {
		t.Fatal(err)
	}
	if tilesN != 0 || bundlesN != 0 || fullN != 1 {
		t.Fatalf("stored: %d partial level-0 tiles, %d partial bundles, %d full level-0 tiles; want 0, 0, 1", tilesN, bundlesN, fullN)
	}
}

// TestCanceledRequestInBatch: a request whose client goes away while its
// function runs inside a batch does not fail the other requests of the
// batch (on PostgreSQL a statement whose context ends closes the shared
// connection, so write transactions run statements without cancellation).
func TestCanceledRequestInBatch(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := t.Context()
		release, held := make(chan struct{}), make(chan struct{})
		holdErr := make(chan error, 1)
		go func() {
			holdErr <- e.log.Update(ctx, func(confidant.SealedTx) error { close(held); <-release; return nil })
		}()
		<-held
		// Both queue behind the held batch and go in the next one.
		cctx, cancel := context.WithCancel(ctx)
		errA, errB := make(chan error, 1), make(chan error, 1)
		go func() {
			errA <- e.log.Update(cctx, func(tx confidant.SealedTx) error {
				cancel() // the client goes away mid-request
				_, err := tx.ListClinics(cctx)
				return err
			})
		}()
		go func() { errB <- e.log.Record(ctx, ev(1, "p1")) }()
		time.Sleep(100 * time.Millisecond) // let both reach the queue
		close(release)
		if err := <-holdErr; err != nil {
			t.Fatal(err)
		}
		if err := <-errB; err != nil {
			t.Fatalf("another request of the batch failed because one was canceled: %v", err)
		}
		// On PostgreSQL, once begun, a request's statements run to their
		// end (a canceled statement in flight would close the batch's
		// connection): the request that lost its client completes. SQLite
		// interrupts the statement without harm to the connection, so
		// there the request may fail alone.
		err := <-errA
		if kind == "postgres" && err != nil || err != nil && confidant.CodeOf(err) != "canceled" {
			t.Fatalf("a request canceled mid-function: %v", err)
		}
		if err := e.log.Record(ctx, ev(2, "p1")); err != nil {
			t.Fatalf("the log after a canceled request: %v", err)
		}
		if err := e.log.Verify(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRebuildTilesChecksEveryCheckpoint: a stored checkpoint of an earlier
// size that the stored leaves contradict (here one signed by a copy of the
// database that went its own way, slipped into the checkpoint table) makes
// the rebuild refuse, although Verify, which compares only the latest
// stored checkpoint, passes.
func TestRebuildTilesChecksEveryCheckpoint(t *testing.T) {
	ctx := context.Background()
	e, fork := forked(t)
	theirs, err := fork.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, e.log, 300, 20, -1)
	if cp, err := e.log.Checkpoint(ctx); err != nil || cp.Size != 120 {
		t.Fatalf("checkpoint: %d %v", cp.Size, err)
	}
	e.close()
	raw, err := sql.Open("sqlite3", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)`,
		int64(theirs.Size), theirs.Root[:], theirs.Note, time.Now().UnixMicro())
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if err := e.log.Verify(ctx, nil, nil); err != nil {
		t.Fatalf("verify (latest checkpoint only): %v", err)
	}
	_, _, err = e.log.RebuildTiles(ctx, nil, nil)
	var f *auditlog.Fault
	if !errors.As(err, &f) || f.Kind != auditlog.FaultRootMismatch {
		t.Fatalf("rebuild with a contradicting stored checkpoint of size %d: %v, want a root mismatch", theirs.Size, err)
	}
}

// TestCheckpointOverTruncatedEvents: on PostgreSQL the log's size is kept
// in its head row; with the last events deleted behind it, signing a
// checkpoint fails with a fault naming the first missing index (it looped
// for ever on a short page before).
func TestCheckpointOverTruncatedEvents(t *testing.T) {
	testfix.PostgresDSN(t, "the PostgreSQL access-log tests")
	e := newEnvOn(t, "postgres")
	ctx := t.Context()
	fill(t, e.log, 0, 100, 49)
	e.close()
	e.tamper(t, `DELETE FROM audit_events WHERE idx >= 90`)
	e.open(t)
	done := make(chan error, 1)
	go func() { _, err := e.log.Checkpoint(ctx); done <- err }()
	select {
	case err := <-done:
		var f *auditlog.Fault
		if !errors.As(err, &f) || f.Index != 90 || f.Kind != auditlog.FaultTruncated {
			t.Fatalf("checkpoint with events 90-99 deleted: %v, want truncated at 90", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("checkpoint over a truncated log did not return")
	}
}

// fill records events first to first+n-1 on l (about patients p0 to p3)
// and signs a checkpoint after event checkpointAt (none if negative).
func fill(t *testing.T, l *audit.Log, first, n, checkpointAt int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if err := l.Record(ctx, ev(first+i, "p"+fmt.Sprint(i%4))); err != nil {
			t.Fatal(err)
		}
		if i == checkpointAt {
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// forked returns e's log of 100 events and a copy of its database that
// went its own way after the first 50 (both open, both signed with the same
// key): a same-size fork.
func forked(t *testing.T) (e, fork *env) {
	t.Helper()
	e = newEnv(t)
	fill(t, e.log, 0, 50, -1)
	e.close()
	fork = &env{kind: "sqlite", path: e.path + ".fork", k: e.k}
	copyDB(t, e.path, fork.path)
	e.open(t)
	fork.open(t)
	fill(t, e.log, 100, 50, -1)
	fill(t, fork.log, 200, 50, -1)
	return e, fork
}
