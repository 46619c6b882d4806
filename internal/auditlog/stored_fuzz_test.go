package auditlog

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzStoredEntryBundle: an entry bundle read back from storage either
// holds width 32-byte commitments, which encode back to exactly the stored
// bytes, or is refused as malformed; it never panics.
func FuzzStoredEntryBundle(f *testing.F) {
	var good []byte
	for i := range 3 {
		good = appendEntry(good, [32]byte{byte(i)})
	}
	f.Add(good, uint8(3))
	f.Add(good, uint8(2))
	f.Add(good[:len(good)-1], uint8(3))
	f.Add([]byte{0x00, 0x20}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0x00}, uint8(1))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, d []byte, w uint8) {
		width := int(w)
		cs, err := parseBundle(d, 0, width)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused without ErrMalformed: %v", err)
			}
			return
		}
		if len(cs) != width {
			t.Fatalf("%d commitments, want %d", len(cs), width)
		}
		var back []byte
		for _, c := range cs {
			back = appendEntry(back, c)
		}
		if !bytes.Equal(back, d) {
			t.Fatalf("bundle %x re-encodes as %x", d, back)
		}
	})
}

// FuzzStoredTile: a hash tile read back from storage is used only when it
// has exactly width hashes; anything else is malformed. Proofs over a
// damaged tile fail with an error, never a panic.
func FuzzStoredTile(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1}, 2*HashSize), uint8(2))
	f.Add(bytes.Repeat([]byte{1}, 2*HashSize-1), uint8(2))
	f.Add([]byte{}, uint8(1))
	f.Add(bytes.Repeat([]byte{7}, 256*HashSize+1), uint8(255))
	f.Fuzz(func(t *testing.T, d []byte, w uint8) {
		width := int(w)%256 + 1
		ctx := context.Background()
		ts := NewMemStore()
		if err := ts.WriteTile(ctx, 0, 0, width, d); err != nil {
			t.Skip(err)
		}
		got, err := readTile(ctx, ts, 0, 0, width)
		switch {
		case len(d) == width*HashSize:
			if err != nil || !bytes.Equal(got, d) {
				t.Fatalf("a well-formed tile: %v", err)
			}
		case err == nil || !errors.Is(err, ErrMalformed):
			t.Fatalf("a tile of %d bytes for width %d: %v", len(d), width, err)
		}
		// Proofs for a tree of width leaves read this tile.
		for i := range uint64(width) {
			_, _ = InclusionProof(ctx, ts, i, uint64(width))
		}
		if width > 1 {
			_, _ = ConsistencyProof(ctx, ts, 1, uint64(width))
		}
	})
}
