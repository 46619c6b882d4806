package filekek

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
)

// fastParams keep argon2id cheap in tests of the format (not of strength).
var fastParams = Params{Memory: 8, Time: 1, Threads: 1}

var testPass = []byte("fuzz-pass")

func encode(t testing.TB, passphrase []byte, p Params) []byte {
	t.Helper()
	u, err := New(passphrase, p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edit decodes a file's JSON, applies fn to it and re-encodes it.
func edit(t testing.TB, data []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keyIDs(t testing.TB, u *Unlocked) (uint32, []uint32) {
	t.Helper()
	var ids []uint32
	for i := range u.Handle.Len() {
		e, err := u.Handle.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.KeyID())
	}
	p, err := u.Handle.Primary()
	if err != nil {
		t.Fatal(err)
	}
	return p.KeyID(), ids
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		pass []byte
	}{
		{"plain", nil},
		{"argon2id", testPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(tc.pass, fastParams)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Rotate(); err != nil {
				t.Fatal(err)
			}
			data, err := u.Encode()
			if err != nil {
				t.Fatal(err)
			}
			f, err := Decode(data, "k.json")
			if err != nil {
				t.Fatal(err)
			}
			u2, err := f.Unlock(tc.pass, "k.json")
			if err != nil {
				t.Fatal(err)
			}
			p1, ids1 := keyIDs(t, u)
			p2, ids2 := keyIDs(t, u2)
			if p1 != p2 || !cmp.Equal(ids1, ids2) {
				t.Errorf("keyset changed: primary %d -> %d, ids %v -> %v", p1, p2, ids1, ids2)
			}
			// The same keys: what one encrypts, the other decrypts.
			_, a1, err := u.Keys()
			if err != nil {
				t.Fatal(err)
			}
			_, a2, err := u2.Keys()
			if err != nil {
				t.Fatal(err)
			}
			ct, err := a1[p1].Encrypt([]byte("x"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a2[p2].Decrypt(ct, nil); err != nil {
				t.Errorf("decrypt after round trip: %v", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	plain := encode(t, nil, fastParams)
	locked := encode(t, testPass, fastParams)
	for _, tc := range []struct {
		name string
		data []byte
		want string // part of the message
	}{
		{"empty", nil, "not a JSON"},
		{"not json", []byte("hello"), "not a JSON"},
		{"array", []byte("[]"), "not a JSON"},
		{"trailing", append(bytes.Clone(plain), []byte("{}")...), "data after"},
		{"unknown field", edit(t, plain, func(m map[string]any) { m["extra"] = 1 }), "not a JSON"},
		{"version 2", edit(t, plain, func(m map[string]any) { m["version"] = 2 }), "unsupported version 2"},
		{"no version", edit(t, plain, func(m map[string]any) { delete(m, "version") }), "unsupported version 0"},
		{"unknown kdf", edit(t, plain, func(m map[string]any) { m["kdf"] = "scrypt" }), "unknown kdf"},
		{"no keyset", edit(t, plain, func(m map[string]any) { delete(m, "keyset") }), "no keyset"},
		{"null keyset", edit(t, plain, func(m map[string]any) { m["keyset"] = nil }), "no keyset"},
		{"keyset not keyset", edit(t, plain, func(m map[string]any) { m["keyset"] = "x" }), "not a Tink JSON keyset"},
		{"keyset without keys", edit(t, plain, func(m map[string]any) { m["keyset"] = map[string]any{"primaryKeyId": 1} }), "no keys"},
		{"argon2 with none", edit(t, plain, func(m map[string]any) {
			m["argon2"] = map[string]any{"m": 8, "t": 1, "p": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}
		}), "argon2 parameters"},
		{"argon2id without params", edit(t, locked, func(m map[string]any) { delete(m, "argon2") }), "without argon2"},
		{"m too big", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["m"] = 1 << 30 }), "argon2.m"},
		{"m too small", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["m"] = 7 }), "argon2.m"},
		{"t zero", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["t"] = 0 }), "argon2.t"},
		{"p zero", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["p"] = 0 }), "argon2.p"},
		{"p overflow", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["p"] = 256 }), "not a JSON"},
		{"salt short", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["salt"] = "AAAA" }), "argon2.salt"},
		{"salt not base64", edit(t, locked, func(m map[string]any) { m["argon2"].(map[string]any)["salt"] = "!!!!!!!!!!!!!!!!!!!!!!!!" }), "argon2.salt"},
		{"encrypted keyset missing", edit(t, locked, func(m map[string]any) { m["keyset"] = map[string]any{} }), "encrypted keyset"},
		{"too large", bytes.Repeat([]byte(" "), MaxFileSize+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, "/etc/confidant/kek.json")
			var ce *confidant.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode: %v, want *confidant.Error", err)
			}
			if ce.Kind != confidant.KindUnavailable || ce.Code != CodeInvalid {
				t.Errorf("kind, code = %v, %q; want unavailable, %q", ce.Kind, ce.Code, CodeInvalid)
			}
			if !strings.Contains(ce.Message, "/etc/confidant/kek.json") || !strings.Contains(ce.Message, tc.want) {
				t.Errorf("message %q: want the path and %q", ce.Message, tc.want)
			}
		})
	}
}

