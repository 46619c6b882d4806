package audit

import (
	"context"
	"fmt"
	"iter"
	"math"
	"runtime"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// Verify recomputes the whole log from the stored events (decrypting their
// sealed free text to rebuild each canonical event) and checks it against
// the stored tiles, the latest stored checkpoint and the external
// checkpoints given (held by witnesses, the board, the regulator). It
// returns a *auditlog.Fault naming the first bad index, or nil.
func (l *Log) Verify(ctx context.Context, external []auditlog.Checkpoint, progress func(done, total uint64)) error {
	_, err := l.verify(ctx, external, false, progress)
	return err
}

// verify is Verify, returning also the size of the log it checked; with
// noTiles it reads no tile or entry bundle (each is reported missing), so
// that it checks the events alone and reports a tile fault only if they
// are intact.
func (l *Log) verify(ctx context.Context, external []auditlog.Checkpoint, noTiles bool, progress func(done, total uint64)) (size uint64, err error) {
	err = l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		if size, err = ltx.LogSize(ctx); err != nil { // the size auditlog.Verify reads in this snapshot
			return err
		}
		cps := append([]auditlog.Checkpoint(nil), external...)
		for i := range cps {
			cps[i].External = true
		}
		latest, err := ltx.LatestCheckpoint(ctx)
		switch {
		case err == nil:
			cp, err := l.parse(latest.Note)
			if err != nil {
				return &auditlog.Fault{Index: latest.Size, Kind: "checkpoint", Detail: "the stored checkpoint does not verify: " + err.Error()}
			}
			cps = append(cps, cp)
		case !confidant.IsKind(err, confidant.KindNotFound):
			return err
		}
		src := newSource(ctx, l, ltx)
		src.noTiles = noTiles
		src.view = func(ctx context.Context, fn func(confidant.LogTx) error) error {
			return l.backend.View(ctx, func(tx confidant.SealedTx) error {
				ltx, err := logTx(tx)
				if err != nil {
					return err
				}
				return fn(ltx)
			})
		}
		return auditlog.Verify(ctx, src, cps, progress)
	})
	return size, err
}

// source is the stored log as auditlog.Verify reads it. Its Events reads
// ahead on a goroutine of its own while Verify reads tiles, so every use of
// the transaction holds mu: a transaction is one connection, which runs one
// statement at a time (PostgreSQL's strictly so).
type source struct {
	l     *Log
	tx    confidant.LogTx
	ctx   context.Context
	mu    *sync.Mutex
	ahead *tilesAhead
	// view, if not nil, runs fn in a second read transaction, in which
	// Events reads pages of events alongside tx (see Events).
	view func(ctx context.Context, fn func(confidant.LogTx) error) error
	// noTiles hides every tile and entry bundle (RebuildTiles).
	noTiles bool
}

// errHidden is what a source with noTiles answers for every tile.
var errHidden = fmt.Errorf("not read (the check of the events alone): %w", auditlog.ErrNotFound)

// tilesAhead holds the level-0 hash tiles and entry bundles that the
// reader read with each page of events, until Verify asks for them: else
// Verify would wait for the transaction, behind the reader, every 256
// events. Each is the same read of the same transaction that Verify would
// make; one not read ahead (a read failed, or another width is asked for)
// is read when asked for.
type tilesAhead struct {
	mu      sync.Mutex
	tiles   map[tileKey][]byte
	bundles map[tileKey][]byte
}

type tileKey struct {
	index uint64
	width int
}

// take returns and forgets a tile or bundle read ahead. Verify asks for
// them in order, so it also forgets those of lower indexes, which Verify
// did not ask for (it asked for another width, or none).
func (t *tilesAhead) take(m map[tileKey][]byte, k tileKey) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := m[k]
	delete(m, k)
	for o := range m {
		if o.index < k.index {
			delete(m, o)
		}
	}
	return b, ok
}

func (t *tilesAhead) put(m map[tileKey][]byte, k tileKey, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m[k] = b
}

func newSource(ctx context.Context, l *Log, tx confidant.LogTx) source {
	return source{l: l, tx: tx, ctx: ctx, mu: new(sync.Mutex),
		ahead: &tilesAhead{tiles: make(map[tileKey][]byte), bundles: make(map[tileKey][]byte)}}
}

func (s source) tiles() tiles { return tiles{s.ctx, s.tx} }

func (s source) TreeSize(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx.LogSize(ctx)
}

