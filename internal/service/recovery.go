package service

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Recovery codes: ten single-use codes per account, for when the second
// factor is lost. Each is 10 characters from an alphabet without the
// look-alikes 0/O and 1/I/L (50 bits), shown once in two groups of five
// ("ABCDE-FGH23"), and stored as an argon2id hash (the password hasher's
// PHC string, internal/password). A code completes a pending sign-in in
// place of the second factor (LoginRecovery) or passes a step-up; each
// works once (a conditional update marks it used, so that two requests
// sending it at the same time cannot both succeed).
const (
	RecoveryCodeCount = 10
	RecoveryCodeLen   = 10
	recoveryAlphabet  = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
)

var errRecoveryInvalid = confidant.Errorf(confidant.KindUnauthenticated, "recovery_code_invalid",
	"The recovery code is not valid. Each code works once.")

// newRecoveryCode returns one random code (crypto/rand, no modulo bias:
// 31 letters are drawn by rejection from bytes below 248).
func newRecoveryCode() string {
	var b strings.Builder
	var buf [1]byte
	for b.Len() < RecoveryCodeLen {
		rand.Read(buf[:])
		if int(buf[0]) >= 256-256%len(recoveryAlphabet) {
			continue
		}
		b.WriteByte(recoveryAlphabet[int(buf[0])%len(recoveryAlphabet)])
	}
	return b.String()
}

// GroupRecoveryCode writes a code for display: two groups of five.
func GroupRecoveryCode(code string) string {
	if len(code) != RecoveryCodeLen {
		return code
	}
	return code[:5] + "-" + code[5:]
}

// ParseRecoveryCode normalises a code as typed: spaces and hyphens
// dropped, lower case raised, and look-alikes read as the character the
// alphabet has (o and 0 are not in it, so they are refused). ok is false
// for anything that cannot be a code.
func ParseRecoveryCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != RecoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// newRecoveryCodes makes ten codes and their hashes (outside any
// transaction: hashing is slow on purpose).
func (s *Service) newRecoveryCodes(ctx context.Context) (codes, hashes []string, err error) {
	codes = make([]string, RecoveryCodeCount)
	hashes = make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		if hashes[i], err = s.hasher.Hash(ctx, codes[i]); err != nil {
			return nil, nil, err
		}
	}
	for i := range codes {
		codes[i] = GroupRecoveryCode(codes[i])
	}
	return codes, hashes, nil
}

// newRecoveryCodesIfNone makes codes (as newRecoveryCodes) when the user
// has none yet, else returns nils.
func (s *Service) newRecoveryCodesIfNone(ctx context.Context, userID string) (codes, hashes []string, err error) {
	var have []confidant.RecoveryCode
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		have, err = tx.RecoveryCodes(ctx, userID)
		return err
	}); err != nil {
		return nil, nil, err
	}
	if len(have) > 0 {
		return nil, nil, nil
	}
	return s.newRecoveryCodes(ctx)
}

// matchRecoveryCode returns the number of the unused code of codes that
// code is (ok false for none). Every unused code is checked, so the time
// taken does not say which matched.
func (s *Service) matchRecoveryCode(ctx context.Context, codes []confidant.RecoveryCode, code string) (n int, ok bool, err error) {
	code, valid := ParseRecoveryCode(code)
	if !valid {
		return 0, false, nil
	}
	n = -1
	for _, c := range codes {
		if c.Used() {
			continue
		}
		good, _, err := s.hasher.Verify(ctx, code, c.Hash)
		if err != nil {
			return 0, false, err
		}
		if good && n < 0 {
			n = c.N
		}
	}
	return n, n >= 0, nil
}

// RecoveryStatus says how many of the actor's recovery codes are unused
// (Total 0: the account has none).
type RecoveryStatus struct {
	Total, Left int
}

// RecoveryCodesLeft returns the actor's recovery code status.
func (s *Service) RecoveryCodesLeft(ctx context.Context) (RecoveryStatus, error) {
	a, err := actor(ctx)
	if err != nil {
		return RecoveryStatus{}, err
	}
	var st RecoveryStatus
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		cs, err := tx.RecoveryCodes(ctx, a.UserID)
		st = RecoveryStatus{Total: len(cs)}
		for _, c := range cs {
			if !c.Used() {
				st.Left++
			}
		}
		return err
	})
	return st, err
}

