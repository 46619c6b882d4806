package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn) as second factors.
//
//   - Each user gets a random 32-byte user handle, with no personal data in
//     it; passkeys are created as discoverable credentials (resident key
//     required, user verification preferred), so that a sign-in need not
//     start with a username.
//   - Ceremony state (the library's session data) is kept in the database
//     with an expiry, so that any server of one database can finish a
//     ceremony another began, and each ceremony is used once: it is
//     deleted, in one conditional delete, before its answer is checked.
//   - A passkey completes a pending sign-in (after the password) like a
//     TOTP code, or, discoverable and with user verification (the UV flag
//     required), signs in on its own: possession of the authenticator and
//     the verification (PIN or biometric) that unlocked it are two factors
//     (NIST SP 800-63B, multi-factor cryptographic authenticator, AAL2/3).
//   - A step-up ceremony, when finished, lets the same session pass one
//     step-up within StepUpPasskeyLife (stepUp with an empty code).
const (
	// CeremonyLife is how long a ceremony may take from begin to finish.
	CeremonyLife = 5 * time.Minute
	// StepUpPasskeyLife is how long a finished passkey step-up stays
	// usable (once).
	StepUpPasskeyLife = 5 * time.Minute
	// MaxCredentialJSON bounds the browser's answer to a ceremony.
	MaxCredentialJSON = 64 << 10
	// MaxPasskeys bounds the passkeys of one account.
	MaxPasskeys = 20
	// MaxPasskeyName bounds the name a user gives a passkey (characters).
	MaxPasskeyName = 64
	// webauthnHandleSize is the size of user handles (bytes).
	webauthnHandleSize = 32
)

// Ceremony kinds (WebAuthnCeremony.Kind).
const (
	ceremonyRegister     = "register"     // a signed-in user adds a passkey
	ceremonyEnrol        = "enrol"        // a pending sign-in enrols its first second factor
	ceremonyLogin        = "login"        // a pending sign-in's second factor
	ceremonyDiscoverable = "discoverable" // a sign-in with a passkey alone
	ceremonyStepUp       = "step_up"      // a signed-in user re-authenticates
	ceremonyStepUpDone   = "step_up_done" // ... and may pass one step-up
)

var (
	errCeremony = confidant.Errorf(confidant.KindUnauthenticated, "ceremony_invalid",
		"This passkey request has expired or was used already. Please try again.")
	errPasskeyInvalid = confidant.Errorf(confidant.KindUnauthenticated, "passkey_invalid",
		"The passkey was not accepted.")
	errCredentialJSON = confidant.Errorf(confidant.KindInvalid, "invalid_credential",
		"The browser's answer could not be read.")
	errNoPasskey = confidant.Errorf(confidant.KindConflict, "passkey_not_enrolled",
		"This account has no passkey.")
	errSecondFactorEnrolled = confidant.Errorf(confidant.KindConflict, "second_factor_enrolled",
		"This account already has a second factor. Use it to sign in.")
	errLastFactor = confidant.Errorf(confidant.KindConflict, "last_second_factor",
		"This is your account's only second factor, and staff accounts must keep one. Add another first.")
	errTooManyPasskeys = confidant.Errorf(confidant.KindConflict, "too_many_passkeys",
		"This account has as many passkeys as it may have. Remove one first.")
	errPasskeyName = confidant.Errorf(confidant.KindInvalid, "invalid_passkey_name",
		"The passkey's name must be at most 64 characters, without control characters.")
	errWebAuthnOff = confidant.Errorf(confidant.KindUnavailable, "webauthn_unavailable",
		"Passkeys are not available on this server.")
)

// WebAuthnRP returns the relying party of the public URL: its host as the
// RP ID and its origin. A public URL on a loopback address (the demo)
// gives "localhost" (browsers refuse IP addresses as RP IDs) with the
// origin http://localhost:<port>, which is where passkeys then work.
func WebAuthnRP(publicURL string) (rpID string, origins []string, err error) {
	u, err := url.Parse(strings.TrimRight(publicURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return "", nil, confidant.Errorf(confidant.KindInvalid, "invalid_config", "the public URL must be an http(s) URL with a host")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		o := u.Scheme + "://localhost"
		if u.Port() != "" {
			o += ":" + u.Port()
		}
		return "localhost", []string{o, u.Scheme + "://" + u.Host}, nil
	}
	return host, []string{u.Scheme + "://" + u.Host}, nil
}

// newWebAuthn builds the relying party from the configuration.
func newWebAuthn(cfg Config) (*webauthn.WebAuthn, error) {
	rpID, origins, err := WebAuthnRP(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	return webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: "Confidant", RPOrigins: origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLife, TimeoutUVD: CeremonyLife},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLife, TimeoutUVD: CeremonyLife},
		},
	})
}

