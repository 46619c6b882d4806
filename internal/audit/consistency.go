package audit

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// size smaller to the tree of size larger, from the stored tiles
// (auditlog.ConsistencyProof), for witnesses. It only reads; larger should
// be the size of a signed checkpoint.
func (l *Log) ConsistencyProof(ctx context.Context, smaller, larger uint64) ([][]byte, error) {
	var p [][]byte
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		p, err = auditlog.ConsistencyProof(ctx, tiles{ctx, ltx}, smaller, larger)
		return err
	})
	return p, err
}
