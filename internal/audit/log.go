// Package audit is Confidant's access log at work: the single sequencer
// that appends events to the Merkle tree with group commit, the wrapper that
// makes every write transaction carry its events, the checkpointer, and the
// queries the service needs. The log's format, tree, proofs and verification
// are in internal/auditlog.
//
// Log wraps a confidant.SealedStore and is one itself: Update runs the
// caller's function inside a transaction that the sequencer shares with other
// requests (each in its own savepoint), appends the events they recorded,
// updates the tree and commits once. A write and its events therefore commit
// together or not at all, and a read's event (Record) is committed before
// Record returns. If the log cannot be written, every request of the batch
// fails: no audit, no answer.
//
// Storage is the single source of truth. Any number of writers append to
// one log: this process's sequencer, operator commands run beside a
// server, and several servers on one PostgreSQL database. Each batch locks
// the log's head in its own transaction (LogTx.LockLog) and reads the
// log's size there; the tree held in memory is only a cache of the stored
// tiles at one size, used when the stored size is still that size and
// reloaded from the tiles otherwise, and dropped after every failed batch
// (whose commit may or may not have happened). Checkpoints are signed over
// a root recomputed from the stored leaves as an extension of the last
// signed checkpoint, never over the cache.
package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/mod/sumdb/note"
)

// Keys is what the log needs of internal/keys: the audit keyset, wrapped by
// the KEK like a patient's.
type Keys interface {
	NewPatientKey(owner string) (confidant.WrappedKey, tink.AEAD, error)
	PatientAEAD(wk confidant.WrappedKey) (tink.AEAD, error)
}

// KeyName is the system key holding the audit keyset (wrapped by the KEK
// with associated data "patient-key/v1|~audit"; "~" cannot start a patient
// id).
const KeyName = "~audit"

// Config configures a Log.
type Config struct {
	Origin   string       // the log's name in its checkpoints; default "confidant/access-log"
	MaxBatch int          // requests per transaction; default 64 (PostgreSQL caches 64 subtransactions per transaction)
	Logger   *slog.Logger // default slog.Default()
}

// Log is the access log's sequencer over a SealedStore.
type Log struct {
	backend confidant.SealedStore
	aead    tink.AEAD
	log     *slog.Logger
	max     int

	reqs     chan *request
	stop     chan struct{}
	finished chan struct{} // closed when the sequencer has stopped
	wg       sync.WaitGroup

	// keyUse queues key-use events (KeyUse) for the sequencer; keyMu and
	// closed keep KeyUse from queueing after the sequencer's last look.
	keyUse chan confidant.AuditEvent
	keyMu  sync.RWMutex
	closed bool
	// keyPending holds key-use events taken from keyUse and not yet
	// committed (the sequencer's own: no lock).
	keyPending []confidant.AuditEvent

	nStaged, nRestaged, nUnstaged, nRefused, nInline atomic.Int64

	signMu sync.Mutex // serialises Checkpoint: concurrent signers would store out of order
	mu     sync.Mutex // guards st and the signer
	// st is the tree as this process last committed or loaded it: a cache
	// of the stored tiles, used only while the stored log has its size, nil
	// when it must be loaded from storage before the next append.
	st       *auditlog.State
	origin   string
	signer   auditlog.Signer
	vkey     string
	verifier note.Verifier
}

// request is one caller's work for the next batch.
type request struct {
	ctx    context.Context
	fn     func(confidant.SealedTx) error // nil for a pure Record
	events []confidant.AuditEvent
	// stage is fn's work as run in a snapshot, to be re-checked and
	// replayed (nil: fn runs inside the batch); failed is the error fn
	// returned there, the request's answer once the batch commits.
	stage  *staged
	failed error
	err    error
	done   chan struct{}
}

// Stats counts how the requests' functions ran (see Update).
type Stats struct {
	Staged   int64 // run in a snapshot, re-checked and replayed in the batch
	Restaged int64 // run in a snapshot, found stale in the batch, run again inside it
	Unstaged int64 // Rerunnable but could not be staged (a read after a write, say): run inside the batch
	Refused  int64 // failed in the snapshot: answered without writing
	Inline   int64 // not Rerunnable: run inside the batch only
}