// rp returns the relying party, built once.
func (s *Service) rp() (*webauthn.WebAuthn, error) {
	s.waOnce.Do(func() { s.wa, s.waErr = newWebAuthn(s.cfg) })
	if s.waErr != nil {
		return nil, errWebAuthnOff
	}
	return s.wa, nil
}

// waUser is an account as the library sees it.
type waUser struct {
	handle []byte
	name   string
	creds  []confidant.WebAuthnCredential
}

func (u waUser) WebAuthnID() []byte          { return u.handle }
func (u waUser) WebAuthnName() string        { return u.name }
func (u waUser) WebAuthnDisplayName() string { return u.name }
func (u waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(u.creds))
	for _, c := range u.creds {
		tr := make([]protocol.AuthenticatorTransport, 0, len(c.Transports))
		for _, t := range c.Transports {
			tr = append(tr, protocol.AuthenticatorTransport(t))
		}
		out = append(out, webauthn.Credential{
			ID: c.CredentialID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
			AttestationFormat: c.AttestationFormat, Transport: tr,
			Flags: webauthn.CredentialFlags{
				UserPresent: c.UserPresent, UserVerified: c.UserVerified,
				BackupEligible: c.BackupEligible, BackupState: c.BackupState,
			},
			Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
		})
	}
	return out
}

// byCredentialID returns the stored credential the library matched.
func (u waUser) byCredentialID(id []byte) (confidant.WebAuthnCredential, bool) {
	for _, c := range u.creds {
		if bytes.Equal(c.CredentialID, id) {
			return c, true
		}
	}
	return confidant.WebAuthnCredential{}, false
}

// Ceremony is a begun ceremony: its id, to be sent back with the answer,
// and the options for navigator.credentials.create or .get, as the library
// marshals them ({"publicKey": {...}}).
type Ceremony struct {
	ID      string
	Options json.RawMessage
}

// ceremonyState is what a ceremony row holds: the library's session data
// and, for a pending sign-in, the SHA-256 of its MFA token.
type ceremonyState struct {
	Session webauthn.SessionData `json:"session"`
	MFAHash []byte               `json:"mfa,omitempty"`
}

// passkeyUser loads the WebAuthn view of user u in tx.
func passkeyUser(ctx context.Context, tx confidant.Tx, u confidant.User) (waUser, error) {
	wu := waUser{name: u.Username}
	h, err := tx.WebAuthnHandle(ctx, u.ID)
	if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
		return wu, err
	}
	wu.handle = h
	wu.creds, err = tx.WebAuthnCredentials(ctx, u.ID)
	return wu, err
}

// loadPasskeyUser is passkeyUser in a read transaction.
func (s *Service) loadPasskeyUser(ctx context.Context, u confidant.User) (waUser, error) {
	var wu waUser
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		wu, err = passkeyUser(ctx, tx, u)
		return err
	})
	return wu, err
}

// ensureHandle gives u a random user handle if it has none yet.
func (s *Service) ensureHandle(ctx context.Context, wu *waUser, userID string) error {
	if len(wu.handle) > 0 {
		return nil
	}
	h := make([]byte, webauthnHandleSize)
	rand.Read(h)
	now := s.clock()
	err := s.update(ctx, func(tx confidant.Tx) error { return tx.CreateWebAuthnHandle(ctx, userID, h, now) })
	if confidant.IsKind(err, confidant.KindConflict) {
		// Another request made it first: use that one.
		return s.store.View(ctx, func(tx confidant.Tx) error {
			var err error
			wu.handle, err = tx.WebAuthnHandle(ctx, userID)
			return err
		})
	}
	if err != nil {
		return err
	}
	wu.handle = h
	return nil
}

// saveCeremony stores a begun ceremony and records its beginning.
func (s *Service) saveCeremony(ctx context.Context, kind string, u confidant.User, sessionID string, sd *webauthn.SessionData, mfaHash []byte, options any, ev confidant.AuditEvent) (Ceremony, error) {
	data, err := json.Marshal(ceremonyState{Session: *sd, MFAHash: mfaHash})
	if err != nil {
		return Ceremony{}, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
	}
	now := s.clock()
	c := confidant.WebAuthnCeremony{
		ID: confidant.NewID(), Kind: kind, UserID: u.ID, SessionID: sessionID, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(CeremonyLife),
	}
	ev.Purpose = kind
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.PutWebAuthnCeremony(ctx, c); err != nil {
			return err
		}
		return tx.Audit(ev)
	})
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{ID: c.ID, Options: opts}, nil
}

