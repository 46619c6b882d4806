package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// SignerKeyName is the system key holding the checkpoint signing key (an
// Ed25519 note key), sealed under the audit keyset.
const SignerKeyName = "~checkpoint"

// signerKey is the sealed content of the signer system key.
type signerKey struct {
	Skey string `json:"s"`
	Vkey string `json:"v"`
}

func signerAD(origin string) []byte { return []byte("confidant/checkpoint-key/v1|" + origin) }

// loadSigner loads the checkpoint signing key for origin, creating it on
// first use.
func (l *Log) loadSigner(ctx context.Context, origin string) error {
	var sk signerKey
	err := l.backend.Update(ctx, func(tx confidant.SealedTx) error {
		wk, err := tx.SystemKey(ctx, SignerKeyName)
		if err == nil {
			b, err := l.aead.Decrypt(wk.Wrapped, signerAD(origin))
			if err != nil {
				return confidant.Errorf(confidant.KindInternal, "checkpoint_key", "The checkpoint signing key cannot be opened (another origin, or damaged).")
			}
			return json.Unmarshal(b, &sk)
		}
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if sk.Skey, sk.Vkey, err = auditlog.GenerateKey(nil, origin); err != nil {
			return err
		}
		b, err := json.Marshal(sk)
		if err != nil {
			return err
		}
		sealed, err := l.aead.Encrypt(b, signerAD(origin))
		if err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, confidant.WrappedKey{Owner: SignerKeyName, KEKID: "audit-key", Wrapped: sealed, UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	})
	if err != nil {
		return fmt.Errorf("checkpoint key: %w", err)
	}
	s, err := auditlog.NewSigner(sk.Skey)
	if err != nil {
		return err
	}
	v, err := auditlog.NewVerifier(sk.Vkey)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.origin, l.signer, l.vkey, l.verifier = origin, s, sk.Vkey, v
	l.mu.Unlock()
	return nil
}

// VerifierKey returns the public key that verifies the log's checkpoints,
// in note format; publish it to whoever keeps checkpoints.
func (l *Log) VerifierKey() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vkey
}

// Checkpoint signs and stores a checkpoint of the committed tree if it grew
// since the last one, and returns the latest checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (auditlog.Checkpoint, error) {
	// One signer at a time (the checkpointer, /log/checkpoint, proof
	// bundles): the later caller then finds the checkpoint the earlier one
	// stored instead of failing to store an older one.
	l.signMu.Lock()
	defer l.signMu.Unlock()
	l.mu.Lock()
	size, root, signer, origin := l.size, l.root, l.signer, l.origin
	l.mu.Unlock()
	if signer == nil {
		return auditlog.Checkpoint{}, confidant.ErrNoAccessLog
	}
	var latest confidant.LogCheckpoint
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		latest, err = ltx.LatestCheckpoint(ctx)
		if confidant.IsKind(err, confidant.KindNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	if latest.Note != nil && latest.Size >= size {
		return l.parse(latest.Note)
	}
	cp, err := auditlog.SignCheckpoint(signer, origin, size, root)
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	err = l.backend.Update(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		return ltx.PutCheckpoint(ctx, confidant.LogCheckpoint{Size: cp.Size, Root: cp.Root[:], Note: cp.Note, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	})
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	return cp, nil
}

// parse verifies a checkpoint signed by this log.
func (l *Log) parse(note []byte) (auditlog.Checkpoint, error) {
	l.mu.Lock()
	v := l.verifier
	l.mu.Unlock()
	return auditlog.ParseCheckpoint(note, notesVerifiers(v))
}

// RunCheckpointer signs a checkpoint every interval while the tree grows,
// until ctx is done. Each new checkpoint is passed to publish (witnesses, a
// directory for the board), if set.
func (l *Log) RunCheckpointer(ctx context.Context, every time.Duration, publish func(auditlog.Checkpoint)) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		size, _ := l.Head()
		if size == last {
			continue
		}
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			l.log.Error("signing a checkpoint failed", slog.String("err", err.Error()))
			continue
		}
		last = cp.Size
		if publish != nil {
			publish(cp)
		}
	}
}
