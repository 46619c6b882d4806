package auditlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
)

// rangeFactory builds the RFC 6962 compact ranges of this package.
var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// entrySize is the size of one framed entry in an entry bundle.
const entrySize = 2 + HashSize

// State is the appender's view of the tree at one size: the compact range
// of [0, size), the root, and the contents of the incomplete tile at each
// level and of the incomplete entry bundle (what the next append extends).
// A State is immutable; Append returns a new one.
type State struct {
	size   uint64
	rng    [][]byte // compact range of [0, size), left to right
	root   [32]byte
	edges  [][]byte // edges[L]: hashes of the last tile at level L if partial, else empty
	bundle []byte   // the last entry bundle if partial, else empty
}

// Size returns the number of leaves in the tree.
func (s *State) Size() uint64 { return s.size }

// Root returns the RFC 6962 root hash of the tree (SHA-256 of the empty
// string for size 0).
func (s *State) Root() [32]byte { return s.root }

// NewState returns the State of the empty tree, for an Appender that
// builds a tree from its first leaf.
func NewState() *State { return emptyState() }

// emptyState is the state of the empty tree.
func emptyState() *State {
	return &State{root: [32]byte(rfc6962.DefaultHasher.EmptyRoot())}
}

// LoadState rebuilds the State of the tree of the given size from stored
// tiles and the last entry bundle: the compact range from the hash tiles
// (through Tessera's client), the partial tiles and the partial bundle as
// stored. It checks that the partial bundle agrees with the level-0 tile.
//
// LoadState trusts the tiles otherwise: before appending, compare
// State.Root with the latest signed checkpoint of that size, and run Verify
// to check the whole log against its events.
func LoadState(ctx context.Context, s Store, size uint64) (*State, error) {
	st := emptyState()
	if size == 0 {
		return st, nil
	}
	f := tileFetcher(s)
	hashes, err := client.FetchRangeNodes(ctx, size, f.fetch)
	if err != nil {
		return nil, fmt.Errorf("auditlog: loading state at size %d: %w", size, f.cause(err))
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("auditlog: loading state at size %d: %v: %w", size, err, ErrMalformed)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("auditlog: loading state at size %d: %v: %w", size, err, ErrMalformed)
	}
	st.size, st.rng, st.root = size, hashes, [32]byte(root)
	for level := uint64(0); size>>(TileHeight*level) > 0; level++ {
		m := size >> (TileHeight * level)
		w := int(m % TileWidth)
		var edge []byte
		if w > 0 {
			if edge, err = readTile(ctx, s, level, m/TileWidth, w); err != nil {
				return nil, err
			}
		}
		st.edges = append(st.edges, edge)
	}
	if w := int(size % TileWidth); w > 0 {
		entries, err := readBundle(ctx, s, size/TileWidth, w)
		if err != nil {
			return nil, err
		}
		for i, c := range entries {
			if l := MerkleLeafHash(c); !bytes.Equal(l[:], st.edges[0][i*HashSize:(i+1)*HashSize]) {
				return nil, fmt.Errorf("auditlog: entry bundle %d disagrees with its level-0 tile at entry %d: %w", size/TileWidth, i, ErrMalformed)
			}
			st.bundle = appendEntry(st.bundle, c)
		}
	}
	return st, nil
}

// Appender appends batches of leaf commitments to the tree. It keeps the
// current State in memory; each Append writes every tile and entry bundle
// the batch changes and moves to the new State. It does no other I/O, uses
// no clock or randomness, and is deterministic: the same State and batch
// always produce the same writes, in the same order.
//
// An Appender is meant for a sequencer with group commit: one Append per
// batch, inside the transaction that also stores the batch's events. Its
// State is a copy of what storage holds only while nothing else appends
// and every transaction's outcome is known: internal/audit makes a new
// Appender from the State of the stored tree's size for each batch, and
// loads that State again (LoadState) whenever it cannot be sure. It is not
// safe for concurrent use.
type Appender struct {
	st *State
}

