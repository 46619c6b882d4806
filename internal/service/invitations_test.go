package service_test

import (
	"context"
	"crypto/sha256"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/mail/mailtest"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// clockWorld is the fixture world with a second service over the same
// store and access log whose clock the test moves.
type clockWorld struct {
	*testfix.World
	svc *service.Service
	box *testfix.Mailbox
	mu  sync.Mutex
	now time.Time
	// lastToken is the session token of the last actor call.
	lastToken string
}

func newClockWorld(t *testing.T, opts ...service.Option) *clockWorld {
	t.Helper()
	w := &clockWorld{World: newWorld(t), box: &testfix.Mailbox{}, now: time.Now()}
	l := testfix.Log(w.Store)
	opts = append([]service.Option{service.WithMailer(w.box), service.WithAuditor(l), service.WithAuditReader(l),
		service.WithClock(func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now })}, opts...)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	return w
}

func (w *clockWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// events returns the access-log events of action, newest first.
func (w *clockWorld) events(t *testing.T, action string) []service.AccessEntry {
	t.Helper()
	es, err := w.svc.AuditEvents(w.As(w.Security), service.AuditQuery{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// actor signs u in as a transport would: a session, then Authenticate.
func (w *clockWorld) actor(t *testing.T, u confidant.User) context.Context {
	t.Helper()
	token := "session-" + confidant.NewID()
	w.lastToken = token
	h := sha256.Sum256([]byte(token))
	now := w.now.UTC().Truncate(time.Microsecond)
	err := w.Store.Update(t.Context(), func(tx confidant.Tx) error {
		return tx.CreateSession(t.Context(), confidant.Session{ID: confidant.NewID(), TokenHash: h[:], UserID: u.ID,
			Kind: service.SessionAPI, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.svc.Authenticate(t.Context(), token, service.SessionAPI, "")
	if err != nil {
		t.Fatal(err)
	}
	return confidant.WithActor(t.Context(), a)
}

func staffIn(username string) service.StaffInput {
	return service.StaffInput{Username: username, DisplayName: username, Role: confidant.RoleTherapist,
		Email: username + "@example.org"}
}

func TestInvitation(t *testing.T) {
	w := newClockWorld(t)
	mgr := w.As(w.Manager)
	in := staffIn("invitee")
	in.ClinicIDs = []string{w.ClinicA.ID}

	// Nobody chooses another's password.
	withPassword := in
	withPassword.Password = testfix.Password
	if _, err := w.svc.CreateStaff(mgr, withPassword); confidant.CodeOf(err) != "password_not_accepted" {
		t.Fatalf("CreateStaff with a password: %v", err)
	}
	noMail := in
	noMail.Email = ""
	if _, err := w.svc.CreateStaff(mgr, noMail); confidant.CodeOf(err) != "invalid_email" {
		t.Fatalf("CreateStaff without an address: %v", err)
	}
	inv, err := w.svc.CreateStaff(mgr, in)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.User.AwaitingApproval || inv.User.InvitedBy != w.Manager.ID || inv.User.Email != in.Email || inv.Code != "" ||
		!inv.ExpiresAt.Equal(w.now.UTC().Truncate(time.Microsecond).Add(72*time.Hour)) {
		t.Errorf("invited: %+v", inv)
	}
	// The account has no usable password until the invitee sets one.
	for _, pw := range []string{"", testfix.Password} {
		if _, err := w.svc.Login(t.Context(), "invitee", pw, service.SessionAPI); confidant.KindOf(err) != confidant.KindUnauthenticated {
			t.Fatalf("an invited account's sign-in: %v, want unauthenticated", err)
		}
	}
	code := w.box.InvitationCode(t, in.Email)
	msg := w.box.Messages()[0]
	if strings.Contains(msg.Text, testfix.Password) || !strings.Contains(msg.Text, "http://127.0.0.1:8080/invite#"+code) {
		t.Errorf("invitation text:\n%s", msg.Text)
	}
	if len(w.events(t, service.ActInvitationSend)) != 1 {
		t.Errorf("no invitation.send event")
	}

	for _, tc := range []struct {
		name, token, password, code string
	}{
		{"wrong token", strings.Repeat("A", 52), testfix.Password, "invitation_invalid"},
		{"short token", code[:40], testfix.Password, "invitation_invalid"},
		{"not base32", strings.Repeat("1", 52), testfix.Password, "invitation_invalid"},
		{"weak password", code, "short", "weak_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.svc.AcceptInvitation(t.Context(), tc.token, tc.password); confidant.CodeOf(err) != tc.code {
				t.Errorf("AcceptInvitation = %v, want %s", err, tc.code)
			}
		})
	}
	// Typed by hand: lower case, in groups.
	u, res, err := w.svc.AcceptInvitationSignIn(t.Context(), strings.ToLower(service.GroupCode(code)), testfix.Password)
	if err != nil || u.ID != inv.User.ID || u.PasswordHash != "" {
		t.Fatalf("AcceptInvitation = %+v, %v", u, err)
	}
	// The enrolment of the second factor follows at once; the password
	// alone does not open one.
	if !res.MFARequired() || !res.MFAEnrol || res.Token != "" {
		t.Fatalf("after accepting: %+v (want an enrolment next)", res)
	}
	if st, err := w.svc.MFAStatus(t.Context(), res.MFAToken); err != nil || !st.Enrol {
		t.Fatalf("MFAStatus after accepting: %+v, %v", st, err)
	}
	if _, err := w.svc.Login(t.Context(), "invitee", testfix.Password, service.SessionAPI); confidant.CodeOf(err) != "second_factor_not_set_up" {
		t.Fatalf("sign-in with the password alone after the invitation: %v", err)
	}
	// Once only.
	if _, err := w.svc.AcceptInvitation(t.Context(), code, "another long password"); confidant.CodeOf(err) != "invitation_invalid" {
		t.Fatalf("second use: %v", err)
	}
	accepts := w.events(t, service.ActInvitationAccept)
	if len(accepts) != 2 || accepts[0].Outcome != confidant.OutcomeDenied || accepts[1].Outcome != confidant.OutcomeOK ||
		accepts[0].ActorID != inv.User.ID {
		t.Errorf("accept events: %+v", accepts)
	}

	// Expiry: 72 hours by default.
	in2 := staffIn("late")
	in2.ClinicIDs = []string{w.ClinicA.ID}
	if _, err := w.svc.CreateStaff(mgr, in2); err != nil {
		t.Fatal(err)
	}
	w.advance(72 * time.Hour)
	if _, err := w.svc.AcceptInvitation(t.Context(), w.box.InvitationCode(t, in2.Email), testfix.Password); confidant.CodeOf(err) != "invitation_invalid" {
		t.Fatalf("expired invitation: %v", err)
	}
	if accepts := w.events(t, service.ActInvitationAccept); len(accepts) != 3 || accepts[0].Outcome != confidant.OutcomeDenied {
		t.Errorf("no denied event for the expired invitation: %+v", accepts)
	}
}

// With the real password hasher, an account without a password refuses
// every sign-in as a wrong password would (not as an error).
func TestInvitedAccountSignInWithRealHasher(t *testing.T) {
	w := newWorld(t)
	h, err := password.New(password.Config{})
	if err != nil {
		t.Fatal(err)
	}
	box := &testfix.Mailbox{}
	svc, err := service.New(w.Store, h, service.DefaultConfig(), service.WithMailer(box), service.WithAuditor(testfix.Log(w.Store)))
	if err != nil {
		t.Fatal(err)
	}
	in := staffIn("real.hasher")
	in.ClinicIDs = []string{w.ClinicA.ID}
	if _, err := svc.CreateStaff(w.As(w.Manager), in); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(t.Context(), in.Username, testfix.Password, service.SessionAPI); confidant.KindOf(err) != confidant.KindUnauthenticated {
		t.Fatalf("sign-in before the invitation is used: %v", err)
	}
}

func TestInvitationWithoutMail(t *testing.T) {
	w := newWorld(t)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(),
		service.WithAuditor(testfix.Log(w.Store)))
	if err != nil {
		t.Fatal(err)
	}
	in := staffIn("nomail")
	in.ClinicIDs = []string{w.ClinicA.ID}
	if _, err := svc.CreateStaff(w.As(w.Manager), in); confidant.CodeOf(err) != "mail_unavailable" {
		t.Fatalf("CreateStaff without a mailer: %v", err)
	}
	if _, err := svc.Login(t.Context(), "nomail", testfix.Password, service.SessionAPI); err == nil {
		t.Error("an account was created anyway")
	}
}

// Two people for clinical access: a therapist invited by a manager reads
// no chart, even in care, until a security officer other than the inviter
// approves the account.
func TestApprovalGate(t *testing.T) {
	w := newClockWorld(t)
	in := staffIn("newbie")
	in.ClinicIDs = []string{w.ClinicA.ID}
	inv, err := w.svc.CreateStaff(w.As(w.Manager), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AcceptInvitation(t.Context(), w.box.InvitationCode(t, in.Email), testfix.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AssignCare(w.As(w.Manager), w.PatientC.ID, inv.User.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	newbie := w.actor(t, inv.User)
	if _, err := w.svc.Chart(newbie, w.PatientC.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("unapproved therapist's chart: %v, want not found", err)
	}
	if _, err := w.svc.MyPatients(newbie); confidant.CodeOf(err) != "awaiting_approval" {
		t.Errorf("unapproved therapist's patients: %v", err)
	}
	waiting, err := w.svc.AccountsAwaitingApproval(w.As(w.Security))
	if err != nil || len(waiting) != 1 || waiting[0].ID != inv.User.ID {
		t.Errorf("awaiting approval: %v, %v", waiting, err)
	}

	// Nobody approves themself, nor what they invited; a manager never.
	secUser := w.Security
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
		code string
	}{
		{"by the inviting manager", w.As(w.Manager), inv.User.ID, "permission_denied"},
		{"by the therapist", newbie, inv.User.ID, "permission_denied"},
		{"a security officer's own account", w.As(secUser), secUser.ID, "cannot_approve_self"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.svc.ApproveAccount(tc.ctx, tc.id, ""); confidant.CodeOf(err) != tc.code {
				t.Errorf("ApproveAccount = %v, want %s", err, tc.code)
			}
		})
	}
	// Approving asks for the security officer's second factor again
	// (step-up), and a wrong code approves nothing and is recorded.
	secret := w.TOTPSecret(w.Security)
	for code, want := range map[string]string{"": "second_factor_required", "000000": "second_factor_invalid", "12ab56": "second_factor_invalid"} {
		if _, err := w.svc.ApproveAccount(w.As(w.Security), inv.User.ID, code); confidant.CodeOf(err) != want {
			t.Errorf("approval with code %q: %v, want %s", code, err, want)
		}
	}
	if fails := w.events(t, service.ActStepUpFailed); len(fails) != 3 || fails[0].ActorID != w.Security.ID {
		t.Errorf("refused step-up codes recorded: %d", len(fails))
	}
	// Wrong codes are throttled as at sign-in: the fourth try waits.
	if _, err := w.svc.ApproveAccount(w.As(w.Security), inv.User.ID, "111111"); confidant.KindOf(err) != confidant.KindRateLimited {
		t.Errorf("a fourth code at once: %v, want throttled", err)
	}
	w.advance(time.Minute)
	w.mu.Lock()
	now := w.now
	w.mu.Unlock()
	good := testfix.CodeAt(t, secret, testfix.Step(now))
	testfix.MarkCodeUsed(secret, testfix.Step(now))
	u, err := w.svc.ApproveAccount(w.As(w.Security), inv.User.ID, good)
	if err != nil || u.AwaitingApproval || u.ApprovedBy != w.Security.ID {
		t.Fatalf("approval: %+v, %v", u, err)
	}
	if _, err := w.svc.ApproveAccount(w.As(w.Security), inv.User.ID, good); confidant.CodeOf(err) != "already_approved" {
		t.Errorf("second approval: %v", err)
	}
	newbie = w.actor(t, u)
	if _, err := w.svc.Chart(newbie, w.PatientC.ID); err != nil {
		t.Errorf("approved therapist's chart: %v", err)
	}
	// The approval is an event, and so is each refused attempt.
	outcomes := map[string]int{}
	for _, e := range w.events(t, service.ActAccountApprove) {
		outcomes[e.Outcome]++
	}
	if outcomes[confidant.OutcomeOK] != 1 || outcomes[confidant.OutcomeDenied] < 2 {
		t.Errorf("approval events: %v", outcomes)
	}
}

// A security officer who also invited an account (the operator made them
// a manager earlier, say) cannot approve it: the inviter is recorded.
func TestApprovalRefusedToInviter(t *testing.T) {
	w := newClockWorld(t)
	in := staffIn("invited.by.sec")
	in.ClinicIDs = []string{w.ClinicA.ID}
	inv, err := w.svc.CreateStaff(w.As(w.Manager), in)
	if err != nil {
		t.Fatal(err)
	}
	// The security officer acting with the manager's id stands in for one
	// person holding both roles.
	both := confidant.WithActor(t.Context(), confidant.Actor{UserID: w.Manager.ID, Role: confidant.RoleSecurity, SessionID: "test"})
	if _, err := w.svc.ApproveAccount(both, inv.User.ID, ""); confidant.CodeOf(err) != "cannot_approve_own_invitation" {
		t.Errorf("approval by the inviter: %v", err)
	}
}

func TestOnePortalAccount(t *testing.T) {
	w := newClockWorld(t)
	mgr := w.As(w.Manager)
	for _, tc := range []struct {
		name string
		in   service.PatientAccountInput
		code string
	}{
		{"password", service.PatientAccountInput{Username: "cc", Handover: true, Password: testfix.Password}, "password_not_accepted"},
		{"neither mail nor hand-over", service.PatientAccountInput{Username: "cc"}, "missing_delivery"},
		{"both", service.PatientAccountInput{Username: "cc", Email: "c@example.org", Handover: true}, "missing_delivery"},
		{"bad address", service.PatientAccountInput{Username: "cc", Email: "C <c@example.org>"}, "invalid_email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.svc.CreatePatientAccount(mgr, w.PatientC.ID, tc.in); confidant.CodeOf(err) != tc.code {
				t.Errorf("CreatePatientAccount = %v, want %s", err, tc.code)
			}
		})
	}
	// PatientA has one already.
	if _, err := w.svc.CreatePatientAccount(mgr, w.PatientA.ID, service.PatientAccountInput{Username: "aino2", Handover: true}); confidant.CodeOf(err) != "patient_has_account" {
		t.Fatalf("a second account: %v", err)
	}
	inv, err := w.svc.CreatePatientAccount(mgr, w.PatientC.ID, service.PatientAccountInput{Username: "cecilia", Email: "cecilia@example.org"})
	if err != nil || inv.User.Email != "" || inv.Code != "" {
		t.Fatalf("by mail: %+v, %v (the address must not be stored)", inv, err)
	}
	if _, err := w.svc.AcceptInvitation(t.Context(), w.box.InvitationCode(t, "cecilia@example.org"), testfix.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreatePatientAccount(mgr, w.PatientC.ID, service.PatientAccountInput{Username: "cecilia2", Handover: true}); confidant.CodeOf(err) != "patient_has_account" {
		t.Fatalf("a second account: %v", err)
	}
	// The patient sees the creation, the invitation, its use and the
	// refused second account.
	es, err := w.svc.MyAccessLog(w.actor(t, inv.User), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Action+"/"+e.Outcome] = true
	}
	for _, want := range []string{"account.create/ok", "account.invitation.send/ok", "account.invitation.accept/ok", "account.create/denied"} {
		if !seen[want] {
			t.Errorf("the patient's access log lacks %s: %v", want, seen)
		}
	}
}

func TestHandoverCode(t *testing.T) {
	w := newClockWorld(t)
	inv, err := w.svc.CreatePatientAccount(w.As(w.Manager), w.PatientC.ID, service.PatientAccountInput{Username: "cecilia", Handover: true})
	if err != nil || len(inv.Code) != 52 {
		t.Fatalf("hand-over: %+v, %v", inv, err)
	}
	if n := len(w.box.Messages()); n != 0 {
		t.Errorf("%d messages sent for a hand-over", n)
	}
	if _, err := w.svc.AcceptInvitation(t.Context(), service.GroupCode(inv.Code), testfix.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Login(t.Context(), "cecilia", testfix.Password, service.SessionAPI); err != nil {
		t.Errorf("the patient cannot sign in: %v", err)
	}
}

// A clinic manager cannot re-enable an account a security officer
// disabled; they can re-enable one they disabled themselves.
func TestReenableRefused(t *testing.T) {
	w := newWorld(t)
	svc, mgr, sec := w.Service, w.As(w.Manager), w.As(w.Security)
	upd := func(disabled bool) service.StaffUpdate {
		return service.StaffUpdate{DisplayName: "other", ClinicIDs: []string{w.ClinicA.ID}, Disabled: disabled}
	}
	u, err := svc.SetAccountDisabled(sec, w.OtherTherapist.ID, true)
	if err != nil || u.DisabledBy != w.Security.ID {
		t.Fatalf("disable: %+v, %v", u, err)
	}
	_, err = svc.UpdateStaff(mgr, w.OtherTherapist.ID, upd(false))
	if confidant.CodeOf(err) != "disabled_by_security" || confidant.KindOf(err) != confidant.KindPermission {
		t.Fatalf("manager re-enables: %v", err)
	}
	// Renaming it, still disabled, is fine.
	if u, err = svc.UpdateStaff(mgr, w.OtherTherapist.ID, upd(true)); err != nil || !u.Disabled || u.DisabledBy != w.Security.ID {
		t.Fatalf("rename while disabled: %+v, %v", u, err)
	}
	if u, err = svc.SetAccountDisabled(sec, w.OtherTherapist.ID, false); err != nil || u.Disabled || u.DisabledBy != "" {
		t.Fatalf("security re-enables: %+v, %v", u, err)
	}
	if u, err = svc.UpdateStaff(mgr, w.OtherTherapist.ID, upd(true)); err != nil || u.DisabledBy != w.Manager.ID {
		t.Fatalf("manager disables: %+v, %v", u, err)
	}
	if u, err = svc.UpdateStaff(mgr, w.OtherTherapist.ID, upd(false)); err != nil || u.Disabled {
		t.Fatalf("manager re-enables their own: %+v, %v", u, err)
	}
}

// The patient's access history names who assigned which therapist.
func TestCareAssignmentInPatientsHistory(t *testing.T) {
	w := newClockWorld(t)
	c, err := w.svc.AssignCare(w.As(w.Manager), w.PatientA.ID, w.OtherTherapist.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := w.svc.MyAccessLog(w.actor(t, w.PatientUser), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Action == service.ActCareAssign && e.RecordID == c.ID {
			if e.ActorID != w.Manager.ID || e.ActorName != w.Manager.DisplayName || e.SubjectName != w.OtherTherapist.DisplayName || e.PatientID != w.PatientA.ID {
				t.Errorf("care.assign entry: %+v", e)
			}
			return
		}
	}
	t.Errorf("no care.assign entry in the patient's history")
}

// An invitation goes through a real SMTP server; its link leads to the
// password.
func TestInvitationOverSMTP(t *testing.T) {
	srv := mailtest.Start(t, "confidant", "relay-password")
	sc, err := mail.ParseURL("smtp://confidant@" + srv.Addr + "?from=confidant@clinic.example&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	sc.Password = "relay-password"
	sender, err := mail.NewSMTP(sc)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	cfg := service.DefaultConfig()
	cfg.PublicURL = "https://confidant.clinic.example"
	lg := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, cfg, service.WithMailer(sender), service.WithAuditor(lg), service.WithAuditReader(lg))
	if err != nil {
		t.Fatal(err)
	}
	in := staffIn("smtp.invitee")
	in.ClinicIDs = []string{w.ClinicA.ID}
	if _, err := svc.CreateStaff(w.As(w.Manager), in); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages reached the SMTP server", len(msgs))
	}
	m, err := netmail.ReadMessage(strings.NewReader(string(msgs[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != in.Email {
		t.Errorf("To: %v, %v", to, err)
	}
	var rd io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		rd = quotedprintable.NewReader(rd)
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`https://confidant\.clinic\.example/invite#([A-Z2-7]{52})`).FindSubmatch(body)
	if link == nil {
		t.Fatalf("no invitation link in the message:\n%s", body)
	}
	if _, res, err := svc.AcceptInvitationSignIn(t.Context(), string(link[1]), testfix.Password); err != nil || !res.MFAEnrol {
		t.Errorf("accepting: %+v, %v (want an enrolment next)", res, err)
	}
}

// FuzzDecodeInvitationToken: the decoder never panics, accepts only 32
// bytes, and what it accepts is the canonical code of those bytes up to
// case, spaces and hyphens.
func FuzzDecodeInvitationToken(f *testing.F) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	code := service.EncodeInvitationToken(raw)
	for _, s := range []string{code, strings.ToLower(code), service.GroupCode(code), "", "AAAA", code + "A", code[:51] + "=", "ä" + code} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := service.DecodeInvitationToken(s)
		if err != nil {
			if confidant.CodeOf(err) != "invitation_invalid" || b != nil {
				t.Fatalf("refusal %v, %x", err, b)
			}
			return
		}
		if len(b) != 32 {
			t.Fatalf("accepted %d bytes", len(b))
		}
		norm := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
		if service.EncodeInvitationToken(b) != norm {
			t.Fatalf("accepted a non-canonical code")
		}
	})
}

// A forced reset clears the password and the second factor and sends a
// new invitation to the account's own address; the owner sets a password
// and must enrol a second factor again.
func TestResetAccount(t *testing.T) {
	w := newClockWorld(t)
	in := staffIn("resettable")
	in.ClinicIDs = []string{w.ClinicA.ID}
	inv, err := w.svc.CreateStaff(w.As(w.Manager), in)
	if err != nil {
		t.Fatal(err)
	}
	first := w.box.InvitationCode(t, in.Email)
	unused, err := w.svc.CreateStaff(w.As(w.Manager), func() service.StaffInput { i := staffIn("other.one"); i.ClinicIDs = in.ClinicIDs; return i }())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AcceptInvitation(t.Context(), first, testfix.Password); err != nil {
		t.Fatal(err)
	}
	// Enrolled, as after a first sign-in.
	err = w.Store.Update(t.Context(), func(tx confidant.Tx) error {
		if err := tx.SetTOTPPending(t.Context(), inv.User.ID, []byte("0123456789abcdef0123"), w.now); err != nil {
			return err
		}
		return tx.ConfirmTOTP(t.Context(), inv.User.ID, 0, w.now)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.actor(t, inv.User)

	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
		code string
	}{
		{"by a manager", w.As(w.Manager), inv.User.ID, "permission_denied"},
		{"by the owner", ctx, inv.User.ID, "permission_denied"},
		{"one's own", w.As(w.Security), w.Security.ID, "cannot_reset_self"},
		{"a patient's", w.As(w.Security), w.PatientUser.ID, "reset_patient_account"},
		{"without an address", w.As(w.Security), w.OtherTherapist.ID, "missing_email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.svc.ResetAccount(tc.ctx, tc.id); confidant.CodeOf(err) != tc.code {
				t.Errorf("ResetAccount = %v, want %s", err, tc.code)
			}
		})
	}
	sent := len(w.box.Messages())
	if _, err := w.svc.ResetAccount(w.As(w.Security), inv.User.ID); err != nil {
		t.Fatal(err)
	}
	msgs := w.box.Messages()
	if len(msgs) != sent+1 || msgs[len(msgs)-1].To[0] != in.Email {
		t.Fatalf("the new invitation went to %v", msgs[len(msgs)-1].To)
	}
	// The old password, the session and the enrolment are gone.
	if _, err := w.svc.Login(t.Context(), in.Username, testfix.Password, service.SessionAPI); confidant.KindOf(err) != confidant.KindUnauthenticated {
		t.Errorf("sign-in with the old password: %v", err)
	}
	if _, err := w.svc.Authenticate(t.Context(), w.lastToken, service.SessionAPI, ""); err == nil {
		t.Error("a session survived")
	}
	// The reset account's earlier invitations are revoked; others are not.
	if _, err := w.svc.AcceptInvitation(t.Context(), first, testfix.Password); confidant.CodeOf(err) != "invitation_invalid" {
		t.Errorf("the first invitation after the reset: %v", err)
	}
	_, res, err := w.svc.AcceptInvitationSignIn(t.Context(), w.box.InvitationCode(t, in.Email), "a brand new password")
	if err != nil || !res.MFARequired() || !res.MFAEnrol {
		t.Errorf("accepting after the reset: %+v, %v; want a new enrolment", res, err)
	}
	if _, err := w.svc.Login(t.Context(), in.Username, "a brand new password", service.SessionAPI); confidant.CodeOf(err) != "second_factor_not_set_up" {
		t.Errorf("sign-in after the reset with the password alone: %v", err)
	}
	if _, err := w.svc.AcceptInvitation(t.Context(), w.box.InvitationCode(t, unused.User.Email), testfix.Password); err != nil {
		t.Errorf("another account's invitation: %v", err)
	}
	if es := w.events(t, service.ActAccountReset); len(es) == 0 || es[0].Outcome != confidant.OutcomeOK || es[0].RecordID != inv.User.ID {
		t.Errorf("reset events: %+v", es)
	}
}
