package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// The origin of the default configuration's public URL
// (http://127.0.0.1:8080), where passkeys work as http://localhost:8080.
const passkeyOrigin = "http://localhost:8080"

// newStaff makes a therapist account without a second factor, as its
// invitation is accepted (the fixture password): its enrolment waits in
// enrolments.
func newStaff(t *testing.T, w *testfix.World, name string) confidant.User {
	t.Helper()
	return acceptInvited(t, w.Service, service.StaffInput{
		Username: name, DisplayName: name, Role: confidant.RoleTherapist, ClinicIDs: []string{w.ClinicA.ID},
	})
}

// enrolments holds the pending enrolment (the sign-in that accepting the
// invitation started) of each account newStaff made, by user id.
var enrolments sync.Map

// acceptInvited creates the account of in by an operator's invitation and
// accepts it with the fixture password.
func acceptInvited(t *testing.T, svc *service.Service, in service.StaffInput) confidant.User {
	t.Helper()
	inv, err := svc.OperatorInviteUser(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	u, res, err := svc.AcceptInvitationSignIn(t.Context(), inv.Code, testfix.Password)
	if err != nil || !res.MFAEnrol {
		t.Fatalf("accepting the invitation of %s: %v (enrolment %v)", in.Username, err, res.MFAEnrol)
	}
	enrolments.Store(u.ID, res)
	return u
}

// enrolment returns the pending enrolment of an account newStaff made.
func enrolment(t *testing.T, u confidant.User) service.LoginResult {
	t.Helper()
	res, ok := enrolments.LoadAndDelete(u.ID)
	if !ok {
		t.Fatalf("%s has no pending enrolment", u.Username)
	}
	return res.(service.LoginResult)
}

// actorOf authenticates a session token into an actor context.
func actorOf(t *testing.T, svc *service.Service, token string) context.Context {
	t.Helper()
	a, err := svc.Authenticate(t.Context(), token, service.SessionAPI, "")
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return confidant.WithActor(t.Context(), a)
}

// enrolPasskey takes a new staff account through its first sign-in with a
// passkey and returns the session token and recovery codes.
func enrolPasskey(t *testing.T, svc *service.Service, u confidant.User, auth *testfix.Authenticator) (string, []string) {
	t.Helper()
	res := enrolment(t, u)
	cer, err := svc.BeginPasskeyEnrolment(t.Context(), res.MFAToken)
	if err != nil {
		t.Fatalf("begin enrolment: %v", err)
	}
	var opts struct {
		PublicKey struct {
			User struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"user"`
			AuthenticatorSelection struct {
				ResidentKey string `json:"residentKey"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(cer.Options, &opts); err != nil {
		t.Fatal(err)
	}
	if opts.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
		t.Errorf("resident key %q, want required", opts.PublicKey.AuthenticatorSelection.ResidentKey)
	}
	if strings.Contains(opts.PublicKey.User.ID, u.ID) || len(opts.PublicKey.User.ID) < 43 {
		t.Errorf("user handle %q is not 32 random bytes", opts.PublicKey.User.ID)
	}
	done, codes, err := svc.FinishPasskeyEnrolment(t.Context(), res.MFAToken, cer.ID, "Laptop", auth.Create(t, cer.Options), service.SessionAPI, "203.0.113.5")
	if err != nil {
		t.Fatalf("finish enrolment: %v", err)
	}
	if done.Token == "" || len(codes) != service.RecoveryCodeCount {
		t.Fatalf("enrolment: token %v, %d codes", done.Token != "", len(codes))
	}
	return done.Token, codes
}

// signInPasskey signs u in with password and passkey.
func signInPasskey(t *testing.T, svc *service.Service, u confidant.User, auth *testfix.Authenticator) (service.LoginResult, error) {
	t.Helper()
	res := mfa(t, svc, u)
	cer, err := svc.BeginPasskeyLogin(t.Context(), res.MFAToken)
	if err != nil {
		t.Fatalf("begin passkey login: %v", err)
	}
	return svc.FinishPasskeyLogin(t.Context(), cer.ID, auth.Get(t, cer.Options), service.SessionAPI, "")
}

func TestPasskeyEnrolmentAndSignIn(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := newStaff(t, w, "newbie")
	auth := testfix.NewAuthenticator(passkeyOrigin)
	token, _ := enrolPasskey(t, svc, u, auth)
	if a, err := svc.Authenticate(t.Context(), token, service.SessionAPI, ""); err != nil || a.UserID != u.ID {
		t.Fatalf("the enrolment's session: %v", err)
	}

	// The password alone now asks for the passkey, not for an enrolment,
	// and does not hand out an authenticator app's secret.
	res := mfa(t, svc, u)
	if res.MFAEnrol {
		t.Fatal("an account with a passkey is asked to enrol")
	}
	_, err := svc.BeginTOTPEnrolment(t.Context(), res.MFAToken)
	wantCode(t, "an app secret for the password alone", err, "totp_enrolled")
	_, err = svc.BeginPasskeyEnrolment(t.Context(), res.MFAToken)
	wantCode(t, "a second enrolment", err, "second_factor_enrolled")

	// Second factor: the passkey completes the pending sign-in, once.
	cer, err := svc.BeginPasskeyLogin(t.Context(), res.MFAToken)
	if err != nil {
		t.Fatal(err)
	}
	answer := auth.Get(t, cer.Options)
	got, err := svc.FinishPasskeyLogin(t.Context(), cer.ID, answer, service.SessionAPI, "")
	if err != nil || got.Token == "" {
		t.Fatalf("passkey sign-in: %v", err)
	}
	if a, err := svc.Authenticate(t.Context(), got.Token, service.SessionAPI, ""); err != nil || a.UserID != u.ID {
		t.Fatalf("passkey session: %v", err)
	}
	_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, answer, service.SessionAPI, "")
	wantCode(t, "the same ceremony again", err, "ceremony_invalid")
	if _, err := svc.LoginTOTP(t.Context(), res.MFAToken, "123456", service.SessionAPI, ""); confidant.CodeOf(err) != "mfa_expired" {
		t.Fatalf("the pending sign-in after the passkey completed it: %v", err)
	}

	// Discoverable: no username, no password; the passkey (with user
	// verification) is both factors.
	cer, err = svc.BeginPasskeyLogin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cer.Options), `"userVerification":"required"`) || strings.Contains(string(cer.Options), "allowCredentials") {
		t.Errorf("discoverable options: %s", cer.Options)
	}
	got, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, auth.Get(t, cer.Options), service.SessionWeb, "")
	if err != nil {
		t.Fatalf("discoverable sign-in: %v", err)
	}
	if a, err := svc.Authenticate(t.Context(), got.Token, service.SessionWeb, ""); err != nil || a.UserID != u.ID {
		t.Fatalf("discoverable session: %v", err)
	}

	// Without user verification a passkey alone is one factor: refused.
	auth.UV = false
	cer, _ = svc.BeginPasskeyLogin(t.Context(), "")
	_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, auth.Get(t, cer.Options), service.SessionWeb, "")
	wantCode(t, "a discoverable passkey without user verification", err, "passkey_invalid")
	auth.UV = true

	// A forged signature, another authenticator, a wrong origin: refused.
	cer, _ = svc.BeginPasskeyLogin(t.Context(), "")
	forged := auth.Get(t, cer.Options)
	var m map[string]any
	_ = json.Unmarshal(forged, &m)
	m["response"].(map[string]any)["signature"] = "MEUCIQDx" + strings.Repeat("A", 90)
	forged, _ = json.Marshal(m)
	_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, forged, service.SessionWeb, "")
	wantCode(t, "a forged signature", err, "passkey_invalid")
	other := testfix.NewAuthenticator("https://evil.example")
	other.Create(t, []byte(`{"publicKey":{"challenge":"AAAA","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`))
	cer, _ = svc.BeginPasskeyLogin(t.Context(), "")
	_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, other.Get(t, cer.Options), service.SessionWeb, "")
	wantCode(t, "an unknown passkey", err, "passkey_invalid")
	auth.Origin = "https://evil.example"
	cer, _ = svc.BeginPasskeyLogin(t.Context(), "")
	_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, auth.Get(t, cer.Options), service.SessionWeb, "")
	wantCode(t, "a phished answer (wrong origin)", err, "passkey_invalid")
	auth.Origin = passkeyOrigin

	// Malformed answers are 400, not 500.
	cer, _ = svc.BeginPasskeyLogin(t.Context(), "")
	for _, bad := range []string{"", "{}", "null", `{"id":1}`, strings.Repeat("[", 100)} {
		_, err = svc.FinishPasskeyLogin(t.Context(), cer.ID, []byte(bad), service.SessionWeb, "")
		if confidant.KindOf(err) != confidant.KindInvalid {
			t.Errorf("answer %.20q: %v, want invalid", bad, err)
		}
	}

	// The events: enrolment, passkey sign-ins, refusals.
	l := testfix.Log(w.Store)
	evs, err := l.Query(t.Context(), confidant.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		if ev.ActorID != u.ID && ev.Action != service.ActLoginFailed && ev.Action != service.ActWebAuthnBegin {
			continue
		}
		purpose, _, _ := l.OpenFree(ev)
		n[ev.Action+"/"+ev.Outcome+"/"+purpose]++
	}
	for key, want := range map[string]int{
		service.ActWebAuthnRegister + "/ok/":                             1,
		service.ActRecoveryGenerate + "/ok/":                             1,
		service.ActLoginOK + "/ok/passkey":                               2, // enrolment, second factor
		service.ActLoginOK + "/ok/passkey (discoverable, user verified)": 1,
		service.ActLoginFailed + "/denied/passkey refused":               3,
		service.ActLoginFailed + "/denied/unknown passkey":               1,
		service.ActWebAuthnBegin + "/ok/" + "discoverable":               6,
	} {
		if n[key] != want {
			t.Errorf("%d events %s, want %d (all: %v)", n[key], key, want, n)
		}
	}
}

