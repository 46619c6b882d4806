//go:build pkcs11

package keys_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/keys/internal/softhsmtest"
)

func hsmConfig(tok softhsmtest.Token, label string) keys.PKCS11Config {
	return keys.PKCS11Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, KeyLabel: label}
}

func openHSM(t *testing.T, c keys.PKCS11Config) *keys.Keyring {
	t.Helper()
	k, err := keys.Open(keys.Config{Provider: keys.ProviderPKCS11, PKCS11: c})
	if err != nil {
		t.Fatalf("Open(pkcs11): %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestPKCS11Keyring(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-kek")
	c1 := hsmConfig(tok, "kek-2026-01")
	if err := keys.CreatePKCS11Key(c1); err != nil {
		t.Fatal(err)
	}
	wantError(t, keys.CreatePKCS11Key(c1), confidant.KindConflict, "kek_exists")

	k := openHSM(t, c1)
	if k.KEKID() != "pkcs11:kek-2026-01" {
		t.Errorf("KEKID = %q", k.KEKID())
	}
	wk, _, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	if wk.KEKID != k.KEKID() || wk.Owner != "p1" {
		t.Errorf("wrapped key: owner %q KEK %q", wk.Owner, wk.KEKID)
	}
	ct := seal(t, k, wk, "note", "ad")
	sk, err := k.NewSystemKey(keys.IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}

	// A second keyring (no cache) unwraps through the HSM.
	k2 := openHSM(t, c1)
	wantOpen(t, k2, wk, ct, "note", "ad")
	if err := k2.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	_, err = k2.PatientAEAD(confidant.WrappedKey{Owner: "p2", KEKID: wk.KEKID, Wrapped: wk.Wrapped})
	wantError(t, err, confidant.KindInternal, "key_integrity")
	flip := bytes.Clone(sk.Wrapped)
	flip[len(flip)-1] ^= 1
	err = k2.LoadIndexKey(confidant.WrappedKey{Owner: sk.Owner, KEKID: sk.KEKID, Wrapped: flip})
	wantError(t, err, confidant.KindInternal, "key_integrity")
	_, err = k2.PatientAEAD(confidant.WrappedKey{Owner: "p1", KEKID: "pkcs11:no-such-key", Wrapped: wk.Wrapped})
	wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
	_, err = k2.PatientAEAD(confidant.WrappedKey{Owner: "p1", KEKID: "file:12345", Wrapped: wk.Wrapped})
	wantError(t, err, confidant.KindUnavailable, "kek_unavailable")

	// KEK rotation: a key with a new label becomes primary; old wraps
	// still unwrap and move to it.
	c2 := hsmConfig(tok, "kek-2026-07")
	if err := keys.CreatePKCS11Key(c2); err != nil {
		t.Fatal(err)
	}
	k3 := openHSM(t, c2)
	if k3.KEKID() != "pkcs11:kek-2026-07" {
		t.Errorf("KEKID = %q", k3.KEKID())
	}
	wantOpen(t, k3, wk, ct, "note", "ad")
	wk2, err := k3.RewrapPatientKey(wk)
	if err != nil {
		t.Fatal(err)
	}
	if wk2.KEKID != "pkcs11:kek-2026-07" {
		t.Errorf("rewrapped KEKID = %q", wk2.KEKID)
	}
	sk2, err := k3.RewrapSystemKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	k4 := openHSM(t, c2)
	wantOpen(t, k4, wk2, ct, "note", "ad")
	if err := k4.LoadIndexKey(sk2); err != nil {
		t.Fatal(err)
	}
	a, _ := k2.BlindIndex("patients", "identity", "131052-308T", 32)
	b, _ := k4.BlindIndex("patients", "identity", "131052-308T", 32)
	if !bytes.Equal(a, b) {
		t.Error("the rewrapped index key gives other indexes")
	}
	if s := k4.String(); !strings.Contains(s, "[REDACTED]") || strings.Contains(s, tok.PIN) {
		t.Errorf("Keyring prints as %q", s)
	}
}

func TestPKCS11Unavailable(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-kek")
	good := hsmConfig(tok, "kek-1")
	if err := keys.CreatePKCS11Key(good); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*keys.PKCS11Config)) keys.PKCS11Config { c := good; f(&c); return c }
	for _, tc := range []struct {
		name string
		cfg  keys.PKCS11Config
		code string
		msg  string
	}{
		{"wrong module path", with(func(c *keys.PKCS11Config) { c.Module = filepath.Join(t.TempDir(), "libnope.so") }), "kek_unavailable", "libnope.so"},
		{"wrong token", with(func(c *keys.PKCS11Config) { c.TokenLabel = "other" }), "kek_unavailable", `"other"`},
		{"wrong PIN", with(func(c *keys.PKCS11Config) { c.PIN = "9999-not-the-pin" }), "kek_unavailable", "wrong PIN"},
		{"missing key label", with(func(c *keys.PKCS11Config) { c.KeyLabel = "kek-missing" }), "kek_unavailable", `"kek-missing"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keys.Open(keys.Config{Provider: keys.ProviderPKCS11, PKCS11: tc.cfg})
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			ce := wantError(t, err, confidant.KindUnavailable, tc.code)
			if !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("message %q, want %q in it", ce.Message, tc.msg)
			}
			if strings.Contains(err.Error(), tc.cfg.PIN) {
				t.Errorf("error %q contains the PIN", err)
			}
			if tc.name != "missing key label" {
				wantError(t, keys.CreatePKCS11Key(tc.cfg), confidant.KindUnavailable, tc.code)
			}
		})
	}
}
