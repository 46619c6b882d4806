package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The TOTP second factor: RFC 6238 as authenticator apps use it (SHA-1, 6
// digits, 30-second steps), with a drift of one step either way, and each
// time step accepted once per user (the last accepted step is stored, and
// a code of that step or an earlier one is refused).
const (
	TOTPIssuer     = "Confidant" // the issuer shown by authenticator apps
	TOTPPeriod     = 30          // seconds per time step
	TOTPSkew       = 1           // steps of drift accepted either way
	TOTPSecretSize = 20          // bytes (160 bits, as RFC 4226 recommends)

	// MFALife is how long a pending sign-in (an MFA token) stays valid.
	MFALife = 5 * time.Minute
	// MFAMaxFailures is how many wrong codes end a pending sign-in.
	MFAMaxFailures = 5
)

// totpOpts are the TOTP parameters, for validation and generation alike.
var totpOpts = totp.ValidateOpts{
	Period: TOTPPeriod, Skew: TOTPSkew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
}

// b32 is the base32 form of TOTP secrets in URIs and authenticator apps.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// MFARequired reports whether u must complete sign-in with a second
// factor: every staff account (enrolled or not yet), and a patient who
// enrolled one.
func MFARequired(u confidant.User, t confidant.TOTP) bool {
	return u.Role.Staff() || t.Enrolled()
}

// Errors of the second step. None says more than needed, and none contains
// the code, the secret or the token.
var (
	errMFAExpired = confidant.Errorf(confidant.KindUnauthenticated, "mfa_expired",
		"This sign-in has expired or was ended. Please sign in again.")
	errMFATooMany = confidant.Errorf(confidant.KindUnauthenticated, "mfa_expired",
		"Too many wrong codes. Please sign in again.")
	errTOTPInvalid = confidant.Errorf(confidant.KindUnauthenticated, "totp_invalid",
		"The code is not valid. Each code works once: if you have just used it, wait for the next one.")
	errTOTPEnrolled = confidant.Errorf(confidant.KindConflict, "totp_enrolled",
		"This account already has an authenticator. Enter its code.")
	errTOTPNotEnrolled = confidant.Errorf(confidant.KindConflict, "totp_not_enrolled",
		"Set up an authenticator app first.")
)

// ParseTOTPCode returns the six digits of a code as typed: spaces and
// hyphens between the digits are dropped ("123 456"). ok is false for
// anything else.
func ParseTOTPCode(s string) (code string, ok bool) {
	if len(s) > 16 {
		return "", false
	}
	var b [6]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return "", false
			}
			b[n] = c
			n++
		case c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	if n != len(b) {
		return "", false
	}
	return string(b[:]), true
}

// totpStep returns the time step of the valid code for secret at now that
// is after the last accepted step. why says, when ok is false, whether the
// code was wrong or used already (for the access log; never the code).
func totpStep(secret []byte, code string, now time.Time, last int64) (step int64, why string, ok bool) {
	code, valid := ParseTOTPCode(code)
	if !valid {
		return 0, "malformed second-factor code", false
	}
	key := b32.EncodeToString(secret)
	if good, err := totp.ValidateCustom(code, key, now, totpOpts); err != nil || !good {
		return 0, "wrong second-factor code", false
	}
	// ValidateCustom says the code is one of the steps within the drift;
	// find which, and accept it only if it is after the last accepted one.
	cur := now.Unix() / TOTPPeriod
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		c, err := totp.GenerateCodeCustom(key, time.Unix(s*TOTPPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(c), []byte(code)) == 1 && s > last {
			return s, "", true
		}
	}
	return 0, "second-factor code used already", false
}

// TOTPCode returns the code of secret (base32) for time t: for the demo's
// tools and tests, which play the user's authenticator app.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// challenge is a pending sign-in: its session of kind SessionMFA, the user
// and the user's TOTP state.
type challenge struct {
	sess     confidant.Session // of kind SessionMFA or SessionMFAEnrol
	failures int               // wrong codes sent with it so far
	user     confidant.User
	totp     confidant.TOTP
	passkeys int // the user's passkeys
}

// mayEnrol says whether a second factor may be enrolled in this pending
// sign-in: only in one started by accepting an invitation.
func (ch challenge) mayEnrol() bool { return ch.sess.Kind == SessionMFAEnrol }

// errEnrolNotAllowed refuses an enrolment outside the sign-in that
// follows an accepted invitation.
var errEnrolNotAllowed = confidant.Errorf(confidant.KindPermission, "second_factor_not_set_up",
	"A second factor can only be set up right after accepting an invitation. Ask a security officer to reset your account.")

// enrolled reports whether the account has a second factor (an
// authenticator app or a passkey).
func (ch challenge) enrolled() bool { return ch.totp.Enrolled() || ch.passkeys > 0 }