// takeCeremony uses up ceremony id, which must be of one of kinds and not
// expired: it is deleted before its answer is checked, so that it is used
// once whatever the answer.
func (s *Service) takeCeremony(ctx context.Context, id string, kinds ...string) (confidant.WebAuthnCeremony, ceremonyState, error) {
	var (
		c  confidant.WebAuthnCeremony
		st ceremonyState
	)
	if !confidant.ValidID(id) {
		return c, st, errCeremony
	}
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		c, err = tx.WebAuthnCeremony(ctx, id)
		return err
	})
	if confidant.IsKind(err, confidant.KindNotFound) {
		return c, st, errCeremony
	}
	if err != nil {
		return c, st, err
	}
	ok := false
	for _, k := range kinds {
		ok = ok || c.Kind == k
	}
	if !ok {
		return c, st, errCeremony
	}
	err = s.update(ctx, func(tx confidant.Tx) error { return tx.DeleteWebAuthnCeremony(ctx, id) })
	if confidant.CodeOf(err) == "ceremony_used" {
		return c, st, errCeremony
	}
	if err != nil {
		return c, st, err
	}
	if !s.clock().Before(c.ExpiresAt) {
		return c, st, errCeremony
	}
	if err := json.Unmarshal(c.Data, &st); err != nil {
		return c, st, errCeremony
	}
	return c, st, nil
}

// ParseAttestation decodes the browser's answer to a registration
// (navigator.credentials.create, as JSON). Anything else is 400
// invalid_credential.
func ParseAttestation(b []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(b) == 0 || len(b) > MaxCredentialJSON {
		return nil, errCredentialJSON
	}
	p, err := protocol.ParseCredentialCreationResponseBytes(b)
	if err != nil || p == nil {
		return nil, errCredentialJSON
	}
	return p, nil
}

// ParseAssertion decodes the browser's answer to a sign-in
// (navigator.credentials.get, as JSON). Anything else is 400
// invalid_credential.
func ParseAssertion(b []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(b) == 0 || len(b) > MaxCredentialJSON {
		return nil, errCredentialJSON
	}
	p, err := protocol.ParseCredentialRequestResponseBytes(b)
	if err != nil || p == nil {
		return nil, errCredentialJSON
	}
	return p, nil
}

// checkPasskeyName trims and checks a passkey's name ("" becomes
// "Passkey").
func checkPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyName {
		return "", errPasskeyName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", errPasskeyName
		}
	}
	return name, nil
}

// beginRegistration makes the options of a registration for wu.
func (s *Service) beginRegistration(wu waUser) (*protocol.CredentialCreation, *webauthn.SessionData, error) {
	wa, err := s.rp()
	if err != nil {
		return nil, nil, err
	}
	excl := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, c := range wu.WebAuthnCredentials() {
		excl = append(excl, c.Descriptor())
	}
	rk := true
	cc, sd, err := wa.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &rk,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(excl),
	)
	if err != nil {
		return nil, nil, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
	}
	return cc, sd, nil
}

// finishRegistration checks the browser's answer to a registration of wu
// and returns the new credential (not stored yet).
func (s *Service) finishRegistration(wu waUser, st ceremonyState, credJSON []byte, name string, now time.Time) (confidant.WebAuthnCredential, error) {
	wa, err := s.rp()
	if err != nil {
		return confidant.WebAuthnCredential{}, err
	}
	parsed, err := ParseAttestation(credJSON)
	if err != nil {
		return confidant.WebAuthnCredential{}, err
	}
	cred, err := wa.CreateCredential(wu, st.Session, parsed)
	if err != nil || cred == nil {
		return confidant.WebAuthnCredential{}, errPasskeyInvalid
	}
	tr := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		tr = append(tr, string(t))
	}
	return confidant.WebAuthnCredential{
		ID: confidant.NewID(), UserID: "", CredentialID: cred.ID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, Transports: tr,
		UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		SignCount: cred.Authenticator.SignCount, Name: name, CreatedAt: now,
	}, nil
}

// Passkey is a registered passkey as its owner sees it.
type Passkey struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	Synced     bool      // backed up (a synced passkey)
}

func passkeyOf(c confidant.WebAuthnCredential) Passkey {
	return Passkey{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, Synced: c.BackupState}
}

