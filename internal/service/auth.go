package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/password"
)

// Session kinds.
const (
	SessionWeb = "web" // cookie sessions of the web app
	SessionAPI = "api" // bearer tokens of the JSON API
	// SessionMFA is a sign-in whose password was right and that waits for
	// its second factor (LoginTOTP); Authenticate never accepts it.
	SessionMFA = "mfa"
	// SessionMFAEnrol is the pending sign-in that accepting an invitation
	// starts for a staff account: the only one in which a second factor
	// may be enrolled. A password alone never lets anyone set up a second
	// factor, so a stolen password of an account that has none yet cannot
	// be turned into a sign-in with the thief's authenticator.
	SessionMFAEnrol = "mfa-enrol"
)

// MFAEnrolLife is how long the enrolment that follows an accepted
// invitation stays open (time to install an authenticator app).
const MFAEnrolLife = 30 * time.Minute

// errNoSecondFactor answers the right password of a staff account that has
// no second factor (its invitation was accepted but the enrolment was
// left unfinished, or it predates second factors): only a new invitation
// (a reset by a security officer) can set one up.
var errNoSecondFactor = confidant.Errorf(confidant.KindPermission, "second_factor_not_set_up",
	"This account has no second factor set up, and one can only be set up right after accepting an invitation. Ask a security officer to reset your account; you will get a new invitation.")

// errBadLogin is the one answer to every failed sign-in, so that the answer
// does not tell whether an account exists or is disabled.
var errBadLogin = confidant.Errorf(confidant.KindUnauthenticated, "invalid_credentials",
	"Wrong username or password.")

// touchEvery limits how often a session's last-seen time is written.
const touchEvery = time.Minute

// LoginResult is the outcome of a correct password. For an account without
// a second factor it holds the new session and its secret token; for one
// that must use a second factor (every staff account, and patients who
// enrolled one) it holds no session but an MFA token, which LoginTOTP
// exchanges for the session together with a valid code.
type LoginResult struct {
	Token   string            // the session's secret token, shown once; "" while MFA is pending
	Session confidant.Session // the new session; zero while MFA is pending

	// MFAToken is the secret token of the pending sign-in (a session of
	// kind SessionMFA that Authenticate never accepts), valid for MFALife
	// and for at most MFAMaxFailures wrong codes. Only its SHA-256 is stored.
	MFAToken     string
	MFAExpiresAt time.Time
	// MFAEnrol says the account has no second factor yet and must enrol
	// one first (BeginTOTPEnrolment): only in the pending sign-in that
	// accepting an invitation starts (SessionMFAEnrol).
	MFAEnrol bool

	// RecoveryCodes are the account's ten new recovery codes, made when a
	// sign-in confirmed its first second factor: shown once.
	RecoveryCodes []string
}

// MFARequired reports whether the sign-in waits for a second factor.
func (r LoginResult) MFARequired() bool { return r.MFAToken != "" }

// String hides the tokens from fmt.
func (r LoginResult) String() string { return "LoginResult{[REDACTED]}" }

// GoString hides the tokens from %#v.
func (r LoginResult) GoString() string { return r.String() }