func TestPasskeysSignedIn(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	ctx := actorOf(t, svc, w.SignIn(t, w.Therapist, service.SessionAPI))
	auth := testfix.NewAuthenticator(passkeyOrigin)
	cer, err := svc.BeginPasskeyRegistration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishPasskeyRegistration(ctx, cer.ID, "bad\x00name", auth.Create(t, cer.Options))
	wantCode(t, "a name with a control character", err, "invalid_passkey_name")
	added, err := svc.FinishPasskeyRegistration(ctx, cer.ID, "Phone", auth.Create(t, cer.Options))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if added.Passkey.Name != "Phone" || len(added.RecoveryCodes) != service.RecoveryCodeCount {
		t.Fatalf("added %+v with %d codes", added.Passkey, len(added.RecoveryCodes))
	}
	// Another user's session cannot finish this user's ceremony, and a
	// ceremony is used once.
	_, err = svc.FinishPasskeyRegistration(ctx, cer.ID, "Again", auth.Create(t, cer.Options))
	wantCode(t, "the ceremony again", err, "ceremony_invalid")
	cer2, _ := svc.BeginPasskeyRegistration(ctx)
	octx := actorOf(t, svc, w.SignIn(t, w.OtherTherapist, service.SessionAPI))
	_, err = svc.FinishPasskeyRegistration(octx, cer2.ID, "Theirs", testfix.NewAuthenticator(passkeyOrigin).Create(t, cer2.Options))
	wantCode(t, "another user's ceremony", err, "ceremony_invalid")

	list, err := svc.ListPasskeys(ctx)
	if err != nil || len(list) != 1 || list[0].ID != added.Passkey.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if l, _ := svc.ListPasskeys(octx); len(l) != 0 {
		t.Fatalf("another user sees %d passkeys", len(l))
	}
	wantKind := func(what string, err error, k confidant.Kind) {
		t.Helper()
		if confidant.KindOf(err) != k {
			t.Fatalf("%s: %v, want %v", what, err, k)
		}
	}
	wantKind("removing another user's passkey", svc.RemovePasskey(octx, added.Passkey.ID), confidant.KindNotFound)
	// The therapist has an app too: the passkey may go.
	if err := svc.RemovePasskey(ctx, added.Passkey.ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if l, _ := svc.ListPasskeys(ctx); len(l) != 0 {
		t.Fatalf("%d passkeys after removal", len(l))
	}

	// A staff account whose only factor is a passkey keeps it.
	u := newStaff(t, w, "onlypasskey")
	tok, _ := enrolPasskey(t, svc, u, testfix.NewAuthenticator(passkeyOrigin))
	uctx := actorOf(t, svc, tok)
	only, _ := svc.ListPasskeys(uctx)
	err = svc.RemovePasskey(uctx, only[0].ID)
	wantCode(t, "removing the last second factor", err, "last_second_factor")
	if l, _ := svc.ListPasskeys(uctx); len(l) != 1 {
		t.Fatal("the last passkey was removed")
	}
}

func TestRecoveryCodes(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := newStaff(t, w, "recoverer")
	_, codes := enrolPasskey(t, svc, u, testfix.NewAuthenticator(passkeyOrigin))
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' {
			t.Fatalf("code %q is not two groups of five", c)
		}
	}
	res := mfa(t, svc, u)
	got, left, err := svc.LoginRecovery(t.Context(), res.MFAToken, strings.ToLower(codes[3]), service.SessionAPI, "")
	if err != nil || got.Token == "" || left != 9 {
		t.Fatalf("recovery sign-in: left %d, %v", left, err)
	}
	// An attacker's client (with the password) tries codes.
	const attacker = "198.51.100.7"
	res = mfa(t, svc, u)
	_, _, err = svc.LoginRecovery(t.Context(), res.MFAToken, codes[3], service.SessionAPI, attacker)
	wantCode(t, "a used code", err, "recovery_code_invalid")
	_, _, err = svc.LoginRecovery(t.Context(), res.MFAToken, "22222-22222", service.SessionAPI, attacker)
	wantCode(t, "a wrong code", err, "recovery_code_invalid")
	_, _, err = svc.LoginRecovery(t.Context(), res.MFAToken, "not a code", service.SessionAPI, attacker)
	wantCode(t, "a malformed code", err, "recovery_code_invalid")
	// After three failures the client is throttled: even a right code
	// waits (429), and is not used up.
	_, _, err = svc.LoginRecovery(t.Context(), res.MFAToken, codes[4], service.SessionAPI, attacker)
	wantCode(t, "a right code while throttled", err, "throttled")
	// Another client (the real user) is not slowed down.
	res = mfa(t, svc, u)
	if _, left, err := svc.LoginRecovery(t.Context(), res.MFAToken, codes[4], service.SessionAPI, "192.0.2.1"); err != nil || left != 8 {
		t.Fatalf("the user's own client: left %d, %v", left, err)
	}

	// Regeneration needs a step-up; a recovery code passes it, once.
	ctx := actorOf(t, svc, got.Token)
	_, err = svc.RegenerateRecoveryCodes(ctx, "")
	wantCode(t, "regenerate without a step-up", err, "second_factor_required")
	st, err := svc.RecoveryCodesLeft(ctx)
	if err != nil || st.Total != 10 || st.Left != 8 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestStepUpPasskeyAndRecoveryCode(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := newStaff(t, w, "stepper")
	auth := testfix.NewAuthenticator(passkeyOrigin)
	tok, codes := enrolPasskey(t, svc, u, auth)
	ctx := actorOf(t, svc, tok)

	// A passkey step-up lets one sensitive action through.
	cer, err := svc.BeginStepUpPasskey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.FinishStepUpPasskey(ctx, cer.ID, auth.Get(t, cer.Options)); err != nil {
		t.Fatalf("step-up: %v", err)
	}
	fresh, err := svc.RegenerateRecoveryCodes(ctx, "")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate after a passkey step-up: %v", err)
	}
	_, err = svc.RegenerateRecoveryCodes(ctx, "")
	wantCode(t, "a second action on one step-up", err, "second_factor_required")

	// Another session of the same user does not inherit the step-up.
	cer, _ = svc.BeginStepUpPasskey(ctx)
	if err := svc.FinishStepUpPasskey(ctx, cer.ID, auth.Get(t, cer.Options)); err != nil {
		t.Fatal(err)
	}
	other, err := signInPasskey(t, svc, u, auth)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.RegenerateRecoveryCodes(actorOf(t, svc, other.Token), "")
	wantCode(t, "another session's step-up", err, "second_factor_required")

	// The old codes stopped working; a new one passes a step-up, once.
	_, err = svc.RegenerateRecoveryCodes(ctx, codes[0])
	wantCode(t, "an old code", err, "second_factor_invalid")
	if _, err := svc.RegenerateRecoveryCodes(ctx, fresh[0]); err != nil {
		t.Fatalf("a recovery code as step-up: %v", err)
	}
	// A forged step-up answer is refused.
	cer, _ = svc.BeginStepUpPasskey(ctx)
	forger := testfix.NewAuthenticator(passkeyOrigin)
	forger.Create(t, []byte(`{"publicKey":{"challenge":"AAAA","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`))
	err = svc.FinishStepUpPasskey(ctx, cer.ID, forger.Get(t, cer.Options))
	wantCode(t, "another authenticator's step-up", err, "passkey_invalid")
}

