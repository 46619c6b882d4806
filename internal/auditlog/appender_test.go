package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/tlog"
)

// reference keeps two independent models of the tree: x/mod's sumdb/tlog
// (stored hashes, TreeHash, ProveRecord, ProveTree, ReadTileData) and
// transparency-dev/merkle's testonly.Tree (a full in-memory tree).
type reference struct {
	commitments [][32]byte
	stored      []tlog.Hash
	tree        *testonly.Tree
}

func newReference() *reference { return &reference{tree: testonly.New(rfc6962.DefaultHasher)} }

func (r *reference) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(r.stored)) {
			return nil, fmt.Errorf("reference: no stored hash %d", x)
		}
		out[i] = r.stored[x]
	}
	return out, nil
}

func (r *reference) add(t testing.TB, c [32]byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(int64(len(r.commitments)), c[:], r)
	if err != nil {
		t.Fatal(err)
	}
	r.stored = append(r.stored, hs...)
	r.commitments = append(r.commitments, c)
	r.tree.AppendData(c[:])
}

// recorder is a Store that records the names it is asked to write.
type recorder struct {
	Store
	writes []string
}

func (r *recorder) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	r.writes = append(r.writes, TilePath(level, index, width))
	return r.Store.WriteTile(ctx, level, index, width, data)
}

func (r *recorder) WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	r.writes = append(r.writes, EntriesPath(index, width))
	return r.Store.WriteEntryBundle(ctx, index, width, data)
}

// differentialSizes are the tree sizes at which the differential tests
// compare: fixed edge cases and three random sizes (printed in the log).
func differentialSizes(t *testing.T) []uint64 {
	sizes := []uint64{0, 1, 2, 255, 256, 257, 1000, 65537}
	rnd := rand.New(rand.NewPCG(20260301, 4))
	for range 3 {
		sizes = append(sizes, 1+rnd.Uint64N(65536))
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	t.Logf("sizes %v", sizes)
	return sizes
}

// TestAppendDifferential appends commitments in batches of 1, 7, 256 and 300
// (cut at the target sizes) and, at every target size, compares the root,
// every hash tile and entry bundle, the tiles written by each batch, the
// state rebuilt by LoadState, and inclusion and consistency proofs, with
// sumdb/tlog and merkle's reference tree.
func TestAppendDifferential(t *testing.T) {
	sizes := differentialSizes(t)
	for _, batch := range []int{1, 7, 256, 300} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			ctx := t.Context()
			store := NewMemStore()
			rec := &recorder{Store: store}
			ref := newReference()
			st, err := LoadState(ctx, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			a := NewAppender(st)
			rnd := rand.New(rand.NewPCG(uint64(batch), 2))
			for _, target := range sizes {
				for a.State().Size() < target {
					n0 := a.State().Size()
					k := min(uint64(batch), target-n0)
					leaves := make([][32]byte, k)
					for i := range leaves {
						for j := range leaves[i] {
							leaves[i][j] = byte(rnd.Uint32())
						}
						ref.add(t, leaves[i])
					}
					rec.writes = rec.writes[:0]
					size, root, err := a.Append(ctx, rec, leaves)
					if err != nil {
						t.Fatal(err)
					}
					if size != n0+k || root != a.State().Root() {
						t.Fatalf("Append returned size %d root %x; state has %d %x", size, root, a.State().Size(), a.State().Root())
					}
					if want := expectedWrites(n0, n0+k); !slices.Equal(rec.writes, want) {
						t.Fatalf("append %d..%d wrote\n%v\nwant (tlog.NewTiles)\n%v", n0, n0+k, rec.writes, want)
					}
				}
				t.Run(fmt.Sprintf("size=%d", target), func(t *testing.T) {
					checkTree(t, store, a.State(), ref)
				})
			}
		})
	}
}

// expectedWrites lists the bundles and tiles an append from n0 to n1 must
// write: entry bundles, then tlog.NewTiles's hash tiles.
func expectedWrites(n0, n1 uint64) []string {
	var want []string
	for _, tl := range tlog.NewTiles(TileHeight, int64(n0), int64(n1)) {
		if tl.L == 0 {
			want = append(want, EntriesPath(uint64(tl.N), tl.W))
		}
	}
	for _, tl := range tlog.NewTiles(TileHeight, int64(n0), int64(n1)) {
		want = append(want, TilePath(uint64(tl.L), uint64(tl.N), tl.W))
	}
	return want
}

