package testfix

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator plays a passkey authenticator in tests: one discoverable
// ES256 credential made on the first Create, "none" attestation, a
// signature counter. Its answers are real: the service's WebAuthn library
// verifies the signatures against the public key it registered.
type Authenticator struct {
	Origin string // the page's origin as the browser would report it
	// UV says whether the authenticator verifies its user (PIN, biometric).
	UV bool

	key     *ecdsa.PrivateKey
	credID  []byte
	handle  []byte // the user handle the relying party gave at registration
	rpID    string
	counter uint32
}

// NewAuthenticator returns an authenticator for pages of origin, which
// verifies its user.
func NewAuthenticator(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UV: true}
}

var b64 = base64.RawURLEncoding

// options are the parts of a ceremony's options the authenticator reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func (a *Authenticator) flags(at bool) byte {
	f := byte(0x01 | 0x08) // UP, BE (a synced passkey)
	if a.UV {
		f |= 0x04
	}
	if at {
		f |= 0x40
	}
	return f
}

func (a *Authenticator) authData(rpID string, at bool) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte(nil), h[:]...)
	out = append(out, a.flags(at))
	out = binary.BigEndian.AppendUint32(out, a.counter)
	return out
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// Create answers registration options (the "options" the service
// returns) as navigator.credentials.create would, as JSON.
func (a *Authenticator) Create(t testing.TB, opts []byte) []byte {
	t.Helper()
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatalf("authenticator: creation options: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a.key, a.credID, a.counter, a.rpID = key, make([]byte, 32), 0, o.PublicKey.RP.ID
	rand.Read(a.credID)
	if a.handle, err = b64.DecodeString(o.PublicKey.User.ID); err != nil {
		t.Fatalf("authenticator: user id: %v", err)
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:]})
	if err != nil {
		t.Fatal(err)
	}
	ad := a.authData(a.rpID, true)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(a.credID)))
	ad = append(ad, a.credID...)
	ad = append(ad, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return out
}

// Get answers request options as navigator.credentials.get would, as
// JSON, with the credential Create made (and the user handle, as a
// discoverable credential answers).
func (a *Authenticator) Get(t testing.TB, opts []byte) []byte {
	t.Helper()
	if a.key == nil {
		t.Fatal("authenticator: Get before Create")
	}
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatalf("authenticator: request options: %v", err)
	}
	rpID := o.PublicKey.RPID
	if rpID == "" {
		rpID = a.rpID
	}
	a.counter++
	ad := a.authData(rpID, false)
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.Origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.handle),
		},
	})
	return out
}

// CredentialID returns the credential's id.
func (a *Authenticator) CredentialID() []byte { return a.credID }