// A security officer's reset of an account removes its passkeys and
// recovery codes with its other second factor.
func TestResetRemovesPasskeys(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := acceptInvited(t, svc, service.StaffInput{
		Username: "resetme", DisplayName: "Reset Me", Role: confidant.RoleManager, ClinicIDs: []string{w.ClinicA.ID},
		Email: "resetme@example.org",
	})
	enrolPasskey(t, svc, u, testfix.NewAuthenticator(passkeyOrigin))
	count := func() (creds, codes int) {
		t.Helper()
		err := w.Store.View(t.Context(), func(tx confidant.Tx) error {
			cs, err := tx.WebAuthnCredentials(t.Context(), u.ID)
			if err != nil {
				return err
			}
			rs, err := tx.RecoveryCodes(t.Context(), u.ID)
			creds, codes = len(cs), len(rs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return creds, codes
	}
	if c, r := count(); c != 1 || r != 10 {
		t.Fatalf("before the reset: %d passkeys, %d codes", c, r)
	}
	if _, err := svc.ResetAccount(w.As(w.Security), u.ID); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if c, r := count(); c != 0 || r != 0 {
		t.Fatalf("after the reset: %d passkeys, %d codes", c, r)
	}
}

// Two requests with one recovery code, or one ceremony's answer, at the
// same moment: exactly one signs in.
func TestConcurrentRecoveryAndCeremony(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := newStaff(t, w, "racer")
	auth := testfix.NewAuthenticator(passkeyOrigin)
	_, codes := enrolPasskey(t, svc, u, auth)
	race := func(what string, try func(i int) error) {
		t.Helper()
		const n = 6
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			go func() {
				<-start
				errs <- try(i)
			}()
		}
		close(start)
		wins := 0
		for range n {
			if err := <-errs; err == nil {
				wins++
			} else if k := confidant.KindOf(err); k != confidant.KindUnauthenticated && k != confidant.KindUnavailable && k != confidant.KindRateLimited {
				t.Errorf("%s: %v", what, err)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d of %d concurrent attempts signed in, want exactly 1", what, wins, n)
		}
	}
	tokens := make([]string, 6)
	for i := range tokens {
		tokens[i] = mfa(t, svc, u).MFAToken
	}
	race("one recovery code", func(i int) error {
		_, _, err := svc.LoginRecovery(t.Context(), tokens[i], codes[0], service.SessionAPI, "")
		return err
	})
	cer, err := svc.BeginPasskeyLogin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	answer := auth.Get(t, cer.Options)
	race("one ceremony", func(int) error {
		// Another client: the losers of the first race are counted
		// against this one.
		_, err := svc.FinishPasskeyLogin(t.Context(), cer.ID, answer, service.SessionAPI, "192.0.2.77")
		return err
	})
}

// Confirming a first authenticator app at sign-in makes the account's
// recovery codes, shown once; a code then replaces the app once.
func TestTOTPEnrolmentMakesRecoveryCodes(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	u := newStaff(t, w, "appuser")
	res := enrolment(t, u)
	en, err := svc.BeginTOTPEnrolment(t.Context(), res.MFAToken)
	if err != nil {
		t.Fatal(err)
	}
	done, err := svc.LoginTOTP(t.Context(), res.MFAToken, testfix.Code(t, en.Secret), service.SessionAPI, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(done.RecoveryCodes) != service.RecoveryCodeCount {
		t.Fatalf("%d recovery codes after the app's enrolment", len(done.RecoveryCodes))
	}
	again, err := svc.LoginTOTP(t.Context(), mfa(t, svc, u).MFAToken, testfix.Code(t, en.Secret), service.SessionAPI, "")
	if err != nil || len(again.RecoveryCodes) != 0 {
		t.Fatalf("a later sign-in: %d codes, %v", len(again.RecoveryCodes), err)
	}
	if _, left, err := svc.LoginRecovery(t.Context(), mfa(t, svc, u).MFAToken, done.RecoveryCodes[9], service.SessionAPI, ""); err != nil || left != 9 {
		t.Fatalf("recovery sign-in: left %d, %v", left, err)
	}
}

// TestDiscoverableBeginLimit: one client address may begin
// PasskeyBeginBurst discoverable sign-ins at once, then one per
// PasskeyBeginEvery; a refused begin is a 429 with the wait and writes no
// event (a ceremony is written with its event, in one transaction), and
// other addresses (and the second factor of a pending sign-in) are not
// affected.
func TestDiscoverableBeginLimit(t *testing.T) {
	w := newWorld(t)
	u := newStaff(t, w, "limited")
	l := testfix.Log(w.Store)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	svc, err := service.New(w.Store, testfix.FastHasher{}, w.Service.Config(),
		service.WithClock(func() time.Time { return now }), service.WithAuditor(l), service.WithAuditReader(l))
	if err != nil {
		t.Fatal(err)
	}
	size := func() uint64 {
		t.Helper()
		cp, err := l.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return cp.Size
	}
	ctx := confidant.WithClient(t.Context(), "203.0.113.5")
	for i := range service.PasskeyBeginBurst {
		if _, err := svc.BeginPasskeyLogin(ctx, ""); err != nil {
			t.Fatalf("begin %d: %v", i+1, err)
		}
	}
	before := size()
	_, err = svc.BeginPasskeyLogin(ctx, "")
	var ra *confidant.RetryAfterError
	if confidant.KindOf(err) != confidant.KindRateLimited || !errors.As(err, &ra) || ra.After != service.PasskeyBeginEvery {
		t.Fatalf("begin %d: %v, want 429 after %v", service.PasskeyBeginBurst+1, err, service.PasskeyBeginEvery)
	}
	if got := size(); got != before {
		t.Errorf("a refused begin wrote %d events", got-before)
	}
	// Another address, and a pending sign-in's second factor from this one.
	if _, err := svc.BeginPasskeyLogin(confidant.WithClient(t.Context(), "198.51.100.7"), ""); err != nil {
		t.Errorf("another address: %v", err)
	}
	auth := testfix.NewAuthenticator(passkeyOrigin)
	enrolPasskey(t, svc, u, auth)
	if _, err := svc.BeginPasskeyLogin(ctx, mfa(t, svc, u).MFAToken); err != nil {
		t.Errorf("a second factor from the limited address: %v", err)
	}
	// The bucket refills: one more after PasskeyBeginEvery, not two.
	now = now.Add(service.PasskeyBeginEvery)
	if _, err := svc.BeginPasskeyLogin(ctx, ""); err != nil {
		t.Errorf("after %v: %v", service.PasskeyBeginEvery, err)
	}
	if _, err := svc.BeginPasskeyLogin(ctx, ""); confidant.KindOf(err) != confidant.KindRateLimited {
		t.Errorf("a second begin after one refill: %v", err)
	}
}
