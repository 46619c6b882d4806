package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// RunLog runs the conformance suite of the access log's storage,
// confidant.LogTx, which the store's transactions must implement (the
// suite reaches it with a type assertion on SealedTx). open is as for Run.
//
// Besides the contract documented on confidant.LogTx and
// confidant.StoredEvent, the suite fixes a few points both stores must
// agree on:
//
//   - AppendEvents refuses events that break StoredEvent's rules (no time;
//     a patient sequence number without a patient or the reverse; a link
//     to the patient's previous event that is below -1 or not earlier than
//     the event) with KindInvalid, and writes nothing of such a batch.
//   - Events and ScanEvents need a positive limit (ScanEvents passes the
//     same events as Events), QueryEvents a Limit of 1 to 1000
//     (KindInvalid otherwise). QueryEvents orders by log index, newest
//     first, whatever the event times; From and To compare with the stored
//     (microsecond) times.
//   - Every width of a tile or entry bundle that is not yet full stays
//     readable until the full one is written (a client verifying against
//     an older checkpoint asks for the narrower width); after that a store
//     may drop the partial ones. Widths outside 1..256 are KindInvalid.
//   - PutCheckpoint refuses (KindConflict) a size smaller than the latest
//     checkpoint's, and the latest's size with a different root; the same
//     size and root replaces the note (say, with more cosignatures).
//   - Savepoint returns fn's error (errors.Is), works in View too, and
//     after a panic in fn the store is usable again.
func RunLog(t *testing.T, open func(t *testing.T) confidant.SealedStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s confidant.SealedStore)
	}{
		{"Empty", testLogEmpty},
		{"Append", testLogAppend},
		{"AppendConflict", testLogAppendConflict},
		{"AppendInvalid", testLogAppendInvalid},
		{"AppendConcurrent", testLogAppendConcurrent},
		{"LockLog", testLockLog},
		{"RoundTrip", testLogRoundTrip},
		{"Events", testLogEvents},
		{"ScanEvents", testLogScanEvents},
		{"QueryEvents", testQueryEvents},
		{"QueryPaging", testQueryPaging},
		{"QueryLimit", testQueryLimit},
		{"PatientHeads", testPatientHeads},
		{"Tiles", testTiles},
		{"EntryBundles", testEntryBundles},
		{"TilesAndBundlesApart", testTilesAndBundlesApart},
		{"Checkpoints", testCheckpoints},
		{"Savepoint", testSavepoint},
		{"SavepointNested", testSavepointNested},
		{"SavepointPanic", testSavepointPanic},
		{"SavepointInView", testSavepointInView},
		{"LogViewIsReadOnly", testLogViewIsReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// logCmpOpts are cmpOpts for the log's types, with byte slices compared
// by bytes.Equal: cmp's element-wise comparison of thousands of sealed
// blobs took seconds. Byte slices must still be equal byte for byte (nil
// and empty alike).
var logCmpOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
	}),
	cmp.Comparer(bytes.Equal),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != reflect.TypeFor[[]byte]() }, cmpopts.EquateEmpty()),
}

// logDiff reports a mismatch between want and got.
func logDiff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, logCmpOpts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// logTx returns the access-log part of tx.
func logTx(t *testing.T, tx confidant.SealedTx) confidant.LogTx {
	t.Helper()
	l, ok := tx.(confidant.LogTx)
	if !ok {
		t.Fatalf("the store's transaction %T does not implement confidant.LogTx", tx)
	}
	return l
}

// logUpdate runs fn in a read-write transaction and fails the test on error.
func logUpdate(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, l confidant.LogTx) error) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return fn(ctx, logTx(t, tx)) })
}

// tryLogUpdate runs fn in a read-write transaction and returns its error.
func tryLogUpdate(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, l confidant.LogTx) error) error {
	t.Helper()
	return tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return fn(ctx, logTx(t, tx)) })
}

// logRead runs fn in a read-only transaction and returns its result.
func logRead[T any](t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, l confidant.LogTx) (T, error)) T {
	t.Helper()
	return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (T, error) { return fn(ctx, logTx(t, tx)) })
}

func logSize(t *testing.T, s confidant.SealedStore) uint64 {
	t.Helper()
	return logRead(t, s, func(ctx context.Context, l confidant.LogTx) (uint64, error) { return l.LogSize(ctx) })
}

func allEvents(t *testing.T, s confidant.SealedStore) []confidant.StoredEvent {
	t.Helper()
	return logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
		return l.Events(ctx, 0, 100000)
	})
}

// wantLogSize fails the test unless l holds n events.
func wantLogSize(t *testing.T, ctx context.Context, l confidant.LogTx, what string, n uint64) {
	t.Helper()
	got, err := l.LogSize(ctx)
	if err != nil {
		t.Errorf("%s: LogSize: %v", what, err)
	} else if got != n {
		t.Errorf("%s: LogSize = %d, want %d", what, got, n)
	}
}

// logBuilder makes events that follow StoredEvent's rules: contiguous
// indexes and each patient's chain.
type logBuilder struct {
	next  uint64
	heads map[string]confidant.ChainHead
	clock time.Duration
}

func newLogBuilder() *logBuilder {
	return &logBuilder{heads: map[string]confidant.ChainHead{}}
}

// clone returns an independent copy of b, for events that will be thrown
// away (written inside a failed savepoint).
func (b *logBuilder) clone() *logBuilder {
	c := *b
	c.heads = maps.Clone(b.heads)
	return &c
}

// event returns the next event, at base plus d.
func (b *logBuilder) event(d time.Duration, actor string, role confidant.Role, action, patient string) confidant.StoredEvent {
	e := confidant.StoredEvent{
		Index:       b.next,
		Time:        at(d),
		ActorID:     actor,
		Role:        role,
		ClinicID:    "clinic-1",
		Action:      action,
		PatientID:   patient,
		Outcome:     "ok",
		SessionID:   confidant.NewID(),
		PatientPrev: -1,
		Nonce:       randomBytes(32),
		Sealed:      sealed(),
		Leaf:        randomBytes(32),
	}
	if patient != "" {
		e.RecordID = confidant.NewID()
		h, ok := b.heads[patient]
		e.PatientSeq = h.Seq + 1
		if ok {
			e.PatientPrev = h.Index
		}
		b.heads[patient] = confidant.ChainHead{Seq: e.PatientSeq, Index: int64(e.Index)}
	}
	b.next++
	return e
}

// batch returns the next n events, one second apart, by one actor about
// one patient.
func (b *logBuilder) batch(n int) []confidant.StoredEvent {
	evs := make([]confidant.StoredEvent, n)
	for i := range evs {
		b.clock += time.Second
		evs[i] = b.event(b.clock, "actor-batch", confidant.RoleTherapist, "note.read", "patient-batch")
	}
	return evs
}