// BeginPasskeyRegistration begins adding a passkey to the signed-in
// actor's account (an access-log event).
func (s *Service) BeginPasskeyRegistration(ctx context.Context) (Ceremony, error) {
	a, err := actor(ctx)
	if err != nil {
		return Ceremony{}, err
	}
	u, err := s.userByID(ctx, a.UserID)
	if err != nil {
		return Ceremony{}, err
	}
	wu, err := s.loadPasskeyUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.creds) >= MaxPasskeys {
		return Ceremony{}, errTooManyPasskeys
	}
	if err := s.ensureHandle(ctx, &wu, u.ID); err != nil {
		return Ceremony{}, err
	}
	cc, sd, err := s.beginRegistration(wu)
	if err != nil {
		return Ceremony{}, err
	}
	return s.saveCeremony(ctx, ceremonyRegister, u, a.SessionID, sd, nil, cc, s.event(ctx, ActWebAuthnBegin, "", "", confidant.OutcomeOK))
}

// PasskeyAdded is the outcome of a registration: the new passkey and,
// when the account had no recovery codes yet, its ten new codes, to be
// shown once.
type PasskeyAdded struct {
	Passkey       Passkey
	RecoveryCodes []string
}

// String hides the codes from fmt.
func (p PasskeyAdded) String() string { return "PasskeyAdded{[REDACTED]}" }

// FinishPasskeyRegistration checks the browser's answer (credJSON) to the
// ceremony of BeginPasskeyRegistration and stores the passkey under name.
// A refused answer is a denied event and counts for throttling.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, ceremonyID, name string, credJSON []byte) (PasskeyAdded, error) {
	a, err := actor(ctx)
	if err != nil {
		return PasskeyAdded{}, err
	}
	if name, err = checkPasskeyName(name); err != nil {
		return PasskeyAdded{}, err
	}
	c, st, err := s.takeCeremony(ctx, ceremonyID, ceremonyRegister)
	if err == nil && (c.UserID != a.UserID || c.SessionID != a.SessionID) {
		err = errCeremony
	}
	if err != nil {
		return PasskeyAdded{}, err
	}
	u, err := s.userByID(ctx, a.UserID)
	if err != nil {
		return PasskeyAdded{}, err
	}
	wu, err := s.loadPasskeyUser(ctx, u)
	if err != nil {
		return PasskeyAdded{}, err
	}
	now := s.clock()
	cred, err := s.finishRegistration(wu, st, credJSON, name, now)
	if err != nil {
		ev := s.event(ctx, ActWebAuthnRegister, "", "", confidant.OutcomeDenied)
		ev.Purpose = "registration refused"
		if cerr := s.countFailure(ctx, u.ID, now, "", ev); cerr != nil {
			return PasskeyAdded{}, cerr
		}
		return PasskeyAdded{}, err
	}
	cred.UserID = u.ID
	codes, hashes, err := s.newRecoveryCodesIfNone(ctx, u.ID)
	if err != nil {
		return PasskeyAdded{}, err
	}
	ev := s.event(ctx, ActWebAuthnRegister, "", cred.ID, confidant.OutcomeOK)
	var gen bool
	err = s.update(ctx, func(tx confidant.Tx) error {
		existing, err := tx.WebAuthnCredentials(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(existing) >= MaxPasskeys {
			return errTooManyPasskeys
		}
		gen = false
		if hashes != nil {
			have, err := tx.RecoveryCodes(ctx, u.ID)
			if err != nil {
				return err
			}
			gen = len(have) == 0
		}
		if err := tx.CreateWebAuthnCredential(ctx, cred); err != nil {
			return err
		}
		if gen {
			if err := tx.SetRecoveryCodes(ctx, u.ID, hashes, now); err != nil {
				return err
			}
			if err := tx.Audit(s.event(ctx, ActRecoveryGenerate, "", "", confidant.OutcomeOK)); err != nil {
				return err
			}
		}
		return tx.Audit(ev)
	})
	if err != nil {
		return PasskeyAdded{}, err
	}
	out := PasskeyAdded{Passkey: passkeyOf(cred)}
	if gen {
		out.RecoveryCodes = codes
	}
	return out, nil
}

// ListPasskeys returns the actor's passkeys, oldest first.
func (s *Service) ListPasskeys(ctx context.Context) ([]Passkey, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var creds []confidant.WebAuthnCredential
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		creds, err = tx.WebAuthnCredentials(ctx, a.UserID)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(creds))
	for _, c := range creds {
		out = append(out, passkeyOf(c))
	}
	return out, nil
}

