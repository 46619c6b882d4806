//go:build pkcs11

package hsm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	confidant "github.com/confidanthealth/confidant"
	"github.com/miekg/pkcs11"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Error codes.
const (
	CodeUnavailable = "kek_unavailable"
	CodeInvalid     = "kek_invalid"
	CodeExists      = "kek_exists"
)

const (
	ivSize   = 12
	tagSize  = 16
	keySize  = 32
	maxIdle  = 4
	keyClass = pkcs11.CKO_SECRET_KEY
)

// ErrAuth is returned by Decrypt for a ciphertext that does not
// authenticate under the key (or is too short to be one).
var ErrAuth = errors.New("hsm: ciphertext does not authenticate")

func unavailable(cause error, format string, args ...any) error {
	return confidant.Wrap(cause, confidant.KindUnavailable, CodeUnavailable, fmt.Sprintf(format, args...))
}

// module is a loaded and initialised PKCS#11 library, shared by every Token
// of the process that uses the same file: a library can be initialised
// only once per process, and C_Finalize ends every session of it.
type module struct {
	key  string
	path string
	ctx  *pkcs11.Ctx
	refs int
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

func acquire(path string) (*module, error) {
	key := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		key = p
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[key]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, unavailable(nil, "PKCS#11 module %s cannot be loaded", path)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, unavailable(err, "PKCS#11 module %s cannot be initialised", path)
	}
	m := &module{key: key, path: path, ctx: ctx, refs: 1}
	modules[key] = m
	return m, nil
}

func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.key)
	m.ctx.Finalize()
	m.ctx.Destroy()
}

func isCode(err error, code uint) bool {
	var pe pkcs11.Error
	return errors.As(err, &pe) && uint(pe) == code
}

// Token is a logged-in PKCS#11 token. It is safe for concurrent use: each
// operation takes a session from a small pool (one session per concurrent
// operation, at most maxIdle kept idle). One session stays open for the
// Token's life, since closing a token's last session logs the user out.
type Token struct {
	mod   *module
	slot  uint
	label string

	mu     sync.Mutex
	anchor pkcs11.SessionHandle
	idle   []pkcs11.SessionHandle
	closed bool
}

// Open loads the module at modulePath, finds the token labelled
// tokenLabel and logs in as user with pin.
//
// PKCS#11 login state is per process and token: while another Token of
// this process is open on the same token, the token reports "already
// logged in" and the PIN is not checked again.
func Open(modulePath, tokenLabel, pin string) (*Token, error) {
	m, err := acquire(modulePath)
	if err != nil {
		return nil, err
	}
	t, err := open(m, tokenLabel, pin)
	if err != nil {
		m.release()
		return nil, err
	}
	return t, nil
}

func open(m *module, tokenLabel, pin string) (*Token, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return nil, unavailable(err, "PKCS#11 module %s: cannot list slots", m.path)
	}
	var (
		slot  uint
		found bool
	)
	for _, s := range slots {
		info, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if strings.TrimRight(info.Label, " \x00") == tokenLabel {
			slot, found = s, true
			break
		}
	}
	if !found {
		return nil, unavailable(nil, "PKCS#11 module %s has no token labelled %q", m.path, tokenLabel)
	}
	sh, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, unavailable(err, "PKCS#11 token %q: cannot open a session", tokenLabel)
	}
	if err := m.ctx.Login(sh, pkcs11.CKU_USER, pin); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		m.ctx.CloseSession(sh)
		switch {
		case isCode(err, pkcs11.CKR_PIN_INCORRECT), isCode(err, pkcs11.CKR_PIN_INVALID), isCode(err, pkcs11.CKR_PIN_LEN_RANGE):
			return nil, unavailable(err, "PKCS#11 login to token %q failed: wrong PIN", tokenLabel)
		case isCode(err, pkcs11.CKR_PIN_LOCKED):
			return nil, unavailable(err, "PKCS#11 login to token %q failed: the PIN is locked", tokenLabel)
		}
		return nil, unavailable(err, "PKCS#11 login to token %q failed", tokenLabel)
	}
	return &Token{mod: m, slot: slot, label: tokenLabel, anchor: sh}, nil
}

// Close closes the sessions of t and releases the module.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for _, s := range t.idle {
		t.mod.ctx.CloseSession(s)
	}
	t.idle = nil
	t.mod.ctx.CloseSession(t.anchor)
	t.mu.Unlock()
	t.mod.release()
	return nil
}

func (t *Token) session() (pkcs11.SessionHandle, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, unavailable(nil, "PKCS#11 token %q is closed", t.label)
	}
	if n := len(t.idle); n > 0 {
		s := t.idle[n-1]
		t.idle = t.idle[:n-1]
		return s, nil
	}
	s, err := t.mod.ctx.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, unavailable(err, "PKCS#11 token %q: cannot open a session", t.label)
	}
	return s, nil
}

