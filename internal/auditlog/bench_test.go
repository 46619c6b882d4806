package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// discard is a Store that keeps nothing, so that BenchmarkAppend measures
// the Appender (hashing, tile building) and not a store.
type discard struct{ bytes int }

func (d *discard) ReadTile(context.Context, uint64, uint64, int) ([]byte, error) {
	return nil, ErrNotFound
}
func (d *discard) WriteTile(_ context.Context, _, _ uint64, _ int, data []byte) error {
	d.bytes += len(data)
	return nil
}
func (d *discard) ReadEntryBundle(context.Context, uint64, int) ([]byte, error) {
	return nil, ErrNotFound
}
func (d *discard) WriteEntryBundle(_ context.Context, _ uint64, _ int, data []byte) error {
	d.bytes += len(data)
	return nil
}

func randomLeaves(n int, seed uint64) [][32]byte {
	rnd := rand.New(rand.NewPCG(seed, 7))
	out := make([][32]byte, n)
	for i := range out {
		for j := 0; j < 32; j += 8 {
			v := rnd.Uint64()
			for k := range 8 {
				out[i][j+k] = byte(v >> (8 * k))
			}
		}
	}
	return out
}

// BenchmarkAppend appends batches of 1, 16 and 256 commitments to a tree
// of 100,000 leaves (through a store that discards the writes) and reports
// the time per batch (ns/op), per leaf, and the bytes written per batch.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			store := NewMemStore()
			st, _ := LoadState(ctx, store, 0)
			a := NewAppender(st)
			if _, _, err := a.Append(ctx, store, randomLeaves(100_000, 1)); err != nil {
				b.Fatal(err)
			}
			leaves := randomLeaves(batch*1024, 2)
			d := &discard{}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				off := (i % 1024) * batch
				if _, _, err := a.Append(ctx, d, leaves[off:off+batch]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/leaf")
			b.ReportMetric(float64(d.bytes)/float64(b.N), "B-written/op")
		})
	}
}

var (
	proofOnce  sync.Once
	proofStore *MemStore
	proofState *State
	proofLeafs [][32]byte
)

// BenchmarkInclusionProof builds inclusion proofs in a tree of 2^20 leaves
// from an in-memory tile store: "new" with a fresh Prover per proof (one
// request), "reused" with one Prover for all (its tile cache warm), and
// "verify" checks a proof.
func BenchmarkInclusionProof(b *testing.B) {
	const n = 1 << 20
	ctx := context.Background()
	proofOnce.Do(func() {
		proofStore = NewMemStore()
		st, _ := LoadState(ctx, proofStore, 0)
		a := NewAppender(st)
		proofLeafs = randomLeaves(n, 3)
		for off := 0; off < n; off += 256 {
			if _, _, err := a.Append(ctx, proofStore, proofLeafs[off:off+256]); err != nil {
				b.Fatal(err)
			}
		}
		proofState = a.State()
	})
	rnd := rand.New(rand.NewPCG(4, 4))
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := InclusionProof(ctx, proofStore, rnd.Uint64N(n), n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		p, _ := NewProver(ctx, proofStore, n)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.InclusionProof(ctx, rnd.Uint64N(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		i := rnd.Uint64N(n)
		pf, _ := InclusionProof(ctx, proofStore, i, n)
		b.ReportAllocs()
		for b.Loop() {
			if err := VerifyInclusion(proofLeafs[i], i, n, pf, proofState.Root()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