func TestUnlockErrors(t *testing.T) {
	plain := encode(t, nil, fastParams)
	locked := encode(t, testPass, fastParams)
	// A keyset that is valid Tink JSON but holds an HMAC key, not AES-GCM.
	hmacKeyset := `{"primaryKeyId":1,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.HmacKey","value":"EgQIAxAgGiA8B5uhDzkS4TvgR1s5rtWWA4N1KZxzlf/t5uNB6tYc5g==","keyMaterialType":"SYMMETRIC"},"status":"ENABLED","keyId":1,"outputPrefixType":"TINK"}]}`
	flipped := edit(t, locked, func(m map[string]any) {
		ks := m["keyset"].(map[string]any)
		s := ks["encryptedKeyset"].(string)
		ks["encryptedKeyset"] = "A" + s[1:]
		if ks["encryptedKeyset"] == s {
			ks["encryptedKeyset"] = "B" + s[1:]
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		pass []byte
		code string
	}{
		{"wrong passphrase", locked, []byte("pw-Zq8X-not-it"), CodeWrongPassphrase},
		{"passphrase missing", locked, nil, CodeWrongPassphrase},
		{"passphrase not needed", plain, testPass, CodeWrongPassphrase},
		{"ciphertext damaged", flipped, testPass, CodeWrongPassphrase},
		{"not AES-GCM", edit(t, plain, func(m map[string]any) { m["keyset"] = json.RawMessage(hmacKeyset) }), nil, CodeInvalid},
		{"disabled key", edit(t, plain, func(m map[string]any) {
			m["keyset"].(map[string]any)["key"].([]any)[0].(map[string]any)["status"] = "DISABLED"
		}), nil, CodeInvalid},
		{"no primary", edit(t, plain, func(m map[string]any) { m["keyset"].(map[string]any)["primaryKeyId"] = 7 }), nil, CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.data, "k.json")
			if err == nil {
				_, err = f.Unlock(tc.pass, "k.json")
			}
			var ce *confidant.Error
			if !errors.As(err, &ce) || ce.Kind != confidant.KindUnavailable || ce.Code != tc.code {
				t.Fatalf("error %v; want KindUnavailable %q", err, tc.code)
			}
			if tc.pass != nil && strings.Contains(err.Error(), string(tc.pass)) {
				t.Errorf("error %q contains the passphrase", err)
			}
		})
	}
}

func TestWriteNewAndReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, "kek.json")
	data := encode(t, nil, fastParams)
	if err := WriteNew(path, data); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}
	err := WriteNew(path, []byte("other"))
	if !confidant.IsKind(err, confidant.KindConflict) || confidant.CodeOf(err) != CodeExists {
		t.Errorf("second WriteNew: %v, want conflict %q", err, CodeExists)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("file changed by refused WriteNew (err %v)", err)
	}
	if err := Replace(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("after Replace: %q", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("after Replace: mode %04o", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// FuzzDecodeFile checks that no input makes the decoder panic, that every
// refusal is a *confidant.Error, and that what is accepted survives an
// encode/decode round trip.
func FuzzDecodeFile(f *testing.F) {
	plain := encode(f, nil, fastParams)
	locked := encode(f, testPass, fastParams)
	f.Add(plain)
	f.Add(locked)
	f.Add([]byte(`{"version":1,"kdf":"none","keyset":{}}`))
	f.Add([]byte(`{"version":1,"kdf":"argon2id","argon2":{"m":8,"t":1,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"keyset":{"encryptedKeyset":"AAAA"}}`))
	f.Add([]byte(`{"version":1,"kdf":"none","keyset":{"primaryKeyId":1,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.AesGcmKey","value":"GiA=","keyMaterialType":"SYMMETRIC"},"status":"ENABLED","keyId":1,"outputPrefixType":"TINK"}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1e400}`))
	f.Add(plain[:len(plain)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data, "fuzz.json")
		if err != nil {
			var ce *confidant.Error
			if !errors.As(err, &ce) || ce.Code != CodeInvalid {
				t.Fatalf("Decode error %v is not a kek_invalid *confidant.Error", err)
			}
			return
		}
		var pass []byte
		if file.KDF == KDFArgon2id {
			if file.Params.Memory > 1024 || file.Params.Time > 2 || file.Params.Threads > 2 {
				return // valid but too slow to unlock in a fuzz loop
			}
			pass = testPass
		}
		u, err := file.Unlock(pass, "fuzz.json")
		if err != nil {
			var ce *confidant.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Unlock error %v is not a *confidant.Error", err)
			}
			return
		}
		if _, _, err := u.Keys(); err != nil {
			t.Fatalf("accepted keyset has unusable keys: %v", err)
		}
		out, err := u.Encode()
		if err != nil {
			t.Fatalf("Encode of an accepted file: %v", err)
		}
		f2, err := Decode(out, "fuzz.json")
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		u2, err := f2.Unlock(pass, "fuzz.json")
		if err != nil {
			t.Fatalf("re-unlock: %v", err)
		}
		p1, ids1 := keyIDs(t, u)
		p2, ids2 := keyIDs(t, u2)
		if p1 != p2 || !cmp.Equal(ids1, ids2) {
			t.Fatalf("round trip changed the keyset")
		}
	})
}
