package sqlite

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
)

// Invitations and approvals (docs/SECURITY.md, "Separation of duties").

func errPortalAccountExists() error {
	return conflict("patient_has_account", "This patient already has a portal account.")
}

func (t *tx) CreateInvitation(ctx context.Context, inv confidant.Invitation) error {
	_, err := t.exec(ctx, "create invitation",
		`INSERT INTO invitations (token_hash, user_id, created_by, created_at, expires_at, used_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		nonNil(inv.TokenHash), inv.UserID, inv.CreatedBy, micros(inv.CreatedAt), micros(inv.ExpiresAt), micros(inv.UsedAt))
	if isUnique(err) {
		return conflict("conflict", "The invitation already exists.")
	}
	return err
}

func (t *tx) Invitation(ctx context.Context, tokenHash []byte) (confidant.Invitation, error) {
	var inv confidant.Invitation
	err := t.get(ctx, "invitation", "invitation",
		`SELECT token_hash, user_id, created_by, created_at, expires_at, used_at FROM invitations WHERE token_hash = ?`,
		[]any{nonNil(tokenHash)}, &inv.TokenHash, &inv.UserID, &inv.CreatedBy, tm(&inv.CreatedAt), tm(&inv.ExpiresAt), tm(&inv.UsedAt))
	return inv, err
}

func (t *tx) UseInvitation(ctx context.Context, tokenHash []byte, at time.Time) error {
	n, err := t.exec(ctx, "use invitation",
		`UPDATE invitations SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
		micros(at), nonNil(tokenHash), micros(at))
	if err != nil {
		return err
	}
	if n == 0 {
		return conflict("invitation_used", "This invitation has been used or has expired.")
	}
	return nil
}

func (t *tx) RevokeInvitations(ctx context.Context, userID string, at time.Time) error {
	_, err := t.exec(ctx, "revoke invitations",
		`UPDATE invitations SET used_at = ? WHERE user_id = ? AND used_at IS NULL`, micros(at), userID)
	return err
}

func (t *tx) ApproveUser(ctx context.Context, userID, by string, at time.Time) error {
	n, err := t.exec(ctx, "approve user",
		`UPDATE users SET awaiting_approval = 0, approved_by = ?, approved_at = ? WHERE id = ? AND awaiting_approval = 1`,
		by, micros(at), userID)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := t.User(ctx, userID); err != nil {
			return err
		}
		return conflict("already_approved", "This account does not await approval.")
	}
	return nil
}