func eventIndexes(evs []confidant.StoredEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Index
	}
	return out
}

func testLogEmpty(t *testing.T, s confidant.SealedStore) {
	if n := logSize(t, s); n != 0 {
		t.Errorf("LogSize of a new store = %d, want 0", n)
	}
	if evs := allEvents(t, s); len(evs) != 0 {
		t.Errorf("Events of a new store = %v, want none", eventIndexes(evs))
	}
	logRead(t, s, func(ctx context.Context, l confidant.LogTx) (any, error) {
		evs, err := l.QueryEvents(ctx, confidant.EventFilter{Limit: 10})
		if err != nil || len(evs) != 0 {
			t.Errorf("QueryEvents of a new store = %v, %v; want none", eventIndexes(evs), err)
		}
		heads, err := l.PatientHeads(ctx, []string{"patient-1"})
		if err != nil || len(heads) != 0 {
			t.Errorf("PatientHeads of a new store = %v, %v; want none", heads, err)
		}
		heads, err = l.PatientHeads(ctx, nil)
		if err != nil || len(heads) != 0 {
			t.Errorf("PatientHeads(nil) = %v, %v; want none", heads, err)
		}
		return nil, nil
	})
}

func testLogAppend(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	var want []confidant.StoredEvent
	// Several batches in one transaction, each seeing the previous.
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		wantLogSize(t, ctx, l, "before appending", 0)
		for _, n := range []int{1, 3, 2} {
			evs := b.batch(n)
			if err := l.AppendEvents(ctx, evs); err != nil {
				return fmt.Errorf("AppendEvents of %d events at %d: %w", n, evs[0].Index, err)
			}
			want = append(want, evs...)
			wantLogSize(t, ctx, l, "after a batch", uint64(len(want)))
		}
		// An empty batch changes nothing.
		if err := l.AppendEvents(ctx, nil); err != nil {
			return fmt.Errorf("AppendEvents of no events: %w", err)
		}
		return nil
	})
	if n := logSize(t, s); n != 6 {
		t.Fatalf("LogSize after commit = %d, want 6", n)
	}
	// Batches of assorted sizes in later transactions, including large
	// ones, which a store may split.
	for _, n := range []int{5, 300, 17, 64, 65, 1} {
		evs := b.batch(n)
		logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
		want = append(want, evs...)
	}
	if n := logSize(t, s); n != uint64(len(want)) {
		t.Errorf("LogSize = %d, want %d", n, len(want))
	}
	logDiff(t, "Events after appending", want, allEvents(t, s))
}

func testLogAppendConflict(t *testing.T, s confidant.SealedStore) {
	// Nothing but index 0 starts an empty log.
	for _, start := range []uint64{1, 5} {
		b := newLogBuilder()
		b.next = start
		evs := b.batch(2)
		err := tryLogUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
		wantKind(t, fmt.Sprintf("first batch starting at %d", start), err, confidant.KindConflict)
	}

	b := newLogBuilder()
	base := b.batch(3)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, base) })

	withIndexes := func(idx ...uint64) []confidant.StoredEvent {
		c := b.clone()
		evs := c.batch(len(idx))
		for i := range evs {
			evs[i].Index = idx[i]
			if evs[i].PatientPrev >= int64(idx[i]) {
				evs[i].PatientPrev = -1
				evs[i].PatientSeq = 1
			}
		}
		return evs
	}
	tests := []struct {
		name string
		evs  []confidant.StoredEvent
	}{
		{"gap before the batch", withIndexes(4, 5)},
		{"overlapping the log", withIndexes(2, 3)},
		{"rewriting the start", withIndexes(0)},
		{"gap inside the batch", withIndexes(3, 5, 6)},
		{"duplicate index", withIndexes(3, 4, 4)},
		{"descending", withIndexes(3, 5, 4)},
		{"gap at the end of a large batch", append(withIndexes(upTo(3, 303)...), withIndexes(304)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The refusal leaves nothing behind even if the caller goes on
			// and commits.
			logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
				wantKind(t, "AppendEvents", l.AppendEvents(ctx, tc.evs), confidant.KindConflict)
				wantLogSize(t, ctx, l, "after the refused batch", 3)
				return nil
			})
			logDiff(t, "Events after the refused batch", base, allEvents(t, s))
		})
	}

	// The right continuation still works.
	next := b.batch(2)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, next) })
	logDiff(t, "Events", append(base, next...), allEvents(t, s))
}

// upTo returns from, from+1, ..., to-1.
func upTo(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func testLogAppendInvalid(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	base := b.batch(2) // patient-batch has seq 1 and 2, at 0 and 1
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, base) })

	tests := []struct {
		name   string
		change func(e *confidant.StoredEvent)
	}{
		{"no time", func(e *confidant.StoredEvent) { e.Time = time.Time{} }},
		{"patient without sequence number", func(e *confidant.StoredEvent) { e.PatientSeq, e.PatientPrev = 0, -1 }},
		{"sequence number without patient", func(e *confidant.StoredEvent) { e.PatientID = "" }},
		{"link below -1", func(e *confidant.StoredEvent) { e.PatientPrev = -2 }},
		{"link to itself", func(e *confidant.StoredEvent) { e.PatientPrev = int64(e.Index) }},
		{"link forward", func(e *confidant.StoredEvent) { e.PatientPrev = int64(e.Index) + 1 }},
		{"link without patient", func(e *confidant.StoredEvent) { e.PatientID, e.PatientSeq = "", 0 }},
	}
	for _, tc := range tests {
		for _, n := range []int{1, 300} {
			t.Run(fmt.Sprintf("%s/batch of %d", tc.name, n), func(t *testing.T) {
				evs := b.clone().batch(n)
				tc.change(&evs[n-1]) // the last one: a store must not write the others
				logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
					wantKind(t, "AppendEvents", l.AppendEvents(ctx, evs), confidant.KindInvalid)
					wantLogSize(t, ctx, l, "after the refused batch", 2)
					return nil
				})
			})
		}
	}
	logDiff(t, "Events", base, allEvents(t, s))
}

// testLogAppendConcurrent checks that writers racing for the same index
// cannot fork the log: exactly one wins, the others get KindConflict.
func testLogAppendConcurrent(t *testing.T, s confidant.SealedStore) {
	const writers = 8
	errs := make([]error, writers)
	evs := make([][]confidant.StoredEvent, writers)
	for i := range evs {
		evs[i] = newLogBuilder().batch(2)
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx confidant.SealedTx) error {
				l, ok := tx.(confidant.LogTx)
				if !ok {
					return errors.New("not a LogTx")
				}
				return l.AppendEvents(t.Context(), evs[i])
			})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			if won >= 0 {
				t.Errorf("writers %d and %d both appended at index 0", won, i)
			}
			won = i
			continue
		}
		wantKind(t, fmt.Sprintf("writer %d", i), err, confidant.KindConflict)
	}
	if won < 0 {
		t.Fatalf("no writer appended")
	}
	logDiff(t, "Events", evs[won], allEvents(t, s))
}

