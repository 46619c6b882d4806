package seal

import (
	"bytes"
	"encoding/json"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// FuzzOpenWebAuthn feeds arbitrary stored bytes to the decoder of sealed
// passkeys: they open only if they are a credential sealed for that user,
// row and credential id (a seed), else fail with an integrity error, and
// never panic. A sealed row moved to another user, row or credential id
// does not open.
func FuzzOpenWebAuthn(f *testing.F) {
	_, a := fuzzKeys(f)
	row := confidant.SealedWebAuthnCredential{ID: "row-1", UserID: "user-1", CredentialID: []byte{1, 2, 3}}
	seal := func(v any) []byte {
		pt, _ := json.Marshal(v)
		ct, err := a.Encrypt(pt, webauthnAD(row.UserID, row.ID, row.CredentialID))
		if err != nil {
			f.Fatal(err)
		}
		return append([]byte{format}, ct...)
	}
	good := seal(webauthnSealed{PublicKey: []byte{0xA5, 1, 2}, Name: "Laptop", Transports: []string{"internal"}})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append([]byte{2}, good[1:]...))
	f.Add(seal(webauthnSealed{}))        // no public key
	f.Add(seal(map[string]any{"pk": 5})) // not a credential
	f.Add([]byte{})
	f.Add([]byte{format})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := row
		r.Data = data
		c, err := openWebAuthn(a, r)
		if err == nil {
			if !bytes.Equal(data, good) || c.Name != "Laptop" || !bytes.Equal(c.PublicKey, []byte{0xA5, 1, 2}) {
				t.Fatalf("arbitrary stored bytes opened as a passkey %q", c.Name)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("stored bytes: %v, want an integrity error", err)
		}
		for _, moved := range []confidant.SealedWebAuthnCredential{
			{ID: row.ID, UserID: "user-2", CredentialID: row.CredentialID, Data: data},
			{ID: "row-2", UserID: row.UserID, CredentialID: row.CredentialID, Data: data},
			{ID: row.ID, UserID: row.UserID, CredentialID: []byte{9}, Data: data},
		} {
			if _, err := openWebAuthn(a, moved); !IsIntegrityError(err) {
				t.Fatalf("a row moved to %s/%s/%x opened: %v", moved.UserID, moved.ID, moved.CredentialID, err)
			}
		}
	})
}
