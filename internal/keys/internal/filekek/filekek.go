// Package filekek reads and writes the KEK key file of the file provider.
//
// The file is a small versioned JSON envelope around a Tink keyset of
// AES-256-GCM keys (TINK output prefix):
//
//	{"version": 1, "kdf": "none", "keyset": <Tink cleartext JSON keyset>}
//
//	{"version": 1, "kdf": "argon2id",
//	 "argon2": {"m": 65536, "t": 3, "p": 1, "salt": "<base64, 16..64 bytes>"},
//	 "keyset": <Tink JSON EncryptedKeyset>}
//
// With kdf "argon2id" the keyset is encrypted by Tink (keyset.Handle
// WriteWithAssociatedData, associated data "confidant/kek-file/v1") under
// AES-256-GCM (aead/subtle) keyed with argon2id(passphrase, salt, t, m KiB,
// p lanes, 32 bytes). With kdf "none" the keyset is in the clear and only
// file permissions protect it.
//
// Decode checks the structure and never panics on any input (FuzzDecodeFile);
// Unlock derives the key and builds the keyset handle. Errors are
// *confidant.Error values that name the file, never its content or the
// passphrase.
package filekek

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/crypto/argon2"
)

// Version is the only envelope version this package reads and writes.
const Version = 1

// KDF names.
const (
	KDFNone     = "none"
	KDFArgon2id = "argon2id"
)

// MaxFileSize bounds what Decode reads; a KEK file is a few hundred bytes
// per key.
const MaxFileSize = 1 << 20

// keysetAD is the associated data of the passphrase-encrypted keyset.
var keysetAD = []byte("confidant/kek-file/v1")

// Error codes (see the root package's Error).
const (
	CodeMissing         = "kek_missing"
	CodeWrongPassphrase = "kek_wrong_passphrase"
	CodeUnavailable     = "kek_unavailable"
	CodeInvalid         = "kek_invalid"
	CodeExists          = "kek_exists"
)

// Params are the argon2id parameters. Memory is in KiB.
type Params struct {
	Memory  uint32 `json:"m"`
	Time    uint32 `json:"t"`
	Threads uint8  `json:"p"`
}

// DefaultParams are used for new files: 64 MiB, 3 passes, 1 lane.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 1}

// Parameter bounds accepted by Decode. The upper bounds stop a damaged or
// hostile file from making Open allocate without limit.
const (
	maxMemory  = 4 << 20 // KiB: 4 GiB
	maxTime    = 64
	maxThreads = 64
	minSalt    = 16
	maxSalt    = 64
)

func (p Params) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2.p must be between 1 and %d", maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2.t must be between 1 and %d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2.m must be between 8*p and %d KiB", maxMemory)
	}
	return nil
}

// envelope is the JSON form of the file.
type envelope struct {
	Version int             `json:"version"`
	KDF     string          `json:"kdf"`
	Argon2  *argon2JSON     `json:"argon2,omitempty"`
	Keyset  json.RawMessage `json:"keyset"`
}

type argon2JSON struct {
	Params
	Salt string `json:"salt"`
}

// File is a decoded, still locked key file.
type File struct {
	KDF    string
	Params Params // argon2id only
	Salt   []byte // argon2id only

	keyset []byte // Tink JSON: a keyset (kdf none) or an encrypted keyset (argon2id)
}

func invalid(name, format string, args ...any) error {
	return &confidant.Error{
		Kind:    confidant.KindUnavailable,
		Code:    CodeInvalid,
		Message: fmt.Sprintf("KEK file %s is damaged or not a key file: %s", name, fmt.Sprintf(format, args...)),
	}
}