// NewAppender returns an Appender that starts from s (from LoadState).
func NewAppender(s *State) *Appender { return &Appender{st: s} }

// State returns the current state.
func (a *Appender) State() *State { return a.st }

// Append adds the commitments, in order, as leaves st.Size() to
// st.Size()+len(commitments)-1. It writes, through s, the entry bundles and
// the hash tiles at every level that the batch changed: each full tile
// completed by the batch (replacing partial versions) and the new partial
// tile of each level that has one. It returns the new size and root.
//
// If a write fails, Append returns the error and the Appender keeps its
// previous state; the writes already made belong to a tree that was not
// committed and must be rolled back with the transaction (or they are
// overwritten when the same positions are appended again). If the
// transaction fails after Append returned, the new State may or may not be
// what storage holds (a lost COMMIT reply): discard it and load the State
// from storage again.
func (a *Appender) Append(ctx context.Context, s Store, commitments [][32]byte) (size uint64, root [32]byte, err error) {
	next, err := a.st.next(ctx, s, commitments)
	if err != nil {
		return a.st.size, a.st.root, err
	}
	a.st = next
	return next.size, next.root, nil
}

// next computes and writes the state after appending commitments to s.
func (s *State) next(ctx context.Context, store Store, commitments [][32]byte) (*State, error) {
	if len(commitments) == 0 {
		return s, nil
	}
	n0 := s.size
	n1 := n0 + uint64(len(commitments))
	if n1 < n0 {
		return nil, fmt.Errorf("auditlog: tree size overflow")
	}
	r, err := rangeFactory.NewRange(0, n0, slices.Clone(s.rng))
	if err != nil {
		return nil, fmt.Errorf("auditlog: bad state: %w", err)
	}

	// One buffer per level holds the hashes of every tile the batch changes
	// at that level: the old partial tile, then the new nodes.
	var levels [][]byte
	for level := uint64(0); n1>>(TileHeight*level) > 0; level++ {
		m0, m1 := n0>>(TileHeight*level), n1>>(TileHeight*level)
		if m0 == m1 {
			if int(level) >= len(s.edges) {
				return nil, fmt.Errorf("auditlog: bad state: no level %d", level)
			}
			levels = append(levels, nil)
			continue
		}
		var edge []byte
		if int(level) < len(s.edges) {
			edge = s.edges[level]
		}
		if uint64(len(edge)) != (m0%TileWidth)*HashSize {
			return nil, fmt.Errorf("auditlog: bad state: level %d partial tile has %d bytes", level, len(edge))
		}
		buf := make([]byte, len(edge), (m1-m0+m0%TileWidth)*HashSize)
		copy(buf, edge)
		levels = append(levels, buf)
	}
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%TileHeight == 0 {
			l := id.Level / TileHeight
			levels[l] = append(levels[l], hash...)
		}
	}
	if uint64(len(s.bundle)) != (n0%TileWidth)*entrySize {
		return nil, fmt.Errorf("auditlog: bad state: partial bundle has %d bytes", len(s.bundle))
	}
	bundle := make([]byte, len(s.bundle), (n1-n0+n0%TileWidth)*entrySize)
	copy(bundle, s.bundle)
	for _, c := range commitments {
		bundle = appendEntry(bundle, c)
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(c[:]), visit); err != nil {
			return nil, fmt.Errorf("auditlog: appending: %w", err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("auditlog: root: %w", err)
	}
	next := &State{size: n1, rng: r.Hashes(), root: [32]byte(root), edges: make([][]byte, len(levels))}

	// Entry bundles first, then tiles level by level, each in index order.
	next.bundle, err = writeSpan(n0, n1, entrySize, bundle, func(index uint64, width int, data []byte) error {
		return store.WriteEntryBundle(ctx, index, width, data)
	})
	if err != nil {
		return nil, err
	}
	for level, buf := range levels {
		if buf == nil {
			next.edges[level] = s.edges[level]
			continue
		}
		shift := TileHeight * uint64(level)
		if want := ((n1 >> shift) - (n0>>shift)/TileWidth*TileWidth) * HashSize; uint64(len(buf)) != want {
			return nil, fmt.Errorf("auditlog: level %d: %d bytes of new nodes, want %d", level, len(buf), want)
		}
		next.edges[level], err = writeSpan(n0>>shift, n1>>shift, HashSize, buf, func(index uint64, width int, data []byte) error {
			return store.WriteTile(ctx, uint64(level), index, width, data)
		})
		if err != nil {
			return nil, err
		}
	}
	return next, nil
}