// Login checks a username and password. For an account that signs in with
// a password alone (a patient who has not enrolled a second factor) it
// starts a session of the given kind and returns its secret token (for a
// cookie or an Authorization header), which is shown once and stored only
// as a hash. For an account that must use a second factor it returns an
// MFA challenge instead (see LoginResult and LoginTOTP): a correct password
// alone never creates a session for staff.
//
// Failures (wrong passwords, unknown usernames, disabled accounts) are
// counted per client address and account, and a client that failed too
// often is refused with KindRateLimited "throttled" (429, Retry-After)
// before its password is checked; other clients are not slowed down (see
// ThrottleConfig). The client address comes from ctx (confidant.WithClient).
// Unknown usernames cost as much time as wrong passwords.
func (s *Service) Login(ctx context.Context, username, password, kind string) (LoginResult, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	username = normalizeUsername(username)
	if username == "" || password == "" || len(password) > 1024 {
		return LoginResult{}, errBadLogin
	}
	client := confidant.ClientFrom(ctx)
	var (
		u     confidant.User
		st    confidant.TOTP
		fails confidant.LoginFailures
	)
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		u, err = tx.UserByUsername(ctx, username)
		if confidant.IsKind(err, confidant.KindNotFound) {
			u, st = confidant.User{}, confidant.TOTP{}
			fails, err = tx.LoginFailures(ctx, client, throttleAccount("", username))
			return err
		}
		if err != nil {
			return err
		}
		if fails, err = tx.LoginFailures(ctx, client, u.ID); err != nil {
			return err
		}
		st, err = tx.TOTP(ctx, u.ID)
		if confidant.IsKind(err, confidant.KindNotFound) {
			st, err = confidant.TOTP{UserID: u.ID}, nil
		}
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	now := s.clock()
	if wait := s.cfg.Throttle.Wait(fails, now); wait > 0 {
		return LoginResult{}, s.throttled(ctx, u, username, wait)
	}
	if u.ID == "" || u.Disabled {
		_ = s.hasher.DummyVerify(ctx, password)
		why := "unknown user"
		if u.ID != "" {
			why = "account disabled"
		}
		return LoginResult{}, s.loginFailed(ctx, u, username, why)
	}
	if u.PasswordHash == "" {
		// Invited (or reset) and not accepted yet: no password works.
		_ = s.hasher.DummyVerify(ctx, password)
		return LoginResult{}, s.loginFailed(ctx, u, username, "no password set")
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		return LoginResult{}, s.loginFailed(ctx, u, username, "wrong password")
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, password); err != nil {
			return LoginResult{}, err
		}
	}
	passkeys, err := s.passkeyCount(ctx, u.ID)
	if err != nil {
		return LoginResult{}, err
	}
	if u.Role.Staff() && !st.Enrolled() && passkeys == 0 {
		ev := s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
		ev.Purpose = "no second factor set up"
		if err := s.record(ctx, ev); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errNoSecondFactor
	}
	if MFARequired(u, st) || passkeys > 0 {
		// The password is right, but the client's failure count stays
		// until the second factor is right too: a stolen password does not
		// buy unlimited guesses at codes.
		mtok, mhash := newToken()
		ms := confidant.Session{
			ID: confidant.NewID(), TokenHash: mhash, UserID: u.ID, Kind: SessionMFA,
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(MFALife),
		}
		err = s.update(ctx, func(tx confidant.Tx) error {
			if newHash != "" {
				if err := tx.SetPassword(ctx, u.ID, newHash); err != nil {
					return err
				}
			}
			return tx.CreateSession(ctx, ms)
		})
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{MFAToken: mtok, MFAExpiresAt: ms.ExpiresAt}, nil
	}
	token, hash := newToken()
	sess := confidant.Session{
		ID:        confidant.NewID(),
		TokenHash: hash,
		UserID:    u.ID,
		Kind:      kind,
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		Client:    confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
	}
	okEv := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.RecordLogin(ctx, u.ID, true, time.Time{}); err != nil {
			return err
		}
		if err := tx.ClearLoginFailures(ctx, client, u.ID); err != nil {
			return err
		}
		if err := tx.Audit(okEv); err != nil {
			return err
		}
		if newHash != "" {
			if err := tx.SetPassword(ctx, u.ID, newHash); err != nil {
				return err
			}
		}
		return tx.CreateSession(ctx, sess)
	})
	if err != nil {
		return LoginResult{}, err
	}
	s.signedIn(ctx, u, sess)
	return LoginResult{Token: token, Session: sess}, nil
}

