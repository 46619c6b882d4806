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
// the tiles from the same leaves and checks that the log has not grown
// meanwhile. It returns the size and root of the rebuilt tree. progress,
// if not nil, is called with the events done in each phase ("verifying",
// "rebuilding").
//
// Stop the servers first: appends wait for the rebuild's transaction.
func (l *Log) RebuildTiles(ctx context.Context, external []auditlog.Checkpoint, progress func(phase string, done, total uint64)) (uint64, [32]byte, error) {
	var size uint64
	err := l.verify(ctx, external, true, func(done, total uint64) {
		size = total
		if progress != nil {
			progress("verifying", done, total)
		}
	})
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
		leaves := make([][32]byte, 0, rebuildChunk)
		flush := func() error {
			if _, _, err := a.Append(ctx, ts, leaves); err != nil {
				return err
			}
			leaves = leaves[:0]
			if progress != nil {
				progress("rebuilding", a.State().Size(), size)
			}
			return nil
		}
		for next := uint64(0); next < size; {
			err := ltx.ScanEvents(ctx, next, int(min(size-next, 4096)), func(e *confidant.EventRow) error {
				if e.Index != next || len(e.Leaf) != auditlog.HashSize {
					return &auditlog.Fault{Index: next, Kind: auditlog.FaultDeleted, Detail: "the stored events changed during the rebuild"}
				}
				next++
				leaves = append(leaves, [32]byte(e.Leaf))
				return nil
			})
			if err != nil {
				return err
			}
			if len(leaves) >= rebuildChunk || next == size {
				if err := flush(); err != nil {
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