// writeSpan writes the tiles changed when a row grows from m0 to m1 items
// of size item; buf holds the items from the first changed tile's start. It
// returns the new partial tile (empty if the row ends on a tile boundary).
func writeSpan(m0, m1 uint64, item int, buf []byte, write func(index uint64, width int, data []byte) error) ([]byte, error) {
	base := m0 / TileWidth
	for t := base; t*TileWidth < m1; t++ {
		w := int(min(m1-t*TileWidth, TileWidth))
		off := int(t-base) * TileWidth * item
		data := buf[off : off+w*item : off+w*item]
		if err := write(t, w, data); err != nil {
			return nil, fmt.Errorf("auditlog: writing tile %d width %d: %w", t, w, err)
		}
		if w < TileWidth {
			return data, nil
		}
	}
	return nil, nil
}

// appendEntry appends c framed as a tlog-tiles bundle entry.
func appendEntry(b []byte, c [32]byte) []byte {
	b = binary.BigEndian.AppendUint16(b, HashSize)
	return append(b, c[:]...)
}

// readTile reads a hash tile and checks its length.
func readTile(ctx context.Context, ts TileStore, level, index uint64, width int) ([]byte, error) {
	d, err := ts.ReadTile(ctx, level, index, width)
	if err != nil {
		return nil, fmt.Errorf("auditlog: reading tile %s: %w", TilePath(level, index, width), err)
	}
	if len(d) != width*HashSize {
		return nil, fmt.Errorf("auditlog: tile %s has %d bytes, want %d: %w", TilePath(level, index, width), len(d), width*HashSize, ErrMalformed)
	}
	return d, nil
}

// readBundle reads an entry bundle and returns its commitments.
func readBundle(ctx context.Context, bs BundleStore, index uint64, width int) ([][32]byte, error) {
	d, err := bs.ReadEntryBundle(ctx, index, width)
	if err != nil {
		return nil, fmt.Errorf("auditlog: reading %s: %w", EntriesPath(index, width), err)
	}
	return parseBundle(d, index, width)
}

// parseBundle decodes an entry bundle with Tessera's parser and checks that
// it holds width entries of 32 bytes.
func parseBundle(d []byte, index uint64, width int) ([][32]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(d); err != nil {
		return nil, fmt.Errorf("auditlog: %s: %v: %w", EntriesPath(index, width), err, ErrMalformed)
	}
	if len(b.Entries) != width {
		return nil, fmt.Errorf("auditlog: %s has %d entries, want %d: %w", EntriesPath(index, width), len(b.Entries), width, ErrMalformed)
	}
	out := make([][32]byte, width)
	for i, e := range b.Entries {
		if len(e) != HashSize {
			return nil, fmt.Errorf("auditlog: %s entry %d has %d bytes, want %d: %w", EntriesPath(index, width), i, len(e), HashSize, ErrMalformed)
		}
		out[i] = [32]byte(e)
	}
	return out, nil
}

// fetcher adapts a TileStore to Tessera's client. Tessera formats the
// errors of its fetcher with %v; cause recovers the first one, so that
// callers can still match ErrNotFound.
type fetcher struct {
	ts  TileStore
	err error
}

func tileFetcher(ts TileStore) *fetcher { return &fetcher{ts: ts} }

func (f *fetcher) fetch(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	d, err := readTile(ctx, f.ts, level, index, widthOf(p))
	if err != nil && f.err == nil {
		f.err = err
	}
	return d, err
}

// cause returns the first fetch error, or err if there was none.
func (f *fetcher) cause(err error) error {
	if f.err != nil {
		return f.err
	}
	return err
}