// Decode parses and checks the envelope of a key file. name is used in
// error messages only. It never panics.
func Decode(data []byte, name string) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, invalid(name, "larger than %d bytes", MaxFileSize)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, invalid(name, "not a JSON key file envelope")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid(name, "data after the JSON envelope")
	}
	if env.Version != Version {
		return nil, invalid(name, "unsupported version %d (this program reads version %d)", env.Version, Version)
	}
	if len(env.Keyset) == 0 || string(env.Keyset) == "null" {
		return nil, invalid(name, "no keyset")
	}
	f := &File{KDF: env.KDF, keyset: env.Keyset}
	switch env.KDF {
	case KDFNone:
		if env.Argon2 != nil {
			return nil, invalid(name, `argon2 parameters given with kdf "none"`)
		}
		ks, err := keyset.NewJSONReader(bytes.NewReader(env.Keyset)).Read()
		if err != nil || ks == nil {
			return nil, invalid(name, "keyset is not a Tink JSON keyset")
		}
		if len(ks.GetKey()) == 0 {
			return nil, invalid(name, "keyset has no keys")
		}
	case KDFArgon2id:
		if env.Argon2 == nil {
			return nil, invalid(name, `kdf "argon2id" without argon2 parameters`)
		}
		if err := env.Argon2.Params.validate(); err != nil {
			return nil, invalid(name, "%v", err)
		}
		salt, err := base64.StdEncoding.Strict().DecodeString(env.Argon2.Salt)
		if err != nil || len(salt) < minSalt || len(salt) > maxSalt {
			return nil, invalid(name, "argon2.salt must be base64 of %d to %d bytes", minSalt, maxSalt)
		}
		eks, err := keyset.NewJSONReader(bytes.NewReader(env.Keyset)).ReadEncrypted()
		if err != nil || eks == nil || len(eks.GetEncryptedKeyset()) == 0 {
			return nil, invalid(name, "keyset is not a Tink JSON encrypted keyset")
		}
		f.Params, f.Salt = env.Argon2.Params, salt
	default:
		return nil, invalid(name, `unknown kdf (want "none" or "argon2id")`)
	}
	return f, nil
}

// Unlocked is an opened key file: the KEK keyset, and what is needed to
// write it back protected the same way.
type Unlocked struct {
	Handle *keyset.Handle

	kdf    string
	params Params
	salt   []byte
	sealer tink.AEAD // argon2id only
}

// deriveAEAD returns the AES-256-GCM AEAD keyed by argon2id(passphrase).
func deriveAEAD(passphrase, salt []byte, p Params) (tink.AEAD, error) {
	k := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, 32)
	defer clear(k)
	return subtle.NewAESGCM(k)
}

// Unlock decrypts (kdf argon2id) or reads (kdf none) the keyset and checks
// that it is a keyset of enabled AES-256-GCM keys with TINK prefix and a
// primary key. passphrase must be nil exactly when the kdf is "none".
func (f *File) Unlock(passphrase []byte, name string) (*Unlocked, error) {
	u := &Unlocked{kdf: f.KDF, params: f.Params, salt: f.Salt}
	var err error
	switch f.KDF {
	case KDFNone:
		if passphrase != nil {
			return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeWrongPassphrase,
				Message: fmt.Sprintf("KEK file %s is not passphrase-protected, but a passphrase was given", name)}
		}
		u.Handle, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(f.keyset)))
		if err != nil {
			return nil, invalid(name, "keyset cannot be loaded")
		}
	case KDFArgon2id:
		if passphrase == nil {
			return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeWrongPassphrase,
				Message: fmt.Sprintf("KEK file %s is passphrase-protected; a passphrase is needed", name)}
		}
		u.sealer, err = deriveAEAD(passphrase, f.Salt, f.Params)
		if err != nil {
			return nil, invalid(name, "cannot derive the file key")
		}
		rec := &recorder{AEAD: u.sealer}
		u.Handle, err = keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(f.keyset)), rec, keysetAD)
		switch {
		case err != nil && rec.failed:
			return nil, &confidant.Error{Kind: confidant.KindUnavailable, Code: CodeWrongPassphrase,
				Message: fmt.Sprintf("KEK file %s cannot be decrypted: wrong passphrase, or the file is damaged", name)}
		case err != nil:
			return nil, invalid(name, "decrypted keyset cannot be loaded")
		}
	default:
		return nil, invalid(name, "unknown kdf")
	}
	if err := CheckKeyset(u.Handle); err != nil {
		return nil, invalid(name, "%v", err)
	}
	return u, nil
}

// recorder remembers whether Decrypt failed, which Tink's keyset reader
// does not tell apart from a malformed keyset.
type recorder struct {
	tink.AEAD
	failed bool
}

func (r *recorder) Decrypt(ct, ad []byte) ([]byte, error) {
	pt, err := r.AEAD.Decrypt(ct, ad)
	r.failed = err != nil
	return pt, err
}

// CheckKeyset reports whether h is a KEK keyset: at least one key, every
// key an enabled AES-256-GCM key with TINK output prefix, one of them
// primary.
func CheckKeyset(h *keyset.Handle) error {
	if h == nil || h.Len() == 0 {
		return errors.New("keyset has no keys")
	}
	primary := false
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return errors.New("keyset entry cannot be read")
		}
		if e.KeyStatus() != keyset.Enabled {
			return fmt.Errorf("key %d is not enabled", e.KeyID())
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return fmt.Errorf("key %d is not an AES-GCM key", e.KeyID())
		}
		p, ok := k.Parameters().(*aesgcm.Parameters)
		if !ok || p.KeySizeInBytes() != 32 || p.IVSizeInBytes() != 12 || p.TagSizeInBytes() != 16 || p.Variant() != aesgcm.VariantTink {
			return fmt.Errorf("key %d is not an AES-256-GCM key with TINK prefix", e.KeyID())
		}
		primary = primary || e.IsPrimary()
	}
	if !primary {
		return errors.New("keyset has no primary key")
	}
	return nil
}