// RemovePasskey removes one of the actor's passkeys (an access-log
// event). The last second factor of a staff account (no TOTP and no other
// passkey) is kept: 409 last_second_factor. Another user's passkey, or an
// unknown id, is 404.
func (s *Service) RemovePasskey(ctx context.Context, id string) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	return s.update(ctx, func(tx confidant.Tx) error {
		creds, err := tx.WebAuthnCredentials(ctx, a.UserID)
		if err != nil {
			return err
		}
		found := false
		for _, c := range creds {
			found = found || c.ID == id
		}
		if !found {
			return confidant.ErrNotFound
		}
		if a.Role.Staff() && len(creds) == 1 {
			t, err := tx.TOTP(ctx, a.UserID)
			if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
				return err
			}
			if !t.Enrolled() {
				return errLastFactor
			}
		}
		if err := tx.DeleteWebAuthnCredential(ctx, a.UserID, id); err != nil {
			return err
		}
		return tx.Audit(s.event(ctx, ActWebAuthnRemove, "", id, confidant.OutcomeOK))
	})
}

// userByID reads an account.
func (s *Service) userByID(ctx context.Context, id string) (confidant.User, error) {
	var u confidant.User
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		u, err = tx.User(ctx, id)
		return err
	})
	return u, err
}

// passkeyCount returns how many passkeys user id has (0 for "").
func (s *Service) passkeyCount(ctx context.Context, id string) (int, error) {
	if id == "" {
		return 0, nil
	}
	var n int
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		cs, err := tx.WebAuthnCredentials(ctx, id)
		n = len(cs)
		return err
	})
	return n, err
}

// BeginPasskeyEnrolment begins the registration of the first second
// factor of a pending sign-in (mfaToken) whose account has none: a
// passkey instead of an authenticator app. An account with a second
// factor gets 409 second_factor_enrolled.
func (s *Service) BeginPasskeyEnrolment(ctx context.Context, mfaToken string) (Ceremony, error) {
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return Ceremony{}, err
	}
	if ch.user.Disabled {
		return Ceremony{}, errBadLogin
	}
	if ch.enrolled() {
		return Ceremony{}, errSecondFactorEnrolled
	}
	if !ch.mayEnrol() {
		return Ceremony{}, errEnrolNotAllowed
	}
	wu, err := s.loadPasskeyUser(ctx, ch.user)
	if err != nil {
		return Ceremony{}, err
	}
	if err := s.ensureHandle(ctx, &wu, ch.user.ID); err != nil {
		return Ceremony{}, err
	}
	cc, sd, err := s.beginRegistration(wu)
	if err != nil {
		return Ceremony{}, err
	}
	return s.saveCeremony(ctx, ceremonyEnrol, ch.user, ch.sess.ID, sd, mfaHash(mfaToken), cc,
		s.userEvent(ctx, ActWebAuthnBegin, ch.user, ch.sess.ID, confidant.OutcomeOK))
}

// FinishPasskeyEnrolment stores the passkey of BeginPasskeyEnrolment and
// completes the pending sign-in with it, as LoginTOTP does with the first
// code of an authenticator app; it also makes the account's ten recovery
// codes, returned once.
func (s *Service) FinishPasskeyEnrolment(ctx context.Context, mfaToken, ceremonyID, name string, credJSON []byte, kind, client string) (LoginResult, []string, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, nil, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if client != "" {
		ctx = confidant.WithClient(ctx, client)
	}
	name, err := checkPasskeyName(name)
	if err != nil {
		return LoginResult{}, nil, err
	}
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return LoginResult{}, nil, err
	}
	if err := s.signInWait(ctx, ch.user); err != nil {
		return LoginResult{}, nil, err
	}
	if ch.enrolled() {
		return LoginResult{}, nil, errSecondFactorEnrolled
	}
	if !ch.mayEnrol() {
		return LoginResult{}, nil, errEnrolNotAllowed
	}
	c, st, err := s.takeCeremony(ctx, ceremonyID, ceremonyEnrol)
	if err == nil && (c.SessionID != ch.sess.ID || c.UserID != ch.user.ID) {
		err = errCeremony
	}
	if err != nil {
		return LoginResult{}, nil, err
	}
	wu, err := s.loadPasskeyUser(ctx, ch.user)
	if err != nil {
		return LoginResult{}, nil, err
	}
	now := s.clock()
	cred, err := s.finishRegistration(wu, st, credJSON, name, now)
	if err != nil {
		ev := s.userEvent(ctx, ActWebAuthnRegister, ch.user, ch.sess.ID, confidant.OutcomeDenied)
		ev.Purpose = "registration refused"
		if cerr := s.countFailure(ctx, ch.user.ID, now, ch.sess.ID, ev); cerr != nil {
			return LoginResult{}, nil, cerr
		}
		return LoginResult{}, nil, err
	}
	cred.UserID = ch.user.ID
	codes, hashes, err := s.newRecoveryCodes(ctx)
	if err != nil {
		return LoginResult{}, nil, err
	}
	u := ch.user
	token, hash := newToken()
	sess := confidant.Session{
		ID: confidant.NewID(), TokenHash: hash, UserID: u.ID, Kind: kind,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
	}
	regEv := s.userEvent(ctx, ActWebAuthnRegister, u, sess.ID, confidant.OutcomeOK)
	regEv.RecordID = cred.ID
	genEv := s.userEvent(ctx, ActRecoveryGenerate, u, sess.ID, confidant.OutcomeOK)
	okEv := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
	okEv.Purpose = "passkey"
	err = s.update(ctx, func(tx confidant.Tx) error {
		t, err := tx.TOTP(ctx, u.ID)
		if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		existing, err := tx.WebAuthnCredentials(ctx, u.ID)
		if err != nil {
			return err
		}
		if t.Enrolled() || len(existing) > 0 {
			return errSecondFactorEnrolled
		}
		if err := tx.CreateWebAuthnCredential(ctx, cred); err != nil {
			return err
		}
		if err := tx.SetRecoveryCodes(ctx, u.ID, hashes, now); err != nil {
			return err
		}
		return s.completeSignIn(ctx, tx, u, ch.sess.ID, sess, regEv, genEv, okEv)
	})
	if err != nil {
		return LoginResult{}, nil, err
	}
	s.signedIn(ctx, u, sess)
	return LoginResult{Token: token, Session: sess}, codes, nil
}

