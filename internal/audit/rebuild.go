package audit

import (
	"context"
	"errors"
	"fmt"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// rebuildChunk is how many leaves RebuildTiles appends at a time: a whole
// number of level-1 tiles, so that only levels 2 and up get intermediate
// partial tiles.
const rebuildChunk = auditlog.TileWidth * auditlog.TileWidth

// RebuildTiles recomputes every hash tile and entry bundle of the log from
// the leaf commitments stored with its events, for a log whose derived data
// is damaged. It can never launder tampering: first it verifies the whole
// log from the events alone, as Verify does but reading no tile (each
// event's commitment, the indexes, the patients' chains, and the root at
// the size of the latest stored checkpoint and of every external one), and
// refuses with that *auditlog.Fault if anything but the tiles is wrong;
// only then, in one transaction holding the log's append lock, it rewrites
// the tiles from the same leaves, checks the rebuilt tree against every
// stored checkpoint (each signature, and the root at its size; a mismatch
// writes nothing) and checks that the log has not grown meanwhile. It returns the size and root of the rebuilt tree. progress,
// if not nil, is called with the events done in each phase ("verifying",
// "rebuilding").
//
// Stop the servers first: appends wait for the rebuild's transaction.
func (l *Log) RebuildTiles(ctx context.Context, external []auditlog.Checkpoint, progress func(phase string, done, total uint64)) (uint64, [32]byte, error) {
	var verifying func(done, total uint64)
	if progress != nil {
		verifying = func(done, total uint64) { progress("verifying", done, total) }
	}
	size, err := l.verify(ctx, external, true, verifying)
	var f *auditlog.Fault
	switch {
	case err == nil:
	case errors.As(err, &f) && f.Kind == auditlog.FaultTile:
		// The tiles hidden from the check: expected.
	default:
		return 0, [32]byte{}, fmt.Errorf("refusing to rebuild the tiles: the events themselves do not verify: %w", err)
	}
	var st *auditlog.State
	err = l.backend.Update(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		n, err := ltx.LockLog(ctx)
		if err != nil {
			return err
		}
		if n != size {
			return confidant.Errorf(confidant.KindConflict, "log_grew",
				"The access log grew from %d to %d events while it was being checked; stop every server and run the rebuild again.", size, n)
		}
		ts := everyTile{tiles{ctx, ltx}}
		a := auditlog.NewAppender(auditlog.NewState())
		leaves := make([][32]byte, 0, 2*rebuildChunk)
		// flush appends the leaves gathered, all of them at the end, else
		// up to the last whole level-0 tile (so that only the final
		// partial tile is written).
		flush := func(final bool) error {
			n := len(leaves)
			if !final {
				n -= int((a.State().Size() + uint64(n)) % auditlog.TileWidth)
			}
			if _, _, err := a.Append(ctx, ts, leaves[:n]); err != nil {
				return err
			}
			leaves = append(leaves[:0], leaves[n:]...)
			if progress != nil {
				progress("rebuilding", a.State().Size(), size)
			}
			return nil
		}
		// The rebuilt tree must give every stored checkpoint's root at its
		// size (the verification above compared only the latest): a
		// compact range of the same leaves checks each one.
		ext, err := auditlog.ExtendFrom(ctx, ts, 0, 0, auditlog.EmptyRoot())
		if err != nil {
			return err
		}
		cps := &storedCheckpoints{ltx: ltx}
		for next := uint64(0); next < size; {
			// Up to the next stored checkpoint or a chunk's worth of leaves.
			stop := min(size, next+rebuildChunk)
			cp, err := cps.next(ctx, next)
			if err != nil {
				return err
			}
			if cp != nil {
				stop = min(stop, cp.Size)
			}
			err = scanLeaves(ctx, ltx, next, stop, func(_ uint64, leaf [32]byte) error {
				leaves = append(leaves, leaf)
				return ext.Append(leaf)
			})
			if err != nil {
				return err
			}
			next = stop
			if cp != nil && next == cp.Size {
				if err := l.checkRebuilt(ext, *cp); err != nil {
					return err
				}
			}
			if len(leaves) >= rebuildChunk || next == size {
				if err := flush(next == size); err != nil {
					return err
				}
			}
		}
		st = a.State()
		return nil
	})
	l.mu.Lock()
	l.st = nil // whatever it was, storage has changed under it
	l.mu.Unlock()
	if err != nil {
		return 0, [32]byte{}, err
	}
	return st.Size(), st.Root(), nil
}

// everyTile is tiles that also stores the partial level-0 tile and entry
// bundle, which appends leave to be derived: a log written before they
// were derived may hold a damaged one, which the reader would prefer, so
// the rebuild overwrites it.
type everyTile struct{ tiles }

func (t everyTile) WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	return t.tx.PutTile(ctx, level, index, width, data)
}

func (t everyTile) WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	return t.tx.PutEntryBundle(ctx, index, width, data)
}

// storedCheckpoints reads the stored checkpoints in order of size, a page
// at a time.
type storedCheckpoints struct {
	ltx  confidant.LogTx
	page []confidant.LogCheckpoint
	done bool
}

// next returns the first stored checkpoint of a size larger than at, or
// nil if there is none.
func (c *storedCheckpoints) next(ctx context.Context, at uint64) (*confidant.LogCheckpoint, error) {
	for len(c.page) > 0 && c.page[0].Size <= at {
		c.page = c.page[1:]
	}
	if len(c.page) == 0 && !c.done {
		var err error
		if c.page, err = c.ltx.Checkpoints(ctx, at, 1000); err != nil {
			return nil, err
		}
		c.done = len(c.page) < 1000
	}
	if len(c.page) == 0 {
		return nil, nil
	}
	return &c.page[0], nil
}

// checkRebuilt compares the rebuilt tree, at a stored checkpoint's size,
// with that checkpoint, whose signature it checks first.
func (l *Log) checkRebuilt(ext *auditlog.Extension, stored confidant.LogCheckpoint) error {
	cp, err := l.parse(stored.Note)
	if err != nil || cp.Size != stored.Size {
		return &auditlog.Fault{Index: stored.Size, Kind: "checkpoint", Detail: fmt.Sprintf("the stored checkpoint of size %d does not verify", stored.Size)}
	}
	root, err := ext.Root()
	if err != nil {
		return err
	}
	if root != cp.Root {
		return &auditlog.Fault{Index: 0, Kind: auditlog.FaultRootMismatch,
			Detail: fmt.Sprintf("the tree of the stored leaves differs from the stored checkpoint of size %d", stored.Size)}
	}
	return nil
}
