package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/google/go-cmp/cmp"
)

const testPassphrase = "correct horse battery staple 7Qx"

// newFile creates a KEK file in a fresh directory and returns its path.
func newFile(t *testing.T, passphrase []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek", "kek.json")
	if err := keys.CreateFile(path, passphrase); err != nil {
		t.Fatalf("CreateFile: %v", err)
	}
	return path
}

func open(t *testing.T, path string, passphrase []byte) *keys.Keyring {
	t.Helper()
	k, err := keys.Open(keys.Config{File: path, Passphrase: passphrase})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// wantError fails unless err is a *confidant.Error of kind and code.
func wantError(t *testing.T, err error, kind confidant.Kind, code string) *confidant.Error {
	t.Helper()
	var ce *confidant.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want *confidant.Error %v %q", err, err, kind, code)
	}
	if ce.Kind != kind || ce.Code != code {
		t.Fatalf("error %v: kind %v code %q, want %v %q", err, ce.Kind, ce.Code, kind, code)
	}
	return ce
}

func seal(t *testing.T, k *keys.Keyring, wk confidant.WrappedKey, msg, ad string) []byte {
	t.Helper()
	a, err := k.PatientAEAD(wk)
	if err != nil {
		t.Fatalf("PatientAEAD: %v", err)
	}
	ct, err := a.Encrypt([]byte(msg), []byte(ad))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func wantOpen(t *testing.T, k *keys.Keyring, wk confidant.WrappedKey, ct []byte, msg, ad string) {
	t.Helper()
	a, err := k.PatientAEAD(wk)
	if err != nil {
		t.Fatalf("PatientAEAD: %v", err)
	}
	pt, err := a.Decrypt(ct, []byte(ad))
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(pt) != msg {
		t.Fatalf("Decrypt = %q, want %q", pt, msg)
	}
}

func TestCreateAndOpen(t *testing.T) {
	for _, tc := range []struct {
		name       string
		passphrase []byte
		kdf        string
	}{
		{"plain", nil, `"kdf": "none"`},
		{"passphrase", []byte(testPassphrase), `"kdf": "argon2id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newFile(t, tc.passphrase)
			for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode().Perm(); got != want {
					t.Errorf("%s: mode %04o, want %04o", p, got, want)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(tc.kdf)) || !bytes.Contains(data, []byte(`"version": 1`)) {
				t.Errorf("file does not have version 1 and %s:\n%s", tc.kdf, data)
			}
			if tc.passphrase != nil && bytes.Contains(data, []byte(`"value"`)) {
				t.Errorf("passphrase-protected file holds cleartext key values:\n%s", data)
			}

			k := open(t, path, tc.passphrase)
			if !strings.HasPrefix(k.KEKID(), "file:") {
				t.Errorf("KEKID = %q, want file:<id>", k.KEKID())
			}
			wk, a, err := k.NewPatientKey("patient-1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(confidant.WrappedKey{Owner: "patient-1", KEKID: k.KEKID()}, wk,
				cmpIgnore("Wrapped", "UpdatedAt")); diff != "" {
				t.Errorf("wrapped key (-want +got):\n%s", diff)
			}
			ct, err := a.Encrypt([]byte("session note"), []byte("record/v1|patient-1|n1|1"))
			if err != nil {
				t.Fatal(err)
			}
			// A second keyring over the same file unwraps what the first wrapped.
			k2 := open(t, path, tc.passphrase)
			wantOpen(t, k2, wk, ct, "session note", "record/v1|patient-1|n1|1")
		})
	}
}

// cmpIgnore ignores fields of confidant.WrappedKey.
func cmpIgnore(fields ...string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		for _, f := range fields {
			if p.Last().String() == "."+f {
				return true
			}
		}
		return false
	}, cmp.Ignore())
}

func TestCreateFileRefusesOverwrite(t *testing.T) {
	path := newFile(t, nil)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ce := wantError(t, keys.CreateFile(path, nil), confidant.KindConflict, "kek_exists")
	if !strings.Contains(ce.Message, path) {
		t.Errorf("message %q does not name the file", ce.Message)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("refused CreateFile changed the file")
	}
	wantError(t, keys.CreateFile(filepath.Join(t.TempDir(), "k.json"), []byte{}), confidant.KindInvalid, "invalid_key_config")
}

func TestOpenErrors(t *testing.T) {
	pass := []byte(testPassphrase)
	plain := newFile(t, nil)
	locked := newFile(t, pass)
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plainData, _ := os.ReadFile(plain)
	lockedData, _ := os.ReadFile(locked)
	// Flip one character inside the encrypted keyset.
	i := bytes.Index(lockedData, []byte(`"encryptedKeyset": "`)) + len(`"encryptedKeyset": "`) + 10
	flipped := bytes.Clone(lockedData)
	flipped[i] = 'A' // another valid base64 digit
	if lockedData[i] == 'A' {
		flipped[i] = 'B'
	}
	if !bytes.Contains(lockedData, []byte(`"encryptedKeyset"`)) {
		t.Fatal("test setup: cannot damage the encrypted keyset")
	}

	for _, tc := range []struct {
		name string
		cfg  keys.Config
		kind confidant.Kind
		code string
	}{
		{"missing file", keys.Config{File: filepath.Join(dir, "nope.json")}, confidant.KindUnavailable, "kek_missing"},
		{"wrong passphrase", keys.Config{File: locked, Passphrase: []byte("Tr0ub4dor&3-wrong")}, confidant.KindUnavailable, "kek_wrong_passphrase"},
		{"passphrase missing", keys.Config{File: locked}, confidant.KindUnavailable, "kek_wrong_passphrase"},
		{"passphrase not needed", keys.Config{File: plain, Passphrase: pass}, confidant.KindUnavailable, "kek_wrong_passphrase"},
		{"damaged ciphertext", keys.Config{File: write("flipped.json", flipped, 0o600), Passphrase: pass}, confidant.KindUnavailable, "kek_wrong_passphrase"},
		{"truncated", keys.Config{File: write("trunc.json", plainData[:len(plainData)/2], 0o600)}, confidant.KindUnavailable, "kek_invalid"},
		{"empty", keys.Config{File: write("empty.json", nil, 0o600)}, confidant.KindUnavailable, "kek_invalid"},
		{"garbage", keys.Config{File: write("garbage.json", []byte("\x00\xffPK\x03\x04"), 0o600)}, confidant.KindUnavailable, "kek_invalid"},
		{"directory", keys.Config{File: dir}, confidant.KindUnavailable, "kek_invalid"},
		{"readable by others", keys.Config{File: write("open.json", plainData, 0o644)}, confidant.KindUnavailable, "kek_insecure_mode"},
		{"no path", keys.Config{}, confidant.KindInvalid, "invalid_key_config"},
		{"empty passphrase", keys.Config{File: plain, Passphrase: []byte{}}, confidant.KindInvalid, "invalid_key_config"},
		{"unknown provider", keys.Config{Provider: "vault", File: plain}, confidant.KindInvalid, "invalid_key_config"},
		{"negative cache", keys.Config{File: plain, CacheSize: -1}, confidant.KindInvalid, "invalid_key_config"},
		{"negative ttl", keys.Config{File: plain, CacheTTL: -1}, confidant.KindInvalid, "invalid_key_config"},
		{"pkcs11 without module", keys.Config{Provider: "pkcs11", PKCS11: keys.PKCS11Config{TokenLabel: "t", PIN: "1", KeyLabel: "k"}}, confidant.KindInvalid, "invalid_key_config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keys.Open(tc.cfg)
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			ce := wantError(t, err, tc.kind, tc.code)
			if tc.kind == confidant.KindUnavailable && !strings.Contains(ce.Message, tc.cfg.File) {
				t.Errorf("message %q does not name the file %s", ce.Message, tc.cfg.File)
			}
			if len(tc.cfg.Passphrase) > 0 && strings.Contains(err.Error(), string(tc.cfg.Passphrase)) {
				t.Errorf("error %q contains the passphrase", err)
			}
			if err := tc.cfg.Validate(); (err == nil) != (tc.kind != confidant.KindInvalid) {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestWrongKEK(t *testing.T) {
	a := open(t, newFile(t, nil), nil)
	b := open(t, newFile(t, nil), nil)
	wk, _, err := a.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.PatientAEAD(wk)
	ce := wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
	if !strings.Contains(ce.Message, wk.KEKID) {
		t.Errorf("message %q does not name the KEK %s", ce.Message, wk.KEKID)
	}
	// The same key id in another file (forged KEKID) fails authentication.
	forged := wk
	forged.KEKID = b.KEKID()
	_, err = b.PatientAEAD(forged)
	wantError(t, err, confidant.KindInternal, "key_integrity")
	// A KEK id of another provider.
	forged.KEKID = "pkcs11:kek-2026"
	_, err = b.PatientAEAD(forged)
	wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
}

func TestRotateAndRetireFile(t *testing.T) {
	for _, tc := range []struct {
		name       string
		passphrase []byte
	}{
		{"plain", nil},
		{"passphrase", []byte(testPassphrase)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newFile(t, tc.passphrase)
			k1 := open(t, path, tc.passphrase)
			old := k1.KEKID()
			wk1, _, err := k1.NewPatientKey("p1")
			if err != nil {
				t.Fatal(err)
			}
			ct := seal(t, k1, wk1, "note", "ad")
			sk1, err := k1.NewSystemKey(keys.IndexKeyName)
			if err != nil {
				t.Fatal(err)
			}
			if err := k1.LoadIndexKey(sk1); err != nil {
				t.Fatal(err)
			}
			idx1, err := k1.BlindIndex("patients", "identity", "010203A123B", 32)
			if err != nil {
				t.Fatal(err)
			}

			newID, err := keys.RotateFile(path, tc.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			if newID == old || !strings.HasPrefix(newID, "file:") {
				t.Fatalf("RotateFile = %q (old %q)", newID, old)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("mode after rotation %04o", st.Mode().Perm())
			}
			if k1.KEKID() != old {
				t.Error("a running keyring changed its KEK")
			}

			k2 := open(t, path, tc.passphrase)
			if k2.KEKID() != newID {
				t.Fatalf("KEKID after rotation = %q, want %q", k2.KEKID(), newID)
			}
			wantOpen(t, k2, wk1, ct, "note", "ad") // old wraps still unwrap
			wk2, err := k2.RewrapPatientKey(wk1)
			if err != nil {
				t.Fatal(err)
			}
			if wk2.KEKID != newID || wk2.Owner != "p1" || bytes.Equal(wk2.Wrapped, wk1.Wrapped) {
				t.Errorf("rewrapped key: KEKID %q owner %q", wk2.KEKID, wk2.Owner)
			}
			wantOpen(t, k2, wk2, ct, "note", "ad")
			sk2, err := k2.RewrapSystemKey(sk1)
			if err != nil {
				t.Fatal(err)
			}
			if sk2.KEKID != newID || sk2.Owner != keys.IndexKeyName {
				t.Errorf("rewrapped system key: KEKID %q owner %q", sk2.KEKID, sk2.Owner)
			}
			if err := k2.LoadIndexKey(sk2); err != nil {
				t.Fatal(err)
			}
			if idx2, _ := k2.BlindIndex("patients", "identity", "010203A123B", 32); !bytes.Equal(idx1, idx2) {
				t.Error("the rewrapped index key gives other indexes")
			}

			// Retire: a key still in use stays; the primary is never offered.
			var asked []string
			removed, err := keys.RetireFile(path, tc.passphrase, func(id string) (bool, error) {
				asked = append(asked, id)
				return true, nil
			})
			if err != nil || len(removed) != 0 {
				t.Fatalf("RetireFile(in use) = %v, %v", removed, err)
			}
			if diff := cmp.Diff([]string{old}, asked); diff != "" {
				t.Errorf("inUse asked about (-want +got):\n%s", diff)
			}
			boom := errors.New("database down")
			if _, err := keys.RetireFile(path, tc.passphrase, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
				t.Errorf("RetireFile with failing inUse: %v", err)
			}
			wantOpen(t, open(t, path, tc.passphrase), wk1, ct, "note", "ad")

			removed, err = keys.RetireFile(path, tc.passphrase, func(string) (bool, error) { return false, nil })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{old}, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			k3 := open(t, path, tc.passphrase)
			_, err = k3.PatientAEAD(wk1)
			wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
			_, err = k3.RewrapSystemKey(sk1)
			wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
			wantOpen(t, k3, wk2, ct, "note", "ad")
		})
	}
}

func TestRotateFileErrors(t *testing.T) {
	path := newFile(t, []byte(testPassphrase))
	before, _ := os.ReadFile(path)
	_, err := keys.RotateFile(path, []byte("not the passphrase"))
	wantError(t, err, confidant.KindUnavailable, "kek_wrong_passphrase")
	_, err = keys.RetireFile(path, nil, func(string) (bool, error) { return false, nil })
	wantError(t, err, confidant.KindUnavailable, "kek_wrong_passphrase")
	_, err = keys.RotateFile(filepath.Join(t.TempDir(), "none.json"), nil)
	wantError(t, err, confidant.KindUnavailable, "kek_missing")
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("failed rotation changed the file")
	}
}

func TestPatientKeyBinding(t *testing.T) {
	k := open(t, newFile(t, nil), nil)
	wk, _, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := k.NewSystemKey(keys.IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(wk.Wrapped)
	flip[len(flip)-3] ^= 1
	for _, tc := range []struct {
		name string
		wk   confidant.WrappedKey
		kind confidant.Kind
		code string
	}{
		{"moved to another patient", confidant.WrappedKey{Owner: "p2", KEKID: wk.KEKID, Wrapped: wk.Wrapped}, confidant.KindInternal, "key_integrity"},
		{"bit flipped", confidant.WrappedKey{Owner: "p1", KEKID: wk.KEKID, Wrapped: flip}, confidant.KindInternal, "key_integrity"},
		{"truncated", confidant.WrappedKey{Owner: "p1", KEKID: wk.KEKID, Wrapped: wk.Wrapped[:20]}, confidant.KindInternal, "key_integrity"},
		{"empty", confidant.WrappedKey{Owner: "p1", KEKID: wk.KEKID}, confidant.KindInternal, "key_integrity"},
		{"system key as patient key", confidant.WrappedKey{Owner: keys.IndexKeyName, KEKID: sk.KEKID, Wrapped: sk.Wrapped}, confidant.KindInternal, "key_integrity"},
		{"no owner", confidant.WrappedKey{KEKID: wk.KEKID, Wrapped: wk.Wrapped}, confidant.KindInvalid, "invalid_key"},
		{"no KEK id", confidant.WrappedKey{Owner: "p1", Wrapped: wk.Wrapped}, confidant.KindUnavailable, "kek_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.PatientAEAD(tc.wk)
			wantError(t, err, tc.kind, tc.code)
			_, err = k.RewrapPatientKey(tc.wk)
			wantError(t, err, tc.kind, tc.code)
		})
	}
	// A patient key is not a system key either.
	_, err = k.RewrapSystemKey(confidant.WrappedKey{Owner: "p1", KEKID: wk.KEKID, Wrapped: wk.Wrapped})
	wantError(t, err, confidant.KindInternal, "key_integrity")
	// A system key moved to another name.
	err = k.LoadIndexKey(confidant.WrappedKey{Owner: keys.IndexKeyName, KEKID: sk.KEKID, Wrapped: flip})
	wantError(t, err, confidant.KindInternal, "key_integrity")
	other, err := k.NewSystemKey("audit")
	if err != nil {
		t.Fatal(err)
	}
	err = k.LoadIndexKey(confidant.WrappedKey{Owner: keys.IndexKeyName, KEKID: other.KEKID, Wrapped: other.Wrapped})
	wantError(t, err, confidant.KindInternal, "key_integrity")
	wantError(t, k.LoadIndexKey(other), confidant.KindInvalid, "invalid_key")
	_, _, err = k.NewPatientKey("")
	wantError(t, err, confidant.KindInvalid, "invalid_key")
	_, err = k.NewSystemKey("")
	wantError(t, err, confidant.KindInvalid, "invalid_key")
}

func TestRotateAndPrunePatientKey(t *testing.T) {
	k := open(t, newFile(t, nil), nil)
	wk1, a1, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	id1, err := k.PatientPrimaryKeyID(wk1)
	if err != nil {
		t.Fatal(err)
	}
	ct1, _ := a1.Encrypt([]byte("old"), []byte("ad"))
	if got, ok := keys.CiphertextKeyID(ct1); !ok || got != id1 {
		t.Errorf("CiphertextKeyID(old) = %d, %v; want %d", got, ok, id1)
	}

	wk2, a2, err := k.RotatePatientKey(wk1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := k.PatientPrimaryKeyID(wk2)
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id1 || wk2.Owner != "p1" || wk2.KEKID != k.KEKID() {
		t.Fatalf("rotated: primary %d (was %d), owner %q, KEK %q", id2, id1, wk2.Owner, wk2.KEKID)
	}
	ct2, _ := a2.Encrypt([]byte("new"), []byte("ad"))
	if got, _ := keys.CiphertextKeyID(ct2); got != id2 {
		t.Errorf("new ciphertexts use key %d, want the new primary %d", got, id2)
	}
	wantOpen(t, k, wk2, ct1, "old", "ad") // old key keeps decrypting
	wantOpen(t, k, wk2, ct2, "new", "ad")
	if id, _ := k.PatientPrimaryKeyID(wk1); id != id1 {
		t.Error("rotation changed the old wrapped keyset")
	}

	wk3, err := k.PrunePatientKey(wk2)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := k.PatientPrimaryKeyID(wk3); id != id2 {
		t.Errorf("pruned primary = %d, want %d", id, id2)
	}
	wantOpen(t, k, wk3, ct2, "new", "ad")
	a3, err := k.PatientAEAD(wk3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a3.Decrypt(ct1, []byte("ad")); err == nil {
		t.Error("a pruned key still decrypts")
	}
	// Pruning a single-key keyset keeps it.
	wk4, err := k.PrunePatientKey(wk3)
	if err != nil {
		t.Fatal(err)
	}
	wantOpen(t, k, wk4, ct2, "new", "ad")
}

func TestCiphertextKeyID(t *testing.T) {
	for _, tc := range []struct {
		ct     []byte
		id     uint32
		tagged bool
	}{
		{nil, 0, false},
		{[]byte{1, 0, 0, 0}, 0, false},
		{[]byte{0, 0, 0, 0, 7, 9}, 0, false}, // legacy/crunchy prefix
		{[]byte{2, 0, 0, 0, 7}, 0, false},
		{[]byte{1, 0, 0, 0, 7}, 7, true},
		{[]byte{1, 0xde, 0xad, 0xbe, 0xef, 0, 0}, 0xdeadbeef, true},
	} {
		id, ok := keys.CiphertextKeyID(tc.ct)
		if id != tc.id || ok != tc.tagged {
			t.Errorf("CiphertextKeyID(%x) = %d, %v; want %d, %v", tc.ct, id, ok, tc.id, tc.tagged)
		}
	}
}

func TestBlindIndex(t *testing.T) {
	k := open(t, newFile(t, nil), nil)
	_, err := k.BlindIndex("patients", "identity", "x", 32)
	wantError(t, err, confidant.KindInternal, "index_key_missing")
	sk, err := k.NewSystemKey(keys.IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	idx := func(table, field, value string, bits int) []byte {
		t.Helper()
		b, err := k.BlindIndex(table, field, value, bits)
		if err != nil {
			t.Fatalf("BlindIndex(%q, %q, %d): %v", table, field, bits, err)
		}
		return b
	}
	base := idx("patients", "identity", "131052-308T", 256)
	if !bytes.Equal(base, idx("patients", "identity", "131052-308T", 256)) {
		t.Error("not deterministic")
	}
	for name, other := range map[string][]byte{
		"value": idx("patients", "identity", "131052-308U", 256),
		"field": idx("patients", "surname", "131052-308T", 256),
		"table": idx("staff", "identity", "131052-308T", 256),
		"shift": idx("patientsi", "dentity", "131052-308T", 256),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("same index for a different %s", name)
		}
	}
	for _, bits := range []int{8, 12, 16, 24, 31, 32, 255, 256} {
		got := idx("patients", "identity", "131052-308T", bits)
		if len(got) != (bits+7)/8 {
			t.Errorf("%d bits: %d bytes", bits, len(got))
		}
		want := bytes.Clone(base[:len(got)])
		if r := bits % 8; r != 0 {
			want[len(want)-1] &= byte(0xFF << (8 - r))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d bits = %x, want the first bits of %x", bits, got, base)
		}
	}
	for _, tc := range []struct {
		table, field string
		bits         int
	}{
		{"patients", "identity", 7},
		{"patients", "identity", 257},
		{"patients", "identity", 0},
		{"", "identity", 32},
		{"patients", "", 32},
		{"patients|x", "identity", 32},
		{"patients", "a|b", 32},
	} {
		_, err := k.BlindIndex(tc.table, tc.field, "v", tc.bits)
		wantError(t, err, confidant.KindInvalid, "invalid_key")
	}
	// Another index key gives other indexes.
	sk2, _ := k.NewSystemKey(keys.IndexKeyName)
	if err := k.LoadIndexKey(sk2); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(base, idx("patients", "identity", "131052-308T", 256)) {
		t.Error("index independent of the key")
	}
}

func TestClosed(t *testing.T) {
	k, err := keys.Open(keys.Config{File: newFile(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	wk, _, err := k.NewPatientKey("p1")
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := k.NewSystemKey(keys.IndexKeyName)
	if err := k.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"PatientAEAD":  second(k.PatientAEAD(wk)),
		"NewPatient":   third(k.NewPatientKey("p2")),
		"Rewrap":       second(k.RewrapPatientKey(wk)),
		"Rotate":       third(k.RotatePatientKey(wk)),
		"Prune":        second(k.PrunePatientKey(wk)),
		"PrimaryKeyID": second(k.PatientPrimaryKeyID(wk)),
		"NewSystem":    second(k.NewSystemKey("x")),
		"RewrapSystem": second(k.RewrapSystemKey(sk)),
		"LoadIndex":    k.LoadIndexKey(sk),
		"BlindIndex":   second(k.BlindIndex("t", "f", "v", 32)),
	} {
		var ce *confidant.Error
		if !errors.As(err, &ce) || ce.Kind != confidant.KindUnavailable || ce.Code != "keyring_closed" {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

func TestConcurrentUse(t *testing.T) {
	k, err := keys.Open(keys.Config{File: newFile(t, nil), CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := k.NewSystemKey(keys.IndexKeyName)
	if err := k.LoadIndexKey(sk); err != nil {
		t.Fatal(err)
	}
	var wks []confidant.WrappedKey
	for i := range 16 {
		wk, _, err := k.NewPatientKey(fmt.Sprintf("p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		wks = append(wks, wk)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				wk := wks[(g*7+i)%len(wks)]
				a, err := k.PatientAEAD(wk)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := a.Encrypt([]byte("x"), nil); err != nil {
					t.Error(err)
				}
				if _, err := k.BlindIndex("patients", fmt.Sprintf("f%d", i%3), "v", 16); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // a reload of the index key meanwhile
		defer wg.Done()
		for range 20 {
			if err := k.LoadIndexKey(sk); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNothingSecretInPrint(t *testing.T) {
	pass := []byte(testPassphrase)
	k := open(t, newFile(t, pass), pass)
	s := fmt.Sprint(k) + fmt.Sprintf("%v %+v %#v %s", k, k, k, k)
	if !strings.Contains(s, "[REDACTED]") || !strings.Contains(s, k.KEKID()) {
		t.Errorf("Keyring prints as %q", s)
	}
	cfg := keys.Config{File: "/k", Passphrase: pass, PKCS11: keys.PKCS11Config{Module: "/m.so", TokenLabel: "tok", PIN: "pin-8Hq2", KeyLabel: "kek"}}
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.PKCS11), fmt.Sprintf("%#v", cfg.PKCS11)} {
		if strings.Contains(out, string(pass)) || strings.Contains(out, "pin-8Hq2") || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("Config prints as %q", out)
		}
	}
}

// FactMAC: HMAC-SHA256 under a key derived from the index key (info
// "fact-mac/v1"), deterministic, different for a different message or
// index key, and unavailable before the index key is loaded.
func TestFactMAC(t *testing.T) {
	k := open(t, newFile(t, nil), nil)
	_, err := k.FactMAC([]byte("m"))
	wantError(t, err, confidant.KindInternal, "index_key_missing")
	load := func() {
		sk, err := k.NewSystemKey(keys.IndexKeyName)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.LoadIndexKey(sk); err != nil {
			t.Fatal(err)
		}
	}
	load()
	mac := func(m string) []byte {
		t.Helper()
		b, err := k.FactMAC([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := mac("users|id|role")
	if len(a) != 32 || !bytes.Equal(a, mac("users|id|role")) {
		t.Fatalf("FactMAC: %d bytes, or not deterministic", len(a))
	}
	if bytes.Equal(a, mac("users|id|rolf")) {
		t.Error("same MAC for a different message")
	}
	if bi, _ := k.BlindIndex("users", "id", "role", 256); bytes.Equal(a, bi) {
		t.Error("the fact MAC equals a blind index")
	}
	load() // another index key: another fact key
	if bytes.Equal(a, mac("users|id|role")) {
		t.Error("same MAC under another index key")
	}
}