// withSession runs fn with a pooled session. A session on which fn failed
// is closed rather than reused: it may hold an unfinished operation.
func (t *Token) withSession(fn func(pkcs11.SessionHandle) error) error {
	s, err := t.session()
	if err != nil {
		return err
	}
	err = fn(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || t.closed || len(t.idle) >= maxIdle {
		t.mod.ctx.CloseSession(s)
	} else {
		t.idle = append(t.idle, s)
	}
	return err
}

// ErrKeyNotFound is wrapped by the error for a label without key.
var ErrKeyNotFound = errors.New("hsm: no such key")

// findKey returns the AES secret key labelled label.
func (t *Token) findKey(s pkcs11.SessionHandle, label string) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, keyClass),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := t.mod.ctx.FindObjectsInit(s, tmpl); err != nil {
		return 0, unavailable(err, "PKCS#11 token %q: cannot search for key %q", t.label, label)
	}
	objs, _, err := t.mod.ctx.FindObjects(s, 2)
	if ferr := t.mod.ctx.FindObjectsFinal(s); err == nil && ferr != nil {
		err = ferr
	}
	switch {
	case err != nil:
		return 0, unavailable(err, "PKCS#11 token %q: cannot search for key %q", t.label, label)
	case len(objs) == 0:
		return 0, unavailable(ErrKeyNotFound, "PKCS#11 token %q has no AES key labelled %q", t.label, label)
	case len(objs) > 1:
		return 0, unavailable(nil, "PKCS#11 token %q has several AES keys labelled %q", t.label, label)
	}
	return objs[0], nil
}

// CheckKey reports whether the token holds exactly one AES-256 key
// labelled label, usable for encryption and decryption, sensitive and not
// extractable. An extractable key is refused (KindUnavailable
// "kek_invalid"): it would not keep the KEK inside the token.
func (t *Token) CheckKey(label string) error {
	return t.withSession(func(s pkcs11.SessionHandle) error {
		o, err := t.findKey(s, label)
		if err != nil {
			return err
		}
		attrs, err := t.mod.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, nil),
		})
		if err != nil {
			return unavailable(err, "PKCS#11 token %q: cannot read the attributes of key %q", t.label, label)
		}
		var bad []string
		for _, a := range attrs {
			switch a.Type {
			case pkcs11.CKA_VALUE_LEN:
				if n := ulong(a.Value); n != keySize {
					bad = append(bad, fmt.Sprintf("%d-byte key (want %d)", n, keySize))
				}
			case pkcs11.CKA_SENSITIVE:
				if !boolean(a.Value) {
					bad = append(bad, "not sensitive")
				}
			case pkcs11.CKA_EXTRACTABLE:
				if boolean(a.Value) {
					bad = append(bad, "extractable")
				}
			case pkcs11.CKA_ENCRYPT:
				if !boolean(a.Value) {
					bad = append(bad, "not allowed to encrypt")
				}
			case pkcs11.CKA_DECRYPT:
				if !boolean(a.Value) {
					bad = append(bad, "not allowed to decrypt")
				}
			}
		}
		if len(bad) > 0 {
			return confidant.Errorf(confidant.KindUnavailable, CodeInvalid,
				"PKCS#11 key %q on token %q cannot be the KEK: %s", label, t.label, strings.Join(bad, ", "))
		}
		return nil
	})
}

func boolean(v []byte) bool { return len(v) > 0 && v[0] != 0 }

// ulong decodes a CK_ULONG in host byte order (little-endian on the
// platforms Confidant supports).
func ulong(v []byte) uint64 {
	var n uint64
	for i := len(v) - 1; i >= 0; i-- {
		n = n<<8 | uint64(v[i])
	}
	return n
}

// GenerateKey creates in the token a persistent AES-256 key labelled label
// that is sensitive and not extractable, for encryption and decryption
// only. It refuses (KindConflict "kek_exists") if a key with that label
// exists.
func (t *Token) GenerateKey(label string) error {
	return t.withSession(func(s pkcs11.SessionHandle) error {
		if _, err := t.findKey(s, label); err == nil {
			return confidant.Errorf(confidant.KindConflict, CodeExists,
				"PKCS#11 token %q already has a key labelled %q; refusing to create another", t.label, label)
		} else if !errors.Is(err, ErrKeyNotFound) {
			return err
		}
		_, err := t.mod.ctx.GenerateKey(s,
			[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, keyClass),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
				pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
				pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
				pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
			})
		if err != nil {
			return unavailable(err, "PKCS#11 token %q: cannot generate key %q", t.label, label)
		}
		return nil
	})
}