// testLockLog runs writers that each lock the log, append at the size they
// read under the lock and commit: LockLog must serialise them, so none
// conflicts and the log holds every batch, contiguously.
func testLockLog(t *testing.T, s confidant.SealedStore) {
	const writers, rounds = 6, 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			b := newLogBuilder()
			for range rounds {
				err := s.Update(t.Context(), func(tx confidant.SealedTx) error {
					l, ok := tx.(confidant.LogTx)
					if !ok {
						return errors.New("not a LogTx")
					}
					size, err := l.LockLog(t.Context())
					if err != nil {
						return fmt.Errorf("LockLog: %w", err)
					}
					// Let the other writers queue behind the lock.
					time.Sleep(time.Millisecond)
					evs := b.batch(3)
					for j := range evs {
						evs[j].Index = size + uint64(j)
						evs[j].PatientSeq, evs[j].PatientPrev = 0, -1
						evs[j].PatientID = ""
					}
					if got, err := l.LogSize(t.Context()); err != nil || got != size {
						return fmt.Errorf("LogSize under the lock = %d, %v; want %d", got, err, size)
					}
					return l.AppendEvents(t.Context(), evs)
				})
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	evs := allEvents(t, s)
	if len(evs) != writers*rounds*3 {
		t.Fatalf("the log holds %d events, want %d", len(evs), writers*rounds*3)
	}
	for i, e := range evs {
		if e.Index != uint64(i) {
			t.Fatalf("event %d has index %d", i, e.Index)
		}
	}
}

func testLogRoundTrip(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	evs := []confidant.StoredEvent{
		b.event(time.Second, "therapist-1", confidant.RoleTherapist, "note.read", "patient-1"),
		b.event(2*time.Second, "login-1", confidant.RolePatient, "session.login", ""),
		b.event(3*time.Second, "security-1", confidant.RoleSecurity, "break_glass", "patient-1"),
		b.event(4*time.Second, "manager-1", confidant.RoleManager, "care.create", "patient-2"),
	}
	evs[0].Outcome = "denied"
	evs[1].Outcome = "failed"
	evs[1].RecordID = ""
	evs[3].ClinicID = "klinikka-ä"
	evs[3].Sealed = randomBytes(4096)
	evs[2].Time = time.Date(2025, 12, 31, 23, 59, 59, 999999999, zone) // truncates across a year
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })

	got := allEvents(t, s)
	logDiff(t, "Events", evs, got)
	for i := range min(len(got), len(evs)) {
		want := evs[i].Time.Truncate(time.Microsecond)
		if !got[i].Time.Equal(want) || got[i].Time.Location() != time.UTC {
			t.Errorf("event %d: Time = %v, want %v in UTC", i, got[i].Time, want.UTC())
		}
	}
	if evs[1].PatientID != "" || got[1].PatientID != "" || got[1].PatientSeq != 0 || got[1].PatientPrev != -1 || got[1].RecordID != "" {
		t.Errorf("event without patient came back as %+v", got[1])
	}
	if got[2].PatientPrev != 0 || got[2].PatientSeq != 2 {
		t.Errorf("second event of patient-1: PatientSeq %d PatientPrev %d, want 2 and 0", got[2].PatientSeq, got[2].PatientPrev)
	}
	// QueryEvents returns the same events, newest first.
	q := logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
		return l.QueryEvents(ctx, confidant.EventFilter{Limit: 10})
	})
	rev := slices.Clone(evs)
	slices.Reverse(rev)
	logDiff(t, "QueryEvents", rev, q)
	q = logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
		return l.QueryEvents(ctx, confidant.EventFilter{PatientID: "patient-1", Limit: 10})
	})
	logDiff(t, "QueryEvents by patient", []confidant.StoredEvent{evs[2], evs[0]}, q)
}

func testLogEvents(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	evs := b.batch(20)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
	tests := []struct {
		from  uint64
		limit int
		want  []confidant.StoredEvent
	}{
		{0, 20, evs},
		{0, 1000, evs},
		{0, 1, evs[:1]},
		{5, 3, evs[5:8]},
		{18, 10, evs[18:]},
		{19, 1, evs[19:]},
		{20, 5, nil},
		{1 << 40, 5, nil},
		{1<<64 - 1, 5, nil},
	}
	// Events and ScanEvents read the same rows.
	for _, tc := range tests {
		got := logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
			return l.Events(ctx, tc.from, tc.limit)
		})
		logDiff(t, fmt.Sprintf("Events(%d, %d)", tc.from, tc.limit), tc.want, got)
		got = logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
			return scanned(ctx, l, tc.from, tc.limit)
		})
		logDiff(t, fmt.Sprintf("ScanEvents(%d, %d)", tc.from, tc.limit), tc.want, got)
	}
	for _, limit := range []int{0, -1} {
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := logTx(t, tx).Events(ctx, 0, limit)
			return err
		})
		wantKind(t, fmt.Sprintf("Events with limit %d", limit), err, confidant.KindInvalid)
		err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return logTx(t, tx).ScanEvents(ctx, 0, limit, func(*confidant.EventRow) error { return nil })
		})
		wantKind(t, fmt.Sprintf("ScanEvents with limit %d", limit), err, confidant.KindInvalid)
	}
}

// scanned copies the rows ScanEvents passes into StoredEvents.
func scanned(ctx context.Context, l confidant.LogTx, from uint64, limit int) ([]confidant.StoredEvent, error) {
	var out []confidant.StoredEvent
	err := l.ScanEvents(ctx, from, limit, func(r *confidant.EventRow) error {
		out = append(out, confidant.StoredEvent{
			Index: r.Index, Time: r.Time, ActorID: string(r.ActorID), Role: confidant.Role(r.Role),
			ClinicID: string(r.ClinicID), Action: string(r.Action), PatientID: string(r.PatientID),
			RecordID: string(r.RecordID), Outcome: string(r.Outcome), SessionID: string(r.SessionID),
			PatientSeq: r.PatientSeq, PatientPrev: r.PatientPrev,
			Nonce: bytes.Clone(r.Nonce), Sealed: bytes.Clone(r.Sealed), Leaf: bytes.Clone(r.Leaf),
		})
		return nil
	})
	return out, err
}

