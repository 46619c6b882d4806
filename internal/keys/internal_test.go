package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys/internal/filekek"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// countingKEK is a fake provider that counts KEK operations and can be
// made unavailable.
type countingKEK struct {
	id   string
	aead tink.AEAD

	mu                 sync.Mutex
	encrypts, decrypts int
	down               bool
}

func newCountingKEK(t *testing.T) *countingKEK {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return &countingKEK{id: "fake:1", aead: a}
}

func (c *countingKEK) PrimaryID() string { return c.id }
func (c *countingKEK) Close() error      { return nil }

func (c *countingKEK) AEAD(id string) (tink.AEAD, error) {
	if id != c.id {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable, "no KEK %s", id)
	}
	return countingAEAD{c}, nil
}

func (c *countingKEK) counts() (enc, dec int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.encrypts, c.decrypts
}

func (c *countingKEK) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

type countingAEAD struct{ c *countingKEK }

func (a countingAEAD) Encrypt(pt, ad []byte) ([]byte, error) {
	a.c.mu.Lock()
	a.c.encrypts++
	down := a.c.down
	a.c.mu.Unlock()
	if down {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable, "HSM down")
	}
	return a.c.aead.Encrypt(pt, ad)
}

func (a countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	a.c.mu.Lock()
	a.c.decrypts++
	down := a.c.down
	a.c.mu.Unlock()
	if down {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable, "HSM down")
	}
	return a.c.aead.Decrypt(ct, ad)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestKeyring(t *testing.T, p kek, size int, ttl time.Duration, clk *clock) *Keyring {
	t.Helper()
	k := newKeyring(p, size, ttl, clk.now)
	t.Cleanup(func() { k.Close() })
	return k
}

func wantDecrypts(t *testing.T, c *countingKEK, want int) {
	t.Helper()
	if _, got := c.counts(); got != want {
		t.Errorf("KEK decrypts = %d, want %d", got, want)
	}
}

func mustAEAD(t *testing.T, k *Keyring, wk confidant.WrappedKey) tink.AEAD {
	t.Helper()
	a, err := k.PatientAEAD(wk)
	if err != nil {
		t.Fatalf("PatientAEAD(%s): %v", wk.Owner, err)
	}
	return a
}