// completeSignIn is the common end of a sign-in by a second factor, in
// its transaction: the success recorded, the client's failures on the
// account forgotten, the pending sign-in (if any) ended, the events
// recorded and the session created.
func (s *Service) completeSignIn(ctx context.Context, tx confidant.Tx, u confidant.User, pendingID string, sess confidant.Session, evs ...confidant.AuditEvent) error {
	if err := tx.RecordLogin(ctx, u.ID, true, time.Time{}); err != nil {
		return err
	}
	if err := tx.ClearLoginFailures(ctx, confidant.ClientFrom(ctx), u.ID); err != nil {
		return err
	}
	if pendingID != "" {
		if err := tx.DeleteSession(ctx, pendingID); err != nil {
			return err
		}
	}
	for _, ev := range evs {
		if err := tx.Audit(ev); err != nil {
			return err
		}
	}
	return tx.CreateSession(ctx, sess)
}

func mfaHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// BeginPasskeyLogin begins a sign-in with a passkey. With mfaToken (a
// pending sign-in whose password was right), the passkey is its second
// factor, and only the account's passkeys are allowed (409
// passkey_not_enrolled for an account without one). Without, it is a
// discoverable sign-in: the browser offers the passkeys it holds for
// this site, and user verification is required; a client address that
// began too many (beginlimit.go) is refused with 429 and nothing is
// written.
func (s *Service) BeginPasskeyLogin(ctx context.Context, mfaToken string) (Ceremony, error) {
	wa, err := s.rp()
	if err != nil {
		return Ceremony{}, err
	}
	if mfaToken == "" {
		if wait := s.begins.wait(confidant.ClientFrom(ctx), s.now()); wait > 0 {
			return Ceremony{}, retryLater(wait, "Too many passkey sign-ins were begun from your address.")
		}
		ca, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return Ceremony{}, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
		}
		return s.saveCeremony(ctx, ceremonyDiscoverable, confidant.User{}, "", sd, nil, ca,
			s.event(ctx, ActWebAuthnBegin, "", "", confidant.OutcomeOK))
	}
	ch, err := s.challenge(ctx, mfaToken)
	if err != nil {
		return Ceremony{}, err
	}
	wu, err := s.loadPasskeyUser(ctx, ch.user)
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.creds) == 0 || len(wu.handle) == 0 {
		return Ceremony{}, errNoPasskey
	}
	ca, sd, err := wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
	}
	return s.saveCeremony(ctx, ceremonyLogin, ch.user, ch.sess.ID, sd, mfaHash(mfaToken), ca,
		s.userEvent(ctx, ActWebAuthnBegin, ch.user, ch.sess.ID, confidant.OutcomeOK))
}