// testLogScanEvents: fn's error stops the scan and comes back unchanged
// (the rows themselves are compared with Events' in testLogEvents).
func testLogScanEvents(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, b.batch(20)) })
	stop := errors.New("stop")
	var seen []uint64
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return logTx(t, tx).ScanEvents(ctx, 3, 10, func(r *confidant.EventRow) error {
			seen = append(seen, r.Index)
			if r.Index == 5 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, []uint64{3, 4, 5}) {
		t.Errorf("ScanEvents stopped by fn: error %v after indexes %v, want %v after [3 4 5]", err, seen, stop)
	}
}

// queryLog writes a log for the QueryEvents tests: three actors, three
// actions, three patients and events without one, with times that are not
// in index order and some equal.
func queryLog(t *testing.T, s confidant.SealedStore) []confidant.StoredEvent {
	t.Helper()
	b := newLogBuilder()
	actors := []string{"actor-a", "actor-b", "actor-c"}
	actions := []string{"note.read", "note.sign", "break_glass"}
	patients := []string{"patient-p", "patient-q", "", "patient-r"}
	var evs []confidant.StoredEvent
	for i := range 90 {
		// Mostly increasing, every fourth event a little in the past, and
		// pairs of events at the same time.
		d := time.Duration(i/2) * time.Minute
		if i%4 == 3 {
			d -= 3 * time.Minute
		}
		evs = append(evs, b.event(d, actors[i%3], confidant.RoleTherapist, actions[(i/3)%3], patients[(i/2)%4]))
	}
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		// In batches, as the sequencer writes them.
		for rest := evs; len(rest) > 0; rest = rest[min(7, len(rest)):] {
			if err := l.AppendEvents(ctx, rest[:min(7, len(rest))]); err != nil {
				return err
			}
		}
		return nil
	})
	return evs
}

// truncUTC is a time as a store keeps it.
func truncUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// wantQuery computes what QueryEvents must return for f from all events.
// Limit 0 means no limit here.
func wantQuery(all []confidant.StoredEvent, f confidant.EventFilter) []confidant.StoredEvent {
	var out []confidant.StoredEvent
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		switch {
		case f.PatientID != "" && e.PatientID != f.PatientID,
			f.ActorID != "" && e.ActorID != f.ActorID,
			f.Action != "" && e.Action != f.Action,
			!f.From.IsZero() && truncUTC(e.Time).Before(truncUTC(f.From)),
			!f.To.IsZero() && !truncUTC(e.Time).Before(truncUTC(f.To)),
			f.Before > 0 && e.Index >= f.Before:
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

func testQueryEvents(t *testing.T, s confidant.SealedStore) {
	evs := queryLog(t, s)
	// Window bounds at the times of events, some of which share them.
	from, to := evs[20].Time, evs[61].Time
	tests := []struct {
		name string
		f    confidant.EventFilter
	}{
		{"no filter", confidant.EventFilter{}},
		{"patient", confidant.EventFilter{PatientID: "patient-p"}},
		{"actor", confidant.EventFilter{ActorID: "actor-b"}},
		{"action", confidant.EventFilter{Action: "break_glass"}},
		{"from", confidant.EventFilter{From: from}},
		{"to", confidant.EventFilter{To: to}},
		{"before", confidant.EventFilter{Before: 50}},
		{"window", confidant.EventFilter{From: from, To: to}},
		{"window in another zone", confidant.EventFilter{From: from.UTC(), To: to.In(time.FixedZone("X", -5*3600))}},
		{"empty window", confidant.EventFilter{From: to, To: from}},
		{"one instant", confidant.EventFilter{From: from, To: from.Add(time.Microsecond)}},
		{"patient and actor", confidant.EventFilter{PatientID: "patient-q", ActorID: "actor-a"}},
		{"actor and action", confidant.EventFilter{ActorID: "actor-c", Action: "note.read"}},
		{"patient and window", confidant.EventFilter{PatientID: "patient-r", From: from, To: to}},
		{"actor and window", confidant.EventFilter{ActorID: "actor-a", From: from, To: to}},
		{"action and window", confidant.EventFilter{Action: "note.sign", From: from}},
		{"actor, action and window", confidant.EventFilter{ActorID: "actor-b", Action: "note.sign", To: to}},
		{"everything", confidant.EventFilter{PatientID: "patient-p", ActorID: "actor-c", Action: "note.read", From: evs[1].Time, To: evs[80].Time, Before: 70}},
		{"window and before", confidant.EventFilter{From: from, To: to, Before: 40}},
		{"unknown patient", confidant.EventFilter{PatientID: "nobody"}},
		{"unknown actor", confidant.EventFilter{ActorID: "nobody"}},
		{"unknown action", confidant.EventFilter{Action: "nothing"}},
		{"before the first", confidant.EventFilter{Before: 1}},
		{"before beyond the end", confidant.EventFilter{Before: 1 << 62}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{1000, 5} {
				f := tc.f
				f.Limit = limit
				want := wantQuery(evs, f)
				got := logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
					return l.QueryEvents(ctx, f)
				})
				diffOrdered(t, fmt.Sprintf("indexes with limit %d", limit), toStrings(eventIndexes(want)), toStrings(eventIndexes(got)))
				logDiff(t, fmt.Sprintf("events with limit %d", limit), want, got)
			}
		})
	}
	// The test data is what the cases need.
	for _, tc := range []struct {
		what string
		f    confidant.EventFilter
		min  int
	}{
		{"window", confidant.EventFilter{From: from, To: to}, 20},
		{"events at the window's start", confidant.EventFilter{From: from, To: from.Add(time.Microsecond)}, 2},
		{"events at the window's end", confidant.EventFilter{From: to, To: to.Add(time.Microsecond)}, 2},
	} {
		if n := len(wantQuery(evs, tc.f)); n < tc.min {
			t.Errorf("test data: %d %s, want at least %d", n, tc.what, tc.min)
		}
	}
	if !slices.ContainsFunc(evs[21:], func(e confidant.StoredEvent) bool { return e.Time.Before(from) }) {
		t.Errorf("test data: no later event is older than the window")
	}
}

func toStrings[T any](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// testQueryPaging pages backwards with Before and checks that the pages
// add up to the whole result, without duplicates or gaps.
func testQueryPaging(t *testing.T, s confidant.SealedStore) {
	evs := queryLog(t, s)
	from, to := evs[10].Time, evs[75].Time
	for _, f := range []confidant.EventFilter{
		{},
		{ActorID: "actor-a"},
		{Action: "note.read", From: from},
		{PatientID: "patient-p"},
		{From: from, To: to},
		{ActorID: "actor-b", To: to},
	} {
		for _, limit := range []int{1, 4, 7} {
			want := wantQuery(evs, f)
			var got []confidant.StoredEvent
			page := f
			page.Limit = limit
			for range len(evs) + 2 {
				p := logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
					return l.QueryEvents(ctx, page)
				})
				if len(p) > limit {
					t.Fatalf("%+v: page of %d events, limit %d", page, len(p), limit)
				}
				got = append(got, p...)
				// Before 0 means from the newest: nothing comes before
				// index 0.
				if len(p) < limit || p[len(p)-1].Index == 0 {
					break
				}
				page.Before = p[len(p)-1].Index
			}
			diffOrdered(t, fmt.Sprintf("pages of %d for %+v", limit, f), toStrings(eventIndexes(want)), toStrings(eventIndexes(got)))
		}
	}
}

