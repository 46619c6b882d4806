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
package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
	keyUse   chan confidant.AuditEvent
	stop     chan struct{}
	finished chan struct{} // closed when the sequencer has stopped
	wg       sync.WaitGroup

	signMu   sync.Mutex // serialises Checkpoint: concurrent signers would store out of order
	mu       sync.Mutex // guards app, the published state and the signer
	app      *auditlog.Appender
	size     uint64
	root     [32]byte
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
	err    error
	done   chan struct{}
}

// Open starts the log over backend: it creates the audit keyset on first use,
// loads the tree state from the stored tiles and starts the sequencer.
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
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	if err := l.loadSigner(ctx, cfg.Origin); err != nil {
		return nil, err
	}
	l.keyUse = make(chan confidant.AuditEvent, keyUses)
	l.wg.Add(2)
	go l.run()
	go l.recordKeyUse()
	return l, nil
}

// load reads the tree state from the database.
func (l *Log) load(ctx context.Context) error {
	return l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		size, err := ltx.LogSize(ctx)
		if err != nil {
			return err
		}
		st, err := auditlog.LoadState(ctx, tiles{ctx, ltx}, size)
		if err != nil {
			return fmt.Errorf("loading the access log's tree: %w", err)
		}
		l.mu.Lock()
		l.app = auditlog.NewAppender(st)
		l.size, l.root = st.Size(), st.Root()
		l.mu.Unlock()
		return nil
	})
}

// Size and root of the committed tree.
func (l *Log) Head() (uint64, [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size, l.root
}

// Close stops the sequencer; requests still queued are refused. It does not
// close the backend, which the caller opened and closes.
func (l *Log) Close() error {
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

// Update runs fn in a read-write transaction shared with other requests;
// events recorded through the transaction's Audit method are committed with
// its writes. If fn fails, its writes and events are undone and fn's error
// is returned; if the batch cannot commit, every request in it fails.
func (l *Log) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return l.submit(&request{ctx: ctx, fn: fn})
}

// View runs fn in a read-only transaction of the backend.
func (l *Log) View(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return l.backend.View(ctx, fn)
}

// run is the sequencer: it takes whatever requests are waiting (at most
// MaxBatch) and commits them in one transaction.
func (l *Log) run() {
	defer l.wg.Done()
	defer close(l.finished)
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.stop:
			// Answer what is still queued, then stop.
			for {
				select {
				case r := <-l.reqs:
					r.err = errClosed
					close(r.done)
				default:
					return
				}
			}
		}
		batch := []*request{first}
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

// commit runs one batch in one transaction.
func (l *Log) commit(batch []*request) {
	ctx := context.Background()
	l.mu.Lock()
	before := l.app.State()
	l.mu.Unlock()
	var size uint64
	var root [32]byte
	err := l.backend.Update(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
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
		if len(pending) == 0 {
			l.mu.Lock()
			size, root = l.size, l.root
			l.mu.Unlock()
			return nil
		}
		size, root, err = l.append(ctx, ltx, pending)
		return err
	})
	if err != nil {
		l.mu.Lock()
		l.app.Reset(before)
		l.mu.Unlock()
		l.log.Error("access log batch failed; every request in it was refused", slog.Int("requests", len(batch)), slog.String("err", err.Error()))
		for _, r := range batch {
			if r.err == nil {
				r.err = errLog(err)
			}
			close(r.done)
		}
		return
	}
	l.mu.Lock()
	l.size, l.root = size, root
	l.mu.Unlock()
	for _, r := range batch {
		close(r.done)
	}
}

type pendingEvent struct {
	ev confidant.AuditEvent
	r  *request
}

// append stores the batch's events and extends the tree, inside the
// transaction.
func (l *Log) append(ctx context.Context, ltx confidant.LogTx, pending []pendingEvent) (uint64, [32]byte, error) {
	start, err := ltx.LogSize(ctx)
	if err != nil {
		return 0, [32]byte{}, err
	}
	var ids []string
	for _, p := range pending {
		if p.ev.PatientID != "" {
			ids = append(ids, p.ev.PatientID)
		}
	}
	heads, err := ltx.PatientHeads(ctx, ids)
	if err != nil {
		return 0, [32]byte{}, err
	}
	stored := make([]confidant.StoredEvent, len(pending))
	leaves := make([][32]byte, len(pending))
	for i, p := range pending {
		e := auditlog.Event{
			Index: start + uint64(i), Time: p.ev.Time.UTC().Truncate(time.Microsecond), ActorID: p.ev.ActorID,
			Role: string(p.ev.Role), ClinicID: p.ev.ClinicID, Action: p.ev.Action, PatientID: p.ev.PatientID,
			RecordID: p.ev.RecordID, Purpose: p.ev.Purpose, Outcome: p.ev.Outcome, SessionID: p.ev.SessionID,
			Client: p.ev.Client, PatientPrev: -1,
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
			return 0, [32]byte{}, err
		}
		nonce, err := auditlog.NewNonce(rand.Reader)
		if err != nil {
			return 0, [32]byte{}, err
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
		return 0, [32]byte{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.app.Append(ctx, tiles{ctx, ltx}, leaves)
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

// logTx returns the log part of a store transaction.
func logTx(tx confidant.SealedTx) (confidant.LogTx, error) {
	ltx, ok := tx.(confidant.LogTx)
	if !ok {
		return nil, confidant.ErrNoAccessLog
	}
	return ltx, nil
}

// tiles adapts a LogTx to the tree's storage interface.
type tiles struct {
	ctx context.Context
	tx  confidant.LogTx
}

func (t tiles) ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	b, err := t.tx.Tile(ctx, level, index, width)
	if confidant.IsKind(err, confidant.KindNotFound) {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", level, index, width, auditlog.ErrNotFound)
	}
	return b, err
}

func (t tiles) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	return t.tx.PutTile(ctx, level, index, width, data)
}

func (t tiles) ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	b, err := t.tx.EntryBundle(ctx, index, width)
	if confidant.IsKind(err, confidant.KindNotFound) {
		return nil, fmt.Errorf("entry bundle %d/%d: %w", index, width, auditlog.ErrNotFound)
	}
	return b, err
}

func (t tiles) WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	return t.tx.PutEntryBundle(ctx, index, width, data)
}