// Stats returns the counts since Open.
func (l *Log) Stats() Stats {
	return Stats{Staged: l.nStaged.Load(), Restaged: l.nRestaged.Load(), Unstaged: l.nUnstaged.Load(),
		Refused: l.nRefused.Load(), Inline: l.nInline.Load()}
}

// Open starts the log over backend: it creates the audit keyset and the
// checkpoint key on first use and starts the sequencer. It reads no tile:
// the tree is loaded from storage by the first append (so that `audit
// verify` can examine a log whose tiles are damaged); call Checkpoint to
// check the stored tree against the last signed checkpoint before serving.
func Open(ctx context.Context, backend confidant.SealedStore, k Keys, cfg Config) (*Log, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Origin == "" {
		cfg.Origin = "confidant/access-log"
	}
	l := &Log{backend: backend, log: cfg.Logger, max: cfg.MaxBatch, reqs: make(chan *request, 4*cfg.MaxBatch),
		stop: make(chan struct{}), finished: make(chan struct{})}
	var wk confidant.WrappedKey
	err := backend.Update(ctx, func(tx confidant.SealedTx) error {
		var err error
		wk, err = tx.SystemKey(ctx, KeyName)
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if wk, _, err = k.NewPatientKey(KeyName); err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, wk)
	})
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if l.aead, err = k.PatientAEAD(wk); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := l.loadSigner(ctx, cfg.Origin); err != nil {
		return nil, err
	}
	l.keyUse = make(chan confidant.AuditEvent, keyUses)
	l.wg.Add(1)
	go l.run()
	return l, nil
}

// Head returns the size and root of the stored tree, read from storage
// (the root from the stored tiles, which Verify and Checkpoint check).
func (l *Log) Head(ctx context.Context) (uint64, [32]byte, error) {
	var st *auditlog.State
	err := l.viewLog(ctx, func(ltx confidant.LogTx) (err error) {
		st, err = storedTree(ctx, ltx)
		return err
	})
	if err != nil {
		return 0, [32]byte{}, err
	}
	return st.Size(), st.Root(), nil
}

// viewLog runs fn with the log part of a read-only transaction.
func (l *Log) viewLog(ctx context.Context, fn func(confidant.LogTx) error) error {
	return l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		return fn(ltx)
	})
}

// storedTree loads the stored tree at the log's stored size from its
// tiles; a damaged tree is a *auditlog.Fault (treeFault).
func storedTree(ctx context.Context, ltx confidant.LogTx) (*auditlog.State, error) {
	size, err := ltx.LogSize(ctx)
	if err != nil {
		return nil, err
	}
	st, err := auditlog.LoadState(ctx, tiles{ctx, ltx}, size)
	if err != nil {
		return nil, treeFault(err, 0)
	}
	return st, nil
}

// Close stops the sequencer: requests still queued are refused, key-use
// events already queued are committed first (or their loss logged). It does
// not close the backend, which the caller opened and closes.
func (l *Log) Close() error {
	l.keyMu.Lock()
	l.closed = true
	l.keyMu.Unlock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	return nil
}

// errClosed answers requests after Close.
var errClosed = confidant.Errorf(confidant.KindUnavailable, "audit_unavailable", "The access log is shutting down. Try again shortly.")

// submit queues r and waits for its batch to commit.
func (l *Log) submit(r *request) error {
	r.done = make(chan struct{})
	select {
	case l.reqs <- r:
	case <-l.stop:
		return errClosed
	case <-r.ctx.Done():
		return confidant.Wrap(r.ctx.Err(), confidant.KindUnavailable, "canceled", "The request was canceled.")
	}
	// The sequencer answers every request it takes, even after the caller
	// gave up; a request queued just as it stopped is answered here.
	select {
	case <-r.done:
		return r.err
	case <-l.finished:
		select {
		case <-r.done:
			return r.err
		default:
			return errClosed
		}
	}
}