// countFailure records one failed sign-in step of account (a user id, or
// "?" + an unknown username) from the client of ctx: a wrong password or a
// wrong code, counted for throttling. With mfaSession set, the failure also
// counts against that pending sign-in; evs are recorded in the same
// transaction.
func (s *Service) countFailure(ctx context.Context, account string, now time.Time, mfaSession string, evs ...confidant.AuditEvent) error {
	client := confidant.ClientFrom(ctx)
	err := s.update(ctx, func(tx confidant.Tx) error {
		if mfaSession != "" {
			if err := tx.FailSession(ctx, mfaSession, MFAMaxFailures); err != nil {
				return err
			}
		}
		if err := tx.FailLogin(ctx, client, account, now); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := tx.Audit(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !confidant.ValidID(account) {
		return err
	}
	// The owner of a known account hears of repeated failures.
	var f confidant.LoginFailures
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		f, err = tx.LoginFailures(ctx, client, account)
		return err
	}); err == nil {
		s.failedSignIns(ctx, account, f.Account)
	}
	return nil
}

// userEvent is an event of u, who is signing in (no actor in ctx yet).
func (s *Service) userEvent(ctx context.Context, action string, u confidant.User, sessionID, outcome string) confidant.AuditEvent {
	ev := s.event(ctx, action, u.PatientID, "", outcome)
	ev.ActorID, ev.Role, ev.SessionID = u.ID, u.Role, sessionID
	if len(u.ClinicIDs) > 0 {
		ev.ClinicID = u.ClinicIDs[0]
	}
	return ev
}

// Authenticate returns the actor of a session token of the given kind. It
// enforces the idle and absolute timeouts and refuses disabled accounts.
func (s *Service) Authenticate(ctx context.Context, token, kind, client string) (confidant.Actor, error) {
	if token == "" || len(token) > 128 || (kind != SessionWeb && kind != SessionAPI) {
		return confidant.Actor{}, confidant.ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(token))
	now := s.clock()
	var (
		sess confidant.Session
		u    confidant.User
	)
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		if sess, err = tx.SessionByTokenHash(ctx, h[:]); err != nil {
			return err
		}
		u, err = tx.User(ctx, sess.UserID)
		return err
	})
	if confidant.IsKind(err, confidant.KindNotFound) {
		return confidant.Actor{}, confidant.ErrUnauthenticated
	}
	if err != nil {
		return confidant.Actor{}, err
	}
	if sess.Kind != kind {
		// A token of the other kind (a cookie value sent as a bearer token,
		// or the token of a sign-in still waiting for its second factor)
		// is refused, but does not end the session it belongs to.
		return confidant.Actor{}, confidant.ErrUnauthenticated
	}
	expired := !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= s.cfg.SessionIdle
	if expired || u.Disabled {
		if err := s.update(ctx, func(tx confidant.Tx) error { return tx.DeleteSession(ctx, sess.ID) }); err != nil {
			return confidant.Actor{}, err
		}
		return confidant.Actor{}, confidant.Errorf(confidant.KindUnauthenticated, "session_expired", "Your session has ended. Please sign in again.")
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := s.update(ctx, func(tx confidant.Tx) error { return tx.TouchSession(ctx, sess.ID, now) }); err != nil {
			return confidant.Actor{}, err
		}
	}
	return confidant.Actor{
		UserID:    u.ID,
		Username:  u.Username,
		Role:      u.Role,
		PatientID: u.PatientID,
		ClinicIDs: u.ClinicIDs,
		SessionID: sess.ID,
		Client:    client,

		AwaitingApproval: u.AwaitingApproval,
	}, nil
}

// Logout ends the session of the actor in ctx.
func (s *Service) Logout(ctx context.Context) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.DeleteSession(ctx, a.SessionID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActLogout, "", "")
	})
}

// loginFailed records a failed sign-in of u (zero for an unknown
// username; the username tried is sealed in the purpose), counts it for
// throttling in the same transaction, and returns the one answer to every
// failure; if the event cannot be recorded, the sign-in fails with the
// log's error instead.
func (s *Service) loginFailed(ctx context.Context, u confidant.User, username, why string) error {
	ev := s.event(ctx, ActLoginFailed, "", "", confidant.OutcomeDenied)
	ev.ActorID = u.ID
	// The reason only: the account is the actor, and a username that names
	// no account may be a password typed into the wrong field, so what was
	// typed is not kept (the throttle counts it under a keyed hash).
	ev.Purpose = why
	if err := s.countFailure(ctx, throttleAccount(u.ID, username), s.clock(), "", ev); err != nil {
		return err
	}
	return errBadLogin
}

// Me returns the account of the actor in ctx.
func (s *Service) Me(ctx context.Context) (confidant.User, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.User{}, err
	}
	var u confidant.User
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		u, err = tx.User(ctx, a.UserID)
		return err
	})
	u.PasswordHash = ""
	return u, err
}

// ChangePassword replaces the actor's password after checking the current
// one, and ends every other session of the account.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := CheckPassword(next); err != nil {
		return err
	}
	var u confidant.User
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		u, err = tx.User(ctx, a.UserID)
		return err
	}); err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, current, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return confidant.Errorf(confidant.KindInvalid, "wrong_password", "The current password is not correct.")
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActPassword, "", u.ID)
	})
}

// SweepSessions deletes expired sessions; the server calls it periodically.
func (s *Service) SweepSessions(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		n, err = tx.DeleteExpiredSessions(ctx, s.clock())
		return err
	})
	return n, err
}

func normalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// newToken returns a 256-bit random token and its SHA-256.
func newToken() (string, []byte) {
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}

// CheckPassword applies the password policy of internal/password
// (CheckPolicy): at least 8 characters, 15 recommended, at most 1024
// bytes, no composition rules, and not a common password.
func CheckPassword(pw string) error { return password.CheckPolicy(pw) }
