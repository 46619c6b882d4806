package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"

	confidant "github.com/confidanthealth/confidant"
)

// IndexKeyName is the name (WrappedKey.Owner) of the system key of the
// blind indexes.
const IndexKeyName = "blind-index"

const systemKeySize = 32

// systemAD binds a wrapped system key to its name.
func systemAD(name string) []byte { return []byte("system-key/v1|" + name) }

// NewSystemKey creates a random 256-bit secret and returns it wrapped under
// the primary KEK key with associated data "system-key/v1|"+name. The
// secret itself is not returned; LoadIndexKey unwraps the one named
// "blind-index".
func (k *Keyring) NewSystemKey(name string) (confidant.WrappedKey, error) {
	if name == "" {
		return confidant.WrappedKey{}, invalidArg("A system key needs a name.")
	}
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, err
	}
	defer k.end()
	secret := make([]byte, systemKeySize)
	defer clear(secret)
	if _, err := rand.Read(secret); err != nil {
		return confidant.WrappedKey{}, confidant.Wrap(err, confidant.KindInternal, "key_generate", "A system key could not be generated.")
	}
	return k.wrapSystem(name, secret)
}

// RewrapSystemKey unwraps wk with whichever KEK key wrapped it and wraps it
// under the primary KEK key.
func (k *Keyring) RewrapSystemKey(wk confidant.WrappedKey) (confidant.WrappedKey, error) {
	if err := k.begin(); err != nil {
		return confidant.WrappedKey{}, err
	}
	defer k.end()
	secret, err := k.unwrapSystem(wk)
	if err != nil {
		return confidant.WrappedKey{}, err
	}
	defer clear(secret)
	return k.wrapSystem(wk.Owner, secret)
}

// LoadIndexKey unwraps the system key named "blind-index" and keeps it for
// BlindIndex, replacing any loaded before.
func (k *Keyring) LoadIndexKey(wk confidant.WrappedKey) error {
	if wk.Owner != IndexKeyName {
		return invalidArg("The blind-index key must be the system key named %q.", IndexKeyName)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return confidant.Errorf(confidant.KindUnavailable, CodeKeyringClosed, "The keyring is closed.")
	}
	secret, err := k.unwrapSystem(wk)
	if err != nil {
		return err
	}
	clear(k.indexKey)
	k.indexKey = secret
	k.derived.Range(func(key, v any) bool {
		clear(v.([]byte))
		k.derived.Delete(key)
		return true
	})
	return nil
}

// BlindIndex returns a keyed, truncated index of value for exact-match
// search in (table, field):
//
//	key   = HKDF-SHA256(secret = index key, salt = none,
//	                    info = "blind-index/v1|" + table + "|" + field, 32 bytes)
//	index = HMAC-SHA256(key, value) truncated to its first bits bits
//
// bits is 8 to 256. The result has ceil(bits/8) bytes; when bits is not a
// multiple of 8 the unused low-order bits of the last byte are zero, so
// equal indexes compare equal as byte strings. Table and field must be
// non-empty and must not contain "|". Values are used as given: callers
// normalise them first. Fewer bits mean more false positives (candidates
// that are decrypted and compared) and less that an index reveals.
//
// It fails with KindInternal "index_key_missing" before LoadIndexKey.
func (k *Keyring) BlindIndex(table, field, value string, bits int) ([]byte, error) {
	switch {
	case bits < 8 || bits > 256:
		return nil, invalidArg("Blind index size must be 8 to 256 bits.")
	case table == "" || field == "" || strings.Contains(table, "|") || strings.Contains(field, "|"):
		return nil, invalidArg("Blind index table and field must be non-empty and contain no '|'.")
	}
	if err := k.begin(); err != nil {
		return nil, err
	}
	defer k.end()
	if k.indexKey == nil {
		return nil, confidant.Errorf(confidant.KindInternal, CodeIndexKeyMissing, "No blind-index key is loaded.")
	}
	info := table + "|" + field
	var dk []byte
	if v, ok := k.derived.Load(info); ok {
		dk = v.([]byte)
	} else {
		var err error
		dk, err = hkdf.Key(sha256.New, k.indexKey, nil, "blind-index/v1|"+info, sha256.Size)
		if err != nil {
			return nil, confidant.Wrap(err, confidant.KindInternal, "index_key_derive", "The blind-index key could not be derived.")
		}
		k.derived.Store(info, dk)
	}
	return blindIndex(dk, value, bits), nil
}

// blindIndex is HMAC-SHA256(key, value) truncated to bits.
func blindIndex(key []byte, value string, bits int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	sum := m.Sum(nil)
	out := sum[:(bits+7)/8]
	if r := bits % 8; r != 0 {
		out[len(out)-1] &= byte(0xFF << (8 - r))
	}
	return out
}

// wrapSystem encrypts secret under the primary KEK key. k must be locked.
func (k *Keyring) wrapSystem(name string, secret []byte) (confidant.WrappedKey, error) {
	id := k.kek.PrimaryID()
	a, err := k.kek.AEAD(id)
	if err != nil {
		return confidant.WrappedKey{}, err
	}
	ct, err := a.Encrypt(secret, systemAD(name))
	if err != nil {
		return confidant.WrappedKey{}, wrapFailure(err)
	}
	return confidant.WrappedKey{Owner: name, KEKID: id, Wrapped: ct, UpdatedAt: k.stamp()}, nil
}

// unwrapSystem decrypts a wrapped system key. k must be locked.
func (k *Keyring) unwrapSystem(wk confidant.WrappedKey) ([]byte, error) {
	if wk.Owner == "" {
		return nil, invalidArg("A wrapped system key needs its name.")
	}
	a, err := k.kek.AEAD(wk.KEKID)
	if err != nil {
		return nil, err
	}
	secret, err := a.Decrypt(wk.Wrapped, systemAD(wk.Owner))
	if err != nil {
		if providerFailed(err) {
			return nil, err
		}
		return nil, integrity("system key", err)
	}
	if len(secret) != systemKeySize {
		clear(secret)
		return nil, integrity("system key", nil)
	}
	return secret, nil
}

// factInfo is the HKDF info of the key of authorization-fact MACs; it has
// no "|", so it is never the info of a blind-index key.
const factInfo = "fact-mac/v1"

// FactMAC returns HMAC-SHA256(key, msg), where
//
//	key = HKDF-SHA256(secret = index key, salt = none, info = "fact-mac/v1", 32 bytes)
//
// internal/seal authenticates authorization facts (roles, clinic
// memberships, approvals, care relationships) with it. The index key is
// stored only wrapped by the KEK, so a database writer cannot compute it.
// It fails with KindInternal "index_key_missing" before LoadIndexKey.
func (k *Keyring) FactMAC(msg []byte) ([]byte, error) {
	if err := k.begin(); err != nil {
		return nil, err
	}
	defer k.end()
	if k.indexKey == nil {
		return nil, confidant.Errorf(confidant.KindInternal, CodeIndexKeyMissing, "No blind-index key is loaded.")
	}
	var dk []byte
	if v, ok := k.derived.Load(factInfo); ok {
		dk = v.([]byte)
	} else {
		var err error
		dk, err = hkdf.Key(sha256.New, k.indexKey, nil, factInfo, sha256.Size)
		if err != nil {
			return nil, confidant.Wrap(err, confidant.KindInternal, "fact_key_derive", "The fact key could not be derived.")
		}
		k.derived.Store(factInfo, dk)
	}
	m := hmac.New(sha256.New, dk)
	m.Write(msg)
	return m.Sum(nil), nil
}