// challenge looks up a live pending sign-in by its token.
func (s *Service) challenge(ctx context.Context, token string) (challenge, error) {
	var ch challenge
	if token == "" || len(token) > 128 {
		return ch, errMFAExpired
	}
	h := sha256.Sum256([]byte(token))
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		if ch.sess, err = tx.SessionByTokenHash(ctx, h[:]); err != nil {
			return err
		}
		if ch.sess.Kind != SessionMFA && ch.sess.Kind != SessionMFAEnrol {
			return confidant.ErrNotFound
		}
		if ch.failures, err = tx.SessionFailures(ctx, ch.sess.ID); err != nil {
			return err
		}
		if ch.user, err = tx.User(ctx, ch.sess.UserID); err != nil {
			return err
		}
		ch.totp, err = tx.TOTP(ctx, ch.user.ID)
		if confidant.IsKind(err, confidant.KindNotFound) {
			ch.totp, err = confidant.TOTP{UserID: ch.user.ID}, nil
		}
		if err != nil {
			return err
		}
		pk, err := tx.WebAuthnCredentials(ctx, ch.user.ID)
		ch.passkeys = len(pk)
		return err
	})
	if confidant.IsKind(err, confidant.KindNotFound) {
		return ch, errMFAExpired
	}
	if err != nil {
		return ch, err
	}
	if !s.clock().Before(ch.sess.ExpiresAt) {
		return ch, errMFAExpired
	}
	return ch, nil
}

// MFAChallenge describes a pending sign-in.
type MFAChallenge struct {
	Enrol     bool // the account must enrol a second factor first
	Pending   bool // an enrolment was started (its secret was handed out)
	ExpiresAt time.Time
	TOTP      bool // the account has an authenticator app
	Passkey   bool // the account has a passkey
}

// MFAStatus returns the state of the pending sign-in of mfaToken, or
// 401 mfa_expired.
func (s *Service) MFAStatus(ctx context.Context, mfaToken string) (MFAChallenge, error) {
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return MFAChallenge{}, err
	}
	return MFAChallenge{
		Enrol: ch.mayEnrol() && !ch.enrolled(), Pending: len(ch.totp.Pending) > 0, ExpiresAt: ch.sess.ExpiresAt,
		TOTP: ch.totp.Enrolled(), Passkey: ch.passkeys > 0,
	}, nil
}

// TOTPEnrolment is a new TOTP secret, to be shown once to the user who
// enrols it.
type TOTPEnrolment struct {
	Secret string // base32, no padding
	URI    string // otpauth://totp/...
}

// String hides the secret from fmt.
func (e TOTPEnrolment) String() string { return "TOTPEnrolment{[REDACTED]}" }

// GoString hides the secret from %#v.
func (e TOTPEnrolment) GoString() string { return e.String() }

// BeginTOTPEnrolment gives the account of a pending sign-in that has no
// second factor yet a new TOTP secret, stored sealed as pending until
// LoginTOTP receives its first valid code. Each call replaces the pending
// secret by a new one. An account that is enrolled already gets 409
// totp_enrolled. The enrolment is an access-log event.
func (s *Service) BeginTOTPEnrolment(ctx context.Context, mfaToken string) (TOTPEnrolment, error) {
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if ch.enrolled() {
		// An account with a passkey does not get a secret for its
		// password alone: it adds an app once signed in.
		return TOTPEnrolment{}, errTOTPEnrolled
	}
	if !ch.mayEnrol() {
		return TOTPEnrolment{}, errEnrolNotAllowed
	}
	now := s.clock()
	if ch.user.Disabled {
		return TOTPEnrolment{}, errBadLogin
	}
	secret := make([]byte, TOTPSecretSize)
	rand.Read(secret)
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: ch.user.Username, Period: TOTPPeriod, Secret: secret,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPEnrolment{}, confidant.Wrap(err, confidant.KindInternal, "totp_generate", "A second-factor secret could not be made.")
	}
	ev := s.userEvent(ctx, ActTOTPEnrol, ch.user, ch.sess.ID, confidant.OutcomeOK)
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.SetTOTPPending(ctx, ch.user.ID, secret, now); err != nil {
			return err
		}
		return tx.Audit(ev)
	})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// LoginTOTP completes a pending sign-in with a TOTP code and starts a
