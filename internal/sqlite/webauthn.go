package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/confidanthealth/confidant"
)

// WebAuthn passkeys, ceremonies and recovery codes. Credentials arrive
// sealed; the store compares ids, counters and times only.

func (t *tx) WebAuthnHandle(ctx context.Context, userID string) ([]byte, error) {
	var h []byte
	err := t.get(ctx, "WebAuthn handle", "webauthn handle",
		`SELECT handle FROM webauthn_handles WHERE user_id = ?`, []any{userID}, &h)
	return h, err
}

func (t *tx) CreateWebAuthnHandle(ctx context.Context, userID string, handle []byte, at time.Time) error {
	_, err := t.exec(ctx, "create webauthn handle",
		`INSERT INTO webauthn_handles (user_id, handle, created_at) VALUES (?, ?, ?)`, userID, nonNil(handle), micros(at))
	return err
}

func (t *tx) UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := t.get(ctx, "User", "user by webauthn handle",
		`SELECT user_id FROM webauthn_handles WHERE handle = ?`, []any{nonNil(handle)}, &id)
	return id, err
}

func (t *tx) WebAuthnCredentials(ctx context.Context, userID string) ([]confidant.SealedWebAuthnCredential, error) {
	var out []confidant.SealedWebAuthnCredential
	err := t.list(ctx, "list webauthn credentials",
		`SELECT id, user_id, credential_id, user_verified, backup_eligible, backup_state, sign_count, created_at, last_used_at, data
		FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`, []any{userID},
		func(r *sql.Rows) error {
			var c confidant.SealedWebAuthnCredential
			var count int64
			if err := r.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.UserVerified, &c.BackupEligible, &c.BackupState,
				&count, tm(&c.CreatedAt), tm(&c.LastUsedAt), &c.Data); err != nil {
				return err
			}
			c.SignCount = uint32(count)
			out = append(out, c)
			return nil
		})
	return out, err
}

func (t *tx) CreateWebAuthnCredential(ctx context.Context, c confidant.SealedWebAuthnCredential) error {
	_, err := t.exec(ctx, "create webauthn credential",
		`INSERT INTO webauthn_credentials (id, user_id, credential_id, user_verified, backup_eligible, backup_state,
		sign_count, created_at, last_used_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, nonNil(c.CredentialID), c.UserVerified, c.BackupEligible, c.BackupState,
		int64(c.SignCount), micros(c.CreatedAt), micros(c.LastUsedAt), nonNil(c.Data))
	if confidant.IsKind(err, confidant.KindConflict) {
		return conflict("credential_exists", "This passkey is registered already.")
	}
	return err
}

func (t *tx) UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool, at time.Time) error {
	return t.execOne(ctx, "Passkey", "use webauthn credential",
		`UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ? WHERE user_id = ? AND id = ?`,
		int64(signCount), backupState, micros(at), userID, id)
}

func (t *tx) DeleteWebAuthnCredential(ctx context.Context, userID, id string) error {
	return t.execOne(ctx, "Passkey", "delete webauthn credential",
		`DELETE FROM webauthn_credentials WHERE user_id = ? AND id = ?`, userID, id)
}

func (t *tx) DeleteWebAuthnCredentials(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete webauthn credentials", `DELETE FROM webauthn_credentials WHERE user_id = ?`, userID)
	return err
}

func (t *tx) PutWebAuthnCeremony(ctx context.Context, c confidant.WebAuthnCeremony) error {
	_, err := t.exec(ctx, "put webauthn ceremony",
		`INSERT INTO webauthn_ceremonies (id, kind, user_id, session_id, data, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, user_id = excluded.user_id, session_id = excluded.session_id,
		data = excluded.data, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.ID, c.Kind, c.UserID, c.SessionID, nonNil(c.Data), micros(c.CreatedAt), micros(c.ExpiresAt))
	return err
}

func (t *tx) WebAuthnCeremony(ctx context.Context, id string) (confidant.WebAuthnCeremony, error) {
	c := confidant.WebAuthnCeremony{ID: id}
	err := t.get(ctx, "Ceremony", "webauthn ceremony",
		`SELECT kind, user_id, session_id, data, created_at, expires_at FROM webauthn_ceremonies WHERE id = ?`,
		[]any{id}, &c.Kind, &c.UserID, &c.SessionID, &c.Data, tm(&c.CreatedAt), tm(&c.ExpiresAt))
	return c, err
}

func (t *tx) DeleteWebAuthnCeremony(ctx context.Context, id string) error {
	n, err := t.exec(ctx, "delete webauthn ceremony", `DELETE FROM webauthn_ceremonies WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return conflict("ceremony_used", "This sign-in step was used already or has expired.")
	}
	return nil
}

func (t *tx) DeleteExpiredWebAuthnCeremonies(ctx context.Context, now time.Time) (int, error) {
	n, err := t.exec(ctx, "delete expired webauthn ceremonies", `DELETE FROM webauthn_ceremonies WHERE expires_at < ?`, micros(now))
	return int(n), err
}

func (t *tx) RecoveryCodes(ctx context.Context, userID string) ([]confidant.RecoveryCode, error) {
	out := []confidant.RecoveryCode{}
	err := t.list(ctx, "list recovery codes",
		`SELECT n, hash, created_at, used_at FROM recovery_codes WHERE user_id = ? ORDER BY n`, []any{userID},
		func(r *sql.Rows) error {
			c := confidant.RecoveryCode{UserID: userID}
			if err := r.Scan(&c.N, &c.Hash, tm(&c.CreatedAt), tm(&c.UsedAt)); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	return out, err
}

func (t *tx) SetRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	if _, err := t.exec(ctx, "set recovery codes", `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for i, h := range hashes {
		if _, err := t.exec(ctx, "set recovery codes",
			`INSERT INTO recovery_codes (user_id, n, hash, created_at) VALUES (?, ?, ?, ?)`, userID, i, h, micros(at)); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) UseRecoveryCode(ctx context.Context, userID string, n int, at time.Time) error {
	c, err := t.exec(ctx, "use recovery code",
		`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND n = ? AND used_at IS NULL`, micros(at), userID, n)
	if err != nil {
		return err
	}
	if c == 0 {
		return conflict("recovery_code_used", "This recovery code has been used already.")
	}
	return nil
}