// Record appends events (reads, sign-ins, refusals) to the log and returns
// once they are committed. An error means they are not in the log, and the
// caller must not return the data it was about to.
func (l *Log) Record(ctx context.Context, evs ...confidant.AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		evs[i] = clean(evs[i])
	}
	return l.submit(&request{ctx: ctx, events: evs})
}

// maxFree bounds the free-text fields of an event, in bytes.
const maxFree = 2048

// clean makes an event encodable whatever a request put in it: valid UTF-8
// and bounded lengths, so that one request's odd input can never make a
// whole batch (other people's requests) fail.
func clean(ev confidant.AuditEvent) confidant.AuditEvent {
	fix := func(s string, max int) string {
		s = strings.ToValidUTF8(s, "\uFFFD")
		if len(s) > max {
			s = s[:max]
			for !utf8.ValidString(s) {
				s = s[:len(s)-1]
			}
		}
		return s
	}
	ev.ActorID, ev.ClinicID = fix(ev.ActorID, 64), fix(ev.ClinicID, 64)
	ev.Action, ev.PatientID, ev.RecordID = fix(ev.Action, 64), fix(ev.PatientID, 64), fix(ev.RecordID, 64)
	ev.Outcome, ev.SessionID = fix(ev.Outcome, 16), fix(ev.SessionID, 64)
	ev.Role = confidant.Role(fix(string(ev.Role), 32))
	ev.Purpose, ev.Client = fix(ev.Purpose, maxFree), fix(ev.Client, 256)
	return ev
}

// Update runs fn as if in a read-write transaction shared with other
// requests; events recorded through the transaction's Audit method are
// committed with its writes. If fn fails, its writes and events are undone
// and fn's error is returned; if the batch cannot commit, every request in
// it fails.
//
// If ctx is marked confidant.Rerunnable, fn runs first outside the
// sequencer, in a read-only snapshot, and its writes are replayed in the
// batch only if everything it read is unchanged there; otherwise, or if it
// cannot be staged, it runs again inside the batch (see stage.go). Without
// the mark fn runs inside the batch, as any function must whose second run
// would not be harmless (a bulk load that appends what it wrote to a list,
// say). Either way Update returns only after the batch has committed, also
// when fn fails, so that the key-use events of the keys fn unwrapped are in
// the log before the caller hears anything.
func (l *Log) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	r := &request{ctx: ctx, fn: fn}
	if !confidant.IsRerunnable(ctx) {
		l.nInline.Add(1)
		return l.submit(r)
	}
	var st *stageTx
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		st = &stageTx{view: tx}
		return safely(fn, st)
	})
	switch {
	case st == nil:
		return err // the snapshot could not begin
	case st.unstage:
		l.nUnstaged.Add(1)
	case err != nil:
		l.nRefused.Add(1)
		r.stage, r.failed = &st.s, err
	default:
		r.stage = &st.s
	}
	return l.submit(r)
}

// View runs fn in a read-only transaction of the backend.
func (l *Log) View(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return l.backend.View(ctx, fn)
}

