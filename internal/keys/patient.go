package keys

import (
	"bytes"
	"encoding/binary"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys/internal/filekek"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// patientAD is the associated data that binds a wrapped patient keyset to
// its patient.
func patientAD(patientID string) []byte { return []byte("patient-key/v1|" + patientID) }

// NewPatientKey creates a patient keyset (one AES-256-GCM key, Tink TINK
// prefix), wraps it under the primary KEK key with associated data
// "patient-key/v1|"+patientID and caches it. The caller stores the
// WrappedKey; the AEAD encrypts the patient's records.
func (k *Keyring) NewPatientKey(patientID string) (confidant.WrappedKey, tink.AEAD, error) {
	if patientID == "" {
		return confidant.WrappedKey{}, nil, invalidArg("A patient key needs a patient id.")
	}
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, nil, err
	}
	defer k.end()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return confidant.WrappedKey{}, nil, confidant.Wrap(err, confidant.KindInternal, "key_generate", "A patient key could not be generated.")
	}
	return k.wrapAndCache(patientID, h)
}

// PatientAEAD returns the AEAD of a wrapped patient keyset, unwrapping it
// with the KEK key named by wk.KEKID and associated data bound to wk.Owner,
// or taking it from the cache (keyed by owner, KEK id and SHA-256 of the
// wrapped bytes; entries live at most CacheTTL after unwrapping).
//
// Errors: KindUnavailable when the KEK provider fails or does not hold the
// key named by wk.KEKID; KindInternal "key_integrity" when the wrapped
// keyset does not authenticate (for example it was moved to another
// patient).
func (k *Keyring) PatientAEAD(wk confidant.WrappedKey) (tink.AEAD, error) {
	if err := k.begin(); err != nil {
		return nil, err
	}
	defer k.end()
	e, err := k.unwrapPatient(wk)
	if err != nil {
		return nil, err
	}
	return e.aead, nil
}

// RewrapPatientKey unwraps wk with whichever KEK key wrapped it and wraps
// the same keyset under the primary KEK key (KEK rotation). Records need no
// re-encryption.
func (k *Keyring) RewrapPatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, error) {
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, err
	}
	defer k.end()
	e, err := k.unwrapPatient(wk)
	if err != nil {
		return confidant.WrappedKey{}, err
	}
	nk, _, err := k.wrapAndCache(wk.Owner, e.handle)
	return nk, err
}

// RotatePatientKey adds a fresh AES-256-GCM key to the patient keyset and
// makes it primary. Old keys keep decrypting; new encryptions use the new
// key (its id prefixes every new ciphertext, see CiphertextKeyID). The
// result is wrapped under the primary KEK key.
func (k *Keyring) RotatePatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, tink.AEAD, error) {
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, nil, err
	}
	defer k.end()
	e, err := k.unwrapPatient(wk)
	if err != nil {
		return confidant.WrappedKey{}, nil, err
	}
	m := keyset.NewManagerFromHandle(e.handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err == nil {
		err = m.SetPrimary(id)
	}
	var h *keyset.Handle
	if err == nil {
		h, err = m.Handle()
	}
	if err != nil {
		return confidant.WrappedKey{}, nil, confidant.Wrap(err, confidant.KindInternal, "key_rotate", "The patient key could not be rotated.")
	}
	return k.wrapAndCache(wk.Owner, h)
}

// PatientPrimaryKeyID returns the id of the primary key of a patient
// keyset: the id that prefixes ciphertexts made with it.
func (k *Keyring) PatientPrimaryKeyID(wk confidant.WrappedKey) (uint32, error) {
	if err := k.begin(); err != nil {
		return 0, err
	}
	defer k.end()
	e, err := k.unwrapPatient(wk)
	if err != nil {
		return 0, err
	}
	p, err := e.handle.Primary()
	if err != nil {
		return 0, integrity("patient key", err)
	}
	return p.KeyID(), nil
}

