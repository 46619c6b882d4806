package seal

import (
	"context"
	"fmt"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// TOTPKeyName is the system key holding the keyset that seals users' TOTP
// secrets: a Tink AEAD keyset wrapped by the KEK like a patient's (associated
// data "patient-key/v1|~totp"; "~" cannot start a patient id), created by
// Prepare and re-wrapped by KEK rotation.
const TOTPKeyName = "~totp"

// TOTP secrets are 10 to 64 bytes (RFC 4226 asks for at least 128 bits and
// recommends 160; authenticator apps take up to 64 bytes).
const (
	minTOTPSecret = 10
	maxTOTPSecret = 64
)

// totpAD binds a sealed TOTP secret to its user: a secret copied to another
// user's row fails to open.
func totpAD(userID string) []byte { return []byte("totp/v1|" + userID) }

// sealTOTPSecret seals a user's TOTP secret. The stored form is the format
// byte followed by Tink's ciphertext, as for records.
func sealTOTPSecret(a tink.AEAD, userID string, secret []byte) ([]byte, error) {
	if len(secret) < minTOTPSecret || len(secret) > maxTOTPSecret {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_totp_secret", "A TOTP secret must be 10 to 64 bytes.")
	}
	ct, err := a.Encrypt(secret, totpAD(userID))
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	out := make([]byte, 0, 1+len(ct))
	return append(append(out, format), ct...), nil
}

// openTOTPSecret opens a sealed TOTP secret of userID: anything that is not
// a secret of the right size sealed for that user is an integrity error.
// It never panics on malformed input.
func openTOTPSecret(a tink.AEAD, userID string, sealed []byte) ([]byte, error) {
	if len(sealed) < 2 || sealed[0] != format {
		return nil, fmt.Errorf("seal: totp secret: unknown format: %w", errIntegrity)
	}
	pt, err := a.Decrypt(sealed[1:], totpAD(userID))
	if err != nil {
		return nil, fmt.Errorf("seal: totp secret: %w", errIntegrity)
	}
	if len(pt) < minTOTPSecret || len(pt) > maxTOTPSecret {
		clear(pt)
		return nil, fmt.Errorf("seal: totp secret: bad size: %w", errIntegrity)
	}
	return pt, nil
}

// errTOTPKeyMissing: the TOTP keyset should exist (Prepare creates it) but
// does not, and this transaction may not create it.
var errTOTPKeyMissing = confidant.Errorf(confidant.KindInternal, "totp_key_missing",
	"The key that protects second factors is missing.")

// totpAEAD returns the keyset of the TOTP secrets. When it does not exist
// (a database prepared before TOTP existed, and not by Prepare since)
// create, in a write, makes it.
func (t *tx) totpAEAD(ctx context.Context, create bool) (tink.AEAD, error) {
	if a, ok := t.aeads[TOTPKeyName]; ok {
		return a, nil
	}
	wk, err := t.SealedTx.SystemKey(ctx, TOTPKeyName)
	var a tink.AEAD
	switch {
	case confidant.IsKind(err, confidant.KindNotFound) && create:
		if wk, a, err = t.s.keys.NewPatientKey(TOTPKeyName); err != nil {
			return nil, err
		}
		if err := t.SealedTx.PutSystemKey(ctx, wk); err != nil {
			return nil, err
		}
	case confidant.IsKind(err, confidant.KindNotFound):
		return nil, errTOTPKeyMissing
	case err != nil:
		return nil, err
	default:
		if a, err = t.s.keys.PatientAEAD(wk); err != nil {
			return nil, err
		}
	}
	t.aeads[TOTPKeyName] = a
	return a, nil
}

// TOTP returns a user's TOTP state with its secrets opened.
func (t *tx) TOTP(ctx context.Context, userID string) (confidant.TOTP, error) {
	st, err := t.SealedTx.TOTP(ctx, userID)
	if err != nil {
		return confidant.TOTP{}, err
	}
	out := confidant.TOTP{UserID: userID, LastStep: st.LastStep, EnrolledAt: st.EnrolledAt}
	if len(st.Secret) == 0 && len(st.Pending) == 0 {
		return out, nil
	}
	a, err := t.totpAEAD(ctx, false)
	if err != nil {
		return confidant.TOTP{}, err
	}
	if len(st.Secret) > 0 {
		if out.Secret, err = openTOTPSecret(a, userID, st.Secret); err != nil {
			return confidant.TOTP{}, err
		}
	}
	if len(st.Pending) > 0 {
		if out.Pending, err = openTOTPSecret(a, userID, st.Pending); err != nil {
			return confidant.TOTP{}, err
		}
	}
	return out, nil
}

// SetTOTPPending seals secret for userID and stores it as pending.
func (t *tx) SetTOTPPending(ctx context.Context, userID string, secret []byte, at time.Time) error {
	a, err := t.totpAEAD(ctx, true)
	if err != nil {
		return err
	}
	sealed, err := sealTOTPSecret(a, userID, secret)
	if err != nil {
		return err
	}
	return t.SealedTx.PutTOTPPending(ctx, userID, sealed, at)
}

// prepareTOTPKey makes sure the TOTP keyset exists.
func prepareTOTPKey(ctx context.Context, backend confidant.SealedStore, k IndexKeyring) error {
	return backend.Update(ctx, func(tx confidant.SealedTx) error {
		_, err := tx.SystemKey(ctx, TOTPKeyName)
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		wk, _, err := k.NewPatientKey(TOTPKeyName)
		if err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, wk)
	})
}
