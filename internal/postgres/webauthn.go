package postgres

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
)

// WebAuthn passkeys, ceremonies and recovery codes. Credentials arrive
// sealed; the store compares ids, counters and times only.

// WebAuthnHandle returns a user's WebAuthn user handle.
func (t *tx) WebAuthnHandle(ctx context.Context, userID string) ([]byte, error) {
	var h []byte
	err := t.tx.QueryRow(t.c(ctx), `SELECT handle FROM webauthn_handles WHERE user_id = $1`, userID).Scan(&h)
	return h, mapErr(err, "get webauthn handle", "WebAuthn handle")
}

// CreateWebAuthnHandle stores a user's handle.
func (t *tx) CreateWebAuthnHandle(ctx context.Context, userID string, handle []byte, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO webauthn_handles (user_id, handle, created_at) VALUES ($1, $2, $3)`,
		userID, nonNil(handle), ts(at))
	return mapErr(err, "create webauthn handle", "WebAuthn handle")
}

// UserByWebAuthnHandle returns the user with a handle.
func (t *tx) UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := t.tx.QueryRow(t.c(ctx), `SELECT user_id FROM webauthn_handles WHERE handle = $1`, nonNil(handle)).Scan(&id)
	return id, mapErr(err, "user by webauthn handle", "User")
}

// WebAuthnCredentials lists a user's credentials, oldest first.
func (t *tx) WebAuthnCredentials(ctx context.Context, userID string) ([]confidant.SealedWebAuthnCredential, error) {
	rows, err := t.tx.Query(t.c(ctx), `
		SELECT id, user_id, credential_id, user_verified, backup_eligible, backup_state, sign_count, created_at, last_used_at, data
		FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(err, "list webauthn credentials", "")
	}
	defer rows.Close()
	var out []confidant.SealedWebAuthnCredential
	for rows.Next() {
		var c confidant.SealedWebAuthnCredential
		var count int64
		if err := rows.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.UserVerified, &c.BackupEligible, &c.BackupState,
			&count, tm(&c.CreatedAt), tm(&c.LastUsedAt), &c.Data); err != nil {
			return nil, mapErr(err, "list webauthn credentials", "")
		}
		c.SignCount = uint32(count)
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "list webauthn credentials", "")
}

// CreateWebAuthnCredential stores a credential.
func (t *tx) CreateWebAuthnCredential(ctx context.Context, c confidant.SealedWebAuthnCredential) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO webauthn_credentials (id, user_id, credential_id, user_verified, backup_eligible, backup_state,
		sign_count, created_at, last_used_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.ID, c.UserID, nonNil(c.CredentialID), c.UserVerified, c.BackupEligible, c.BackupState,
		int64(c.SignCount), ts(c.CreatedAt), ts(c.LastUsedAt), nonNil(c.Data))
	return mapErr(err, "create webauthn credential", "Passkey")
}

// UseWebAuthnCredential records a sign-in with a credential.
func (t *tx) UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE webauthn_credentials SET sign_count = $3, backup_state = $4, last_used_at = $5 WHERE user_id = $1 AND id = $2`,
		userID, id, int64(signCount), backupState, ts(at))
	if err != nil {
		return mapErr(err, "use webauthn credential", "")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Passkey")
	}
	return nil
}

// DeleteWebAuthnCredential removes one credential of a user.
func (t *tx) DeleteWebAuthnCredential(ctx context.Context, userID, id string) error {
	tag, err := t.tx.Exec(t.c(ctx), `DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2`, userID, id)
	if err != nil {
		return mapErr(err, "delete webauthn credential", "")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Passkey")
	}
	return nil
}

// DeleteWebAuthnCredentials removes every credential of a user.
func (t *tx) DeleteWebAuthnCredentials(ctx context.Context, userID string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM webauthn_credentials WHERE user_id = $1`, userID)
	return mapErr(err, "delete webauthn credentials", "")
}