// session of the given kind, as Login does for an account without a second
// factor. While the account is enrolling, the code must come from the
// pending secret (BeginTOTPEnrolment), and the first valid one confirms it.
//
// A code is accepted once: a code of a time step already used, or of an
// earlier one, is refused (401 totp_invalid), also when two requests send
// it at the same time. Each wrong code counts against the pending sign-in,
// which ends after MFAMaxFailures, and against the client on the account
// for throttling (see Login): a throttled client is refused with 429
// "throttled" before its code is checked. An
// unknown or expired token is 401 mfa_expired. client is the client's
// address, for the access log.
func (s *Service) LoginTOTP(ctx context.Context, mfaToken, code, kind, client string) (LoginResult, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if client != "" {
		ctx = confidant.WithClient(ctx, client)
	}
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return LoginResult{}, err
	}
	u := ch.user
	now := s.clock()
	// Throttled, the pending sign-in stays (it has its own cap of wrong codes).
	if err := s.signInWait(ctx, u); err != nil {
		return LoginResult{}, err
	}
	if u.Disabled {
		ev := s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
		ev.Purpose = "account disabled"
		if err := s.update(ctx, func(tx confidant.Tx) error {
			if err := tx.DeleteSession(ctx, ch.sess.ID); err != nil {
				return err
			}
			return tx.Audit(ev)
		}); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errBadLogin
	}
	secret, enrolling := ch.totp.Secret, false
	if !ch.totp.Enrolled() {
		if !ch.mayEnrol() {
			return LoginResult{}, errEnrolNotAllowed
		}
		if len(ch.totp.Pending) == 0 || ch.passkeys > 0 {
			return LoginResult{}, errTOTPNotEnrolled
		}
		secret, enrolling = ch.totp.Pending, true
	}
	step, why, ok := totpStep(secret, code, now, ch.totp.LastStep)
	if !ok {
		return LoginResult{}, s.totpFailed(ctx, ch, now, why)
	}
	// The first second factor of the account comes with its recovery
	// codes (made outside the transaction: hashing is slow on purpose).
	var codes, hashes []string
	if enrolling {
		if codes, hashes, err = s.newRecoveryCodes(ctx); err != nil {
			return LoginResult{}, err
		}
	}
	token, hash := newToken()
	sess := confidant.Session{
		ID: confidant.NewID(), TokenHash: hash, UserID: u.ID, Kind: kind,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
	}
	okEv := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
	confirmEv := s.userEvent(ctx, ActTOTPConfirm, u, sess.ID, confidant.OutcomeOK)
	genEv := s.userEvent(ctx, ActRecoveryGenerate, u, sess.ID, confidant.OutcomeOK)
	var gen bool
	err = s.update(ctx, func(tx confidant.Tx) error {
		if enrolling {
			have, err := tx.RecoveryCodes(ctx, u.ID)
			if err != nil {
				return err
			}
			gen = len(have) == 0
			if err := tx.ConfirmTOTP(ctx, u.ID, step, now); err != nil {
				return err
			}
			if err := tx.Audit(confirmEv); err != nil {
				return err
			}
			if gen {
				if err := tx.SetRecoveryCodes(ctx, u.ID, hashes, now); err != nil {
					return err
				}
				if err := tx.Audit(genEv); err != nil {
					return err
				}
			}
		} else if err := tx.UseTOTPStep(ctx, u.ID, step); err != nil {
			return err
		}
		if err := tx.RecordLogin(ctx, u.ID, true, time.Time{}); err != nil {
			return err
		}
		if err := tx.ClearLoginFailures(ctx, confidant.ClientFrom(ctx), u.ID); err != nil {
			return err
		}
		if err := tx.DeleteSession(ctx, ch.sess.ID); err != nil {
			return err
		}
		if err := tx.Audit(okEv); err != nil {
			return err
		}
		return tx.CreateSession(ctx, sess)
	})
	if confidant.CodeOf(err) == "totp_step_used" {
		// Another request used this step (or confirmed the enrolment) first.
		return LoginResult{}, s.totpFailed(ctx, ch, now, "second-factor code used already")
	}
	if err != nil {
		return LoginResult{}, err
	}
	s.signedIn(ctx, u, sess)
	res := LoginResult{Token: token, Session: sess}
	if gen {
		res.RecoveryCodes = codes
	}
	return res, nil
}

// totpFailed records a refused code (the reason, never the code) and
// counts it against the pending sign-in and, for throttling, against the
// client on the account.
func (s *Service) totpFailed(ctx context.Context, ch challenge, now time.Time, why string) error {
	ev := s.userEvent(ctx, ActLoginFailed, ch.user, "", confidant.OutcomeDenied)
	ev.Purpose = why
	if err := s.countFailure(ctx, ch.user.ID, now, ch.sess.ID, ev); err != nil {
		return err
	}
	if ch.failures+1 >= MFAMaxFailures {
		return errMFATooMany
	}
	return errTOTPInvalid
}

// EnrolTOTP enrols a TOTP secret for a user without a code: for the demo
// and seed data and for operators' tools, never for a request. The secret
// is sealed by the store.
func EnrolTOTP(ctx context.Context, tx confidant.Tx, userID string, secret []byte, at time.Time) error {
	if err := tx.SetTOTPPending(ctx, userID, secret, at); err != nil {
		return err
	}
	return tx.ConfirmTOTP(ctx, userID, 0, at)
}
