package service

import (
	"context"
	"crypto/sha256"
	"slices"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Single sign-on for staff with an OpenID Connect provider (internal/web
// runs the relying party: authorization code flow with PKCE, state and
// nonce, the ID token verified by github.com/zitadel/oidc). The service
// sees only the verified identity: the provider's issuer and subject, and
// the authentication methods it asserts (amr, RFC 8176).
//
//   - An account is linked to one identity by accepting its invitation
//     through the provider (LinkIdentityByInvitation): the invitation,
//     delivered to the invitee alone, decides whose identity the account
//     gets, as for passwords and second factors.
//   - Signing in through the provider (LoginIdentity) still needs
//     Confidant's second factor unless the provider asserts multi-factor
//     authentication (IdentityMFA).
//   - Patients do not use single sign-on.

// Actions recorded in the access log (never rename).
const (
	ActIdentityLink = "account.sso.link" // an account was linked to a single sign-on identity
)

// Identity is an identity verified by the single sign-on provider.
type Identity struct {
	Issuer  string
	Subject string
	AMR     []string // authentication methods references, as asserted
}

// IdentityMFA reports whether amr asserts multi-factor authentication:
// "mfa", or two or more distinct methods (RFC 8176, e.g. "pwd" and
// "otp", or "hwk" and "pin").
func IdentityMFA(amr []string) bool {
	if slices.Contains(amr, "mfa") {
		return true
	}
	distinct := map[string]bool{}
	for _, m := range amr {
		if m != "" {
			distinct[m] = true
		}
	}
	return len(distinct) >= 2
}

var (
	errIdentityNotLinked = confidant.Errorf(confidant.KindUnauthenticated, "sso_not_linked",
		"This sign-in is not linked to a Confidant account. Accounts are linked by accepting their invitation with the organisation's sign-in.")
	errIdentityTaken = confidant.Errorf(confidant.KindConflict, "sso_identity_linked",
		"This organisation sign-in is linked to another Confidant account already.")
	errIdentityStaffOnly = confidant.Errorf(confidant.KindInvalid, "sso_staff_only",
		"Single sign-on is for staff accounts. Set a password instead.")
)

// checkIdentity refuses an identity without issuer or subject, or with
// ones no provider would send.
func checkIdentity(id Identity) error {
	if id.Issuer == "" || id.Subject == "" || len(id.Issuer) > 512 || len(id.Subject) > 255 {
		return errIdentityNotLinked
	}
	return nil
}

// LinkIdentityByInvitation uses the invitation token to link its staff
// account to the provider's identity, instead of setting a password (the
// account keeps any password it had). When the provider asserted
// multi-factor authentication the sign-in completes at once (res.Token);
// otherwise it continues as after AcceptInvitationSignIn: the enrolment of
// Confidant's second factor (or, for an account that has one, its code).
func (s *Service) LinkIdentityByInvitation(ctx context.Context, token string, id Identity, kind string) (confidant.User, LoginResult, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return confidant.User{}, LoginResult{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if err := checkIdentity(id); err != nil {
		return confidant.User{}, LoginResult{}, err
	}
	raw, err := DecodeInvitationToken(token)
	if err != nil {
		return confidant.User{}, LoginResult{}, err
	}
	h := sha256.Sum256(raw)
	now := s.clock()
	mfa := IdentityMFA(id.AMR)
	tok, thash := newToken()
	sessID := confidant.NewID()
	var (
		u       confidant.User
		res     LoginResult
		refused bool
	)
	err = s.update(ctx, func(tx confidant.Tx) error {
		res = LoginResult{}
		var err error
		if u, refused, err = invitationUser(ctx, tx, h[:], now); err != nil {
			return err
		}
		if !u.Role.Staff() {
			return errIdentityStaffOnly
		}
		t, err := tx.TOTP(ctx, u.ID)
		if confidant.IsKind(err, confidant.KindNotFound) {
			t, err = confidant.TOTP{UserID: u.ID}, nil
		}
		if err != nil {
			return err
		}
		if refused, err = useInvitation(ctx, tx, h[:], now); err != nil {
			return err
		}
		if err := tx.LinkIdentity(ctx, id.Issuer, id.Subject, u.ID, now); err != nil {
			if confidant.IsKind(err, confidant.KindConflict) {
				return errIdentityTaken
			}
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.Audit(s.userEvent(ctx, ActInvitationAccept, u, "", confidant.OutcomeOK)); err != nil {
			return err
		}
		if err := tx.Audit(s.userEvent(ctx, ActIdentityLink, u, "", confidant.OutcomeOK)); err != nil {
			return err
		}
		res, err = s.identitySession(ctx, tx, u, t, mfa, kind, true, tok, thash, sessID, now)
		return err
	})
	if err != nil {
		if refused {
			if rerr := s.record(ctx, s.userEvent(ctx, ActInvitationAccept, u, "", confidant.OutcomeDenied)); rerr != nil {
				return confidant.User{}, LoginResult{}, rerr
			}
		}
		return confidant.User{}, LoginResult{}, err
	}
	if res.Token != "" {
		s.signedIn(ctx, u, res.Session)
	}
	u.PasswordHash = ""
	return u, res, nil
}

// LoginIdentity signs in the account linked to the provider's identity:
// with a session at once when the provider asserted multi-factor
// authentication, otherwise with a pending sign-in that Confidant's second
// factor completes (LoginTOTP). An unlinked identity, a disabled account or
// a throttled client is refused as a password sign-in would be.
func (s *Service) LoginIdentity(ctx context.Context, id Identity, kind string) (LoginResult, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if err := checkIdentity(id); err != nil {
		return LoginResult{}, err
	}
	var (
		u     confidant.User
		t     confidant.TOTP
		fails confidant.LoginFailures
	)
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		uid, err := tx.IdentityUser(ctx, id.Issuer, id.Subject)
		if err != nil {
			return err
		}
		if u, err = tx.User(ctx, uid); err != nil {
			return err
		}
		if fails, err = tx.LoginFailures(ctx, confidant.ClientFrom(ctx), u.ID); err != nil {
			return err
		}
		t, err = tx.TOTP(ctx, u.ID)
		if confidant.IsKind(err, confidant.KindNotFound) {
			t, err = confidant.TOTP{UserID: u.ID}, nil
		}
		return err
	})
	if confidant.IsKind(err, confidant.KindNotFound) {
		ev := s.event(ctx, ActLoginFailed, "", "", confidant.OutcomeDenied)
		ev.Purpose = "single sign-on identity not linked"
		if rerr := s.record(ctx, ev); rerr != nil {
			return LoginResult{}, rerr
		}
		return LoginResult{}, errIdentityNotLinked
	}
	if err != nil {
		return LoginResult{}, err
	}
	now := s.clock()
	if wait := s.cfg.Throttle.Wait(fails, now); wait > 0 {
		return LoginResult{}, s.throttled(ctx, u, "", wait)
	}
	if u.Disabled || !u.Role.Staff() {
		ev := s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
		ev.Purpose = "single sign-on: account disabled"
		if !u.Role.Staff() {
			ev.Purpose = "single sign-on: not a staff account"
		}
		if err := s.record(ctx, ev); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errBadLogin
	}
	mfa := IdentityMFA(id.AMR)
	passkeys, err := s.passkeyCount(ctx, u.ID)
	if err != nil {
		return LoginResult{}, err
	}
	if !mfa && !t.Enrolled() && passkeys == 0 {
		ev := s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
		ev.Purpose = "no second factor set up"
		if err := s.record(ctx, ev); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errNoSecondFactor
	}
	tok, thash := newToken()
	sessID := confidant.NewID()
	var res LoginResult
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		res, err = s.identitySession(ctx, tx, u, t, mfa, kind, false, tok, thash, sessID, now)
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	if res.Token != "" {
		s.signedIn(ctx, u, res.Session)
	}
	return res, nil
}

// identitySession starts, in tx, what follows a verified identity: a
// session of kind when mfa, else a pending sign-in (for enrolment when
// enrol and the account has no second factor yet).
func (s *Service) identitySession(ctx context.Context, tx confidant.Tx, u confidant.User, t confidant.TOTP, mfa bool, kind string, enrol bool, tok string, thash []byte, sessID string, now time.Time) (LoginResult, error) {
	if mfa {
		sess := confidant.Session{
			ID: sessID, TokenHash: thash, UserID: u.ID, Kind: kind, CreatedAt: now, LastSeen: now,
			ExpiresAt: now.Add(s.cfg.SessionAbsolute), Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
		}
		ev := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
		ev.Purpose = "single sign-on with the provider's multi-factor authentication"
		if err := tx.ClearLoginFailures(ctx, confidant.ClientFrom(ctx), u.ID); err != nil {
			return LoginResult{}, err
		}
		if err := tx.Audit(ev); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{Token: tok, Session: sess}, tx.CreateSession(ctx, sess)
	}
	pending := confidant.Session{
		ID: sessID, TokenHash: thash, UserID: u.ID, Kind: SessionMFA, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(MFALife),
	}
	res := LoginResult{MFAToken: tok}
	if enrol && !t.Enrolled() {
		pending.Kind, pending.ExpiresAt = SessionMFAEnrol, now.Add(MFAEnrolLife)
		res.MFAEnrol = true
	}
	res.MFAExpiresAt = pending.ExpiresAt
	return res, tx.CreateSession(ctx, pending)
}
