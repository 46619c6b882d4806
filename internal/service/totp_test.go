package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// clocked returns a service over w's store whose clock the test sets, with
// the world's access log.
func clocked(t *testing.T, w *testfix.World, now *time.Time) *service.Service {
	t.Helper()
	l := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(),
		service.WithClock(func() time.Time { return *now }), service.WithAuditor(l), service.WithAuditReader(l))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// mfa signs u in with the password and returns the pending sign-in.
func mfa(t *testing.T, svc *service.Service, u confidant.User) service.LoginResult {
	t.Helper()
	res, err := svc.Login(t.Context(), u.Username, testfix.Password, service.SessionAPI)
	if err != nil {
		t.Fatalf("login %s: %v", u.Username, err)
	}
	if !res.MFARequired() || res.Token != "" || res.Session.ID != "" {
		t.Fatalf("login %s with a password alone: MFA required %v, a session started %v", u.Username, res.MFARequired(), res.Token != "")
	}
	return res
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if confidant.CodeOf(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

// A correct password alone never gives a staff account a session, for any
// staff role, and the pending sign-in's token is not a session token.
func TestPasswordAloneIsNoSession(t *testing.T) {
	w := newWorld(t)
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.Security} {
		res := mfa(t, w.Service, u)
		if res.MFAEnrol {
			t.Errorf("%s: enrolled account asked to enrol", u.Username)
		}
		for _, kind := range []string{service.SessionWeb, service.SessionAPI, service.SessionMFA} {
			if _, err := w.Service.Authenticate(t.Context(), res.MFAToken, kind, ""); confidant.KindOf(err) != confidant.KindUnauthenticated {
				t.Errorf("%s: the MFA token authenticated as %s: %v", u.Username, kind, err)
			}
		}
	}
	// A patient without a second factor signs in as before.
	res, err := w.Service.Login(t.Context(), w.PatientUser.Username, testfix.Password, service.SessionAPI)
	if err != nil || res.MFARequired() || res.Token == "" {
		t.Fatalf("patient without a second factor: %v, MFA %v", err, res.MFARequired())
	}
	if a, err := w.Service.Authenticate(t.Context(), res.Token, service.SessionAPI, ""); err != nil || a.UserID != w.PatientUser.ID {
		t.Fatalf("patient's session: %v", err)
	}
}

func TestLoginTOTP(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	ctx := t.Context()
	secret := w.TOTPSecret(w.Therapist)
	step := testfix.Step(now)
	log := testfix.Log(w.Store)
	before := log.Stats()

	// The right code signs in, once.
	res := mfa(t, svc, w.Therapist)
	code := testfix.CodeAt(t, secret, step)
	got, err := svc.LoginTOTP(ctx, res.MFAToken, code, service.SessionAPI, "192.0.2.1")
	if err != nil || got.Token == "" {
		t.Fatalf("right code: %v", err)
	}
	if a, err := svc.Authenticate(ctx, got.Token, service.SessionAPI, ""); err != nil || a.UserID != w.Therapist.ID {
		t.Fatalf("session of the right code: %v", err)
	}
	// The pending sign-in is used up.
	_, err = svc.LoginTOTP(ctx, res.MFAToken, code, service.SessionAPI, "")
	wantCode(t, "the MFA token again", err, "mfa_expired")
	// The same code with a new password step: refused.
	_, err = svc.LoginTOTP(ctx, mfa(t, svc, w.Therapist).MFAToken, code, service.SessionAPI, "")
	wantCode(t, "the same code twice", err, "totp_invalid")
	if strings.Contains(err.Error(), code) {
		t.Fatalf("the error names the code")
	}

	// Drift: one step either way is accepted, two are not; and a step at or
	// before the last accepted one never is. (Each case comes from its own
	// client address, so that throttling, TestThrottle, does not answer
	// first.)
	cases := []struct {
		name string
		step int64
		want string // error code, "" for success
	}{
		{"wrong code", -1, "totp_invalid"},
		{"malformed code", -2, "totp_invalid"},
		{"two steps back", step - 2, "totp_invalid"},
		{"one step ahead", step + 1, ""},
		{"two steps ahead", step + 2, "totp_invalid"},
		{"one step back, before the last accepted", step - 1, "totp_invalid"},
		{"the current step, before the last accepted", step, "totp_invalid"},
	}
	for i, c := range cases {
		client := fmt.Sprintf("192.0.2.%d", 10+i)
		code := ""
		switch c.step {
		case -1:
			code = testfix.CodeAt(t, secret, step+1)
			code = code[:5] + string('0'+(code[5]-'0'+1)%10)
		case -2:
			code = "12a456"
		default:
			code = testfix.CodeAt(t, secret, c.step)
		}
		_, err := svc.LoginTOTP(ctx, mfa(t, svc, w.Therapist).MFAToken, code, service.SessionAPI, client)
		if c.want == "" && err != nil {
			t.Errorf("%s: %v", c.name, err)
		} else if c.want != "" && confidant.CodeOf(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	// One step back is accepted when it is after the last accepted step.
	_, err = svc.LoginTOTP(ctx, mfa(t, svc, w.Manager).MFAToken, testfix.CodeAt(t, w.TOTPSecret(w.Manager), step-1), service.SessionAPI, "")
	if err != nil {
		t.Errorf("one step back: %v", err)
	}
	// Codes with spaces, as apps show them, are accepted.
	now = now.Add(service.TOTPPeriod * time.Second * 3)
	c := testfix.CodeAt(t, secret, testfix.Step(now))
	if _, err := svc.LoginTOTP(ctx, mfa(t, svc, w.Therapist).MFAToken, c[:3]+" "+c[3:], service.SessionWeb, ""); err != nil {
		t.Errorf("code with a space: %v", err)
	}
	if s := log.Stats(); s.Unstaged != before.Unstaged {
		t.Errorf("access log stats %+v before, %+v after: a sign-in's write could not be staged", before, s)
	}

	// Every step was recorded: successes, failures with a reason, and no
	// code or secret in any purpose.
	evs, err := log.Query(ctx, confidant.EventFilter{ActorID: w.Therapist.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		n[ev.Action]++
		purpose, _, err := log.OpenFree(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, secretish := range []string{code, c, secret, res.MFAToken} {
			if secretish != "" && strings.Contains(purpose, secretish) {
				t.Errorf("event %s holds a secret or a code", ev.Action)
			}
		}
		if ev.Action == service.ActLoginFailed && purpose == "" {
			t.Errorf("a failed second factor without a reason")
		}
	}
	if n[service.ActLoginOK] != 3 || n[service.ActLoginFailed] != 7 {
		t.Errorf("events %v, want 3 login.ok and 7 login.failed", n)
	}
}

// Five wrong codes end the pending sign-in (sent from five addresses here,
// so that throttling does not answer first), and do not lock the account;
// an old pending sign-in expires.
func TestMFATokenLimits(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	ctx := t.Context()
	secret := w.TOTPSecret(w.OtherTherapist)
	wrong := testfix.CodeAt(t, secret, testfix.Step(now)-5)
	res := mfa(t, svc, w.OtherTherapist)
	for i := 1; i <= service.MFAMaxFailures; i++ {
		_, err := svc.LoginTOTP(ctx, res.MFAToken, wrong, service.SessionAPI, fmt.Sprintf("192.0.2.%d", i))
		want := "totp_invalid"
		if i == service.MFAMaxFailures {
			want = "mfa_expired"
		}
		wantCode(t, "wrong code", err, want)
	}
	_, err := svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, secret, testfix.Step(now)), service.SessionAPI, "")
	wantCode(t, "the right code after five wrong ones", err, "mfa_expired")
	// No lockout: the password still works.
	mfa(t, svc, w.OtherTherapist)

	// Expiry.
	res = mfa(t, svc, w.Therapist)
	now = now.Add(service.MFALife)
	_, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, w.TOTPSecret(w.Therapist), testfix.Step(now)), service.SessionAPI, "")
	wantCode(t, "expired MFA token", err, "mfa_expired")
	for _, tok := range []string{"", "nonsense", strings.Repeat("x", 200)} {
		_, err = svc.LoginTOTP(ctx, tok, "123456", service.SessionAPI, "")
		wantCode(t, "unknown MFA token", err, "mfa_expired")
	}
	// A session token is not an MFA token.
	sess := w.SignIn(t, w.Manager, service.SessionAPI)
	_, err = svc.LoginTOTP(ctx, sess, testfix.CodeAt(t, w.TOTPSecret(w.Manager), testfix.Step(now)), service.SessionAPI, "")
	wantCode(t, "a session token as MFA token", err, "mfa_expired")
}

// Two requests with the same code at the same time: exactly one signs in.
func TestConcurrentTOTP(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	code := testfix.CodeAt(t, w.TOTPSecret(w.Therapist), testfix.Step(now))
	const racers = 4
	toks := make([]string, racers)
	for i := range toks {
		toks[i] = mfa(t, svc, w.Therapist).MFAToken
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			_, err := svc.LoginTOTP(context.Background(), toks[i], code, service.SessionAPI, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case confidant.CodeOf(err) == "totp_invalid":
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of one code signed in, want 1", wins, racers)
	}
}

// A staff account enrols its second factor right after accepting its
// invitation, and nowhere else: the secret is handed out once, and the
// first valid code confirms it. A password alone never opens an
// enrolment (it could be stolen).
func TestTOTPEnrolment(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	ctx := t.Context()
	inv, err := svc.OperatorInviteUser(ctx, service.StaffInput{
		Username: "newcomer", DisplayName: "New Comer", Role: confidant.RoleTherapist,
		ClinicIDs: []string{w.ClinicA.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := inv.User
	if u.AwaitingApproval {
		t.Error("an account made by the operator awaits approval")
	}
	u2, res, err := svc.AcceptInvitationSignIn(ctx, inv.Code, testfix.Password)
	if err != nil || u2.ID != u.ID || !res.MFAEnrol || !res.MFARequired() || res.Token != "" ||
		!res.MFAExpiresAt.Equal(now.Add(service.MFAEnrolLife)) {
		t.Fatalf("accepting the invitation: %v, enrolment %v, expiry %v", err, res.MFAEnrol, res.MFAExpiresAt)
	}
	// The password alone, now set, neither signs in nor opens an enrolment.
	if _, err := svc.Login(ctx, u.Username, testfix.Password, service.SessionAPI); confidant.CodeOf(err) != "second_factor_not_set_up" {
		t.Fatalf("sign-in with the password before enrolling: %v", err)
	}
	if st, err := svc.MFAStatus(ctx, res.MFAToken); err != nil || !st.Enrol || st.Pending {
		t.Fatalf("MFAStatus before enrolment: %+v, %v", st, err)
	}
	_, err = svc.LoginTOTP(ctx, res.MFAToken, "123456", service.SessionAPI, "")
	wantCode(t, "a code before enrolment", err, "totp_not_enrolled")

	first, err := svc.BeginTOTPEnrolment(ctx, res.MFAToken)
	if err != nil {
		t.Fatal(err)
	}
	e, err := svc.BeginTOTPEnrolment(ctx, res.MFAToken) // a new secret replaces the first
	if err != nil || e.Secret == first.Secret {
		t.Fatalf("second enrolment: %v, same secret %v", err, e.Secret == first.Secret)
	}
	if len(e.Secret) != 32 || !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, "newcomer") ||
		!strings.Contains(e.URI, "secret="+e.Secret) || !strings.Contains(e.URI, "issuer=Confidant") {
		t.Fatalf("enrolment: secret of %d characters, URI %q", len(e.Secret), strings.ReplaceAll(e.URI, e.Secret, "SECRET"))
	}
	for _, s := range []string{first.String(), e.String(), e.GoString()} {
		if strings.Contains(s, e.Secret) || strings.Contains(s, first.Secret) {
			t.Fatal("TOTPEnrolment prints its secret")
		}
	}
	// The first secret no longer works; a wrong code does not confirm.
	_, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, first.Secret, testfix.Step(now)), service.SessionAPI, "")
	wantCode(t, "a code of the replaced secret", err, "totp_invalid")
	if st, err := svc.MFAStatus(ctx, res.MFAToken); err != nil || !st.Enrol || !st.Pending {
		t.Fatalf("MFAStatus while pending: %+v, %v", st, err)
	}
	got, err := svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, e.Secret, testfix.Step(now)), service.SessionAPI, "")
	if err != nil || got.Token == "" {
		t.Fatalf("first valid code: %v", err)
	}
	// The pending enrolment is spent.
	if _, err := svc.BeginTOTPEnrolment(ctx, res.MFAToken); confidant.CodeOf(err) != "mfa_expired" {
		t.Fatalf("the enrolment token after use: %v", err)
	}
	// Enrolled: the next sign-in asks for a code, not an enrolment, and the
	// confirming code's step is used; an ordinary pending sign-in enrols
	// nothing.
	res = mfa(t, svc, u)
	if res.MFAEnrol {
		t.Fatal("asked to enrol again")
	}
	_, err = svc.BeginTOTPEnrolment(ctx, res.MFAToken)
	wantCode(t, "enrolment of an enrolled account", err, "totp_enrolled")
	_, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, e.Secret, testfix.Step(now)), service.SessionAPI, "")
	wantCode(t, "the confirming code again", err, "totp_invalid")
	if _, err := svc.LoginTOTP(ctx, res.MFAToken, testfix.CodeAt(t, e.Secret, testfix.Step(now)+1), service.SessionAPI, ""); err != nil {
		t.Fatalf("next code: %v", err)
	}

	// The store holds the secret sealed: the plaintext layer gives it back,
	// the database does not.
	err = w.Store.View(ctx, func(tx confidant.Tx) error {
		st, err := tx.TOTP(ctx, u.ID)
		if err != nil {
			return err
		}
		if !st.Enrolled() || st.Pending != nil || testfix.B32(st.Secret) != e.Secret {
			t.Errorf("stored TOTP: enrolled %v, pending %v, secret matches %v", st.Enrolled(), st.Pending != nil, testfix.B32(st.Secret) == e.Secret)
		}
		if strings.Contains(st.String(), e.Secret) || strings.Contains(st.GoString(), string(st.Secret)) {
			t.Error("TOTP prints its secret")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = testfix.Log(w.Store).View(ctx, func(tx confidant.SealedTx) error {
		st, err := tx.TOTP(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(st.Secret) == 0 || strings.Contains(string(st.Secret), string(mustB32(t, e.Secret))) {
			t.Error("the database holds the TOTP secret in the clear")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Enrolment and confirmation are in the access log.
	evs, err := testfix.Log(w.Store).Query(ctx, confidant.EventFilter{ActorID: u.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		n[ev.Action]++
	}
	if n[service.ActTOTPEnrol] != 2 || n[service.ActTOTPConfirm] != 1 || n[service.ActLoginOK] != 2 {
		t.Fatalf("events %v, want 2 enrolments, 1 confirmation, 2 sign-ins", n)
	}
}

func mustB32(t *testing.T, s string) []byte {
	t.Helper()
	b, err := testfix.FromB32(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTOTPCode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{"123 456", "123456", true},
		{" 123-456 ", "123456", true},
		{"012345", "012345", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"１２３４５６", "", false}, // full-width digits
		{"", "", false},
		{"123456                 ", "", false},
	} {
		got, ok := service.ParseTOTPCode(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseTOTPCode(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseTOTPCode: the parser of typed codes never panics, and what it
// accepts is exactly six ASCII digits, which it finds in the input in order.
func FuzzParseTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "", "1234567", "abcdef", "\xff\xfe", "１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := service.ParseTOTPCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("accepted %q as %q", s, got)
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
		if digits != got || strings.Trim(s, "0123456789 -") != "" {
			t.Fatalf("accepted %q as %q", s, got)
		}
	})
}
