package service

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
)

// Step-up: before a sensitive action (break-the-glass, approving an
// account, exports, key operations) the signed-in user enters their second
// factor again. The code is checked in the transaction of the action, so
// that the action and the use of the code's time step commit together (a
// code is accepted once, here as at sign-in).

// ActStepUpFailed records a refused step-up code (the reason, never the
// code); each one also counts for throttling, as a wrong sign-in code does.
const ActStepUpFailed = "account.step_up.failed"

var (
	errStepUpRequired = confidant.Errorf(confidant.KindInvalid, "second_factor_required",
		"Enter the current code of your second factor to confirm.")
	errStepUpInvalid = confidant.Errorf(confidant.KindInvalid, "second_factor_invalid",
		"The code is not valid. Each code works once: if you have just used it, wait for the next one.")
	errStepUpNoFactor = confidant.Errorf(confidant.KindPermission, "second_factor_not_enrolled",
		"This needs a second factor, and your account has none. Ask a security officer.")
)

// stepUp checks code, the current second-factor code of actor a, inside tx
// (the transaction of the sensitive action): it accepts the code's time
// step once, for a in tx. It is rerun-safe (reads before its one write).
// A refused code returns an error whose code is second_factor_*; the
// caller's transaction then fails, and the caller records the failure with
// stepUpFailed outside it.
//
// Besides the current TOTP code, it accepts one of the actor's unused
// recovery codes (used up in tx), and an empty code when the actor's
// session finished a passkey step-up (FinishStepUpPasskey) within
// StepUpPasskeyLife, which it uses up in tx.
func (s *Service) stepUp(ctx context.Context, tx confidant.Tx, a confidant.Actor, code string) error {
	if code == "" {
		ok, err := s.stepUpByPasskey(ctx, tx, a)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		return errStepUpRequired
	}
	if _, isRecovery := ParseRecoveryCode(code); isRecovery {
		ok, err := s.stepUpByRecoveryCode(ctx, tx, a, code)
		if err != nil {
			return err
		}
		if !ok {
			return errStepUpInvalid
		}
		return nil
	}
	t, err := tx.TOTP(ctx, a.UserID)
	if confidant.IsKind(err, confidant.KindNotFound) || (err == nil && !t.Enrolled()) {
		return errStepUpNoFactor
	}
	if err != nil {
		return err
	}
	step, _, ok := totpStep(t.Secret, code, s.clock(), t.LastStep)
	if !ok {
		return errStepUpInvalid
	}
	if err := tx.UseTOTPStep(ctx, a.UserID, step); err != nil {
		if confidant.CodeOf(err) == "totp_step_used" {
			return errStepUpInvalid
		}
		return err
	}
	return nil
}

// isStepUpRefusal reports whether err is a refused step-up code (to be
// recorded and counted with stepUpFailed).
func isStepUpRefusal(err error) bool {
	switch confidant.CodeOf(err) {
	case "second_factor_invalid", "second_factor_required":
		return true
	}
	return false
}

// stepUpFailed records a refused step-up code of the actor of ctx as an
// event (its purpose names the action it was for) and counts it against
// the client and account for throttling, and returns err (the refusal).
func (s *Service) stepUpFailed(ctx context.Context, forAction string, err error) error {
	a, aerr := actor(ctx)
	if aerr != nil {
		return aerr
	}
	ev := s.event(ctx, ActStepUpFailed, "", "", confidant.OutcomeDenied)
	ev.Purpose = "for " + forAction
	if cerr := s.countFailure(ctx, a.UserID, s.clock(), "", ev); cerr != nil {
		return cerr
	}
	return err
}

// stepUpWait refuses a step-up while the actor's account is throttled on
// this client, as sign-in is (ASVS 6.1.1: a code cannot be guessed here
// faster than at the sign-in page).
func (s *Service) stepUpWait(ctx context.Context, a confidant.Actor) error {
	wait, err := s.throttleWait(ctx, a.UserID)
	if err == nil && wait > 0 {
		err = errThrottled(wait)
	}
	return err
}