// New returns a new key file holding one fresh AES-256-GCM key. A nil
// passphrase means kdf "none"; otherwise argon2id with params and a fresh
// random salt.
func New(passphrase []byte, params Params) (*Unlocked, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new KEK keyset: %w", err)
	}
	u := &Unlocked{Handle: h, kdf: KDFNone}
	if passphrase == nil {
		return u, nil
	}
	if err := params.validate(); err != nil {
		return nil, err
	}
	salt := make([]byte, minSalt)
	if _, err := randRead(salt); err != nil {
		return nil, err
	}
	u.kdf, u.params, u.salt = KDFArgon2id, params, salt
	if u.sealer, err = deriveAEAD(passphrase, salt, params); err != nil {
		return nil, err
	}
	return u, nil
}

// Encode serialises u as a key file.
func (u *Unlocked) Encode() ([]byte, error) {
	env := envelope{Version: Version, KDF: u.kdf}
	var ks bytes.Buffer
	w := keyset.NewJSONWriter(&ks)
	switch u.kdf {
	case KDFNone:
		if err := insecurecleartextkeyset.Write(u.Handle, w); err != nil {
			return nil, fmt.Errorf("encode KEK keyset: %w", err)
		}
	case KDFArgon2id:
		if err := u.Handle.WriteWithAssociatedData(w, u.sealer, keysetAD); err != nil {
			return nil, fmt.Errorf("encrypt KEK keyset: %w", err)
		}
		env.Argon2 = &argon2JSON{Params: u.params, Salt: base64.StdEncoding.EncodeToString(u.salt)}
	default:
		return nil, errors.New("unknown kdf")
	}
	env.Keyset = json.RawMessage(bytes.TrimSpace(ks.Bytes()))
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode KEK file: %w", err)
	}
	return append(out, '\n'), nil
}

// Rotate adds a fresh AES-256-GCM key and makes it primary. Old keys stay.
func (u *Unlocked) Rotate() (uint32, error) {
	m := keyset.NewManagerFromHandle(u.Handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return 0, fmt.Errorf("add KEK key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, fmt.Errorf("set KEK primary: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return 0, fmt.Errorf("KEK keyset: %w", err)
	}
	u.Handle = h
	return id, nil
}

// Retire deletes every non-primary key for which inUse reports false. It
// stops at the first error of inUse and then changes nothing.
func (u *Unlocked) Retire(inUse func(id uint32) (bool, error)) ([]uint32, error) {
	var drop []uint32
	for i := range u.Handle.Len() {
		e, err := u.Handle.Entry(i)
		if err != nil {
			return nil, err
		}
		if e.IsPrimary() {
			continue
		}
		used, err := inUse(e.KeyID())
		if err != nil {
			return nil, err
		}
		if !used {
			drop = append(drop, e.KeyID())
		}
	}
	if len(drop) == 0 {
		return nil, nil
	}
	m := keyset.NewManagerFromHandle(u.Handle)
	for _, id := range drop {
		if err := m.Delete(id); err != nil {
			return nil, fmt.Errorf("delete KEK key: %w", err)
		}
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("KEK keyset: %w", err)
	}
	u.Handle = h
	return drop, nil
}

// Keys returns the primary key id and a Tink AEAD for every key of the
// keyset, each bound to exactly one key (its TINK prefix names it).
func (u *Unlocked) Keys() (primary uint32, aeads map[uint32]tink.AEAD, err error) {
	aeads = make(map[uint32]tink.AEAD, u.Handle.Len())
	for i := range u.Handle.Len() {
		e, err := u.Handle.Entry(i)
		if err != nil {
			return 0, nil, err
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return 0, nil, fmt.Errorf("KEK key %d is not an AES-GCM key", e.KeyID())
		}
		a, err := aesgcm.NewAEAD(k)
		if err != nil {
			return 0, nil, fmt.Errorf("KEK key %d: %w", e.KeyID(), err)
		}
		aeads[e.KeyID()] = a
		if e.IsPrimary() {
			primary = e.KeyID()
		}
	}
	return primary, aeads, nil
}