// PrunePatientKey drops every key but the primary from a patient keyset.
// Call it only after every record of the patient was re-encrypted under the
// primary key: ciphertexts of dropped keys can never be decrypted again.
// The result is wrapped under the primary KEK key.
func (k *Keyring) PrunePatientKey(wk confidant.WrappedKey) (confidant.WrappedKey, error) {
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, err
	}
	defer k.end()
	e, err := k.unwrapPatient(wk)
	if err != nil {
		return confidant.WrappedKey{}, err
	}
	m := keyset.NewManagerFromHandle(e.handle)
	for i := range e.handle.Len() {
		en, err := e.handle.Entry(i)
		if err != nil {
			return confidant.WrappedKey{}, integrity("patient key", err)
		}
		if en.IsPrimary() {
			continue
		}
		if err := m.Delete(en.KeyID()); err != nil {
			return confidant.WrappedKey{}, confidant.Wrap(err, confidant.KindInternal, "key_prune", "The patient key could not be pruned.")
		}
	}
	h, err := m.Handle()
	if err != nil {
		return confidant.WrappedKey{}, confidant.Wrap(err, confidant.KindInternal, "key_prune", "The patient key could not be pruned.")
	}
	nk, _, err := k.wrapAndCache(wk.Owner, h)
	return nk, err
}

// CiphertextKeyID returns the key id in the Tink TINK prefix of ct
// (0x01 followed by the 4-byte big-endian key id), and false if ct has no
// such prefix.
func CiphertextKeyID(ct []byte) (uint32, bool) {
	if len(ct) < 5 || ct[0] != 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:5]), true
}

// unwrapPatient returns the cached or freshly unwrapped keyset of wk.
// k must be read-locked.
func (k *Keyring) unwrapPatient(wk confidant.WrappedKey) (*cacheEntry, error) {
	if wk.Owner == "" {
		return nil, invalidArg("A wrapped patient key needs its owner.")
	}
	ck := keyOf(wk)
	if e, ok := k.cache.get(ck); ok {
		return e, nil
	}
	kekAEAD, err := k.kek.AEAD(wk.KEKID)
	if err != nil {
		return nil, err
	}
	rec := &recorder{AEAD: kekAEAD}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wk.Wrapped)), rec, patientAD(wk.Owner))
	if err != nil {
		if providerFailed(rec.err) {
			return nil, rec.err
		}
		return nil, integrity("patient key", err)
	}
	if err := filekek.CheckKeyset(h); err != nil {
		return nil, integrity("patient key", err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, integrity("patient key", err)
	}
	if f := k.onUnwrap.Load(); f != nil {
		if err := (*f)(wk.Owner, wk.KEKID); err != nil {
			return nil, err
		}
	}
	return k.cache.put(ck, h, a), nil
}

// wrapAndCache wraps h for owner under the primary KEK key and caches it.
// k must be read-locked.
func (k *Keyring) wrapAndCache(owner string, h *keyset.Handle) (confidant.WrappedKey, tink.AEAD, error) {
	id := k.kek.PrimaryID()
	kekAEAD, err := k.kek.AEAD(id)
	if err != nil {
		return confidant.WrappedKey{}, nil, err
	}
	rec := &recorder{AEAD: kekAEAD}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), rec, patientAD(owner)); err != nil {
		if rec.err != nil {
			return confidant.WrappedKey{}, nil, wrapFailure(rec.err)
		}
		return confidant.WrappedKey{}, nil, wrapFailure(err)
	}
	a, err := aead.New(h)
	if err != nil {
		return confidant.WrappedKey{}, nil, confidant.Wrap(err, confidant.KindInternal, "key_wrap", "The patient key cannot be used.")
	}
	wk := confidant.WrappedKey{Owner: owner, KEKID: id, Wrapped: buf.Bytes(), UpdatedAt: k.stamp()}
	k.cache.put(keyOf(wk), h, a)
	return wk, a, nil
}