// checkTree compares the stored tree of st's size with the references.
func checkTree(t *testing.T, store *MemStore, st *State, ref *reference) {
	t.Helper()
	ctx := t.Context()
	size := st.Size()

	// Roots.
	th, err := tlog.TreeHash(int64(size), ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root() != [32]byte(th) {
		t.Errorf("root %x, tlog.TreeHash %x", st.Root(), th)
	}
	if got, r := ref.tree.HashAt(size), st.Root(); !bytes.Equal(r[:], got) {
		t.Errorf("root %x, merkle testonly %x", st.Root(), got)
	}

	// Every hash tile and entry bundle of the tree of this size.
	for level := uint64(0); size>>(TileHeight*level) > 0; level++ {
		m := size >> (TileHeight * level)
		for n := uint64(0); n*TileWidth < m; n++ {
			w := widthOf(layout.PartialTileSize(level, n, size))
			got, err := store.ReadTile(ctx, level, n, w)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tlog.ReadTileData(tlog.Tile{H: TileHeight, L: int(level), N: int64(n), W: w}, ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("tile %s differs from tlog.ReadTileData", TilePath(level, n, w))
			}
			if level > 0 {
				continue
			}
			gotB, err := store.ReadEntryBundle(ctx, n, w)
			if err != nil {
				t.Fatal(err)
			}
			var wantB []byte
			for i := n * TileWidth; i < n*TileWidth+uint64(w); i++ {
				wantB = append(wantB, tessera.NewEntry(ref.commitments[i][:]).MarshalBundleData(i)...)
			}
			if !bytes.Equal(gotB, wantB) {
				t.Fatalf("bundle %s differs from tessera's encoding", EntriesPath(n, w))
			}
		}
	}

	// LoadState rebuilds the same state from the tiles.
	loaded, err := LoadState(ctx, store, size)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, loaded, cmp.AllowUnexported(State{})); diff != "" {
		t.Errorf("LoadState differs from the appender's state (-appender +loaded):\n%s", diff)
	}

	if size == 0 {
		if _, err := NewProver(ctx, store, 0); err != nil {
			t.Fatal(err)
		}
		return
	}
	checkProofs(t, store, st, ref)
}

// checkProofs compares inclusion and consistency proofs built from the
// tiles with tlog.ProveRecord, tlog.ProveTree and merkle's reference tree,
// and verifies them.
func checkProofs(t *testing.T, store *MemStore, st *State, ref *reference) {
	t.Helper()
	ctx := t.Context()
	size := st.Size()
	p, err := NewProver(ctx, store, size)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range sample(size, 40) {
		got, err := p.InclusionProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := tlog.ProveRecord(int64(size), int64(i), ref)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, rp, func(a []byte, b tlog.Hash) bool { return bytes.Equal(a, b[:]) }) {
			t.Fatalf("inclusion proof of %d at %d differs from tlog.ProveRecord", i, size)
		}
		mp, err := ref.tree.InclusionProof(i, size)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mp, got); diff != "" {
			t.Fatalf("inclusion proof of %d at %d differs from merkle testonly (-want +got):\n%s", i, size, diff)
		}
		if err := VerifyInclusion(ref.commitments[i], i, size, got, st.Root()); err != nil {
			t.Fatal(err)
		}
	}
	for _, old := range sample(size+1, 20) {
		if old == 0 {
			continue
		}
		got, err := p.ConsistencyProof(ctx, old, size)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := tlog.ProveTree(int64(size), int64(old), ref)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, tp, func(a []byte, b tlog.Hash) bool { return bytes.Equal(a, b[:]) }) {
			t.Fatalf("consistency proof %d to %d differs from tlog.ProveTree", old, size)
		}
		mp, err := ref.tree.ConsistencyProof(old, size)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mp, got); diff != "" {
			t.Fatalf("consistency proof %d to %d differs from merkle testonly (-want +got):\n%s", old, size, diff)
		}
		if err := VerifyConsistency(old, size, got, [32]byte(ref.tree.HashAt(old)), st.Root()); err != nil {
			t.Fatal(err)
		}
	}
}

// sample returns up to about k indexes below n: the edges, tile boundaries
// and random ones.
func sample(n uint64, k int) []uint64 {
	if n <= uint64(k) {
		out := make([]uint64, n)
		for i := range out {
			out[i] = uint64(i)
		}
		return out
	}
	out := []uint64{0, 1, n / 2, n - 2, n - 1}
	for _, b := range []uint64{255, 256, 257, 65535, 65536} {
		if b < n {
			out = append(out, b)
		}
	}
	rnd := rand.New(rand.NewPCG(n, 3))
	for len(out) < k {
		out = append(out, rnd.Uint64N(n))
	}
	return out
}