// run is the sequencer: it takes whatever requests are waiting (at most
// MaxBatch) and commits them, with the key-use events queued, in one
// transaction.
func (l *Log) run() {
	defer l.wg.Done()
	defer close(l.finished)
	for {
		var batch []*request
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case ev := <-l.keyUse:
			l.keyPending = append(l.keyPending, ev)
		case <-l.stop:
			l.shutdown()
			return
		}
	fill:
		for len(batch) < l.max {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

// errLog is what every request of a batch gets when the log cannot be
// written.
func errLog(cause error) error {
	return confidant.Wrap(cause, confidant.KindUnavailable, "audit_unavailable",
		"The access log could not be written, so nothing was read or changed. Try again shortly.")
}

// shutdown answers the requests still queued, commits the key-use events
// (Close has stopped KeyUse from queueing more) and logs any it could not.
func (l *Log) shutdown() {
	for {
		select {
		case r := <-l.reqs:
			r.err = errClosed
			close(r.done)
			continue
		default:
		}
		break
	}
	l.takeKeyUse()
	if len(l.keyPending) > 0 {
		l.commit(nil)
	}
	if n := len(l.keyPending); n > 0 {
		l.log.Error("key-use events lost at shutdown: the access log could not be written", slog.Int("events", n))
	}
}

// commit runs one batch, with the key-use events pending, in one
// transaction.
func (l *Log) commit(batch []*request) {
	ctx := context.Background()
	l.mu.Lock()
	st := l.st
	l.mu.Unlock()
	var next *auditlog.State
	sent := false // the batch's work is done; only the commit remains
	nKeys := 0    // key-use events in this batch
	err := l.backend.Update(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		// The lock first: a staged request's re-check must see every write
		// committed before its own, from any process.
		size, err := ltx.LockLog(ctx)
		if err != nil {
			return err
		}
		var pending []pendingEvent
		for _, r := range batch {
			r.err = nil
			if err := r.ctx.Err(); err != nil {
				r.err = confidant.Wrap(err, confidant.KindUnavailable, "canceled", "The request was canceled.")
				continue
			}
			if r.fn == nil {
				for _, ev := range r.events {
					pending = append(pending, pendingEvent{ev, r})
				}
				continue
			}
			if r.failed != nil {
				r.err = r.failed
				continue
			}
			if r.stage != nil {
				var evs []confidant.AuditEvent
				err := ltx.Savepoint(ctx, func() error {
					var err error
					evs, err = r.stage.apply(tx)
					return err
				})
				if err == nil {
					l.nStaged.Add(1)
					for _, ev := range evs {
						pending = append(pending, pendingEvent{ev, r})
					}
					continue
				}
				if !errors.Is(err, errStale) {
					r.err = err
					continue
				}
				// Something it read has changed since its snapshot: it runs
				// again, on the state its writes will meet.
				l.nRestaged.Add(1)
			}
			rt := &recTx{SealedTx: tx}
			err := ltx.Savepoint(ctx, func() error { return safely(r.fn, rt) })
			if err != nil {
				r.err = err
				continue
			}
			for _, ev := range rt.events {
				pending = append(pending, pendingEvent{ev, r})
			}
		}
		// Keys unwrapped before this batch, or by its requests, come first:
		// a read's key-use event commits no later than the read's own.
		l.takeKeyUse()
		if nKeys = min(len(l.keyPending), keyUses); nKeys > 0 {
			keys := make([]pendingEvent, 0, nKeys+len(pending))
			for _, ev := range l.keyPending[:nKeys] {
				keys = append(keys, pendingEvent{ev: ev})
			}
			pending = append(keys, pending...)
		}
		if len(pending) == 0 {
			sent = true
			return nil
		}
		if st == nil || st.Size() != size {
			if st != nil {
				l.log.Info("the access log grew in another process; loading its tree from storage",
					slog.Uint64("cached_size", st.Size()), slog.Uint64("stored_size", size))
			}
			if st, err = auditlog.LoadState(ctx, tiles{ctx, ltx}, size); err != nil {
				if !auditlog.IsDamage(err) {
					return err
				}
				return confidant.Wrap(err, confidant.KindUnavailable, "audit_tree",
					"The access log's stored tree is damaged, so nothing can be recorded (run `confidant audit verify`).")
			}
		}
		if next, err = l.append(ctx, ltx, st, size, pending); err != nil {
			return err
		}
		sent = true
		return nil
	})
	if err != nil {
		// Whatever happened, this process no longer knows the stored tree.
		l.mu.Lock()
		l.st = nil
		l.mu.Unlock()
		unknown := sent && confidant.CodeOf(err) == confidant.CodeOutcomeUnknown
		if unknown {
			// The key-use events stay pending: recording one twice is
			// better than losing it.
			l.log.Error("access log batch: commit sent but its outcome is unknown; the tree will be reloaded from storage",
				slog.Int("requests", len(batch)), slog.String("err", err.Error()))
		} else {
			l.log.Error("access log batch failed; every request in it was refused",
				slog.Int("requests", len(batch)), slog.String("err", err.Error()))
		}
		for _, r := range batch {
			if r.err == nil {
				if unknown {
					// Its writes and events may be stored: say so.
					r.err = confidant.ErrOutcomeUnknown(err)
				} else {
					r.err = errLog(err)
				}
			}
			close(r.done)
		}
		return
	}
	l.keyPending = l.keyPending[nKeys:]
	if next != nil {
		l.mu.Lock()
		l.st = next
		l.mu.Unlock()
	}
	for _, r := range batch {
		close(r.done)
	}
}

type pendingEvent struct {
	ev confidant.AuditEvent
	r  *request // nil for a key-use event
}

// append stores the batch's events at start (the log's size, read under
// LockLog) and extends st, the tree of that size, inside the transaction.
// It returns the new tree.
func (l *Log) append(ctx context.Context, ltx confidant.LogTx, st *auditlog.State, start uint64, pending []pendingEvent) (*auditlog.State, error) {
	var ids []string
	for _, p := range pending {
		if p.ev.PatientID != "" {
			ids = append(ids, p.ev.PatientID)
		}
	}
	heads, err := ltx.PatientHeads(ctx, ids)
	if err != nil {
		return nil, err
	}
	stored := make([]confidant.StoredEvent, len(pending))
	leaves := make([][32]byte, len(pending))
	for i, p := range pending {
		e := auditlog.Event{
			Index: start + uint64(i), Time: p.ev.Time.UTC().Truncate(time.Microsecond), ActorID: p.ev.ActorID,
			Role: string(p.ev.Role), ClinicID: p.ev.ClinicID, Action: p.ev.Action, PatientID: p.ev.PatientID,
			RecordID: p.ev.RecordID, Purpose: p.ev.Purpose, Outcome: p.ev.Outcome, SessionID: p.ev.SessionID,
			Client: p.ev.Client, PatientPrev: -1,
			RecordVersion: uint64(max(p.ev.RecordVersion, 0)), RecordDigest: p.ev.RecordDigest,
		}
		if e.Time.IsZero() {
			e.Time = time.Now().UTC().Truncate(time.Microsecond)
		}
		if e.PatientID != "" {
			h, ok := heads[e.PatientID]
			if !ok {
				h = confidant.ChainHead{Seq: 0, Index: -1}
			}
			e.PatientSeq, e.PatientPrev = h.Seq+1, h.Index
			heads[e.PatientID] = confidant.ChainHead{Seq: e.PatientSeq, Index: int64(e.Index)}
		}
		canon, sealed, err := l.encode(e)
		if err != nil {
			return nil, err
		}
		nonce, err := auditlog.NewNonce(rand.Reader)
		if err != nil {
			return nil, err
		}
		leaves[i] = auditlog.LeafHash(nonce, canon)
		stored[i] = confidant.StoredEvent{
			Index: e.Index, Time: e.Time, ActorID: e.ActorID, Role: p.ev.Role, ClinicID: e.ClinicID,
			Action: e.Action, PatientID: e.PatientID, RecordID: e.RecordID, Outcome: e.Outcome,
			SessionID: e.SessionID, PatientSeq: e.PatientSeq, PatientPrev: e.PatientPrev,
			Nonce: nonce[:], Sealed: sealed, Leaf: leaves[i][:],
		}
	}
	if err := ltx.AppendEvents(ctx, stored); err != nil {
		return nil, err
	}
	a := auditlog.NewAppender(st)
	if _, _, err := a.Append(ctx, tiles{ctx, ltx}, leaves); err != nil {
		return nil, err
	}
	return a.State(), nil
}

// safely runs fn, turning a panic into an error so that one request cannot
// take the sequencer down. The stack is logged by the caller's logger only
// as a fixed message: panic values may hold data.
func safely(fn func(confidant.SealedTx) error, tx confidant.SealedTx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = confidant.Errorf(confidant.KindInternal, "internal", "The request failed.")
		}
	}()
	return fn(tx)
}