func testQueryLimit(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	evs := b.batch(1001)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
	for _, limit := range []int{0, -1, 1001, 1 << 30} {
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := logTx(t, tx).QueryEvents(ctx, confidant.EventFilter{Limit: limit})
			return err
		})
		wantKind(t, fmt.Sprintf("QueryEvents with Limit %d", limit), err, confidant.KindInvalid)
	}
	got := logRead(t, s, func(ctx context.Context, l confidant.LogTx) ([]confidant.StoredEvent, error) {
		return l.QueryEvents(ctx, confidant.EventFilter{Limit: 1000})
	})
	if len(got) != 1000 || got[0].Index != 1000 || got[999].Index != 1 {
		t.Errorf("QueryEvents with Limit 1000 returned %d events", len(got))
	}
}

func testPatientHeads(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	var evs []confidant.StoredEvent
	for i, p := range []string{"p1", "", "p2", "p1", "p3", "", "p1", "p3"} {
		evs = append(evs, b.event(time.Duration(i)*time.Second, "actor", confidant.RoleTherapist, "note.read", p))
	}
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
	want := map[string]confidant.ChainHead{
		"p1": {Seq: 3, Index: 6},
		"p2": {Seq: 1, Index: 2},
		"p3": {Seq: 2, Index: 7},
	}
	got := logRead(t, s, func(ctx context.Context, l confidant.LogTx) (map[string]confidant.ChainHead, error) {
		return l.PatientHeads(ctx, []string{"p1", "p2", "p3", "p4", "", "p1"})
	})
	logDiff(t, "PatientHeads", want, got)
	got = logRead(t, s, func(ctx context.Context, l confidant.LogTx) (map[string]confidant.ChainHead, error) {
		return l.PatientHeads(ctx, []string{"p2"})
	})
	logDiff(t, "PatientHeads of one", map[string]confidant.ChainHead{"p2": want["p2"]}, got)

	// Inside a transaction the heads include what it appended.
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		more := []confidant.StoredEvent{
			b.event(time.Minute, "actor", confidant.RoleTherapist, "note.read", "p2"),
			b.event(time.Minute, "actor", confidant.RoleTherapist, "note.read", "p4"),
		}
		if err := l.AppendEvents(ctx, more); err != nil {
			return err
		}
		got, err := l.PatientHeads(ctx, []string{"p2", "p4", "p5"})
		if err != nil {
			return err
		}
		logDiff(t, "PatientHeads after appending", map[string]confidant.ChainHead{"p2": {Seq: 2, Index: 8}, "p4": {Seq: 1, Index: 9}}, got)
		return nil
	})

	// Many patients at once, as a large batch has.
	var ids []string
	wantMany := map[string]confidant.ChainHead{}
	var many []confidant.StoredEvent
	for i := range 300 {
		id := fmt.Sprintf("many-%03d", i)
		ids = append(ids, id)
		e := b.event(time.Hour, "actor", confidant.RoleTherapist, "note.read", id)
		many = append(many, e)
		wantMany[id] = confidant.ChainHead{Seq: 1, Index: int64(e.Index)}
	}
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, many) })
	got = logRead(t, s, func(ctx context.Context, l confidant.LogTx) (map[string]confidant.ChainHead, error) {
		return l.PatientHeads(ctx, ids)
	})
	logDiff(t, "PatientHeads of 300", wantMany, got)
}

// tileOps are PutTile and Tile, or the entry-bundle methods, for one test.
type tileOps struct {
	what string
	put  func(ctx context.Context, l confidant.LogTx, level, index uint64, width int, data []byte) error
	get  func(ctx context.Context, l confidant.LogTx, level, index uint64, width int) ([]byte, error)
	size int // bytes per entry
}

var tiles = tileOps{
	what: "tile",
	put: func(ctx context.Context, l confidant.LogTx, level, index uint64, width int, data []byte) error {
		return l.PutTile(ctx, level, index, width, data)
	},
	get: func(ctx context.Context, l confidant.LogTx, level, index uint64, width int) ([]byte, error) {
		return l.Tile(ctx, level, index, width)
	},
	size: 32,
}

// bundles has no levels: tests use level 0 only.
var bundles = tileOps{
	what: "entry bundle",
	put: func(ctx context.Context, l confidant.LogTx, _, index uint64, width int, data []byte) error {
		return l.PutEntryBundle(ctx, index, width, data)
	},
	get: func(ctx context.Context, l confidant.LogTx, _, index uint64, width int) ([]byte, error) {
		return l.EntryBundle(ctx, index, width)
	},
	size: 34,
}

func testTiles(t *testing.T, s confidant.SealedStore) { testTileStore(t, s, tiles, []uint64{0, 1, 3}) }

func testEntryBundles(t *testing.T, s confidant.SealedStore) {
	testTileStore(t, s, bundles, []uint64{0})
}

