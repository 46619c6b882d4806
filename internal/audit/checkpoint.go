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

// Checkpoint signs and stores a checkpoint of the stored tree if it grew
// since the latest stored checkpoint, and returns the latest checkpoint.
//
// It never signs what it has not checked against storage: the root it signs
// is recomputed from the leaf commitments stored with the events since the
// latest checkpoint, as an extension of that checkpoint's tree (whose
// compact range, read from the tiles, must give its signed root), and it
// must equal the root of the stored tiles. If either check fails it signs
// nothing and returns a *auditlog.Fault (run `confidant audit verify`).
// Several servers may call it at once: a checkpoint another one stored
// first is returned instead.
func (l *Log) Checkpoint(ctx context.Context) (auditlog.Checkpoint, error) {
	// One signer at a time in this process (the checkpointer,
	// /log/checkpoint, proof bundles).
	l.signMu.Lock()
	defer l.signMu.Unlock()
	l.mu.Lock()
	signer, origin := l.signer, l.origin
	l.mu.Unlock()
	if signer == nil {
		return auditlog.Checkpoint{}, confidant.ErrNoAccessLog
	}
	latest, size, root, err := l.checkedHead(ctx)
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	if latest != nil && latest.Size >= size {
		return *latest, nil
	}
	l.mu.Lock()
	if l.st != nil && l.st.Size() == size && l.st.Root() != root {
		// The cache disagrees with storage: never use it again.
		l.st = nil
		l.log.Error("the access log's tree in memory differs from the stored one; dropped", slog.Uint64("size", size))
	}
	l.mu.Unlock()
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
	if confidant.IsKind(err, confidant.KindConflict) && confidant.CodeOf(err) != "checkpoint_fork" {
		// Another writer stored a larger checkpoint meanwhile.
		if latest, _, _, lerr := l.checkedHead(ctx); lerr == nil && latest != nil && latest.Size >= cp.Size {
			return *latest, nil
		}
	}
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	return cp, nil
}

// checkedHead reads, in one snapshot, the latest stored checkpoint (nil if
// none) and the stored log's size, and, if the log is larger, the root of
// the stored tree recomputed and checked as Checkpoint documents.
func (l *Log) checkedHead(ctx context.Context) (latest *auditlog.Checkpoint, size uint64, root [32]byte, err error) {
	err = l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		stored, err := ltx.LatestCheckpoint(ctx)
		switch {
		case err == nil:
			cp, err := l.parse(stored.Note)
			if err != nil {
				return &auditlog.Fault{Index: stored.Size, Kind: "checkpoint", Detail: "the stored checkpoint does not verify: " + err.Error()}
			}
			latest = &cp
		case !confidant.IsKind(err, confidant.KindNotFound):
			return err
		}
		if size, err = ltx.LogSize(ctx); err != nil {
			return err
		}
		if latest != nil && latest.Size >= size {
			return nil
		}
		from, fromRoot := uint64(0), auditlog.EmptyRoot()
		if latest != nil {
			from, fromRoot = latest.Size, latest.Root
		}
		ts := tiles{ctx, ltx}
		ext, err := auditlog.ExtendFrom(ctx, ts, size, from, fromRoot)
		if err != nil {
			return err
		}
		if err := scanLeaves(ctx, ltx, from, size, func(_ uint64, leaf [32]byte) error { return ext.Append(leaf) }); err != nil {
			return err
		}
		if root, err = ext.Root(); err != nil {
			return err
		}
		st, err := auditlog.LoadState(ctx, ts, size)
		if err != nil {
			return treeFault(err, from)
		}
		if st.Root() != root {
			return &auditlog.Fault{Index: from, Kind: auditlog.FaultTile,
				Detail: fmt.Sprintf("the stored tiles of size %d differ from the tree of the stored leaves", size)}
		}
		return nil
	})
	return latest, size, root, err
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
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			l.log.Error("signing a checkpoint failed", slog.String("err", err.Error()))
			continue
		}
		if cp.Size == last {
			continue
		}
		last = cp.Size
		if publish != nil {
			publish(cp)
		}
	}
}

// CheckStored checks the stored tree as Checkpoint does before signing,
// whether or not the log grew since the latest checkpoint: if it grew, the
// leaves stored since must extend that checkpoint to the stored tiles'
// root, and a checkpoint of it is signed and stored (so the next check
// starts from there); if not, the stored tiles must give the latest
// checkpoint's root. A server runs it before serving. It returns a
// *auditlog.Fault if the check fails.
func (l *Log) CheckStored(ctx context.Context) error {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return err
	}
	return l.viewLog(ctx, func(ltx confidant.LogTx) error {
		size, err := ltx.LogSize(ctx)
		switch {
		case err != nil:
			return err
		case cp.Size > size:
			return &auditlog.Fault{Index: size, Kind: auditlog.FaultTruncated,
				Detail: fmt.Sprintf("the log has %d events but its latest stored checkpoint has size %d", size, cp.Size)}
		case cp.Size < size:
			return nil // it grew after the checkpoint just checked and signed
		}
		st, err := storedTree(ctx, ltx)
		if err != nil {
			return err
		}
		if st.Root() != cp.Root {
			return &auditlog.Fault{Index: 0, Kind: auditlog.FaultTile,
				Detail: fmt.Sprintf("the stored tiles of size %d give another root than the latest checkpoint's", size)}
		}
		return nil
	})
}

// treeFault turns an error loading the stored tree into a *auditlog.Fault
// of kind tile at index if it says the tree is damaged (a tile missing or
// malformed), and returns any other error (the database failed: that is no
// evidence about the tree) unchanged.
func treeFault(err error, index uint64) error {
	if !auditlog.IsDamage(err) {
		return err
	}
	return &auditlog.Fault{Index: index, Kind: auditlog.FaultTile, Detail: "loading the stored tree: " + err.Error()}
}

// SignDigest signs a board digest body with the checkpoint key
// (auditlog.SignDigest: its first line is auditlog.DigestHeader, never a
// checkpoint's origin).
func (l *Log) SignDigest(body string) ([]byte, error) {
	l.mu.Lock()
	signer := l.signer
	l.mu.Unlock()
	if signer == nil {
		return nil, confidant.ErrNoAccessLog
	}
	return auditlog.SignDigest(signer, body)
}

// OpenDigest verifies a board digest signed by this log's key.
func (l *Log) OpenDigest(text []byte) (string, error) {
	l.mu.Lock()
	v := l.verifier
	l.mu.Unlock()
	if v == nil {
		return "", confidant.ErrNoAccessLog
	}
	return auditlog.OpenDigest(text, notesVerifiers(v))
}
