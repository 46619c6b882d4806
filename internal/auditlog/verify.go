package auditlog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// Fault kinds, the Kind of a Fault.
const (
	// FaultEdited: an event, its nonce or its stored commitment was changed
	// after it was appended, or its encoding is malformed.
	FaultEdited = "edited"
	// FaultDeleted: an index is missing from the events (a gap), or later
	// events were renumbered to close one.
	FaultDeleted = "deleted"
	// FaultReordered: an event is stored at another event's position.
	FaultReordered = "reordered"
	// FaultInserted: an event the tree never held (a duplicate index, an
	// event beyond the stored tree, or an event pushed in before others).
	FaultInserted = "inserted"
	// FaultTruncated: events are missing at the end, below a size that the
	// database itself records (its tree size or a stored checkpoint).
	FaultTruncated = "truncated"
	// FaultRootMismatch: the tree recomputed from the events differs from a
	// checkpoint at its size, though every stored tile agreed: the events
	// and the tiles were rewritten together (or, with an external
	// checkpoint, an older copy of the database was restored and has grown
	// since).
	FaultRootMismatch = "root-mismatch"
	// FaultRollback: the log is smaller than a checkpoint held outside the
	// database while the database itself records no larger size: it is an
	// older copy. CheckExternal also reports a log that is not an extension
	// of an external checkpoint as a rollback.
	FaultRollback = "rollback"
	// FaultTile: a stored hash tile or entry bundle is missing, malformed or
	// differs from the tree recomputed from the events.
	FaultTile = "tile"
	// FaultPatientChain: an event's PatientSeq or PatientPrev breaks its
	// patient's chain.
	FaultPatientChain = "patient-chain"
)

// Fault is an integrity failure of the log found by Verify or CheckExternal.
// Index is the first log index at which the stored log is known to be bad
// (for a root mismatch, the lowest index that can be bad). Detail explains
// in terms of indexes, sizes and field names, never event contents.
type Fault struct {
	Index  uint64
	Kind   string
	Detail string
}

func (f *Fault) Error() string {
	return fmt.Sprintf("auditlog: index %d: %s: %s", f.Index, f.Kind, f.Detail)
}