// recTx is the transaction a request's function sees: the batch's
// transaction plus Audit, which collects events for this request.
type recTx struct {
	confidant.SealedTx
	events []confidant.AuditEvent
}

// Audit records an event to be committed with this request's writes.
func (t *recTx) Audit(ev confidant.AuditEvent) error {
	t.events = append(t.events, clean(ev))
	return nil
}

// entrySize is the size of one framed entry of an entry bundle: a 2-byte
// length and the 32-byte commitment.
const entrySize = 2 + auditlog.HashSize

// logTx returns the log part of a store transaction.
func logTx(tx confidant.SealedTx) (confidant.LogTx, error) {
	ltx, ok := tx.(confidant.LogTx)
	if !ok {
		return nil, confidant.ErrNoAccessLog
	}
	return ltx, nil
}

// tiles adapts a LogTx to the tree's storage interface.
//
// The partial level-0 tile and the partial entry bundle, which change with
// every append, are not stored: they are derived, when read, from the leaf
// commitments stored with the events (the level-0 tile's hashes are their
// RFC 6962 leaf hashes, the bundle frames them). Every other tile, full or
// partial, changes at most once per 256 appends and is stored. Logs written
// before this kept their partial widths, which are still read as stored.
type tiles struct {
	ctx context.Context
	tx  confidant.LogTx
}