func TestCacheHits(t *testing.T) {
	fake := newCountingKEK(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newTestKeyring(t, fake, 100, time.Minute, clk)
	wk, a, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	if !wk.UpdatedAt.Equal(clk.now()) {
		t.Errorf("UpdatedAt = %v, want the clock", wk.UpdatedAt)
	}
	for range 3 { // the new key is cached
		if mustAEAD(t, k, wk) != a {
			t.Error("cache returned another AEAD")
		}
	}
	wantDecrypts(t, fake, 0)

	k.cache.purge()
	for range 3 {
		mustAEAD(t, k, wk)
	}
	wantDecrypts(t, fake, 1)

	// The same bytes for another owner are not a hit: they are unwrapped,
	// and fail.
	_, err = k.PatientAEAD(confidant.WrappedKey{Owner: "p2", KEKID: wk.KEKID, Wrapped: wk.Wrapped})
	if confidant.CodeOf(err) != CodeKeyIntegrity {
		t.Errorf("moved key: %v", err)
	}
	wantDecrypts(t, fake, 2)
	// A failed unwrap is not cached.
	_, _ = k.PatientAEAD(confidant.WrappedKey{Owner: "p2", KEKID: wk.KEKID, Wrapped: wk.Wrapped})
	wantDecrypts(t, fake, 3)
}

func TestCacheTTL(t *testing.T) {
	fake := newCountingKEK(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	maker := newTestKeyring(t, fake, 100, time.Minute, clk)
	wk, _, err := maker.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 5 * time.Minute
	k := newTestKeyring(t, fake, 100, ttl, clk)
	mustAEAD(t, k, wk)
	wantDecrypts(t, fake, 1)
	clk.add(ttl - time.Nanosecond)
	mustAEAD(t, k, wk) // still fresh, and use does not extend it
	wantDecrypts(t, fake, 1)
	clk.add(time.Nanosecond)
	mustAEAD(t, k, wk) // expired: unwrapped again
	wantDecrypts(t, fake, 2)

	if n := k.cache.purgeExpired(); n != 0 {
		t.Errorf("purged %d fresh entries", n)
	}
	clk.add(ttl)
	if n := k.cache.purgeExpired(); n != 1 || k.cache.len() != 0 {
		t.Errorf("purgeExpired = %d, len %d; want 1, 0", n, k.cache.len())
	}
}

func TestCacheSizeBound(t *testing.T) {
	fake := newCountingKEK(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	maker := newTestKeyring(t, fake, 100, time.Minute, clk)
	var wks []confidant.WrappedKey
	for i := range 5 {
		wk, _, err := maker.NewPatientKey(fmt.Sprintf("p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		wks = append(wks, wk)
	}
	k := newTestKeyring(t, fake, 3, time.Minute, clk)
	for _, wk := range wks {
		mustAEAD(t, k, wk)
	}
	wantDecrypts(t, fake, 5)
	if n := k.cache.len(); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	for _, wk := range wks[2:] { // the three most recent are cached
		mustAEAD(t, k, wk)
	}
	wantDecrypts(t, fake, 5)
	mustAEAD(t, k, wks[0]) // the least recent was evicted
	wantDecrypts(t, fake, 6)
}

func TestProviderUnavailable(t *testing.T) {
	fake := newCountingKEK(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	maker := newTestKeyring(t, fake, 100, time.Minute, clk)
	wk, _, err := maker.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := maker.NewSystemKey(IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}
	fake.setDown(true)
	k := newTestKeyring(t, fake, 100, time.Minute, clk)
	for name, err := range map[string]error{
		"PatientAEAD":  second(k.PatientAEAD(wk)),
		"Rewrap":       second(k.RewrapPatientKey(wk)),
		"NewPatient":   third(k.NewPatientKey("p2")),
		"NewSystem":    second(k.NewSystemKey("x")),
		"RewrapSystem": second(k.RewrapSystemKey(sk)),
		"LoadIndex":    k.LoadIndexKey(sk),
		// Already unwrapped keys keep working from the cache; wrapping needs the KEK.
		"Rewrap cached": second(maker.RewrapPatientKey(wk)),
	} {
		if !confidant.IsKind(err, confidant.KindUnavailable) || confidant.CodeOf(err) != codeUnavailable {
			t.Errorf("%s with the KEK down: %v, want KindUnavailable %q", name, err, codeUnavailable)
		}
	}
	if _, err := maker.PatientAEAD(wk); err != nil {
		t.Errorf("cached key with the KEK down: %v", err)
	}
	fake.setDown(false)
	if _, err := k.PatientAEAD(wk); err != nil {
		t.Errorf("after the KEK is back: %v", err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// TestBlindIndexKnownAnswers freezes BlindIndex for a fixed index key. The
// expected values were computed independently (Python hmac/hashlib, HKDF by
// RFC 5869); a change here breaks every stored index.
func TestBlindIndexKnownAnswers(t *testing.T) {
	fake := newCountingKEK(t)
	k := newTestKeyring(t, fake, 10, time.Minute, &clock{})
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	k.mu.RLock()
	sk, err := k.wrapSystem(IndexKeyName, secret)
	k.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table, field, value string
		bits                int
		want                string
	}{
		{"patients", "identity", "131052-308T", 32, "7308d7b9"},
		{"patients", "identity", "131052-308T", 256, "7308d7b9e677edd06f9a1e91edcaf3d17a37d60e40f5b263d389ac9e51ad3891"},
		{"patients", "identity", "131052-308T", 12, "7300"},
		{"patients", "surname", "virtanen", 16, "6262"},
		{"patients", "surname_year", "virtanen|1985", 24, "0796ae"},
		{"patients", "identity", "", 32, "edb0de2d"},
		{"staff", "identity", "131052-308T", 32, "705c5fec"},
	} {
		got, err := k.BlindIndex(tc.table, tc.field, tc.value, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("BlindIndex(%q, %q, %q, %d) = %x, want %s", tc.table, tc.field, tc.value, tc.bits, got, tc.want)
		}
	}
}

// keyBytes returns the raw AES keys of a keyset.
func keyBytes(t *testing.T, h *keyset.Handle) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Key().(*aesgcm.Key).KeyBytes().Data(insecuresecretdataaccess.Token{}))
	}
	return out
}

// TestNoSecretInOutput prints a keyring, wrapped keys and every kind of
// error, and looks for the KEK, a patient key, the index key and the
// passphrase in every encoding that fmt or slog might use.
func TestNoSecretInOutput(t *testing.T) {
	pass := []byte("Vq7#passphrase-under-test")
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := CreateFile(path, pass); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateFile(path, pass); err != nil {
		t.Fatal(err)
	}
	u, err := filekek.Read(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(keyBytes(t, u.Handle), pass)

	k, err := Open(Config{File: path, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	wk, _, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := k.cache.get(keyOf(wk))
	if !ok {
		t.Fatal("new key not cached")
	}
	secrets = append(secrets, keyBytes(t, e.handle)...)
	sk, err := k.NewSystemKey(IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, bytes.Clone(k.indexKey))

	var out []string
	printAll := func(v any) {
		out = append(out, fmt.Sprint(v), fmt.Sprintf("%v|%+v|%#v|%s|%x|%q", v, v, v, v, v, v))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		out = append(out, buf.String())
	}
	printAll(k)
	printAll(wk)
	printAll(sk)
	printAll(Config{File: path, Passphrase: pass})
	printAll(PKCS11Config{Module: "/m.so", TokenLabel: "t", PIN: string(pass), KeyLabel: "k"})
	printAll(e.handle)
	moved := wk
	moved.Owner = "p2"
	for _, err := range []error{
		second(Open(Config{File: path, Passphrase: []byte("wrong-" + string(pass[:3]))})),
		second(Open(Config{File: path})),
		second(k.PatientAEAD(moved)),
		second(k.PatientAEAD(confidant.WrappedKey{Owner: "p1", KEKID: "file:1", Wrapped: wk.Wrapped})),
		k.LoadIndexKey(confidant.WrappedKey{Owner: IndexKeyName, KEKID: sk.KEKID, Wrapped: wk.Wrapped}),
		second(k.BlindIndex("t|x", "f", "v", 32)),
		CreateFile(path, pass),
	} {
		if err == nil {
			t.Fatal("expected an error")
		}
		printAll(err)
		out = append(out, err.Error())
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			out = append(out, e.Error())
		}
	}
	all := strings.Join(out, "\n")
	if !strings.Contains(all, "[REDACTED]") {
		t.Error("nothing redacted: is the keyring printed at all?")
	}
	for i, s := range secrets {
		for _, enc := range []string{
			string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s),
			fmt.Sprint(s), fmt.Sprintf("%#v", s),
		} {
			if strings.Contains(all, enc) {
				t.Errorf("secret %d appears in output as %.40q", i, enc)
			}
		}
	}
}

// FuzzUnwrap feeds arbitrary wrapped bytes and KEK ids (what a hostile
// database could hold) to the unwrapping paths: no panic, and every
// refusal is a *confidant.Error.
func FuzzUnwrap(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "kek.json")
	if err := CreateFile(path, nil); err != nil {
		f.Fatal(err)
	}
	k, err := Open(Config{File: path, CacheSize: 4})
	if err != nil {
		f.Fatal(err)
	}
	defer k.Close()
	wk, _, err := k.NewPatientKey("p1")
	if err != nil {
		f.Fatal(err)
	}
	sk, err := k.NewSystemKey(IndexKeyName)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wk.KEKID, wk.Wrapped)
	f.Add(sk.KEKID, sk.Wrapped)
	f.Add("file:0", []byte{})
	f.Add("pkcs11:x", []byte{1, 2, 3})
	f.Add("file:4294967296", wk.Wrapped[:10])
	f.Fuzz(func(t *testing.T, kekID string, wrapped []byte) {
		check := func(what string, err error) {
			var ce *confidant.Error
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("%s: %v is not a *confidant.Error", what, err)
			}
		}
		w := confidant.WrappedKey{Owner: "p1", KEKID: kekID, Wrapped: wrapped}
		check("PatientAEAD", second(k.PatientAEAD(w)))
		check("PatientPrimaryKeyID", second(k.PatientPrimaryKeyID(w)))
		w.Owner = IndexKeyName
		check("RewrapSystemKey", second(k.RewrapSystemKey(w)))
		check("LoadIndexKey", k.LoadIndexKey(w))
	})
}
