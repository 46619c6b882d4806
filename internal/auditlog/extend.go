package auditlog

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// Extension grows a tree that someone has already checked (a signed
// checkpoint's size and root) by leaf commitments read from the events, so
// that the root it computes is, by construction, an extension of the
// checked tree over exactly those leaves: nothing in it comes from the
// stored tiles except the old tree's compact range, and that is checked
// against the old root.
type Extension struct {
	r *compact.Range
}

// ExtendFrom starts an Extension of the tree of oldSize and oldRoot. It
// reads the old tree's compact range from the tiles of the stored tree of
// storedSize >= oldSize: a tile of a smaller tree is a prefix of the same
// tile of a larger one, so no partial tile of the old size need still be
// stored. It fails with a *Fault of kind FaultTile if the range's root is
// not oldRoot (a damaged or forged tile), and with FaultTile too if a tile
// is missing or malformed (IsDamage); a failure to read returns that error.
func ExtendFrom(ctx context.Context, ts TileStore, storedSize, oldSize uint64, oldRoot [32]byte) (*Extension, error) {
	if oldSize > storedSize {
		return nil, fault(storedSize, FaultTruncated, "the stored tree has %d leaves, fewer than the checked tree's %d", storedSize, oldSize)
	}
	if oldSize == 0 {
		if oldRoot != [32]byte(rfc6962.DefaultHasher.EmptyRoot()) {
			return nil, fault(0, FaultRootMismatch, "a tree of size 0 with a root other than the empty tree's")
		}
		return &Extension{r: rangeFactory.NewEmptyRange(0)}, nil
	}
	var first error
	fetch := func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		want := widthOf(p)
		have := widthOf(layout.PartialTileSize(level, index, storedSize))
		d, err := readTile(ctx, ts, level, index, have)
		if err == nil && have < want {
			err = fmt.Errorf("auditlog: tile %s is narrower than the %d hashes of the tree of size %d", TilePath(level, index, have), want, oldSize)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			return nil, err
		}
		return d[:want*HashSize], nil
	}
	hashes, err := client.FetchRangeNodes(ctx, oldSize, fetch)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if first != nil {
			err = first
		}
		if !IsDamage(err) {
			return nil, err // the store failed: no evidence about the tree
		}
		return nil, fault(0, FaultTile, "reading the compact range of size %d: %v", oldSize, err)
	}
	r, err := rangeFactory.NewRange(0, oldSize, hashes)
	if err != nil {
		return nil, fault(0, FaultTile, "the compact range of size %d: %v", oldSize, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fault(0, FaultTile, "the root of size %d: %v", oldSize, err)
	}
	if [32]byte(root) != oldRoot {
		return nil, fault(0, FaultTile, "the stored tiles give another root than the checked tree's at size %d", oldSize)
	}
	return &Extension{r: r}, nil
}

// Append adds the next leaf commitment (LeafHash's output, as stored with
// its event).
func (e *Extension) Append(commitment [32]byte) error {
	return e.r.Append(rfc6962.DefaultHasher.HashLeaf(commitment[:]), nil)
}

// Size returns the number of leaves of the extended tree.
func (e *Extension) Size() uint64 { return e.r.End() }

// Root returns the root hash of the extended tree.
func (e *Extension) Root() ([32]byte, error) {
	if e.r.End() == 0 {
		return [32]byte(rfc6962.DefaultHasher.EmptyRoot()), nil
	}
	root, err := e.r.GetRootHash(nil)
	if err != nil {
		return [32]byte{}, fmt.Errorf("auditlog: root of the extended tree: %w", err)
	}
	return [32]byte(root), nil
}

// EmptyRoot returns the RFC 6962 root of the empty tree.
func EmptyRoot() [32]byte { return [32]byte(rfc6962.DefaultHasher.EmptyRoot()) }