// PutWebAuthnCeremony stores a ceremony, replacing one with the same id.
func (t *tx) PutWebAuthnCeremony(ctx context.Context, c confidant.WebAuthnCeremony) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO webauthn_ceremonies (id, kind, user_id, session_id, data, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, user_id = excluded.user_id, session_id = excluded.session_id,
		data = excluded.data, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.ID, c.Kind, c.UserID, c.SessionID, nonNil(c.Data), ts(c.CreatedAt), ts(c.ExpiresAt))
	return mapErr(err, "put webauthn ceremony", "")
}

// WebAuthnCeremony returns a ceremony.
func (t *tx) WebAuthnCeremony(ctx context.Context, id string) (confidant.WebAuthnCeremony, error) {
	c := confidant.WebAuthnCeremony{ID: id}
	err := t.tx.QueryRow(t.c(ctx), `
		SELECT kind, user_id, session_id, data, created_at, expires_at FROM webauthn_ceremonies WHERE id = $1`, id).
		Scan(&c.Kind, &c.UserID, &c.SessionID, &c.Data, tm(&c.CreatedAt), tm(&c.ExpiresAt))
	return c, mapErr(err, "get webauthn ceremony", "Ceremony")
}

// DeleteWebAuthnCeremony uses a ceremony up, once.
func (t *tx) DeleteWebAuthnCeremony(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(t.c(ctx), `DELETE FROM webauthn_ceremonies WHERE id = $1`, id)
	if err != nil {
		return mapErr(err, "delete webauthn ceremony", "")
	}
	if tag.RowsAffected() == 0 {
		return conflict("ceremony_used", "This sign-in step was used already or has expired.")
	}
	return nil
}

// DeleteExpiredWebAuthnCeremonies sweeps expired ceremonies.
func (t *tx) DeleteExpiredWebAuthnCeremonies(ctx context.Context, now time.Time) (int, error) {
	tag, err := t.tx.Exec(t.c(ctx), `DELETE FROM webauthn_ceremonies WHERE expires_at < $1`, ts(now))
	if err != nil {
		return 0, mapErr(err, "delete expired webauthn ceremonies", "")
	}
	return int(tag.RowsAffected()), nil
}

// RecoveryCodes returns a user's recovery codes by number.
func (t *tx) RecoveryCodes(ctx context.Context, userID string) ([]confidant.RecoveryCode, error) {
	rows, err := t.tx.Query(t.c(ctx), `SELECT n, hash, created_at, used_at FROM recovery_codes WHERE user_id = $1 ORDER BY n`, userID)
	if err != nil {
		return nil, mapErr(err, "list recovery codes", "")
	}
	defer rows.Close()
	out := []confidant.RecoveryCode{}
	for rows.Next() {
		c := confidant.RecoveryCode{UserID: userID}
		if err := rows.Scan(&c.N, &c.Hash, tm(&c.CreatedAt), tm(&c.UsedAt)); err != nil {
			return nil, mapErr(err, "list recovery codes", "")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "list recovery codes", "")
}

// SetRecoveryCodes replaces a user's recovery codes.
func (t *tx) SetRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	if _, err := t.tx.Exec(t.c(ctx), `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return mapErr(err, "set recovery codes", "")
	}
	for i, h := range hashes {
		if _, err := t.tx.Exec(t.c(ctx), `INSERT INTO recovery_codes (user_id, n, hash, created_at) VALUES ($1, $2, $3, $4)`,
			userID, i, h, ts(at)); err != nil {
			return mapErr(err, "set recovery codes", "Recovery code")
		}
	}
	return nil
}

// UseRecoveryCode marks an unused code used, once.
func (t *tx) UseRecoveryCode(ctx context.Context, userID string, n int, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND n = $2 AND used_at IS NULL`,
		userID, n, ts(at))
	if err != nil {
		return mapErr(err, "use recovery code", "")
	}
	if tag.RowsAffected() == 0 {
		return conflict("recovery_code_used", "This recovery code has been used already.")
	}
	return nil
}