func (s source) ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	if s.noTiles {
		return nil, errHidden
	}
	if level == 0 {
		if b, ok := s.ahead.take(s.ahead.tiles, tileKey{index, width}); ok {
			return b, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tiles().ReadTile(ctx, level, index, width)
}

func (s source) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tiles().WriteTile(ctx, level, index, width, data)
}

func (s source) ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if s.noTiles {
		return nil, errHidden
	}
	if b, ok := s.ahead.take(s.ahead.bundles, tileKey{index, width}); ok {
		return b, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tiles().ReadEntryBundle(ctx, index, width)
}

func (s source) WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tiles().WriteEntryBundle(ctx, index, width, data)
}

// Reading events for Verify is a pipeline: readers read pages of rows
// (LogTx.ScanEvents), copying each into the page; decoders decrypt the
// rows' sealed free text and rebuild their canonical encodings, a page at a
// time, in parallel; Events yields the pages in order. At most pagesAhead
// pages exist, so the readers stay that far ahead at most.
//
// Page k holds the rows from index k*pageRows on, at most pageRows of them
// (more than the page's own indexes only where indexes are missing). The
// readers take the pages in turn, each the next page not taken, so that
// they read concurrently: one in the transaction of Verify, and one in a
// second read transaction (source.view) if one can be had. Both run
// statements on connections of their own; reading rows is most of the work
// of Verify (SQLite's rows especially), and so it is shared.
//
// Reading part of the events in a second snapshot is sound. The log is
// append-only, and Verify checks the indexes below the tree size N read in
// the first transaction: the second is begun after the first has fixed N,
// so it must hold at least the first N events, and the second reader reads
// only pages wholly below N (the pages from N on, where an event beyond the
// stored tree would be, are read in the first transaction). Each index is
// yielded once, from one snapshot or the other, and every event yielded is
// recomputed and checked against the tiles and the signed checkpoints
// (read in the first transaction) exactly as if it came from the first: an
// event changed between the two snapshots is checked as it is in the one
// it was read from, and a change that does not match is reported at its
// index. If the second snapshot holds fewer events (they were deleted, or
// the database was rolled back, while Verify ran), its pages are short, and
// Verify reports the first missing index: a fault, never ignored. Level-0
// tiles and entry bundles read ahead in the second transaction are only
// full ones (of indexes below N), which never change once written; any
// stored tile is checked against the recomputed tree in any case.
const (
	pageRows   = 1024 // rows read with one statement, holding the transaction
	pagesAhead = 8
)

// Fields of a row held as bytes in a page, in the order of
// confidant.EventRow (the text fields adjacent, for decode).
const (
	fActor = iota
	fRole
	fClinic
	fAction
	fPatient
	fRecord
	fOutcome
	fSession
	fNonce
	fSealed
	fLeaf
	numFields
)

// pageRow is one stored row in a page: its numbers, and where its byte
// fields are in the page's arena (field i is arena[off[i]:off[i+1]]).
type pageRow struct {
	index uint64
	time  time.Time
	seq   uint64
	prev  int64
	off   [numFields + 1]int
}

type page struct {
	rows  []pageRow
	arena []byte
	canon [][]byte // per row: the canonical encoding, nil if it does not rebuild
	err   error    // reading stopped with this error after rows
	last  bool     // nothing follows
	done  chan struct{}
}

func (p *page) field(r *pageRow, f int) []byte { return p.arena[r.off[f]:r.off[f+1]] }

// add copies a row passed by ScanEvents.
func (p *page) add(e *confidant.EventRow) error {
	r := pageRow{index: e.Index, time: e.Time, seq: e.PatientSeq, prev: e.PatientPrev}
	for i, b := range [numFields][]byte{e.ActorID, e.Role, e.ClinicID, e.Action, e.PatientID, e.RecordID,
		e.Outcome, e.SessionID, e.Nonce, e.Sealed, e.Leaf} {
		r.off[i] = len(p.arena)
		p.arena = append(p.arena, b...)
	}
	r.off[numFields] = len(p.arena)
	p.rows = append(p.rows, r)
	return nil
}