// TestAppendResume checks that an appender rebuilt by LoadState in the
// middle of a run writes exactly what an uninterrupted one writes.
func TestAppendResume(t *testing.T) {
	ctx := t.Context()
	rnd := rand.New(rand.NewPCG(5, 5))
	leaves := make([][32]byte, 2000)
	for i := range leaves {
		for j := range leaves[i] {
			leaves[i][j] = byte(rnd.Uint32())
		}
	}
	batches := []int{1, 300, 7, 1, 255, 256, 513, 667}
	run := func(restartAfter int) (*MemStore, *State) {
		store := NewMemStore()
		st, _ := LoadState(ctx, store, 0)
		a := NewAppender(st)
		off := 0
		for i, b := range batches {
			if i == restartAfter {
				st, err := LoadState(ctx, store, a.State().Size())
				if err != nil {
					t.Fatal(err)
				}
				a = NewAppender(st)
			}
			if _, _, err := a.Append(ctx, store, leaves[off:off+b]); err != nil {
				t.Fatal(err)
			}
			off += b
		}
		return store, a.State()
	}
	want, wantSt := run(-1)
	for r := 1; r < len(batches); r++ {
		got, gotSt := run(r)
		if diff := cmp.Diff(want.tiles, got.tiles, cmp.AllowUnexported(tileName{})); diff != "" {
			t.Errorf("restart after batch %d: tiles differ:\n%s", r, diff)
		}
		if diff := cmp.Diff(want.bundles, got.bundles, cmp.AllowUnexported(tileName{})); diff != "" {
			t.Errorf("restart after batch %d: bundles differ:\n%s", r, diff)
		}
		if diff := cmp.Diff(wantSt, gotSt, cmp.AllowUnexported(State{})); diff != "" {
			t.Errorf("restart after batch %d: states differ:\n%s", r, diff)
		}
	}
}

// failing fails every write after the first n.
type failing struct {
	Store
	n int
}

var errInjected = errors.New("injected")

func (f *failing) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	if f.n--; f.n < 0 {
		return errInjected
	}
	return f.Store.WriteTile(ctx, level, index, width, data)
}

// TestAppendFailureKeepsState checks that a failed Append leaves the
// appender where it was, and that appending again from the State before a
// rolled-back Append gives the tree of a clean run.
func TestAppendFailureKeepsState(t *testing.T) {
	ctx := t.Context()
	store := NewMemStore()
	st, _ := LoadState(ctx, store, 0)
	a := NewAppender(st)
	leaves := make([][32]byte, 600)
	for i := range leaves {
		leaves[i][0], leaves[i][1] = byte(i), byte(i>>8)
	}
	if _, _, err := a.Append(ctx, store, leaves[:300]); err != nil {
		t.Fatal(err)
	}
	before := a.State()
	if _, _, err := a.Append(ctx, &failing{Store: store, n: 1}, leaves[300:]); !errors.Is(err, errInjected) {
		t.Fatalf("Append with failing writes: %v", err)
	}
	if a.State() != before {
		t.Fatal("a failed Append changed the state")
	}
	// A transaction rolled back after a successful Append: a new Appender
	// from the State before it, given the same batch again, gives the same
	// tree as a clean run.
	if _, _, err := a.Append(ctx, store, leaves[300:400]); err != nil {
		t.Fatal(err)
	}
	a = NewAppender(before)
	size, root, err := a.Append(ctx, store, leaves[300:])
	if err != nil {
		t.Fatal(err)
	}
	clean := NewMemStore()
	cs, _ := LoadState(ctx, clean, 0)
	ca := NewAppender(cs)
	wantSize, wantRoot, _ := ca.Append(ctx, clean, leaves)
	if size != wantSize || root != wantRoot {
		t.Fatalf("appending again from the State before: size %d root %x, want %d %x", size, root, wantSize, wantRoot)
	}
}

func TestLoadStateRejectsDisagreeingBundle(t *testing.T) {
	ctx := t.Context()
	m := NewMemStore()
	st, _ := LoadState(ctx, m, 0)
	a := NewAppender(st)
	if _, _, err := a.Append(ctx, m, make([][32]byte, 300)); err != nil {
		t.Fatal(err)
	}
	st = a.State()
	b, _ := m.ReadEntryBundle(ctx, 1, 44)
	b[10] ^= 1
	m.WriteEntryBundle(ctx, 1, 44, b)
	if _, err := LoadState(ctx, m, st.Size()); err == nil {
		t.Fatal("LoadState accepted a bundle that disagrees with its tile")
	}
	if _, err := LoadState(ctx, NewMemStore(), 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadState without tiles: %v, want ErrNotFound", err)
	}
}