func fault(index uint64, kind, format string, args ...any) *Fault {
	return &Fault{Index: index, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// StoredEvent is one event as stored: its position, its nonce, its canonical
// encoding and the leaf commitment stored with it.
type StoredEvent struct {
	Index      uint64
	Nonce      [NonceSize]byte
	Event      []byte   // canonical encoding; may be reused after the yield returns
	Commitment [32]byte // the stored leaf hash, LeafHash(Nonce, Event) when untouched
}

// EventSource is the stored log that Verify checks: the events, the tiles
// and entry bundles (Store), and the tree size recorded with them.
type EventSource interface {
	Store
	// TreeSize returns the size of the stored tree: the size after the last
	// committed Append.
	TreeSize(ctx context.Context) (uint64, error)
	// Events yields every stored event in ascending order of its stored
	// index, exactly as stored: it must not skip, repair or deduplicate. It
	// yields a non-nil error and stops if it cannot read.
	Events(ctx context.Context) iter.Seq2[StoredEvent, error]
}

// progressEvery is how often, in events, Verify reports progress.
const progressEvery = 1 << 16

// chunkSize is the number of events Verify hashes in one piece of work.
const chunkSize = 4096

// Verify checks the whole log held by src, trusting nothing stored.
//
// For every event in index order it checks that indexes run from 0 without
// gaps or repeats, that the encoding is canonical and carries its own index,
// and that LeafHash(nonce, event) equals the stored commitment. It rebuilds
// the tree from these recomputed commitments with a compact range, never
// reading a stored hash into it, and checks every stored hash tile (full and
// the final partial ones) and entry bundle at the stored tree size against
// it. At each checkpoint's size it compares the recomputed root with the
// checkpoint's; checkpoints larger than the log are a truncation (if stored)
// or a rollback (if External). It also checks each patient's chain
// (PatientSeq and PatientPrev, see Event).
//
// Checkpoints must already be verified (ParseCheckpoint); Verify only
// compares sizes and roots. Events after the newest checkpoint are checked
// against the stored tree only: until a checkpoint covers them, someone who
// can rewrite the database can rewrite them undetectably.
//
// Verify iterates src.Events once, and calls src's other methods from the
// same goroutine, between yields (so a source reading from one database
// connection must not hold a cursor open across yields, or must read tiles
// through another connection; tiles are immutable once written, so any
// snapshot holding the tree of size TreeSize will do). It hashes events on
// a second goroutine, one chunk ahead of the checks.
//
// Verify returns nil if the log is intact, a *Fault naming the first bad
// index and the kind of fault, or another error if src or ctx fails.
// progress, if not nil, is called from time to time and at the end with the
// number of events checked and the stored tree size.
func Verify(ctx context.Context, src EventSource, checkpoints []Checkpoint, progress func(done, total uint64)) error {
	treeSize, err := src.TreeSize(ctx)
	if err != nil {
		return fmt.Errorf("auditlog: verify: tree size: %w", err)
	}
	v := &verifier{
		ctx:      ctx,
		src:      src,
		treeSize: treeSize,
		cps: slices.SortedStableFunc(slices.Values(checkpoints), func(a, b Checkpoint) int {
			return cmp.Compare(a.Size, b.Size)
		}),
		rng:      rangeFactory.NewEmptyRange(0),
		chains:   make(map[patientKey]chain),
		long:     make(map[string]chain),
		progress: progress,
	}
	if f := v.checkpointsAt(0); f != nil {
		return f
	}

	// The caller's goroutine reads events into chunks and checks hashed
	// chunks; one worker hashes them in between. At most three chunks
	// exist: one filling, one hashing, one being checked.
	todo, done := make(chan *chunk, 1), make(chan *chunk, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		var scratch []byte
		for c := range todo {
			for i := range c.n {
				c.recs[i].hash(&scratch)
			}
			done <- c
		}
	})
	defer func() {
		close(todo)
		wg.Wait()
	}()
	spare := []*chunk{newChunk(), newChunk(), newChunk()}
	cur := spare[0]
	spare = spare[1:]
	inFlight := 0
	// checkOne waits for the oldest chunk in flight and checks it.
	checkOne := func() error {
		c := <-done
		inFlight--
		err := v.check(c)
		c.reset()
		spare = append(spare, c)
		return err
	}
	for it, err := range src.Events(ctx) {
		if err != nil {
			return fmt.Errorf("auditlog: verify: reading events: %w", err)
		}
		cur.add(&it)
		if cur.n < chunkSize {
			continue
		}
		todo <- cur
		inFlight++
		if inFlight == 2 {
			if err := checkOne(); err != nil {
				return err
			}
		}
		cur, spare = spare[0], spare[1:]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if cur.n > 0 {
		todo <- cur
		inFlight++
	}
	for inFlight > 0 {
		if err := checkOne(); err != nil {
			return err
		}
	}
	if v.pending != nil {
		return v.pending.classify(nil)
	}
	if progress != nil {
		progress(v.next, treeSize)
	}
	return v.end()
}

// record is one stored event on its way through Verify: what the source
// gave (the event bytes copied into the chunk), then what the worker
// computed from it.
type record struct {
	index      uint64 // stored index
	nonce      [NonceSize]byte
	commitment [32]byte // stored
	event      []byte   // in the chunk's arena

	parseErr   error
	evIndex    uint64 // the index the event carries
	seq        uint64
	prev       int64
	hasPatient bool
	pkey       patientKey // patient id if it fits
	plong      string     // patient id if it does not
	c          [32]byte   // recomputed commitment
	leaf       [32]byte   // its RFC 6962 leaf hash
}

// patientKey holds a patient id of up to 31 bytes and its length, so that
// the chain map needs no pointer chasing.
type patientKey [32]byte

// hash fills in what the worker computes.
func (r *record) hash(scratch *[]byte) {
	var p parsed
	r.parseErr = p.parse(r.event)
	if r.parseErr == nil {
		r.evIndex, r.seq, r.prev = p.index, p.patientSeq, p.patientPrev
		pid := p.patientID()
		r.hasPatient = len(pid) > 0
		if len(pid) < len(r.pkey) {
			r.pkey[0] = byte(len(pid))
			copy(r.pkey[1:], pid)
		} else {
			r.plong = string(pid)
		}
	}
	r.c = leafHash(scratch, r.nonce, r.event) // LeafHash's framing, as the appender's
	// MerkleLeafHash(r.c), without copying r.c to a slice that escapes.
	r.leaf = [32]byte(rfc6962.DefaultHasher.HashLeaf(r.c[:]))
}

type chunk struct {
	recs  []record
	n     int
	arena []byte
}

func newChunk() *chunk { return &chunk{recs: make([]record, chunkSize)} }

// add copies a stored event into the chunk: the source may reuse its
// buffers once the yield returns.
func (c *chunk) add(it *StoredEvent) {
	r := &c.recs[c.n]
	*r = record{index: it.Index, nonce: it.Nonce, commitment: it.Commitment}
	if len(c.arena)+len(it.Event) > cap(c.arena) {
		c.arena = make([]byte, 0, max(1<<20, len(it.Event)))
	}
	off := len(c.arena)
	c.arena = append(c.arena, it.Event...)
	r.event = c.arena[off:len(c.arena):len(c.arena)]
	c.n++
}

func (c *chunk) reset() {
	c.n = 0
	c.arena = c.arena[:0]
}

type chain struct {
	index uint64 // log index of the patient's latest event
	seq   uint64
}

type cachedTile struct {
	index uint64
	data  []byte // nil: not read yet, or bad
	bad   bool   // index was read and is missing or malformed
}

type verifier struct {
	ctx      context.Context
	src      EventSource
	treeSize uint64
	cps      []Checkpoint
	ci       int    // next checkpoint to check
	lastGood uint64 // largest checkpoint size whose root matched
	rng      *compact.Range
	next     uint64 // index expected next = events checked
	chains   map[patientKey]chain
	long     map[string]chain // patients whose ids do not fit a patientKey
	tiles    []cachedTile     // by tile level
	bundle   cachedTile
	visitErr *Fault
	// tileFault is the first damaged tile or bundle (missing, malformed,
	// or differing from the tree of the events where the events cannot be
	// at fault). The check goes on without it, so that a fault of the
	// events themselves is still found and named; tileFault is reported
	// only if the events are intact (then `audit rebuild-tiles` repairs it).
	tileFault *Fault
	pending   *suspect // a fault waiting for the next event to be classified
	progress  func(done, total uint64)
}

// suspect is an anomaly at one index whose kind depends on the next event.
type suspect struct {
	classify func(next *record) error
}

// check checks the records of a hashed chunk in order.
func (v *verifier) check(c *chunk) error {
	for i := range c.n {
		r := &c.recs[i]
		if v.pending != nil {
			return v.pending.classify(r)
		}
		f, s, err := v.step(r)
		if err != nil {
			return err
		}
		if f != nil {
			return f
		}
		if s != nil {
			v.pending = s
			continue
		}
		if v.progress != nil && v.next%progressEvery == 0 {
			v.progress(v.next, v.treeSize)
		}
	}
	return v.ctx.Err()
}

// step checks one stored event at position v.next and adds it to the tree.
func (v *verifier) step(r *record) (*Fault, *suspect, error) {
	p := v.next
	if r.index != p {
		if r.index > p {
			return fault(p, FaultDeleted, "no event with index %d (the next stored index is %d)", p, r.index), nil, nil
		}
		if p > 0 && r.index == p-1 {
			return fault(p-1, FaultInserted, "two events are stored with index %d", p-1), nil, nil
		}
		return fault(p, FaultReordered, "index %d is stored after index %d", r.index, p-1), nil, nil
	}
	if r.parseErr != nil {
		return fault(p, FaultEdited, "event encoding: %v", r.parseErr), nil, nil
	}
	if m := r.evIndex; m != p {
		return nil, v.misplaced(p, m), nil
	}
	if r.c != r.commitment {
		return fault(p, FaultEdited, "the event or its nonce does not match the stored commitment"), nil, nil
	}
	if p >= v.treeSize {
		return fault(p, FaultInserted, "event beyond the stored tree of size %d", v.treeSize), nil, nil
	}
	stored, f, err := v.node(0, p, p)
	if f != nil || err != nil {
		return f, nil, err
	}
	if stored != nil && !bytes.Equal(r.leaf[:], stored) {
		return nil, v.notInTree(p, stored), nil
	}
	if f, err := v.entry(p, r.c); f != nil || err != nil {
		return f, nil, err
	}
	if f := v.patient(p, r); f != nil {
		return f, nil, nil
	}
	if err := v.rng.Append(r.leaf[:], v.visit); err != nil {
		return nil, nil, fmt.Errorf("auditlog: verify: %w", err)
	}
	if v.visitErr != nil {
		return v.visitErr, nil, nil
	}
	v.next++
	return v.checkpointsAt(v.next), nil, nil
}

// misplaced classifies an event at position p that carries index m, by the
// index the next event carries.
func (v *verifier) misplaced(p, m uint64) *suspect {
	return &suspect{classify: func(next *record) error {
		follows := next != nil && next.parseErr == nil && next.evIndex == m+1
		switch {
		case m > p && follows && m == p+1:
			return fault(p, FaultDeleted, "event %d is missing and the later ones renumbered", p)
		case m > p && follows:
			return fault(p, FaultDeleted, "events %d to %d are missing and the later ones renumbered", p, m-1)
		case m < p && follows && m == p-1:
			return fault(p-1, FaultInserted, "an event was inserted at index %d and the later ones renumbered", p-1)
		default:
			return fault(p, FaultReordered, "the event stored at index %d carries index %d", p, m)
		}
	}}
}

// notInTree classifies an event at position p whose leaf differs from the
// stored tree's leaf p: if the next event is the tree's leaf p, the event at
// p was inserted; otherwise it was edited together with its commitment.
func (v *verifier) notInTree(p uint64, stored []byte) *suspect {
	stored = bytes.Clone(stored)
	return &suspect{classify: func(next *record) error {
		if next != nil && bytes.Equal(next.leaf[:], stored) {
			return fault(p, FaultInserted, "the event at index %d is not in the stored tree, whose leaf %d is the next event", p, p)
		}
		return fault(p, FaultEdited, "the event and its commitment differ from the stored tree's leaf (tile %s); the event or the tile was altered",
			TilePath(0, p/TileWidth, v.width(0, p/TileWidth)))
	}}
}

// patient checks the patient chain of the event r at p.
func (v *verifier) patient(p uint64, r *record) *Fault {
	if !r.hasPatient {
		if r.seq != 0 || r.prev != -1 {
			return fault(p, FaultPatientChain, "an event without a patient has PatientSeq %d and PatientPrev %d, want 0 and -1", r.seq, r.prev)
		}
		return nil
	}
	var ch chain
	var ok bool
	if r.plong == "" {
		ch, ok = v.chains[r.pkey]
	} else {
		ch, ok = v.long[r.plong]
	}
	switch {
	case !ok && (r.seq != 1 || r.prev != -1):
		return fault(p, FaultPatientChain, "the patient's first event has PatientSeq %d and PatientPrev %d, want 1 and -1", r.seq, r.prev)
	case ok && (r.seq != ch.seq+1 || r.prev != int64(ch.index)):
		return fault(p, FaultPatientChain, "PatientSeq %d and PatientPrev %d, want %d and %d (the patient's previous event)", r.seq, r.prev, ch.seq+1, ch.index)
	}
	ch = chain{index: p, seq: r.seq}
	if r.plong == "" {
		v.chains[r.pkey] = ch
	} else {
		v.long[r.plong] = ch
	}
	return nil
}

// visit checks each new node at a tile level above 0 against the stored
// tiles. Level 0 is checked before appending.
func (v *verifier) visit(id compact.NodeID, hash []byte) {
	if id.Level == 0 || id.Level%TileHeight != 0 || v.visitErr != nil {
		return
	}
	first := id.Index << id.Level
	stored, f, err := v.node(uint64(id.Level/TileHeight), id.Index, first)
	if err != nil {
		v.visitErr = fault(first, FaultTile, "%v", err)
		return
	}
	if f == nil && stored != nil && !bytes.Equal(stored, hash) {
		// The leaves below agree with the level-0 tiles, so the events
		// are not at fault here: the tile is.
		l := uint64(id.Level / TileHeight)
		v.badTile(fault(first, FaultTile, "tile %s entry %d differs from the tree recomputed from the events",
			TilePath(l, id.Index/TileWidth, v.width(l, id.Index/TileWidth)), id.Index%TileWidth))
	}
}

// badTile notes a damaged tile or bundle; the first is reported at the end
// if the events are intact.
func (v *verifier) badTile(f *Fault) {
	if v.tileFault == nil {
		v.tileFault = f
	}
}

// width returns the width of tile (level, index) in the stored tree.
func (v *verifier) width(level, index uint64) int {
	return widthOf(layout.PartialTileSize(level, index, v.treeSize))
}

// node returns the stored hash of node index at tile level (tree level
// TileHeight*level); first is the first leaf it covers, for faults. It
// returns no hash and no fault for a missing or malformed tile, which it
// notes with badTile.
func (v *verifier) node(level, index, first uint64) ([]byte, *Fault, error) {
	for uint64(len(v.tiles)) <= level {
		v.tiles = append(v.tiles, cachedTile{})
	}
	t := &v.tiles[level]
	ti := index / TileWidth
	if t.bad && t.index == ti {
		return nil, nil, nil
	}
	if t.data == nil || t.index != ti {
		w := v.width(level, ti)
		d, err := v.src.ReadTile(v.ctx, level, ti, w)
		if errors.Is(err, ErrNotFound) {
			*t = cachedTile{index: ti, bad: true}
			v.badTile(fault(first, FaultTile, "tile %s is missing", TilePath(level, ti, w)))
			return nil, nil, nil
		}
		if err != nil {
			if cerr := v.ctx.Err(); cerr != nil {
				return nil, nil, cerr
			}
			return nil, nil, fmt.Errorf("auditlog: verify: reading tile %s: %w", TilePath(level, ti, w), err)
		}
		if len(d) != w*HashSize {
			*t = cachedTile{index: ti, bad: true}
			v.badTile(fault(first, FaultTile, "tile %s has %d bytes, want %d", TilePath(level, ti, w), len(d), w*HashSize))
			return nil, nil, nil
		}
		*t = cachedTile{index: ti, data: d}
	}
	j := index % TileWidth
	return t.data[j*HashSize : (j+1)*HashSize], nil, nil
}

// entry checks the stored entry bundle's entry p against the commitment.
func (v *verifier) entry(p uint64, c [32]byte) (*Fault, error) {
	bi := p / TileWidth
	w := v.width(0, bi)
	if v.bundle.bad && v.bundle.index == bi {
		return nil, nil
	}
	if v.bundle.data == nil || v.bundle.index != bi {
		d, err := v.src.ReadEntryBundle(v.ctx, bi, w)
		if errors.Is(err, ErrNotFound) {
			v.bundle = cachedTile{index: bi, bad: true}
			v.badTile(fault(p, FaultTile, "entry bundle %s is missing", EntriesPath(bi, w)))
			return nil, nil
		}
		if err != nil {
			if cerr := v.ctx.Err(); cerr != nil {
				return nil, cerr
			}
			return nil, fmt.Errorf("auditlog: verify: reading entry bundle %s: %w", EntriesPath(bi, w), err)
		}
		if len(d) != w*entrySize {
			v.bundle = cachedTile{index: bi, bad: true}
			v.badTile(fault(p, FaultTile, "entry bundle %s has %d bytes, want %d", EntriesPath(bi, w), len(d), w*entrySize))
			return nil, nil
		}
		v.bundle = cachedTile{index: bi, data: d}
	}
	off := int(p%TileWidth) * entrySize
	e := v.bundle.data[off : off+entrySize]
	if e[0] != 0 || e[1] != HashSize || !bytes.Equal(e[2:], c[:]) {
		// The event matches its commitment (checked before): the bundle
		// is at fault.
		v.badTile(fault(p, FaultTile, "entry bundle %s entry %d differs from the event's commitment", EntriesPath(bi, w), p%TileWidth))
	}
	return nil, nil
}

// checkpointsAt compares the recomputed root with every checkpoint of the
// current size.
func (v *verifier) checkpointsAt(size uint64) *Fault {
	for v.ci < len(v.cps) && v.cps[v.ci].Size < size {
		v.ci++ // unreachable: sizes are visited in order
	}
	if v.ci >= len(v.cps) || v.cps[v.ci].Size != size {
		return nil
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if size > 0 {
		var err error
		if root, err = v.rng.GetRootHash(nil); err != nil {
			return fault(v.lastGood, FaultRootMismatch, "recomputing the root at size %d: %v", size, err)
		}
	}
	for ; v.ci < len(v.cps) && v.cps[v.ci].Size == size; v.ci++ {
		cp := &v.cps[v.ci]
		if bytes.Equal(cp.Root[:], root) {
			continue
		}
		where := "a stored"
		if cp.External {
			where = "an external"
		}
		if size == 0 {
			return fault(0, FaultRootMismatch, "%s checkpoint of size 0 has a root other than the empty tree's", where)
		}
		return fault(v.lastGood, FaultRootMismatch, "the recomputed root differs from %s checkpoint at size %d; the first altered index is in [%d, %d)", where, size, v.lastGood, size)
	}
	v.lastGood = size
	return nil
}

// end checks what the log must hold beyond the last event.
func (v *verifier) end() error {
	n := v.next
	if n < v.treeSize {
		return fault(n, FaultTruncated, "the events end at %d but the stored tree has %d leaves", n, v.treeSize)
	}
	var ext *Checkpoint
	for i := v.ci; i < len(v.cps); i++ {
		cp := &v.cps[i]
		if !cp.External {
			return fault(n, FaultTruncated, "the events end at %d but a stored checkpoint has size %d", n, cp.Size)
		}
		if ext == nil {
			ext = cp
		}
	}
	if ext != nil {
		return fault(n, FaultRollback, "the log has %d events but an external checkpoint has size %d: the database is older than what outsiders saw", n, ext.Size)
	}
	if v.tileFault != nil {
		return v.tileFault
	}
	return nil
}

// CheckExternal compares the tree held in ts, of the given size and root
// (for example State.Size and State.Root after LoadState), with a checkpoint
// held outside the database, such as a witness's. It returns a *Fault of
// kind FaultRollback if the tree is smaller than the checkpoint or is not
// an extension of it (checked with a consistency proof from the tiles), so
// that a server can refuse to start on a restored older copy.
func CheckExternal(ctx context.Context, ts TileStore, size uint64, root [32]byte, cp Checkpoint) error {
	switch {
	case cp.Size > size:
		return fault(size, FaultRollback, "the log has %d entries but an external checkpoint has size %d", size, cp.Size)
	case cp.Size == size:
		if cp.Root != root {
			return fault(0, FaultRollback, "the log differs from an external checkpoint of the same size %d", size)
		}
		return nil
	case cp.Size == 0:
		if cp.Root != [32]byte(rfc6962.DefaultHasher.EmptyRoot()) {
			return fault(0, FaultRollback, "an external checkpoint of size 0 has a root other than the empty tree's")
		}
		return nil
	}
	pf, err := ConsistencyProof(ctx, ts, cp.Size, size)
	if err != nil {
		return err
	}
	if err := VerifyConsistency(cp.Size, size, pf, cp.Root, root); err != nil {
		return fault(0, FaultRollback, "the log of size %d is not an extension of an external checkpoint of size %d", size, cp.Size)
	}
	return nil
}