// decode rebuilds the canonical encodings of the page's rows. A row whose
// sealed text does not decrypt, or that does not encode, gets none, so
// that Verify reports it at its index.
func (s source) decode(p *page, ad *[]byte) {
	for i := range p.rows {
		r := &p.rows[i]
		var canon []byte
		if f, err := s.l.openFree(p.field(r, fSealed), r.index, ad); err == nil {
			// The text fields are adjacent in the arena: one string holds
			// them all, and each field is a substring of it.
			text := string(p.arena[r.off[fActor]:r.off[fSession+1]])
			field := func(f int) string { return text[r.off[f]-r.off[fActor] : r.off[f+1]-r.off[fActor]] }
			e := committed(auditlog.Event{
				Index: r.index, Time: r.time, ActorID: field(fActor), Role: field(fRole), ClinicID: field(fClinic),
				Action: field(fAction), PatientID: field(fPatient), RecordID: field(fRecord),
				Outcome: field(fOutcome), SessionID: field(fSession),
				PatientSeq: r.seq, PatientPrev: r.prev,
			}, f)
			canon, _ = e.MarshalCanonical()
		}
		p.canon = append(p.canon, canon)
	}
}

// pages hands out the pages to the readers, in order.
type pages struct {
	size    uint64 // the stored tree size, in the first transaction
	stop    <-chan struct{}
	free    chan *page
	work    chan<- *page
	ordered chan<- *page

	mu    sync.Mutex
	next  uint64 // the next page to read
	ended bool   // a page read was the last
}

// Events yields the stored events in index order, rebuilding each canonical
// encoding from the stored columns and the decrypted free text. A row whose
// sealed text does not decrypt is yielded with an empty canonical encoding,
// so Verify reports it at its index. A read error is yielded after the
// events read before it. When the caller stops early, Events stops the
// readers (after the page each is reading) and the decoders before it
// returns; the second transaction, if any, has ended by then too (and if
// it could not begin by then, for want of a free connection, it never
// does: the first reader reads every page).
func (s source) Events(ctx context.Context) iter.Seq2[auditlog.StoredEvent, error] {
	return func(yield func(auditlog.StoredEvent, error) bool) {
		stop := make(chan struct{})
		free := make(chan *page, pagesAhead)
		for range pagesAhead {
			free <- &page{}
		}
		// Neither ever blocks a sender: no more than pagesAhead pages exist.
		work, ordered := make(chan *page, pagesAhead), make(chan *page, pagesAhead)
		s.mu.Lock()
		size, err := s.tx.LogSize(ctx)
		s.mu.Unlock()
		if err != nil {
			size = 0 // nothing read ahead, and no second reader
		}
		ps := &pages{size: size, stop: stop, free: free, work: work, ordered: ordered}
		var wg, readers sync.WaitGroup
		defer wg.Wait()
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		defer close(stop)
		readers.Go(func() { s.read(ctx, s.tx, s.mu, ps, math.MaxUint64) })
		if s.view != nil && size/pageRows > 1 {
			// The second transaction begins now, after the first fixed
			// size; it reads only pages wholly below size.
			readers.Go(func() {
				_ = s.view(ctx2, func(tx confidant.LogTx) error {
					s.read(ctx2, tx, nil, ps, size/pageRows)
					return nil
				})
			})
		}
		wg.Go(func() {
			readers.Wait()
			close(work)
			close(ordered)
		})
		for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
			wg.Go(func() {
				var ad []byte
				for p := range work {
					select {
					case <-stop:
					default:
						s.decode(p, &ad)
					}
					close(p.done)
				}
			})
		}
		var next uint64 // the index after the last yielded
		for p := range ordered {
			<-p.done
			for i := range p.rows {
				r := &p.rows[i]
				if r.index < next {
					// Read with the page before, where indexes are
					// missing (a page holds pageRows rows).
					continue
				}
				next = r.index + 1
				out := auditlog.StoredEvent{Index: r.index, Event: p.canon[i]}
				copy(out.Nonce[:], p.field(r, fNonce))
				copy(out.Commitment[:], p.field(r, fLeaf))
				if !yield(out, nil) {
					return
				}
			}
			if p.err != nil {
				yield(auditlog.StoredEvent{}, p.err)
				return
			}
			if p.last {
				return
			}
			free <- p
		}
	}
}

// readAhead reads level-0 tile index and its entry bundle, of the given
// width, from tx into s.ahead. What fails to read is left for Verify to
// read (and fail on) itself.
func (s source) readAhead(ctx context.Context, tx confidant.LogTx, index uint64, width int) {
	if s.noTiles {
		return
	}
	if b, err := tx.Tile(ctx, 0, index, width); err == nil {
		s.ahead.put(s.ahead.tiles, tileKey{index, width}, b)
	}
	if b, err := tx.EntryBundle(ctx, index, width); err == nil {
		s.ahead.put(s.ahead.bundles, tileKey{index, width}, b)
	}
}