// ReadTile reads a hash tile: as stored; else, for a partial one, as the
// prefix of the full tile (a store may drop the partial widths once it is
// written: a tile of a smaller tree is a prefix of the same tile of a
// larger tree), or derived from the events at level 0.
func (t tiles) ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	b, err := t.tx.Tile(ctx, level, index, width)
	if confidant.IsKind(err, confidant.KindNotFound) && width < auditlog.TileWidth {
		if full, ferr := t.tx.Tile(ctx, level, index, auditlog.TileWidth); ferr == nil && len(full) >= width*auditlog.HashSize {
			return full[:width*auditlog.HashSize], nil
		}
		if level == 0 {
			return t.derive(ctx, index, width, func(b []byte, c [32]byte) []byte {
				h := auditlog.MerkleLeafHash(c)
				return append(b, h[:]...)
			})
		}
	}
	if confidant.IsKind(err, confidant.KindNotFound) {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", level, index, width, auditlog.ErrNotFound)
	}
	return b, err
}

// WriteTile stores a hash tile, except a partial one at level 0 (derived
// when read).
func (t tiles) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	if level == 0 && width < auditlog.TileWidth {
		return nil
	}
	return t.tx.PutTile(ctx, level, index, width, data)
}

// ReadEntryBundle reads an entry bundle: as stored; else, for a partial
// one, as the prefix of the full one, or derived from the events.
func (t tiles) ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	b, err := t.tx.EntryBundle(ctx, index, width)
	if confidant.IsKind(err, confidant.KindNotFound) && width < auditlog.TileWidth {
		if full, ferr := t.tx.EntryBundle(ctx, index, auditlog.TileWidth); ferr == nil && len(full) >= width*entrySize {
			return full[:width*entrySize], nil
		}
		return t.derive(ctx, index, width, func(b []byte, c [32]byte) []byte {
			b = append(b, 0, auditlog.HashSize)
			return append(b, c[:]...)
		})
	}
	if confidant.IsKind(err, confidant.KindNotFound) {
		return nil, fmt.Errorf("entry bundle %d/%d: %w", index, width, auditlog.ErrNotFound)
	}
	return b, err
}

// WriteEntryBundle stores an entry bundle, except a partial one (derived
// when read).
func (t tiles) WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	if width < auditlog.TileWidth {
		return nil
	}
	return t.tx.PutEntryBundle(ctx, index, width, data)
}

// derive builds the partial level-0 tile or entry bundle index of the given
// width from the leaf commitments stored with events index*256 to
// index*256+width-1, each added by add. If any of them is missing (the log
// is shorter, or has a gap) or malformed, it fails with the
// *auditlog.Fault naming that event: the events are at fault, not a tile.
func (t tiles) derive(ctx context.Context, index uint64, width int, add func([]byte, [32]byte) []byte) ([]byte, error) {
	first := index * auditlog.TileWidth
	out := make([]byte, 0, width*entrySize)
	err := scanLeaves(ctx, t.tx, first, first+uint64(width), func(_ uint64, leaf [32]byte) error {
		out = add(out, leaf)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tile 0/%d/%d from the events: %w", index, width, err)
	}
	return out, nil
}