// RegenerateRecoveryCodes replaces the actor's recovery codes by ten new
// ones, returned once. It needs a step-up (code: the current second
// factor, a recovery code, or "" after a passkey step-up); the old codes
// stop working.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, code string) ([]string, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return nil, err
	}
	codes, hashes, err := s.newRecoveryCodes(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := s.stepUp(ctx, tx, a, code); err != nil {
			return err
		}
		if err := tx.SetRecoveryCodes(ctx, a.UserID, hashes, now); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActRecoveryGenerate, "", "")
	})
	if isStepUpRefusal(err) {
		return nil, s.stepUpFailed(ctx, ActRecoveryGenerate, err)
	}
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// LoginRecovery completes a pending sign-in with a recovery code in place
// of the second factor, marks the code used and starts a session of the
// given kind; left is how many unused codes remain. A wrong code counts
// as a wrong TOTP code does (against the pending sign-in and, for
// throttling, the client on the account).
func (s *Service) LoginRecovery(ctx context.Context, mfaToken, code, kind, client string) (res LoginResult, left int, err error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, 0, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if client != "" {
		ctx = confidant.WithClient(ctx, client)
	}
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return LoginResult{}, 0, err
	}
	u := ch.user
	if err := s.signInWait(ctx, u); err != nil {
		return LoginResult{}, 0, err
	}
	now := s.clock()
	if u.Disabled {
		return LoginResult{}, 0, s.recoveryFailed(ctx, ch, now, "account disabled", errBadLogin)
	}
	var codes []confidant.RecoveryCode
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		codes, err = tx.RecoveryCodes(ctx, u.ID)
		return err
	}); err != nil {
		return LoginResult{}, 0, err
	}
	n, ok, err := s.matchRecoveryCode(ctx, codes, code)
	if err != nil {
		return LoginResult{}, 0, err
	}
	if !ok || !ch.enrolled() {
		return LoginResult{}, 0, s.recoveryFailed(ctx, ch, now, "wrong recovery code", errRecoveryInvalid)
	}
	for _, c := range codes {
		if !c.Used() && c.N != n {
			left++
		}
	}
	token, hash := newToken()
	sess := confidant.Session{
		ID: confidant.NewID(), TokenHash: hash, UserID: u.ID, Kind: kind,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
	}
	useEv := s.userEvent(ctx, ActRecoveryUse, u, sess.ID, confidant.OutcomeOK)
	useEv.Purpose = "sign-in"
	okEv := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
	okEv.Purpose = "recovery code"
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.UseRecoveryCode(ctx, u.ID, n, now); err != nil {
			return err
		}
		return s.completeSignIn(ctx, tx, u, ch.sess.ID, sess, useEv, okEv)
	})
	if confidant.CodeOf(err) == "recovery_code_used" {
		return LoginResult{}, 0, s.recoveryFailed(ctx, ch, now, "recovery code used already", errRecoveryInvalid)
	}
	if err != nil {
		return LoginResult{}, 0, err
	}
	s.signedIn(ctx, u, sess)
	return LoginResult{Token: token, Session: sess}, left, nil
}

// recoveryFailed records a refused recovery code (the reason, never the
// code) and counts it as totpFailed does.
func (s *Service) recoveryFailed(ctx context.Context, ch challenge, now time.Time, why string, answer error) error {
	ev := s.userEvent(ctx, ActRecoveryUse, ch.user, "", confidant.OutcomeDenied)
	ev.Purpose = why
	if err := s.countFailure(ctx, ch.user.ID, now, ch.sess.ID, ev); err != nil {
		return err
	}
	if ch.failures+1 >= MFAMaxFailures {
		return errMFATooMany
	}
	return answer
}

// stepUpByRecoveryCode accepts a recovery code as a step-up code, in tx:
// ok is false when code is not one of the actor's unused codes.
func (s *Service) stepUpByRecoveryCode(ctx context.Context, tx confidant.Tx, a confidant.Actor, code string) (bool, error) {
	codes, err := tx.RecoveryCodes(ctx, a.UserID)
	if err != nil {
		return false, err
	}
	n, ok, err := s.matchRecoveryCode(ctx, codes, code)
	if err != nil || !ok {
		return false, err
	}
	if err := tx.UseRecoveryCode(ctx, a.UserID, n, s.clock()); err != nil {
		if confidant.CodeOf(err) == "recovery_code_used" {
			return false, nil
		}
		return false, err
	}
	ev := s.event(ctx, ActRecoveryUse, "", "", confidant.OutcomeOK)
	ev.Purpose = "step-up"
	return true, tx.Audit(ev)
}
