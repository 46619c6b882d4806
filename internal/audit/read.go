package audit

import (
	"context"
	"fmt"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// ReadTile returns the stored hash tile of the tree at level and index with
// width hashes (1 to auditlog.TileWidth; C2SP tlog-tiles), for serving the
// tree to outside verifiers (internal/logserve). It fails with an error of
// kind NotFound if no such tile is stored. It only reads: withholding tiles
// beyond the latest signed checkpoint is the caller's business.
func (l *Log) ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	if width < 1 || width > auditlog.TileWidth {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_tile", "The tile's width must be between 1 and %d.", auditlog.TileWidth)
	}
	var data []byte
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		data, err = ltx.Tile(ctx, level, index, width)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading tile %d/%d/%d: %w", level, index, width, err)
	}
	return data, nil
}

// ReadEntryBundle returns the stored entry bundle (the leaf commitments of
// one data tile) at index with width entries, for authenticated auditors.
func (l *Log) ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if width < 1 || width > auditlog.TileWidth {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_tile", "The bundle's width must be between 1 and %d.", auditlog.TileWidth)
	}
	var data []byte
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		data, err = ltx.EntryBundle(ctx, index, width)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading entry bundle %d/%d: %w", index, width, err)
	}
	return data, nil
}