// FinishPasskeyLogin checks the browser's answer (credJSON) to a ceremony
// of BeginPasskeyLogin and starts a session of the given kind, as
// LoginTOTP does. A refused passkey is a login.failed event and counts
// against the client on the account (and the pending sign-in) for
// throttling; a throttled client is refused with 429 before its answer is
// checked. The ceremony is used up either way.
func (s *Service) FinishPasskeyLogin(ctx context.Context, ceremonyID string, credJSON []byte, kind, client string) (LoginResult, error) {
	if kind != SessionWeb && kind != SessionAPI {
		return LoginResult{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_kind", "Unknown session kind.")
	}
	if client != "" {
		ctx = confidant.WithClient(ctx, client)
	}
	wa, err := s.rp()
	if err != nil {
		return LoginResult{}, err
	}
	parsed, err := ParseAssertion(credJSON)
	if err != nil {
		return LoginResult{}, err
	}
	c, st, err := s.takeCeremony(ctx, ceremonyID, ceremonyLogin, ceremonyDiscoverable)
	if err != nil {
		return LoginResult{}, err
	}
	var (
		u         confidant.User
		pendingID string
	)
	if c.Kind == ceremonyLogin {
		var ch challenge
		err := s.store.View(ctx, func(tx confidant.Tx) error {
			sess, err := tx.SessionByTokenHash(ctx, st.MFAHash)
			if err != nil {
				return err
			}
			if sess.ID != c.SessionID || sess.Kind != SessionMFA || sess.UserID != c.UserID {
				return confidant.ErrNotFound
			}
			ch.sess = sess
			if ch.failures, err = tx.SessionFailures(ctx, sess.ID); err != nil {
				return err
			}
			u, err = tx.User(ctx, sess.UserID)
			return err
		})
		if confidant.IsKind(err, confidant.KindNotFound) || (err == nil && !s.clock().Before(ch.sess.ExpiresAt)) {
			return LoginResult{}, errMFAExpired
		}
		if err != nil {
			return LoginResult{}, err
		}
		pendingID = ch.sess.ID
	} else {
		uid := ""
		err := s.store.View(ctx, func(tx confidant.Tx) error {
			var err error
			if uid, err = tx.UserByWebAuthnHandle(ctx, parsed.Response.UserHandle); err != nil {
				return err
			}
			u, err = tx.User(ctx, uid)
			return err
		})
		if confidant.IsKind(err, confidant.KindNotFound) {
			// No account has this passkey (removed, or another site's).
			ev := s.event(ctx, ActLoginFailed, "", "", confidant.OutcomeDenied)
			ev.Purpose = "unknown passkey"
			if cerr := s.countFailure(ctx, throttleAccount("", "\x00passkey"), s.clock(), "", ev); cerr != nil {
				return LoginResult{}, cerr
			}
			return LoginResult{}, errPasskeyInvalid
		}
		if err != nil {
			return LoginResult{}, err
		}
	}
	if err := s.signInWait(ctx, u); err != nil {
		return LoginResult{}, err
	}
	now := s.clock()
	fail := func(why string, answer error) (LoginResult, error) {
		ev := s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
		ev.Purpose = why
		if err := s.countFailure(ctx, u.ID, now, pendingID, ev); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, answer
	}
	if u.Disabled {
		return fail("account disabled", errBadLogin)
	}
	wu, err := s.loadPasskeyUser(ctx, u)
	if err != nil {
		return LoginResult{}, err
	}
	var cred *webauthn.Credential
	if c.Kind == ceremonyLogin {
		cred, err = wa.ValidateLogin(wu, st.Session, parsed)
	} else {
		_, cred, err = wa.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, wu.handle) {
				return nil, confidant.ErrNotFound
			}
			return wu, nil
		}, st.Session, parsed)
		if err == nil && !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
			err = errPasskeyInvalid // a passkey alone must have verified its user
		}
	}
	if err != nil || cred == nil {
		return fail("passkey refused", errPasskeyInvalid)
	}
	stored, ok := wu.byCredentialID(cred.ID)
	if !ok {
		return fail("passkey refused", errPasskeyInvalid)
	}
	token, hash := newToken()
	sess := confidant.Session{
		ID: confidant.NewID(), TokenHash: hash, UserID: u.ID, Kind: kind,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionAbsolute),
		Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx),
	}
	okEv := s.userEvent(ctx, ActLoginOK, u, sess.ID, confidant.OutcomeOK)
	okEv.Purpose = "passkey"
	if c.Kind == ceremonyDiscoverable {
		okEv.Purpose = "passkey (discoverable, user verified)"
	}
	err = s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.UseWebAuthnCredential(ctx, u.ID, stored.ID, cred.Authenticator.SignCount, cred.Flags.BackupState, now); err != nil {
			return err
		}
		return s.completeSignIn(ctx, tx, u, pendingID, sess, okEv)
	})
	if err != nil {
		return LoginResult{}, err
	}
	s.signedIn(ctx, u, sess)
	return LoginResult{Token: token, Session: sess}, nil
}

