package seal

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Rotator is what key rotation needs of internal/keys.
type Rotator interface {
	Keyring
	// KEKID names the KEK key that new wraps use.
	KEKID() string
	RewrapPatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, error)
	RewrapSystemKey(wk confidant.WrappedKey) (confidant.WrappedKey, error)
	RotatePatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, tink.AEAD, error)
	PatientPrimaryKeyID(wk confidant.WrappedKey) (uint32, error)
	PrunePatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, error)
}

// SystemKeyNames are the system keys wrapped by the KEK.
var SystemKeyNames = []string{IndexKeyName, KeysetKeyNames[0], KeysetKeyNames[1], KeysetKeyNames[2]}

// KeysetKeyNames are the system keys that hold a Tink keyset wrapped like a
// patient's (by RewrapPatientKey) rather than a raw secret: the access
// log's audit keyset (internal/audit.KeyName) and the keyset of the TOTP
// secrets (TOTPKeyName), the keyset of alerts and honeytokens
// (AlertsKeyName) and the keyset of the recipients' addresses and the
// outbox (DeliveryKeyName).
var KeysetKeyNames = []string{"~audit", TOTPKeyName, AlertsKeyName, DeliveryKeyName}

// IndexKeyName is the system key of the blind indexes.
const IndexKeyName = "blind-index"

// RewrapAll re-wraps every patient keyset and system key that is not
// wrapped by the current KEK key (KEK rotation). Records are not
// re-encrypted. It works in batches of batch keys, each in its own
// transaction, so it can be interrupted at any point (Ctrl-C, a crash) and
// resumed by running it again: keys already moved are not touched twice.
// progress, if set, is called with the keys done and the total to do.
func RewrapAll(ctx context.Context, backend confidant.SealedStore, k Rotator, batch int, progress func(done, total int)) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	kek := k.KEKID()
	var todo int
	if err := backend.View(ctx, func(tx confidant.SealedTx) error {
		var err error
		_, todo, err = tx.CountPatientKeys(ctx, kek)
		return err
	}); err != nil {
		return 0, err
	}
	done, after := 0, ""
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		var n int
		err := backend.Update(ctx, func(tx confidant.SealedTx) error {
			wks, err := tx.ListPatientKeys(ctx, confidant.KeyFilter{NotKEK: kek, After: after, Limit: batch})
			if err != nil {
				return err
			}
			for _, wk := range wks {
				nw, err := k.RewrapPatientKey(wk)
				if err != nil {
					return fmt.Errorf("re-wrapping the key of patient %s: %w", wk.Owner, err)
				}
				if err := tx.PutPatientKey(ctx, nw); err != nil {
					return err
				}
				after = wk.Owner
			}
			n = len(wks)
			return nil
		})
		if err != nil {
			return done, err
		}
		done += n
		if progress != nil {
			progress(done, todo)
		}
		if n < batch {
			break
		}
	}
	err := backend.Update(ctx, func(tx confidant.SealedTx) error {
		for _, name := range SystemKeyNames {
			wk, err := tx.SystemKey(ctx, name)
			if confidant.IsKind(err, confidant.KindNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if wk.KEKID == kek {
				continue
			}
			rewrap := k.RewrapSystemKey
			if slices.Contains(KeysetKeyNames, name) {
				rewrap = k.RewrapPatientKey
			}
			nw, err := rewrap(wk)
			if err != nil {
				return fmt.Errorf("re-wrapping system key %s: %w", name, err)
			}
			if err := tx.PutSystemKey(ctx, nw); err != nil {
				return err
			}
		}
		return nil
	})
	return done, err
}

// KEKInUse reports whether any patient or system key is still wrapped by
// the KEK key kekID (a retired KEK must not be).
func KEKInUse(ctx context.Context, backend confidant.SealedStore, kekID string) (bool, error) {
	inUse := false
	err := backend.View(ctx, func(tx confidant.SealedTx) error {
		wks, err := tx.ListPatientKeys(ctx, confidant.KeyFilter{})
		if err != nil {
			return err
		}
		for _, wk := range wks {
			if wk.KEKID == kekID {
				inUse = true
				return nil
			}
		}
		for _, name := range SystemKeyNames {
			wk, err := tx.SystemKey(ctx, name)
			if err == nil && wk.KEKID == kekID {
				inUse = true
			} else if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
				return err
			}
		}
		return nil
	})
	return inUse, err
}

// ciphertextKeyID returns the Tink key id at the start of a sealed value
// (format byte, then Tink's 0x01 prefix and a 4-byte big-endian key id).
func ciphertextKeyID(sealed []byte) (uint32, bool) {
	if len(sealed) < 6 || sealed[0] != format || sealed[1] != 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[2:6]), true
}