// read reads pages of rows in tx, each the next page not yet taken, below
// page limit, until a page is the last (short, or an error) or stop is
// closed; it sends each to the decoders (work), having put it in order for
// Events (ordered) when it took it. It reads ahead the level-0 tiles and
// entry bundles of each page's own indexes within the stored tree. mu, if
// not nil, is held for every use of tx.
func (s source) read(ctx context.Context, tx confidant.LogTx, mu *sync.Mutex, ps *pages, limit uint64) {
	lock := func() {
		if mu != nil {
			mu.Lock()
		}
	}
	unlock := func() {
		if mu != nil {
			mu.Unlock()
		}
	}
	for {
		var p *page
		select {
		case p = <-ps.free:
		case <-ps.stop:
			return
		}
		ps.mu.Lock()
		k := ps.next
		if ps.ended || k >= limit {
			ps.mu.Unlock()
			ps.free <- p
			return
		}
		ps.next++
		p.rows, p.arena, p.canon, p.err, p.last = p.rows[:0], p.arena[:0], p.canon[:0], nil, false
		p.done = make(chan struct{})
		ps.ordered <- p
		ps.mu.Unlock()

		from, end := k*pageRows, (k+1)*pageRows
		lock()
		err := tx.ScanEvents(ctx, from, pageRows, p.add)
		if n := len(p.rows); n > 0 && err == nil {
			// The tiles of the page's own indexes within the stored tree:
			// no more than a page's worth (indexes with gaps are a fault
			// at the first gap: Verify reads no further).
			hi := min(p.rows[n-1].index+1, end, ps.size)
			for t := p.rows[0].index / auditlog.TileWidth; t*auditlog.TileWidth < hi; t++ {
				s.readAhead(ctx, tx, t, int(min(ps.size-t*auditlog.TileWidth, auditlog.TileWidth)))
			}
		}
		unlock()
		p.err, p.last = err, err != nil || len(p.rows) < pageRows
		if p.last {
			ps.mu.Lock()
			ps.ended = true
			ps.mu.Unlock()
		}
		// p belongs to the decoders and Events once sent (and may come
		// back through free to another reader): nothing reads it after.
		last := p.last
		ps.work <- p
		if last {
			return
		}
	}
}

// Bundle returns the proof bundle of one event for the patient it concerns:
// the event and its nonce (the opening), an inclusion proof and the latest
// checkpoint that covers it. Anyone can check it with the log's public key
// (auditlog.CheckBundle, `confidant audit check-proof`).
func (l *Log) Bundle(ctx context.Context, index uint64) (auditlog.Bundle, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return auditlog.Bundle{}, err
	}
	if index >= cp.Size {
		return auditlog.Bundle{}, confidant.Errorf(confidant.KindConflict, "not_yet_checkpointed", "This entry is not yet covered by a signed checkpoint; try again in a few seconds.")
	}
	var b auditlog.Bundle
	err = l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		evs, err := ltx.Events(ctx, index, 1)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Index != index {
			return confidant.ErrNotFound
		}
		e, err := l.EventOf(evs[0])
		if err != nil {
			return err
		}
		canon, err := e.MarshalCanonical()
		if err != nil {
			return err
		}
		o := auditlog.Opening{Event: canon}
		copy(o.Nonce[:], evs[0].Nonce)
		b, err = auditlog.NewBundle(ctx, tiles{ctx, ltx}, o, cp)
		return err
	})
	return b, err
}

// Query answers an access-log query (newest first).
func (l *Log) Query(ctx context.Context, f confidant.EventFilter) ([]confidant.StoredEvent, error) {
	var out []confidant.StoredEvent
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		out, err = ltx.QueryEvents(ctx, f)
		return err
	})
	return out, err
}

// CheckExternal compares the log with a checkpoint held outside the system
// (a witness, the board's copy): it fails with an *auditlog.Fault of kind
// "rollback" if the log is smaller than the checkpoint (a restored older
// copy of the database), and of another kind if it is inconsistent with it.
// The server refuses to start on such an error.
func (l *Log) CheckExternal(ctx context.Context, cp auditlog.Checkpoint) error {
	return l.viewLog(ctx, func(ltx confidant.LogTx) error {
		st, err := storedTree(ctx, ltx)
		if err != nil {
			return err
		}
		return auditlog.CheckExternal(ctx, tiles{ctx, ltx}, st.Size(), st.Root(), cp)
	})
}

// ParseOwn verifies a checkpoint text against this log's key.
func (l *Log) ParseOwn(text []byte) (auditlog.Checkpoint, error) {
	cp, err := l.parse(text)
	cp.External = true
	return cp, err
}