func testTileStore(t *testing.T, s confidant.SealedStore, ops tileOps, levels []uint64) {
	data := func(width int) []byte { return randomBytes(width * ops.size) }
	put := func(level, index uint64, width int, b []byte) {
		t.Helper()
		logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return ops.put(ctx, l, level, index, width, b) })
	}
	// want checks a stored tile; nil wants KindNotFound.
	want := func(level, index uint64, width int, want []byte) {
		t.Helper()
		var got []byte
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = ops.get(ctx, logTx(t, tx), level, index, width)
			return err
		})
		what := fmt.Sprintf("%s (%d, %d, %d)", ops.what, level, index, width)
		if want == nil {
			wantKind(t, what, err, confidant.KindNotFound)
			return
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		logDiff(t, what, want, got)
	}
	// gone checks a partial version after the full one was written: a
	// store may keep it or not.
	gone := func(level, index uint64, width int, was []byte) {
		t.Helper()
		var got []byte
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = ops.get(ctx, logTx(t, tx), level, index, width)
			return err
		})
		what := fmt.Sprintf("%s (%d, %d, %d) after the full one", ops.what, level, index, width)
		if err != nil {
			wantKind(t, what, err, confidant.KindNotFound)
			return
		}
		logDiff(t, what, was, got)
	}

	for _, level := range levels {
		want(level, 0, 1, nil)
		want(level, 0, 256, nil)

		p5, p7, p7b, full := data(5), data(7), data(7), data(256)
		put(level, 0, 5, p5)
		want(level, 0, 5, p5)
		want(level, 0, 6, nil)
		want(level, 0, 256, nil)
		want(level, 1, 5, nil)

		// The tile grows: older widths stay readable until it is full.
		put(level, 0, 7, p7)
		want(level, 0, 7, p7)
		want(level, 0, 5, p5)
		// Writing a width again replaces it.
		put(level, 0, 7, p7b)
		want(level, 0, 7, p7b)
		want(level, 0, 5, p5)

		// Neighbours are apart.
		n5, n255 := data(5), data(255)
		put(level, 1, 5, n5)
		put(level, 1, 255, n255)
		want(level, 1, 5, n5)
		want(level, 1, 255, n255)
		want(level, 0, 5, p5)

		// The full tile.
		put(level, 0, 256, full)
		want(level, 0, 256, full)
		gone(level, 0, 5, p5)
		gone(level, 0, 7, p7b)
		want(level, 1, 5, n5)
		want(level, 1, 255, n255)
		full2 := data(256)
		put(level, 0, 256, full2)
		want(level, 0, 256, full2)

		// A large index.
		far := data(3)
		put(level, 1<<40, 3, far)
		want(level, 1<<40, 3, far)
	}
	if len(levels) > 1 {
		// Levels are apart.
		a, b := data(9), data(9)
		put(levels[0], 5, 9, a)
		put(levels[1], 5, 9, b)
		want(levels[0], 5, 9, a)
		want(levels[1], 5, 9, b)
	}

	// Several writes in one transaction, the last one counts.
	x, y := data(2), data(3)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		for _, w := range []struct {
			width int
			b     []byte
		}{{1, data(1)}, {2, data(2)}, {2, x}, {3, y}} {
			if err := ops.put(ctx, l, 0, 9, w.width, w.b); err != nil {
				return err
			}
		}
		got, err := ops.get(ctx, l, 0, 9, 3)
		if err != nil {
			return err
		}
		logDiff(t, "within the transaction", y, got)
		return nil
	})
	want(0, 9, 2, x)
	want(0, 9, 3, y)

	for _, width := range []int{0, -1, 257, 512} {
		err := tryLogUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
			return ops.put(ctx, l, 0, 0, width, data(1))
		})
		wantKind(t, fmt.Sprintf("put %s of width %d", ops.what, width), err, confidant.KindInvalid)
		err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := ops.get(ctx, logTx(t, tx), 0, 0, width)
			return err
		})
		wantKind(t, fmt.Sprintf("%s of width %d", ops.what, width), err, confidant.KindInvalid)
	}
}

// testTilesAndBundlesApart checks that hash tiles and entry bundles of the
// same name do not share storage.
func testTilesAndBundlesApart(t *testing.T, s confidant.SealedStore) {
	tile, bundle := randomBytes(4*32), randomBytes(4*34)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		if err := l.PutTile(ctx, 0, 3, 4, tile); err != nil {
			return err
		}
		return l.PutEntryBundle(ctx, 4, 4, bundle)
	})
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := logTx(t, tx).EntryBundle(ctx, 3, 4)
		return err
	})
	wantKind(t, "entry bundle where only a tile is", err, confidant.KindNotFound)
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := logTx(t, tx).Tile(ctx, 0, 4, 4)
		return err
	})
	wantKind(t, "tile where only an entry bundle is", err, confidant.KindNotFound)
}

func testCheckpoints(t *testing.T, s confidant.SealedStore) {
	latest := func() (confidant.LogCheckpoint, error) {
		var c confidant.LogCheckpoint
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			c, err = logTx(t, tx).LatestCheckpoint(ctx)
			return err
		})
		return c, err
	}
	wantLatest := func(what string, want confidant.LogCheckpoint) {
		t.Helper()
		got, err := latest()
		if err != nil {
			t.Errorf("%s: LatestCheckpoint: %v", what, err)
			return
		}
		logDiff(t, what, want, got)
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("%s: CreatedAt in %v, want UTC", what, got.CreatedAt.Location())
		}
	}
	checkpoint := func(size uint64, root []byte, d time.Duration) confidant.LogCheckpoint {
		return confidant.LogCheckpoint{
			Size:      size,
			Root:      root,
			Note:      append([]byte(fmt.Sprintf("confidant.example/log\n%d\n", size)), randomBytes(100)...),
			CreatedAt: at(d),
		}
	}
	put := func(c confidant.LogCheckpoint) error {
		return tryLogUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.PutCheckpoint(ctx, c) })
	}

	_, err := latest()
	wantKind(t, "LatestCheckpoint before the first", err, confidant.KindNotFound)

	c10 := checkpoint(10, randomBytes(32), time.Second)
	if err := put(c10); err != nil {
		t.Fatalf("PutCheckpoint: %v", err)
	}
	wantLatest("after the first", c10)

	c20 := checkpoint(20, randomBytes(32), 2*time.Second)
	if err := put(c20); err != nil {
		t.Fatalf("PutCheckpoint: %v", err)
	}
	wantLatest("after a larger one", c20)

	// No rollback: smaller sizes are refused, even inside a transaction
	// that goes on and commits.
	for _, c := range []confidant.LogCheckpoint{checkpoint(15, randomBytes(32), 3*time.Second), c10, checkpoint(0, randomBytes(32), 4*time.Second)} {
		logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
			wantKind(t, fmt.Sprintf("PutCheckpoint of size %d after 20", c.Size), l.PutCheckpoint(ctx, c), confidant.KindConflict)
			return nil
		})
	}
	wantLatest("after refused smaller ones", c20)

	// The same size and root replaces the note; another root is a fork.
	cosigned := c20
	cosigned.Note = append(append([]byte(nil), c20.Note...), "\n— witness sig"...)
	cosigned.CreatedAt = at(5 * time.Second)
	if err := put(cosigned); err != nil {
		t.Errorf("PutCheckpoint of the same size and root: %v", err)
	}
	wantLatest("after a cosigned one", cosigned)
	wantKind(t, "PutCheckpoint of the same size with another root", put(checkpoint(20, randomBytes(32), 6*time.Second)), confidant.KindConflict)
	wantLatest("after a fork", cosigned)

	// Larger again, in the same transaction as the events it covers.
	c21 := checkpoint(21, randomBytes(32), 7*time.Second)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		if err := l.PutCheckpoint(ctx, c21); err != nil {
			return err
		}
		got, err := l.LatestCheckpoint(ctx)
		if err != nil {
			return err
		}
		logDiff(t, "LatestCheckpoint within the transaction", c21, got)
		return nil
	})
	wantLatest("after 21", c21)

	// Every stored checkpoint, in order of size, paged; the one of size 20
	// with the note that replaced its first.
	list := func(after uint64, limit int) ([]confidant.LogCheckpoint, error) {
		var out []confidant.LogCheckpoint
		err := s.View(t.Context(), func(tx confidant.SealedTx) (err error) {
			out, err = logTx(t, tx).Checkpoints(t.Context(), after, limit)
			return err
		})
		return out, err
	}
	all, err := list(0, 1000)
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	logDiff(t, "Checkpoints after 0", []confidant.LogCheckpoint{c10, cosigned, c21}, all)
	page, err := list(10, 1)
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	logDiff(t, "Checkpoints after 10, one", []confidant.LogCheckpoint{cosigned}, page)
	if none, err := list(21, 10); err != nil || len(none) != 0 {
		t.Errorf("Checkpoints after the latest = %d, %v; want none", len(none), err)
	}
	for _, limit := range []int{0, -1, 1001} {
		_, err := list(0, limit)
		wantKind(t, fmt.Sprintf("Checkpoints with limit %d", limit), err, confidant.KindInvalid)
	}
}