// RotatePatient gives a patient's keyset a new primary key and re-encrypts
// every sealed value of the patient under it, batch by batch; old keys keep
// decrypting until the end, so the records stay readable throughout and the
// work can be interrupted and resumed. When everything is re-encrypted the
// old keys are removed from the keyset. progress, if set, is called with the
// values done and the total.
func RotatePatient(ctx context.Context, backend confidant.SealedStore, k Rotator, patientID string, progress func(done, total int)) error {
	// 1. New primary key, skipped when a previous run already added one and
	// old values remain. Outside a rotation every value is under the primary
	// (new values are sealed with it, and a finished rotation leaves no other
	// key), so values under another key mean an interrupted run.
	var primary uint32
	var a tink.AEAD
	var todo []confidant.Blob
	err := backend.Update(ctx, func(tx confidant.SealedTx) error {
		wk, err := tx.PatientKey(ctx, patientID)
		if err != nil {
			return err
		}
		if primary, err = k.PatientPrimaryKeyID(wk); err != nil {
			return err
		}
		blobs, err := tx.PatientBlobs(ctx, patientID)
		if err != nil {
			return err
		}
		todo = notUnder(blobs, primary)
		if len(todo) > 0 {
			a, err = k.PatientAEAD(wk)
			return err
		}
		nw, aead, err := k.RotatePatientKey(wk)
		if err != nil {
			return err
		}
		if primary, err = k.PatientPrimaryKeyID(nw); err != nil {
			return err
		}
		a, todo = aead, blobs
		return tx.PutPatientKey(ctx, nw)
	})
	if err != nil {
		return err
	}
	// 2. Re-encrypt what is not under the primary.
	const batch = 200
	for i := 0; i < len(todo); i += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		part := todo[i:min(i+batch, len(todo))]
		err := backend.Update(ctx, func(tx confidant.SealedTx) error {
			// The values as they are now: one may have been rewritten since
			// it was listed (a draft saved, a patient updated), and writing
			// back the listed copy would undo that.
			cur, err := tx.PatientBlobs(ctx, patientID)
			if err != nil {
				return err
			}
			now := make(map[blobPlace][]byte, len(cur))
			for _, b := range cur {
				now[placeOf(b)] = b.Data
			}
			for _, b := range part {
				data, ok := now[placeOf(b)]
				if id, under := ciphertextKeyID(data); !ok || (under && id == primary) {
					continue
				}
				pt, err := openBytes(a, data, b.Kind, patientID, b.ID, b.Sub)
				if err != nil {
					return err
				}
				if b.Data, err = sealBytes(a, pt, b.Kind, patientID, b.ID, b.Sub); err != nil {
					return err
				}
				if err := tx.RewriteBlob(ctx, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(min(i+batch, len(todo)), len(todo))
		}
	}
	if progress != nil && len(todo) == 0 {
		progress(0, 0)
	}
	// 3. Drop the old keys, once nothing needs them (checked again in the
	// same transaction, in case a writer used an old cached keyset).
	return backend.Update(ctx, func(tx confidant.SealedTx) error {
		blobs, err := tx.PatientBlobs(ctx, patientID)
		if err != nil {
			return err
		}
		if len(notUnder(blobs, primary)) > 0 {
			return confidant.Errorf(confidant.KindConflict, "rotation_incomplete",
				"Some records were written under the old key during rotation; run the rotation again.")
		}
		wk, err := tx.PatientKey(ctx, patientID)
		if err != nil {
			return err
		}
		pruned, err := k.PrunePatientKey(wk)
		if err != nil {
			return err
		}
		return tx.PutPatientKey(ctx, pruned)
	})
}

// notUnder returns the blobs not sealed under key id primary.
func notUnder(blobs []confidant.Blob, primary uint32) []confidant.Blob {
	var out []confidant.Blob
	for _, b := range blobs {
		if id, ok := ciphertextKeyID(b.Data); !ok || id != primary {
			out = append(out, b)
		}
	}
	return out
}

// blobPlace identifies a blob of one patient.
type blobPlace struct {
	kind confidant.BlobKind
	id   string
	sub  int
}

func placeOf(b confidant.Blob) blobPlace { return blobPlace{b.Kind, b.ID, b.Sub} }

// VerifyPatient decrypts every sealed value of a patient and reports the
// first that fails.
func VerifyPatient(ctx context.Context, backend confidant.SealedStore, k Keyring, patientID string) (int, error) {
	n := 0
	err := backend.View(ctx, func(tx confidant.SealedTx) error {
		wk, err := tx.PatientKey(ctx, patientID)
		if err != nil {
			return err
		}
		a, err := k.PatientAEAD(wk)
		if err != nil {
			return err
		}
		blobs, err := tx.PatientBlobs(ctx, patientID)
		if err != nil {
			return err
		}
		for _, b := range blobs {
			if _, err := openBytes(a, b.Data, b.Kind, patientID, b.ID, b.Sub); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
