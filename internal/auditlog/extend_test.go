package auditlog

import (
	"context"
	"errors"
	"testing"
)

// TestExtendFrom: extending a checked tree of any earlier size by the
// leaves stored since gives the stored tree's root, reading only the tiles
// of the stored size; a wrong old root or a missing tile is a tile fault,
// and a store that fails to read passes its error on.
func TestExtendFrom(t *testing.T) {
	ctx := context.Background()
	events := synthEvents(t, 1000, 7, nil)
	m, roots := buildFrom(t, events, 37)
	want := roots[1000]
	for old, oldRoot := range roots {
		ext, err := ExtendFrom(ctx, m, 1000, old, oldRoot)
		if err != nil {
			t.Fatalf("ExtendFrom(%d): %v", old, err)
		}
		for _, e := range events[old:] {
			if err := ext.Append(e.Commitment); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := ext.Root(); err != nil || got != want || ext.Size() != 1000 {
			t.Fatalf("from %d: size %d root %x, %v; want 1000 %x", old, ext.Size(), got, err, want)
		}
	}
	var f *Fault
	bad := roots[370]
	bad[0] ^= 1
	if _, err := ExtendFrom(ctx, m, 1000, 370, bad); !errors.As(err, &f) || f.Kind != FaultTile {
		t.Errorf("ExtendFrom with a wrong old root: %v, want a tile fault", err)
	}
	if _, err := ExtendFrom(ctx, m, 300, 370, roots[370]); !errors.As(err, &f) || f.Kind != FaultTruncated {
		t.Errorf("ExtendFrom beyond the stored size: %v, want truncated", err)
	}
	failing := failingTiles{m, errors.New("connection reset")}
	if _, err := ExtendFrom(ctx, failing, 1000, 370, roots[370]); errors.As(err, &f) || !errors.Is(err, failing.err) {
		t.Errorf("ExtendFrom over a failing store: %v, want the store's error, not a fault", err)
	}
	missing := failingTiles{m, ErrNotFound}
	if _, err := ExtendFrom(ctx, missing, 1000, 370, roots[370]); !errors.As(err, &f) || f.Kind != FaultTile {
		t.Errorf("ExtendFrom with tiles missing: %v, want a tile fault", err)
	}
}

// failingTiles fails every tile read with err.
type failingTiles struct {
	TileStore
	err error
}

func (f failingTiles) ReadTile(context.Context, uint64, uint64, int) ([]byte, error) {
	return nil, f.err
}
