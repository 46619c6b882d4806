package audit

import (
	"context"
	"iter"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// Verify recomputes the whole log from the stored events (decrypting their
// sealed free text to rebuild each canonical event) and checks it against
// the stored tiles, the latest stored checkpoint and the external
// checkpoints given (held by witnesses, the board, the regulator). It
// returns a *auditlog.Fault naming the first bad index, or nil.
func (l *Log) Verify(ctx context.Context, external []auditlog.Checkpoint, progress func(done, total uint64)) error {
	return l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		cps := append([]auditlog.Checkpoint(nil), external...)
		for i := range cps {
			cps[i].External = true
		}
		latest, err := ltx.LatestCheckpoint(ctx)
		switch {
		case err == nil:
			cp, err := l.parse(latest.Note)
			if err != nil {
				return &auditlog.Fault{Index: latest.Size, Kind: "checkpoint", Detail: "the stored checkpoint does not verify: " + err.Error()}
			}
			cps = append(cps, cp)
		case !confidant.IsKind(err, confidant.KindNotFound):
			return err
		}
		return auditlog.Verify(ctx, source{l: l, tx: ltx, tiles: tiles{ctx, ltx}}, cps, progress)
	})
}

// source is the stored log as auditlog.Verify reads it.
type source struct {
	tiles
	l  *Log
	tx confidant.LogTx
}

func (s source) TreeSize(ctx context.Context) (uint64, error) { return s.tx.LogSize(ctx) }

// Events yields the stored events in index order, rebuilding each canonical
// encoding from the stored columns and the decrypted free text. A row whose
// sealed text does not decrypt is yielded with an empty canonical encoding,
// so Verify reports it at its index.
func (s source) Events(ctx context.Context) iter.Seq2[auditlog.StoredEvent, error] {
	return func(yield func(auditlog.StoredEvent, error) bool) {
		const page = 10000
		var from uint64
		for {
			evs, err := s.tx.Events(ctx, from, page)
			if err != nil {
				yield(auditlog.StoredEvent{}, err)
				return
			}
			for _, se := range evs {
				out := auditlog.StoredEvent{Index: se.Index}
				copy(out.Nonce[:], se.Nonce)
				copy(out.Commitment[:], se.Leaf)
				if e, err := s.l.EventOf(se); err == nil {
					out.Event, _ = e.MarshalCanonical()
				}
				if !yield(out, nil) {
					return
				}
				from = se.Index + 1
			}
			if len(evs) < page {
				return
			}
		}
	}
}

// Bundle returns the proof bundle of one event for the patient it concerns:
// the event and its nonce (the opening), an inclusion proof and the latest
// checkpoint that covers it. Anyone can check it with the log's public key
// (auditlog.CheckBundle, `confidant audit check-proof`).
func (l *Log) Bundle(ctx context.Context, index uint64) (auditlog.Bundle, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return auditlog.Bundle{}, err
	}
	if index >= cp.Size {
		return auditlog.Bundle{}, confidant.Errorf(confidant.KindConflict, "not_yet_checkpointed", "This entry is not yet covered by a signed checkpoint; try again in a few seconds.")
	}
	var b auditlog.Bundle
	err = l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		evs, err := ltx.Events(ctx, index, 1)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Index != index {
			return confidant.ErrNotFound
		}
		e, err := l.EventOf(evs[0])
		if err != nil {
			return err
		}
		canon, err := e.MarshalCanonical()
		if err != nil {
			return err
		}
		o := auditlog.Opening{Event: canon}
		copy(o.Nonce[:], evs[0].Nonce)
		b, err = auditlog.NewBundle(ctx, tiles{ctx, ltx}, o, cp)
		return err
	})
	return b, err
}

// Query answers an access-log query (newest first).
func (l *Log) Query(ctx context.Context, f confidant.EventFilter) ([]confidant.StoredEvent, error) {
	var out []confidant.StoredEvent
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		out, err = ltx.QueryEvents(ctx, f)
		return err
	})
	return out, err
}

// CheckExternal compares the log with a checkpoint held outside the system
// (a witness, the board's copy): it fails with an *auditlog.Fault of kind
// "rollback" if the log is smaller than the checkpoint (a restored older
// copy of the database), and of another kind if it is inconsistent with it.
// The server refuses to start on such an error.
func (l *Log) CheckExternal(ctx context.Context, cp auditlog.Checkpoint) error {
	return l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		size, root := l.Head()
		return auditlog.CheckExternal(ctx, tiles{ctx, ltx}, size, root, cp)
	})
}

// ParseOwn verifies a checkpoint text against this log's key.
func (l *Log) ParseOwn(text []byte) (auditlog.Checkpoint, error) {
	cp, err := l.parse(text)
	cp.External = true
	return cp, err
}
