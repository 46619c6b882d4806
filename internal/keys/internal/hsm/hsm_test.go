//go:build pkcs11

package hsm

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys/internal/softhsmtest"
	"github.com/miekg/pkcs11"
)

func openToken(t *testing.T, tok softhsmtest.Token) *Token {
	t.Helper()
	tk, err := Open(tok.Module, tok.Label, tok.PIN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tk.Close() })
	return tk
}

func wantCode(t *testing.T, err error, kind confidant.Kind, code string) *confidant.Error {
	t.Helper()
	var ce *confidant.Error
	if !errors.As(err, &ce) || ce.Kind != kind || ce.Code != code {
		t.Fatalf("error %v, want %v %q", err, kind, code)
	}
	return ce
}

func TestGeneratedKeyIsNotExtractable(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-test")
	tk := openToken(t, tok)
	if err := tk.GenerateKey("kek-1"); err != nil {
		t.Fatal(err)
	}
	if err := tk.CheckKey("kek-1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tk.GenerateKey("kek-1"), confidant.KindConflict, CodeExists)

	err := tk.withSession(func(s pkcs11.SessionHandle) error {
		o, err := tk.findKey(s, "kek-1")
		if err != nil {
			return err
		}
		// The value cannot be read.
		if _, err := tk.mod.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); !isCode(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
			t.Errorf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		attrs, err := tk.mod.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, nil),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, nil),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
		})
		if err != nil {
			return err
		}
		want := map[uint]bool{
			pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_TOKEN: true,
			pkcs11.CKA_ENCRYPT: true, pkcs11.CKA_DECRYPT: true, pkcs11.CKA_WRAP: false,
		}
		for _, a := range attrs {
			if a.Type == pkcs11.CKA_VALUE_LEN {
				if n := ulong(a.Value); n != 32 {
					t.Errorf("CKA_VALUE_LEN = %d, want 32", n)
				}
				continue
			}
			if got := boolean(a.Value); got != want[a.Type] {
				t.Errorf("attribute %#x = %v, want %v", a.Type, got, want[a.Type])
			}
		}
		// Not even wrapped out under another key of the token.
		wrapper, err := tk.mod.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		})
		if err != nil {
			return err
		}
		if _, err := tk.mod.ctx.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP, nil)}, wrapper, o); err == nil {
			t.Error("the KEK could be wrapped out of the token")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The key persists in the token.
	tk.Close()
	tk2 := openToken(t, tok)
	if err := tk2.CheckKey("kek-1"); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

func TestExtractableKeyRefused(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-test")
	tk := openToken(t, tok)
	err := tk.withSession(func(s pkcs11.SessionHandle) error {
		_, err := tk.mod.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "weak"),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ce := wantCode(t, tk.CheckKey("weak"), confidant.KindUnavailable, CodeInvalid)
	if !strings.Contains(ce.Message, "extractable") || !strings.Contains(ce.Message, "not sensitive") {
		t.Errorf("message %q", ce.Message)
	}
}

func TestAEAD(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-test")
	tk := openToken(t, tok)
	if err := tk.GenerateKey("kek-1"); err != nil {
		t.Fatal(err)
	}
	a := tk.AEAD("kek-1")
	pt, ad := []byte("a patient keyset"), []byte("patient-key/v1|p1")
	ct, err := a.Encrypt(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != ivSize+len(pt)+tagSize {
		t.Errorf("ciphertext of %d bytes, want %d", len(ct), ivSize+len(pt)+tagSize)
	}
	ct2, _ := a.Encrypt(pt, ad)
	if bytes.Equal(ct[:ivSize], ct2[:ivSize]) {
		t.Error("two encryptions share an IV")
	}
	got, err := a.Decrypt(ct, ad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	if got, err := a.Encrypt(nil, nil); err != nil || len(got) != ivSize+tagSize {
		t.Errorf("empty plaintext: %x, %v", got, err)
	}
	flip := func(i int) []byte { c := bytes.Clone(ct); c[i] ^= 1; return c }
	for name, tc := range map[string]struct{ ct, ad []byte }{
		"wrong AD":       {ct, []byte("patient-key/v1|p2")},
		"no AD":          {ct, nil},
		"IV flipped":     {flip(0), ad},
		"body flipped":   {flip(ivSize + 1), ad},
		"tag flipped":    {flip(len(ct) - 1), ad},
		"too short":      {ct[:ivSize+tagSize-1], ad},
		"tag only":       {ct[:ivSize+tagSize], ad},
		"empty":          {nil, ad},
		"truncated body": {ct[:len(ct)-1], ad},
	} {
		if _, err := a.Decrypt(tc.ct, tc.ad); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
	// A failed decryption leaves the token usable.
	if _, err := a.Decrypt(ct, ad); err != nil {
		t.Errorf("after failures: %v", err)
	}
	// Another key of the token does not decrypt it.
	if err := tk.GenerateKey("kek-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.AEAD("kek-2").Decrypt(ct, ad); !errors.Is(err, ErrAuth) {
		t.Errorf("other key: %v", err)
	}
	// A missing label is an unavailable provider, not a bad ciphertext.
	_, err = tk.AEAD("nope").Decrypt(ct, ad)
	wantCode(t, err, confidant.KindUnavailable, CodeUnavailable)
	_, err = tk.AEAD("nope").Encrypt(pt, ad)
	wantCode(t, err, confidant.KindUnavailable, CodeUnavailable)

	// Concurrent use through the session pool.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				c, err := a.Encrypt(pt, ad)
				if err != nil {
					t.Error(err)
					return
				}
				if p, err := a.Decrypt(c, ad); err != nil || !bytes.Equal(p, pt) {
					t.Errorf("concurrent round trip: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	tk.mu.Lock()
	idle := len(tk.idle)
	tk.mu.Unlock()
	if idle > maxIdle {
		t.Errorf("%d idle sessions, want at most %d", idle, maxIdle)
	}
}

func TestOpenErrors(t *testing.T) {
	tok := softhsmtest.New(t, "confidant-test")
	for _, tc := range []struct {
		name                 string
		module, label, pin   string
		wantInMsg, notInMsgs string
	}{
		{"module missing", filepath.Join(t.TempDir(), "nope.so"), tok.Label, tok.PIN, "nope.so", tok.PIN},
		{"not a module", "/etc/hostname", tok.Label, tok.PIN, "/etc/hostname", tok.PIN},
		{"no such token", tok.Module, "other-token", tok.PIN, `"other-token"`, tok.PIN},
		{"wrong PIN", tok.Module, tok.Label, "0000-wrong", "wrong PIN", "0000-wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := Open(tc.module, tc.label, tc.pin)
			if err == nil {
				tk.Close()
				t.Fatal("Open succeeded")
			}
			ce := wantCode(t, err, confidant.KindUnavailable, CodeUnavailable)
			if !strings.Contains(ce.Message, tc.wantInMsg) {
				t.Errorf("message %q, want %q in it", ce.Message, tc.wantInMsg)
			}
			if strings.Contains(err.Error(), tc.notInMsgs) {
				t.Errorf("error %q contains the PIN", err)
			}
		})
	}
	// Nothing leaked: the module is unloaded again once every token closed.
	modulesMu.Lock()
	n := len(modules)
	modulesMu.Unlock()
	if n != 0 {
		t.Errorf("%d modules still loaded", n)
	}
	tk := openToken(t, tok)
	wantCode(t, tk.CheckKey("missing"), confidant.KindUnavailable, CodeUnavailable)
}