var errSavepoint = errors.New("storetest: savepoint fails")

func testSavepoint(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	first := b.batch(2)
	var second []confidant.StoredEvent
	kept := randomBytes(5 * 32)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		if err := l.AppendEvents(ctx, first); err != nil {
			return err
		}
		// A savepoint that fails undoes everything it wrote.
		thrown := b.clone().batch(3)
		err := l.Savepoint(ctx, func() error {
			if err := l.AppendEvents(ctx, thrown); err != nil {
				return err
			}
			wantLogSize(t, ctx, l, "inside the savepoint", 5)
			heads, err := l.PatientHeads(ctx, []string{"patient-batch"})
			if err != nil {
				return err
			}
			if heads["patient-batch"].Index != 4 {
				t.Errorf("PatientHeads inside the savepoint = %v", heads)
			}
			for _, err := range []error{
				l.PutTile(ctx, 0, 0, 5, randomBytes(5*32)),
				l.PutEntryBundle(ctx, 0, 5, randomBytes(5*34)),
				l.PutCheckpoint(ctx, confidant.LogCheckpoint{Size: 5, Root: randomBytes(32), Note: []byte("n"), CreatedAt: base}),
			} {
				if err != nil {
					return err
				}
			}
			return errSavepoint
		})
		if !errors.Is(err, errSavepoint) {
			t.Errorf("Savepoint = %v, want fn's error", err)
		}
		wantLogSize(t, ctx, l, "after the failed savepoint", 2)
		heads, err := l.PatientHeads(ctx, []string{"patient-batch"})
		if err != nil {
			return err
		}
		if heads["patient-batch"].Index != 1 {
			t.Errorf("PatientHeads after the failed savepoint = %v, want index 1", heads)
		}
		if _, err := l.Tile(ctx, 0, 0, 5); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("Tile written in the failed savepoint: %v, want KindNotFound", err)
		}
		if _, err := l.EntryBundle(ctx, 0, 5); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("EntryBundle written in the failed savepoint: %v, want KindNotFound", err)
		}
		if _, err := l.LatestCheckpoint(ctx); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("checkpoint written in the failed savepoint: %v, want KindNotFound", err)
		}

		// A store error inside a savepoint: the sequencer's case of one
		// request failing among many.
		stale := newLogBuilder().batch(1) // index 0 again
		err = l.Savepoint(ctx, func() error {
			if err := l.PutTile(ctx, 0, 0, 2, randomBytes(64)); err != nil {
				return err
			}
			return l.AppendEvents(ctx, stale)
		})
		wantKind(t, "Savepoint with a conflicting append", err, confidant.KindConflict)
		if _, err := l.Tile(ctx, 0, 0, 2); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("Tile written before the conflict: %v, want KindNotFound", err)
		}

		// The transaction goes on: the same indexes again, and a savepoint
		// that succeeds.
		second = b.batch(3)
		if err := l.AppendEvents(ctx, second); err != nil {
			return fmt.Errorf("AppendEvents after the failed savepoint: %w", err)
		}
		return l.Savepoint(ctx, func() error { return l.PutTile(ctx, 0, 0, 5, kept) })
	})
	logDiff(t, "Events", append(slices.Clone(first), second...), allEvents(t, s))
	logRead(t, s, func(ctx context.Context, l confidant.LogTx) (any, error) {
		got, err := l.Tile(ctx, 0, 0, 5)
		if err != nil {
			t.Errorf("Tile written in the successful savepoint: %v", err)
		} else {
			logDiff(t, "Tile written in the successful savepoint", kept, got)
		}
		if _, err := l.EntryBundle(ctx, 0, 5); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("EntryBundle written in the failed savepoint: %v, want KindNotFound", err)
		}
		if _, err := l.LatestCheckpoint(ctx); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("checkpoint written in the failed savepoint: %v, want KindNotFound", err)
		}
		return nil, nil
	})
}

