package postgres

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
)

// Invitations and approvals (docs/SECURITY.md, "Separation of duties").

// CreateInvitation stores an invitation (its token's hash only).
func (t *tx) CreateInvitation(ctx context.Context, inv confidant.Invitation) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO invitations (token_hash, user_id, created_by, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		nonNil(inv.TokenHash), inv.UserID, inv.CreatedBy, ts(inv.CreatedAt), ts(inv.ExpiresAt), ts(inv.UsedAt))
	return mapErr(err, "create invitation", "Invitation")
}

// Invitation returns the invitation with this token hash.
func (t *tx) Invitation(ctx context.Context, tokenHash []byte) (confidant.Invitation, error) {
	var inv confidant.Invitation
	err := t.tx.QueryRow(t.c(ctx), `
		SELECT token_hash, user_id, created_by, created_at, expires_at, used_at FROM invitations WHERE token_hash = $1`,
		nonNil(tokenHash)).
		Scan(&inv.TokenHash, &inv.UserID, &inv.CreatedBy, tm(&inv.CreatedAt), tm(&inv.ExpiresAt), tm(&inv.UsedAt))
	return inv, mapErr(err, "get invitation", "Invitation")
}

// UseInvitation marks an unused, unexpired invitation used.
func (t *tx) UseInvitation(ctx context.Context, tokenHash []byte, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE invitations SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`,
		nonNil(tokenHash), ts(at))
	if err != nil {
		return mapErr(err, "use invitation", "")
	}
	if tag.RowsAffected() == 0 {
		return conflict("invitation_used", "This invitation has been used or has expired.")
	}
	return nil
}

// RevokeInvitations marks a user's unused invitations used.
func (t *tx) RevokeInvitations(ctx context.Context, userID string, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `UPDATE invitations SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, ts(at))
	return mapErr(err, "revoke invitations", "")
}

// ApproveUser records the approval of an account awaiting it.
func (t *tx) ApproveUser(ctx context.Context, userID, by string, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE users SET awaiting_approval = false, approved_by = $2, approved_at = $3
		WHERE id = $1 AND awaiting_approval`, userID, by, ts(at))
	if err != nil {
		return mapErr(err, "approve user", "User")
	}
	if tag.RowsAffected() == 0 {
		if _, err := t.User(ctx, userID); err != nil {
			return err
		}
		return conflict("already_approved", "This account does not await approval.")
	}
	return nil
}
