package seal

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Passkeys: the part of a credential that signs a user in (its public
// key) and the name the user gave it are sealed under the keyset of the
// second factors (TOTPKeyName), bound to the user and the credential
// (associated data "webauthn/v1|<user id>|<id>|<credential id, hex>"). Someone who can write to
// the database but has no keys cannot add a passkey of their own to an
// account: a row they write does not open.

func webauthnAD(userID, id string, credentialID []byte) []byte {
	return []byte("webauthn/v1|" + userID + "|" + id + "|" + hex.EncodeToString(credentialID))
}

// webauthnSealed is the sealed part of a credential.
type webauthnSealed struct {
	PublicKey         []byte   `json:"pk"`
	AttestationType   string   `json:"at,omitempty"`
	AttestationFormat string   `json:"af,omitempty"`
	AAGUID            []byte   `json:"aaguid,omitempty"`
	Transports        []string `json:"tr,omitempty"`
	UserPresent       bool     `json:"up,omitempty"`
	Name              string   `json:"name,omitempty"`
}

// WebAuthnCredentials returns a user's credentials with their sealed part
// opened; one that does not open is an integrity error.
func (t *tx) WebAuthnCredentials(ctx context.Context, userID string) ([]confidant.WebAuthnCredential, error) {
	rows, err := t.SealedTx.WebAuthnCredentials(ctx, userID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	a, err := t.totpAEAD(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.WebAuthnCredential, 0, len(rows))
	for _, r := range rows {
		c, err := openWebAuthn(a, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// CreateWebAuthnCredential seals and stores a credential.
func (t *tx) CreateWebAuthnCredential(ctx context.Context, c confidant.WebAuthnCredential) error {
	if c.ID == "" || c.UserID == "" || len(c.CredentialID) == 0 || len(c.PublicKey) == 0 {
		return confidant.Errorf(confidant.KindInvalid, "invalid_credential", "A passkey needs an id, a user, a credential id and a public key.")
	}
	a, err := t.totpAEAD(ctx, true)
	if err != nil {
		return err
	}
	pt, err := json.Marshal(webauthnSealed{
		PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		AAGUID: c.AAGUID, Transports: c.Transports, UserPresent: c.UserPresent, Name: c.Name,
	})
	if err != nil {
		return confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	ct, err := a.Encrypt(pt, webauthnAD(c.UserID, c.ID, c.CredentialID))
	clear(pt)
	if err != nil {
		return confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	return t.SealedTx.CreateWebAuthnCredential(ctx, confidant.SealedWebAuthnCredential{
		ID: c.ID, UserID: c.UserID, CredentialID: c.CredentialID, UserVerified: c.UserVerified,
		BackupEligible: c.BackupEligible, BackupState: c.BackupState, SignCount: c.SignCount,
		CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, Data: append([]byte{format}, ct...),
	})
}

// openWebAuthn opens a credential row; it never panics on malformed input.
func openWebAuthn(a tink.AEAD, r confidant.SealedWebAuthnCredential) (confidant.WebAuthnCredential, error) {
	if len(r.Data) < 2 || r.Data[0] != format {
		return confidant.WebAuthnCredential{}, fmt.Errorf("seal: passkey: unknown format: %w", errIntegrity)
	}
	pt, err := a.Decrypt(r.Data[1:], webauthnAD(r.UserID, r.ID, r.CredentialID))
	if err != nil {
		return confidant.WebAuthnCredential{}, fmt.Errorf("seal: passkey: %w", errIntegrity)
	}
	var s webauthnSealed
	if err := json.Unmarshal(pt, &s); err != nil || len(s.PublicKey) == 0 {
		return confidant.WebAuthnCredential{}, fmt.Errorf("seal: passkey: malformed: %w", errIntegrity)
	}
	return confidant.WebAuthnCredential{
		ID: r.ID, UserID: r.UserID, CredentialID: r.CredentialID, PublicKey: s.PublicKey,
		AttestationType: s.AttestationType, AttestationFormat: s.AttestationFormat, AAGUID: s.AAGUID,
		Transports: s.Transports, UserPresent: s.UserPresent, UserVerified: r.UserVerified,
		BackupEligible: r.BackupEligible, BackupState: r.BackupState, SignCount: r.SignCount,
		Name: s.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt,
	}, nil
}