// stepUpCeremonyID is the id of a finished passkey step-up of a session.
func stepUpCeremonyID(sessionID string) string { return "step-up|" + sessionID }

// BeginStepUpPasskey begins a step-up with one of the actor's passkeys.
func (s *Service) BeginStepUpPasskey(ctx context.Context) (Ceremony, error) {
	a, err := actor(ctx)
	if err != nil {
		return Ceremony{}, err
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return Ceremony{}, err
	}
	wa, err := s.rp()
	if err != nil {
		return Ceremony{}, err
	}
	u, err := s.userByID(ctx, a.UserID)
	if err != nil {
		return Ceremony{}, err
	}
	wu, err := s.loadPasskeyUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.creds) == 0 || len(wu.handle) == 0 {
		return Ceremony{}, errNoPasskey
	}
	ca, sd, err := wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, confidant.Wrap(err, confidant.KindInternal, "internal", "The passkey request could not be made.")
	}
	return s.saveCeremony(ctx, ceremonyStepUp, u, a.SessionID, sd, nil, ca, s.event(ctx, ActWebAuthnBegin, "", "", confidant.OutcomeOK))
}

// FinishStepUpPasskey checks the answer to BeginStepUpPasskey. When it is
// right, the actor's session may pass one step-up (stepUp with an empty
// code) within StepUpPasskeyLife. A refused answer is recorded and counted
// as a wrong step-up code is.
func (s *Service) FinishStepUpPasskey(ctx context.Context, ceremonyID string, credJSON []byte) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return err
	}
	wa, err := s.rp()
	if err != nil {
		return err
	}
	parsed, err := ParseAssertion(credJSON)
	if err != nil {
		return err
	}
	c, st, err := s.takeCeremony(ctx, ceremonyID, ceremonyStepUp)
	if err == nil && (c.UserID != a.UserID || c.SessionID != a.SessionID) {
		err = errCeremony
	}
	if err != nil {
		return err
	}
	u, err := s.userByID(ctx, a.UserID)
	if err != nil {
		return err
	}
	wu, err := s.loadPasskeyUser(ctx, u)
	if err != nil {
		return err
	}
	cred, err := wa.ValidateLogin(wu, st.Session, parsed)
	var stored confidant.WebAuthnCredential
	ok := err == nil && cred != nil
	if ok {
		stored, ok = wu.byCredentialID(cred.ID)
	}
	if !ok {
		return s.stepUpFailed(ctx, "passkey step-up", errPasskeyInvalid)
	}
	now := s.clock()
	done := confidant.WebAuthnCeremony{
		ID: stepUpCeremonyID(a.SessionID), Kind: ceremonyStepUpDone, UserID: a.UserID, SessionID: a.SessionID,
		Data: []byte("{}"), CreatedAt: now, ExpiresAt: now.Add(StepUpPasskeyLife),
	}
	ev := s.event(ctx, ActWebAuthnStepUp, "", stored.ID, confidant.OutcomeOK)
	return s.update(ctx, func(tx confidant.Tx) error {
		if err := tx.UseWebAuthnCredential(ctx, a.UserID, stored.ID, cred.Authenticator.SignCount, cred.Flags.BackupState, now); err != nil {
			return err
		}
		if err := tx.PutWebAuthnCeremony(ctx, done); err != nil {
			return err
		}
		return tx.Audit(ev)
	})
}

// stepUpByPasskey uses up a finished passkey step-up of the actor's
// session in tx (the sensitive action's); ok is false when there is none
// (or it expired).
func (s *Service) stepUpByPasskey(ctx context.Context, tx confidant.Tx, a confidant.Actor) (bool, error) {
	if a.SessionID == "" {
		return false, nil
	}
	c, err := tx.WebAuthnCeremony(ctx, stepUpCeremonyID(a.SessionID))
	if confidant.IsKind(err, confidant.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c.Kind != ceremonyStepUpDone || c.UserID != a.UserID || c.SessionID != a.SessionID || !s.clock().Before(c.ExpiresAt) {
		return false, nil
	}
	if err := tx.DeleteWebAuthnCeremony(ctx, c.ID); err != nil {
		if confidant.CodeOf(err) == "ceremony_used" {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// SweepWebAuthnCeremonies deletes expired ceremonies; the server calls it
// periodically.
func (s *Service) SweepWebAuthnCeremonies(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		n, err = tx.DeleteExpiredWebAuthnCeremonies(ctx, s.clock())
		return err
	})
	return n, err
}