// AEAD returns the AES-GCM AEAD of the key labelled label. The key is
// looked up by label for every operation, so a key replaced in the token
// is picked up, and a missing one fails with KindUnavailable.
//
// Ciphertexts are IV (12 random bytes from crypto/rand) || ciphertext ||
// tag (16 bytes); the associated data is the GCM AAD.
func (t *Token) AEAD(label string) tink.AEAD { return &gcm{t: t, label: label} }

type gcm struct {
	t     *Token
	label string
}

func (g *gcm) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	var out []byte
	err := g.t.withSession(func(s pkcs11.SessionHandle) error {
		o, err := g.t.findKey(s, g.label)
		if err != nil {
			return err
		}
		params := pkcs11.NewGCMParams(iv, associatedData, tagSize*8)
		defer params.Free()
		if err := g.t.mod.ctx.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, o); err != nil {
			return unavailable(err, "PKCS#11 token %q: cannot encrypt with key %q", g.t.label, g.label)
		}
		ct, err := g.t.mod.ctx.Encrypt(s, plaintext)
		if err != nil {
			return unavailable(err, "PKCS#11 token %q: cannot encrypt with key %q", g.t.label, g.label)
		}
		if len(ct) != len(plaintext)+tagSize {
			return unavailable(nil, "PKCS#11 token %q: AES-GCM output of unexpected length", g.t.label)
		}
		// Some HSMs choose their own IV; use the one actually used.
		if used := params.IV(); len(used) == ivSize {
			iv = used
		}
		out = append(append(make([]byte, 0, ivSize+len(ct)), iv...), ct...)
		return nil
	})
	return out, err
}

func (g *gcm) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	if len(ciphertext) < ivSize+tagSize {
		return nil, ErrAuth
	}
	iv := ciphertext[:ivSize]
	var out []byte
	err := g.t.withSession(func(s pkcs11.SessionHandle) error {
		o, err := g.t.findKey(s, g.label)
		if err != nil {
			return err
		}
		params := pkcs11.NewGCMParams(iv, associatedData, tagSize*8)
		defer params.Free()
		if err := g.t.mod.ctx.DecryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, o); err != nil {
			return unavailable(err, "PKCS#11 token %q: cannot decrypt with key %q", g.t.label, g.label)
		}
		pt, err := g.t.mod.ctx.Decrypt(s, ciphertext[ivSize:])
		switch {
		case err == nil:
			out = pt
			return nil
		case isCode(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID), isCode(err, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE):
			return errAuthFailed
		case isCode(err, pkcs11.CKR_GENERAL_ERROR), isCode(err, pkcs11.CKR_FUNCTION_FAILED):
			// Some tokens (SoftHSM2 among them) report a wrong GCM tag
			// as a general failure. Tell it from a failing token by
			// trying a known round trip after this session is dropped.
			return errAmbiguous{err}
		default:
			return unavailable(err, "PKCS#11 token %q: cannot decrypt with key %q", g.t.label, g.label)
		}
	})
	var amb errAmbiguous
	switch {
	case errors.As(err, &amb):
		if perr := g.probe(); perr != nil {
			return nil, unavailable(amb.err, "PKCS#11 token %q: cannot decrypt with key %q", g.t.label, g.label)
		}
		return nil, ErrAuth
	case errors.Is(err, errAuthFailed):
		return nil, ErrAuth
	}
	return out, err
}

// errAuthFailed is ErrAuth inside withSession, where every error closes
// the session (a failed C_Decrypt may leave it in an undefined state).
var errAuthFailed = fmt.Errorf("%w", ErrAuth)

// errAmbiguous is a decryption failure that may be the token's or the
// ciphertext's.
type errAmbiguous struct{ err error }

func (e errAmbiguous) Error() string { return e.err.Error() }

// probe checks that the key works: a round trip of a fixed message.
func (g *gcm) probe() error {
	msg, ad := []byte("confidant hsm probe"), []byte("probe")
	ct, err := g.Encrypt(msg, ad)
	if err != nil {
		return err
	}
	iv := ct[:ivSize]
	return g.t.withSession(func(s pkcs11.SessionHandle) error {
		o, err := g.t.findKey(s, g.label)
		if err != nil {
			return err
		}
		params := pkcs11.NewGCMParams(iv, ad, tagSize*8)
		defer params.Free()
		if err := g.t.mod.ctx.DecryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, o); err != nil {
			return err
		}
		pt, err := g.t.mod.ctx.Decrypt(s, ct[ivSize:])
		if err != nil {
			return err
		}
		if string(pt) != string(msg) {
			return errors.New("hsm: probe round trip mismatch")
		}
		return nil
	})
}