func testSavepointNested(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	var want []confidant.StoredEvent
	tile := randomBytes(3 * 32)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		// outer (ok) { a; inner (fails) { thrown }; inner (ok) { c; innermost (ok) { tile } } }
		err := l.Savepoint(ctx, func() error {
			a := b.batch(1)
			if err := l.AppendEvents(ctx, a); err != nil {
				return err
			}
			want = append(want, a...)
			err := l.Savepoint(ctx, func() error {
				if err := l.AppendEvents(ctx, b.clone().batch(2)); err != nil {
					return err
				}
				return errSavepoint
			})
			if !errors.Is(err, errSavepoint) {
				t.Errorf("inner Savepoint = %v, want fn's error", err)
			}
			wantLogSize(t, ctx, l, "after the failed inner savepoint", 1)
			return l.Savepoint(ctx, func() error {
				c := b.batch(2)
				if err := l.AppendEvents(ctx, c); err != nil {
					return err
				}
				want = append(want, c...)
				return l.Savepoint(ctx, func() error { return l.PutTile(ctx, 2, 0, 3, tile) })
			})
		})
		if err != nil {
			return fmt.Errorf("outer Savepoint: %w", err)
		}
		wantLogSize(t, ctx, l, "after the outer savepoint", 3)

		// outer (fails) { d; inner (ok) { e } }: the released inner one is
		// undone with its parent.
		thrown := b.clone()
		err = l.Savepoint(ctx, func() error {
			if err := l.AppendEvents(ctx, thrown.batch(1)); err != nil {
				return err
			}
			if err := l.Savepoint(ctx, func() error {
				if err := l.AppendEvents(ctx, thrown.batch(1)); err != nil {
					return err
				}
				return l.PutTile(ctx, 2, 1, 3, tile)
			}); err != nil {
				return err
			}
			wantLogSize(t, ctx, l, "inside the failing outer savepoint", 5)
			return errSavepoint
		})
		if !errors.Is(err, errSavepoint) {
			t.Errorf("failing outer Savepoint = %v, want fn's error", err)
		}
		wantLogSize(t, ctx, l, "after the failing outer savepoint", 3)

		// Deep nesting: each level appends an event; the bottom one fails,
		// the level above it swallows the error, and so the levels above
		// that keep their events.
		var nest func(depth int) error
		nest = func(depth int) error {
			return l.Savepoint(ctx, func() error {
				e := b.batch(1)
				if err := l.AppendEvents(ctx, e); err != nil {
					return err
				}
				want = append(want, e...)
				switch depth {
				case 0:
					return errSavepoint
				case 1:
					if err := nest(0); !errors.Is(err, errSavepoint) {
						t.Errorf("bottom Savepoint = %v, want fn's error", err)
					}
					// The bottom's event is gone; the builder follows.
					want = want[:len(want)-1]
					b.next--
					b.heads["patient-batch"] = confidant.ChainHead{Seq: e[0].PatientSeq, Index: int64(e[0].Index)}
					return nil
				default:
					return nest(depth - 1)
				}
			})
		}
		if err := nest(8); err != nil {
			t.Errorf("deep Savepoint = %v", err)
		}
		wantLogSize(t, ctx, l, "after deep nesting", 3+8)
		return nil
	})
	logDiff(t, "Events", want, allEvents(t, s))
	logRead(t, s, func(ctx context.Context, l confidant.LogTx) (any, error) {
		if got, err := l.Tile(ctx, 2, 0, 3); err != nil {
			t.Errorf("Tile of the innermost savepoint: %v", err)
		} else {
			logDiff(t, "Tile of the innermost savepoint", tile, got)
		}
		if _, err := l.Tile(ctx, 2, 1, 3); confidant.KindOf(err) != confidant.KindNotFound {
			t.Errorf("Tile of a savepoint inside a failed one: %v, want KindNotFound", err)
		}
		return nil, nil
	})
}

// testSavepointPanic checks that a panic in fn propagates, the whole
// transaction rolls back, and the store works afterwards.
func testSavepointPanic(t *testing.T, s confidant.SealedStore) {
	b := newLogBuilder()
	type boom struct{}
	for _, depth := range []int{1, 3} {
		func() {
			defer func() {
				if r := recover(); r != (boom{}) {
					t.Errorf("depth %d: recovered %v, want the panic from fn", depth, r)
				}
			}()
			s.Update(t.Context(), func(tx confidant.SealedTx) error {
				l := logTx(t, tx)
				ctx := t.Context()
				if err := l.AppendEvents(ctx, b.clone().batch(2)); err != nil {
					return err
				}
				var nest func(d int) error
				nest = func(d int) error {
					return l.Savepoint(ctx, func() error {
						if d > 1 {
							return nest(d - 1)
						}
						if err := l.AppendEvents(ctx, b.clone().batch(3)[2:]); err != nil {
							return err
						}
						panic(boom{})
					})
				}
				nest(depth)
				t.Errorf("depth %d: Savepoint returned after fn panicked", depth)
				return nil
			})
		}()
		if n := logSize(t, s); n != 0 {
			t.Errorf("depth %d: LogSize after the panic = %d, want 0 (the whole transaction rolled back)", depth, n)
		}
	}
	// A caller that recovers the panic inside the transaction keeps a
	// consistent one: what fn wrote is undone, what came before stays.
	evs := b.batch(1)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		if err := l.AppendEvents(ctx, evs); err != nil {
			return err
		}
		func() {
			defer func() {
				if r := recover(); r != (boom{}) {
					t.Errorf("recovered %v, want the panic from fn", r)
				}
			}()
			l.Savepoint(ctx, func() error {
				if err := l.AppendEvents(ctx, b.clone().batch(1)); err != nil {
					return err
				}
				panic(boom{})
			})
		}()
		wantLogSize(t, ctx, l, "after a panic recovered inside the transaction", 1)
		return nil
	})

	// The store is usable: savepoints from the panicking transactions are
	// not left open.
	more := b.batch(1)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		return l.Savepoint(ctx, func() error { return l.AppendEvents(ctx, more) })
	})
	evs = append(evs, more...)
	err := tryLogUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error {
		if err := l.AppendEvents(ctx, b.clone().batch(1)); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Errorf("Update = %v, want fn's error", err)
	}
	logDiff(t, "Events after the panics", evs, allEvents(t, s))
}

func testSavepointInView(t *testing.T, s confidant.SealedStore) {
	evs := newLogBuilder().batch(2)
	logUpdate(t, s, func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) })
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		l := logTx(t, tx)
		err := l.Savepoint(ctx, func() error {
			wantLogSize(t, ctx, l, "inside a savepoint in View", 2)
			return errSavepoint
		})
		if !errors.Is(err, errSavepoint) {
			t.Errorf("Savepoint in View = %v, want fn's error", err)
		}
		return l.Savepoint(ctx, func() error {
			_, err := l.Events(ctx, 0, 10)
			return err
		})
	})
	if err != nil {
		t.Errorf("View: %v", err)
	}
}

func testLogViewIsReadOnly(t *testing.T, s confidant.SealedStore) {
	evs := newLogBuilder().batch(1)
	ops := []struct {
		name string
		op   func(ctx context.Context, l confidant.LogTx) error
	}{
		{"AppendEvents", func(ctx context.Context, l confidant.LogTx) error { return l.AppendEvents(ctx, evs) }},
		{"PutTile", func(ctx context.Context, l confidant.LogTx) error { return l.PutTile(ctx, 0, 0, 1, randomBytes(32)) }},
		{"PutEntryBundle", func(ctx context.Context, l confidant.LogTx) error {
			return l.PutEntryBundle(ctx, 0, 1, randomBytes(34))
		}},
		{"PutCheckpoint", func(ctx context.Context, l confidant.LogTx) error {
			return l.PutCheckpoint(ctx, confidant.LogCheckpoint{Size: 0, Root: randomBytes(32), Note: []byte("n"), CreatedAt: base})
		}},
	}
	for _, tc := range ops {
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tc.op(ctx, logTx(t, tx)) })
		if err == nil {
			t.Errorf("%s in View succeeded", tc.name)
		}
	}
	if n := logSize(t, s); n != 0 {
		t.Errorf("LogSize after writes in View = %d, want 0", n)
	}
}
