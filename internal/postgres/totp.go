package postgres

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
)

// TOTP second factors. The secrets arrive sealed; the store compares time
// steps only.

// errStepUsed refuses a time step that is not after the last accepted one
// (or a confirmation with nothing pending): the code was used already.
func errStepUsed() error {
	return conflict("totp_step_used", "This code has been used already.")
}

// FailSession counts a wrong second-factor code and deletes the session
// at max failures.
func (t *tx) FailSession(ctx context.Context, id string, max int) error {
	if _, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO session_failures (session_id, failures) SELECT id, 1 FROM sessions WHERE id = $1
		ON CONFLICT (session_id) DO UPDATE SET failures = session_failures.failures + 1`, id); err != nil {
		return mapErr(err, "fail session", "")
	}
	_, err := t.tx.Exec(t.c(ctx), `
		DELETE FROM sessions WHERE id = $1
		AND (SELECT failures FROM session_failures WHERE session_id = $1) >= $2`, id, max)
	return mapErr(err, "fail session", "")
}

// SessionFailures returns the wrong codes counted against a session.
func (t *tx) SessionFailures(ctx context.Context, id string) (int, error) {
	var n int
	err := t.tx.QueryRow(t.c(ctx), `SELECT coalesce(max(failures), 0) FROM session_failures WHERE session_id = $1`, id).Scan(&n)
	return n, mapErr(err, "session failures", "")
}

// TOTP returns a user's TOTP row.
func (t *tx) TOTP(ctx context.Context, userID string) (confidant.SealedTOTP, error) {
	s := confidant.SealedTOTP{UserID: userID}
	err := t.tx.QueryRow(t.c(ctx), `
		SELECT secret, pending, last_step, enrolled_at, updated_at FROM user_totp WHERE user_id = $1`, userID).
		Scan(&s.Secret, &s.Pending, &s.LastStep, tm(&s.EnrolledAt), tm(&s.UpdatedAt))
	return s, mapErr(err, "get totp", "TOTP enrolment")
}

// PutTOTPPending stores a sealed secret awaiting confirmation.
func (t *tx) PutTOTPPending(ctx context.Context, userID string, pending []byte, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO user_totp (user_id, pending, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at`,
		userID, nonNil(pending), ts(at))
	return mapErr(err, "put totp pending", "User")
}

// ConfirmTOTP confirms the pending secret in one conditional update.
func (t *tx) ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE user_totp SET secret = pending, pending = NULL, last_step = $2, enrolled_at = $3, updated_at = $3
		WHERE user_id = $1 AND pending IS NOT NULL AND last_step <= $2`, userID, step, ts(at))
	if err != nil {
		return mapErr(err, "confirm totp", "TOTP enrolment")
	}
	if tag.RowsAffected() == 0 {
		return errStepUsed()
	}
	return nil
}

// UseTOTPStep accepts a time step once, in one conditional update.
func (t *tx) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE user_totp SET last_step = $2 WHERE user_id = $1 AND secret IS NOT NULL AND last_step < $2`,
		userID, step)
	if err != nil {
		return mapErr(err, "use totp step", "TOTP enrolment")
	}
	if tag.RowsAffected() == 0 {
		return errStepUsed()
	}
	return nil
}

// DeleteTOTP removes a user's TOTP enrolment.
func (t *tx) DeleteTOTP(ctx context.Context, userID string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM user_totp WHERE user_id = $1`, userID)
	return mapErr(err, "delete totp", "")
}
