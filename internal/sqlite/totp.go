package sqlite

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

func (t *tx) FailSession(ctx context.Context, id string, max int) error {
	if _, err := t.exec(ctx, "fail session",
		`INSERT INTO session_failures (session_id, failures) SELECT id, 1 FROM sessions WHERE id = ?
		ON CONFLICT (session_id) DO UPDATE SET failures = failures + 1`, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, "fail session",
		`DELETE FROM sessions WHERE id = ? AND (SELECT failures FROM session_failures WHERE session_id = ?) >= ?`, id, id, max)
	return err
}

func (t *tx) SessionFailures(ctx context.Context, id string) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT coalesce(max(failures), 0) FROM session_failures WHERE session_id = ?`, id).Scan(&n)
	return n, dbErr("session failures", err)
}

func (t *tx) TOTP(ctx context.Context, userID string) (confidant.SealedTOTP, error) {
	s := confidant.SealedTOTP{UserID: userID}
	err := t.get(ctx, "TOTP enrolment", "totp",
		`SELECT secret, pending, last_step, enrolled_at, updated_at FROM user_totp WHERE user_id = ?`,
		[]any{userID}, &s.Secret, &s.Pending, &s.LastStep, tm(&s.EnrolledAt), tm(&s.UpdatedAt))
	return s, err
}

func (t *tx) PutTOTPPending(ctx context.Context, userID string, pending []byte, at time.Time) error {
	_, err := t.exec(ctx, "put totp pending",
		`INSERT INTO user_totp (user_id, pending, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at`,
		userID, nonNil(pending), micros(at))
	return err
}

func (t *tx) ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error {
	n, err := t.exec(ctx, "confirm totp",
		`UPDATE user_totp SET secret = pending, pending = NULL, last_step = ?, enrolled_at = ?, updated_at = ?
		WHERE user_id = ? AND pending IS NOT NULL AND last_step <= ?`,
		step, micros(at), micros(at), userID, step)
	if err != nil {
		return err
	}
	if n == 0 {
		return errStepUsed()
	}
	return nil
}

func (t *tx) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := t.exec(ctx, "use totp step",
		`UPDATE user_totp SET last_step = ? WHERE user_id = ? AND secret IS NOT NULL AND last_step < ?`,
		step, userID, step)
	if err != nil {
		return err
	}
	if n == 0 {
		return errStepUsed()
	}
	return nil
}

func (t *tx) DeleteTOTP(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete totp", `DELETE FROM user_totp WHERE user_id = ?`, userID)
	return err
}
