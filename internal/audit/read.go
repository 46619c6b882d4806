package audit

import (
	"context"
	"errors"
	"fmt"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// ReadTile returns the hash tile of the tree at level and index with width
// hashes (1 to auditlog.TileWidth; C2SP tlog-tiles), for serving the tree
// to outside verifiers (internal/logserve): as stored, or derived as the
// tree's storage does (a partial level-0 tile from the stored leaves). It
// fails with an error of kind NotFound if there is no such tile. It only reads: withholding tiles
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
		data, err = tiles{ctx, ltx}.ReadTile(ctx, level, index, width)
		return notFound(err)
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
		data, err = tiles{ctx, ltx}.ReadEntryBundle(ctx, index, width)
		return notFound(err)
	})
	if err != nil {
		return nil, fmt.Errorf("reading entry bundle %d/%d: %w", index, width, err)
	}
	return data, nil
}

// notFound turns auditlog.ErrNotFound, and a tile that cannot be derived
// from the events (a *auditlog.Fault), into confidant.ErrNotFound.
func notFound(err error) error {
	var f *auditlog.Fault
	if errors.Is(err, auditlog.ErrNotFound) || errors.As(err, &f) {
		return confidant.Wrap(err, confidant.KindNotFound, "not_found", "Not found.")
	}
	return err
}
