package service_test

import (
	"context"
	"errors"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/mail/mailtest"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

const bgReason = "Patient phoned the crisis line and mentioned a plan; the treating therapist is away."

// A therapist of the patient's clinic without care takes emergency access
// with a reason and their second factor: the chart opens until the grant
// expires, each access is marked as emergency access, and the patient sees
// it all with the reason.
func TestBreakGlass(t *testing.T) {
	w := newClockWorld(t)
	other := w.As(w.OtherTherapist)
	secret := w.TOTPSecret(w.OtherTherapist)
	if _, err := w.svc.Chart(other, w.PatientA.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("chart without care or grant: %v", err)
	}

	// Refusals before anything is granted.
	for _, tc := range []struct {
		name, category, reason, code, want string
	}{
		{"unknown category", "curiosity", bgReason, "", "invalid_category"},
		{"short reason", "risk_to_life", "  urgent  ", "", "invalid_reason"},
		{"long reason", "risk_to_life", strings.Repeat("a", 2001), "", "invalid_reason"},
		{"reason not UTF-8", "risk_to_life", "crisis \xff\xfe call at night", "", "invalid_reason"},
		{"no code", "risk_to_life", bgReason, "", "second_factor_required"},
		{"wrong code", "risk_to_life", bgReason, "000000", "second_factor_invalid"},
	} {
		if _, err := w.svc.BreakGlass(other, w.PatientA.ID, tc.category, tc.reason, tc.code); confidant.CodeOf(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if n := len(w.events(t, service.ActStepUpFailed)); n != 2 {
		t.Errorf("%d refused step-up codes recorded, want 2", n)
	}
	if _, err := w.svc.Chart(other, w.PatientA.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("chart after refused attempts: %v", err)
	}

	code := testfix.Code(t, secret)
	g, err := w.svc.BreakGlass(other, w.PatientA.ID, "risk_to_life", "  "+bgReason+"\n", code)
	if err != nil {
		t.Fatal(err)
	}
	now := w.now.UTC().Truncate(time.Microsecond)
	if g.Reason != bgReason || g.Category != "risk_to_life" || g.TherapistID != w.OtherTherapist.ID ||
		g.PatientID != w.PatientA.ID || g.ClinicID != w.ClinicA.ID || g.Status != confidant.BreakGlassOpen ||
		!g.ExpiresAt.Equal(now.Add(4*time.Hour)) {
		t.Errorf("grant: %+v", g)
	}
	// The code works once.
	if _, err := w.svc.BreakGlass(other, w.PatientB.ID, "risk_to_life", bgReason, code); confidant.CodeOf(err) != "not_found" {
		// Patient B is of clinic B: not found whatever the code.
		t.Errorf("another clinic's patient: %v", err)
	}
	if _, err := w.svc.BreakGlass(other, w.PatientC.ID, "risk_to_life", bgReason, code); confidant.CodeOf(err) != "second_factor_invalid" {
		t.Errorf("the same code again: %v", err)
	}

	c, err := w.svc.Chart(other, w.PatientA.ID)
	if err != nil {
		t.Fatalf("chart under the grant: %v", err)
	}
	if !c.EmergencyUntil.Equal(g.ExpiresAt) {
		t.Errorf("chart EmergencyUntil %v, want %v", c.EmergencyUntil, g.ExpiresAt)
	}
	if _, err := w.svc.CreateNote(other, w.PatientA.ID, service.NoteInput{Body: "Seen in crisis."}); err != nil {
		t.Errorf("note under the grant: %v", err)
	}
	// The treating therapist's chart carries no emergency mark.
	if c, err := w.svc.Chart(w.As(w.Therapist), w.PatientA.ID); err != nil || !c.EmergencyUntil.IsZero() {
		t.Errorf("treating therapist's chart: %v, EmergencyUntil %v", err, c.EmergencyUntil)
	}
	// Not a release: that is the treating therapists'.
	signed := mustNote(t, w.svc, w.As(w.Therapist), w.PatientA.ID, true, false)
	if _, err := w.svc.ReleaseNote(other, signed.ID); confidant.CodeOf(err) != "not_in_emergency_access" {
		t.Errorf("release under the grant: %v", err)
	}

	// The patient's history: the grant with its reason, and the accesses
	// under it marked as emergency access.
	es, err := w.svc.MyAccessLog(w.As(w.PatientUser), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var sawGrant, sawChart, sawNote bool
	refused := 0
	for _, e := range es {
		if e.ActorID != w.OtherTherapist.ID {
			continue
		}
		switch e.Action {
		case service.ActBreakGlass:
			if e.Outcome == confidant.OutcomeDenied {
				refused++ // the refused codes are on the patient's history too
				continue
			}
			sawGrant = e.Outcome == confidant.OutcomeOK && e.RecordID == g.ID &&
				strings.Contains(e.Purpose, bgReason) && strings.Contains(e.Purpose, "Risk to life")
		case service.ActChartRead:
			if e.Outcome == confidant.OutcomeOK {
				sawChart = e.Purpose == service.EmergencyPurpose+g.ID
			}
		case service.ActNoteCreate:
			sawNote = e.Purpose == service.EmergencyPurpose+g.ID
		}
	}
	if !sawGrant || !sawChart || !sawNote || refused != 2 {
		t.Errorf("patient's history: grant %v, chart %v, note %v, %d refused: %+v", sawGrant, sawChart, sawNote, refused, es)
	}

	// Expiry: the chart is gone again.
	w.advance(4*time.Hour - time.Second)
	if _, err := w.svc.Chart(other, w.PatientA.ID); err != nil {
		t.Errorf("chart just before expiry: %v", err)
	}
	w.advance(time.Second)
	if _, err := w.svc.Chart(other, w.PatientA.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("chart at expiry: %v", err)
	}
}

// Refusals that must not reveal a patient: an unknown id and a patient of
// another clinic get the same answer; a therapist in care needs no grant;
// other roles cannot take one.
func TestBreakGlassRefusals(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	b := w.As(w.TherapistB)
	_, errOther := svc.BreakGlass(b, w.PatientA.ID, "risk_to_life", bgReason, testfix.Code(t, w.TOTPSecret(w.TherapistB)))
	_, errUnknown := svc.BreakGlass(b, confidant.NewID(), "risk_to_life", bgReason, testfix.Code(t, w.TOTPSecret(w.TherapistB)))
	if confidant.CodeOf(errOther) != "not_found" || errOther.Error() != errUnknown.Error() {
		t.Errorf("another clinic's patient %v, unknown patient %v: want the same not_found", errOther, errUnknown)
	}
	if _, err := svc.BreakGlass(w.As(w.Therapist), w.PatientA.ID, "risk_to_life", bgReason,
		testfix.Code(t, w.TOTPSecret(w.Therapist))); confidant.CodeOf(err) != "care_exists" {
		t.Errorf("therapist in care: %v", err)
	}
	for _, u := range []confidant.User{w.Manager, w.Security, w.PatientUser} {
		if _, err := svc.BreakGlass(w.As(u), w.PatientC.ID, "risk_to_life", bgReason, ""); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s: %v", u.Role, err)
		}
	}
	// No grant was made by any of these.
	gs, err := svc.ListBreakGlass(w.As(w.Security), "all")
	if err != nil || len(gs) != 0 {
		t.Errorf("grants after refusals: %v %+v", err, gs)
	}
	// The refused attempt on a patient of another clinic is on that
	// patient's history.
	es, err := svc.AuditEvents(w.As(w.Security), service.AuditQuery{PatientID: w.PatientA.ID, Action: service.ActBreakGlass, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].ActorID != w.TherapistB.ID || es[0].Outcome != confidant.OutcomeDenied {
		t.Errorf("refused attempt in the patient's history: %+v", es)
	}
}

// Security officers review each grant once; the queue moves it from open
// to reviewed; the review is on the patient's history.
func TestBreakGlassReview(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	g, err := svc.BreakGlass(w.As(w.OtherTherapist), w.PatientA.ID, "covering_absent_therapist", bgReason,
		testfix.Code(t, w.TOTPSecret(w.OtherTherapist)))
	if err != nil {
		t.Fatal(err)
	}
	sec := w.As(w.Security)
	open, err := svc.ListBreakGlass(sec, "open")
	if err != nil || len(open) != 1 || open[0].ID != g.ID || open[0].Reason != bgReason {
		t.Fatalf("open queue: %v %+v", err, open)
	}
	if _, err := svc.ListBreakGlass(sec, "closed"); confidant.CodeOf(err) != "invalid_status" {
		t.Errorf("unknown status: %v", err)
	}
	if _, err := svc.ReviewBreakGlass(w.As(w.OtherTherapist), g.ID, "justified", ""); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("the therapist reviews their own grant: %v", err)
	}
	if _, err := svc.ReviewBreakGlass(sec, g.ID, "not_justified", "  "); confidant.CodeOf(err) != "comment_required" {
		t.Errorf("not justified without a comment: %v", err)
	}
	if _, err := svc.ReviewBreakGlass(sec, g.ID, "fine", "x"); confidant.CodeOf(err) != "invalid_outcome" {
		t.Errorf("unknown outcome: %v", err)
	}
	if _, err := svc.ReviewBreakGlass(sec, confidant.NewID(), "justified", ""); confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("unknown grant: %v", err)
	}
	r, err := svc.ReviewBreakGlass(sec, g.ID, "not_justified", "No contact with the patient was recorded.")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != confidant.BreakGlassNotJustified || r.ReviewedBy != w.Security.ID || r.ReviewedAt.IsZero() {
		t.Errorf("reviewed grant: %+v", r)
	}
	if _, err := svc.ReviewBreakGlass(sec, g.ID, "justified", ""); confidant.CodeOf(err) != "already_reviewed" {
		t.Errorf("second review: %v", err)
	}
	if open, err := svc.ListBreakGlass(sec, "open"); err != nil || len(open) != 0 {
		t.Errorf("open queue after review: %v %+v", err, open)
	}
	done, err := svc.ListBreakGlass(sec, "reviewed")
	if err != nil || len(done) != 1 || done[0].ReviewComment != "No contact with the patient was recorded." ||
		done[0].Status != confidant.BreakGlassNotJustified {
		t.Errorf("reviewed list: %v %+v", err, done)
	}
	es, err := svc.MyAccessLog(w.As(w.PatientUser), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var reviewed, listed bool
	for _, e := range es {
		switch {
		case e.Action == service.ActBreakGlassReview && e.ActorID == w.Security.ID:
			reviewed = e.RecordID == g.ID && e.Purpose == "reviewed: not justified"
		case e.Action == service.ActBreakGlassList && e.ActorID == w.Security.ID:
			listed = true
		}
	}
	if !reviewed || !listed {
		t.Errorf("patient's history: reviewed %v, listed %v", reviewed, listed)
	}
}

// Security officers are mailed through a real SMTP server at once: who,
// which clinic, category and a link to the queue; never the patient's name
// or the reason. An officer without an address and a disabled one get
// nothing.
func TestBreakGlassMail(t *testing.T) {
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
	officer := newOfficer(t, w, "officer@clinic.example")
	cfg := service.DefaultConfig()
	cfg.PublicURL = "https://confidant.clinic.example"
	lg := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, cfg, service.WithMailer(sender), service.WithAuditor(lg), service.WithAuditReader(lg))
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.BreakGlass(w.As(w.OtherTherapist), w.PatientA.ID, "urgent_clinical_need", bgReason,
		testfix.Code(t, w.TOTPSecret(w.OtherTherapist)))
	if err != nil {
		t.Fatal(err)
	}
	svc.WaitMail()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages reached the SMTP server, want 1", len(msgs))
	}
	m, err := netmail.ReadMessage(strings.NewReader(string(msgs[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != officer.Email {
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
	text := string(body)
	for _, want := range []string{w.OtherTherapist.DisplayName, w.ClinicA.Name, "Urgent clinical need", g.ID,
		"https://confidant.clinic.example/emergency-access"} {
		if !strings.Contains(text, want) {
			t.Errorf("the notice does not say %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{w.PatientA.GivenName, w.PatientA.FamilyName, w.PatientA.IdentityCode, "crisis line", w.PatientA.ID} {
		if strings.Contains(text, secret) || strings.Contains(m.Header.Get("Subject"), secret) {
			t.Errorf("the notice reveals %q", secret)
		}
	}
}

// A mail server that refuses does not stop emergency access: the grant
// stands and the review queue shows it.
func TestBreakGlassMailFailure(t *testing.T) {
	w := newWorld(t)
	newOfficer(t, w, "officer@clinic.example")
	lg := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), service.WithMailer(failingMailer{}),
		service.WithAuditor(lg), service.WithAuditReader(lg))
	if err != nil {
		t.Fatal(err)
	}
	other := w.As(w.OtherTherapist)
	g, err := svc.BreakGlass(other, w.PatientA.ID, "other", bgReason, testfix.Code(t, w.TOTPSecret(w.OtherTherapist)))
	if err != nil {
		t.Fatalf("emergency access with a failing mail server: %v", err)
	}
	svc.WaitMail()
	if _, err := svc.Chart(other, w.PatientA.ID); err != nil {
		t.Errorf("chart: %v", err)
	}
	open, err := svc.ListBreakGlass(w.As(w.Security), "open")
	if err != nil || len(open) != 1 || open[0].ID != g.ID {
		t.Errorf("queue: %v %+v", err, open)
	}
}

type failingMailer struct{}

func (failingMailer) Send(context.Context, mail.Message) error {
	return confidant.Wrap(errors.New("connection refused"), confidant.KindUnavailable, "mail_failed", "no mail")
}

// newOfficer creates a security officer with an address (as the operator
// would) and a disabled one with an address, who must get no mail.
func newOfficer(t *testing.T, w *testfix.World, addr string) confidant.User {
	t.Helper()
	u, err := w.Service.OperatorCreateUser(t.Context(), service.StaffInput{
		Username: "officer", DisplayName: "Officer", Role: confidant.RoleSecurity, Password: testfix.Password, Email: addr,
	})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := w.Service.OperatorCreateUser(t.Context(), service.StaffInput{
		Username: "gone", DisplayName: "Gone", Role: confidant.RoleSecurity, Password: testfix.Password, Email: "gone@clinic.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Service.SetAccountDisabled(w.As(w.Security), gone.ID, true); err != nil {
		t.Fatal(err)
	}
	return u
}

// A therapist finds a patient of their clinics outside their care by the
// whole identity code only, and the search is on the patient's history.
func TestSearchForEmergency(t *testing.T) {
	w := newWorld(t)
	other := w.As(w.OtherTherapist)
	cs, err := w.Service.SearchForEmergency(other, " "+w.PatientA.IdentityCode)
	if err != nil || len(cs) != 1 || cs[0].Patient.ID != w.PatientA.ID || cs[0].InCare {
		t.Fatalf("search: %v %+v", err, cs)
	}
	if cs, err := w.Service.SearchForEmergency(w.As(w.Therapist), w.PatientA.IdentityCode); err != nil || len(cs) != 1 || !cs[0].InCare {
		t.Errorf("search by the therapist in care: %v %+v", err, cs)
	}
	if _, err := w.Service.SearchForEmergency(other, w.PatientA.FamilyName); confidant.CodeOf(err) != "invalid_query" {
		t.Errorf("search by name: %v", err)
	}
	if cs, err := w.Service.SearchForEmergency(w.As(w.TherapistB), w.PatientA.IdentityCode); err != nil || len(cs) != 0 {
		t.Errorf("another clinic's therapist: %v %+v", err, cs)
	}
	if _, err := w.Service.SearchForEmergency(w.As(w.Manager), w.PatientA.IdentityCode); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("manager: %v", err)
	}
	es, err := w.Service.MyAccessLog(w.As(w.PatientUser), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || (e.Action == service.ActSearchEmergency && e.ActorID == w.OtherTherapist.ID)
	}
	if !found {
		t.Error("the search is not on the patient's history")
	}
}

// FuzzBreakGlassInput: whatever a client sends as category and reason,
// the check never panics, refuses with a clear 4xx error, and what it
// accepts is a known category and a trimmed, valid reason that fits
// whole into the access log's purpose.
func FuzzBreakGlassInput(f *testing.F) {
	for _, s := range [][2]string{
		{"risk_to_life", bgReason}, {"other", "  ten chars! "}, {"other", "short"}, {"curiosity", bgReason},
		{"", ""}, {"other", strings.Repeat("ä", 1000)}, {"other", strings.Repeat("x", 2001)}, {"other", "\xff\xfe reason text here"},
		{"other", "reason with a \x00 nul byte"}, {"RISK_TO_LIFE", bgReason}, {"other", "\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b"},
	} {
		f.Add(s[0], s[1])
	}
	// The refusals' messages are fixed texts, whatever the input: none
	// repeats what the client sent (a message may contain a short input by
	// chance, as "e reason " is in the reason's).
	fixed := map[string]bool{}
	for _, in := range [][2]string{{"no such category", bgReason}, {"other", ""}} {
		_, err := service.CheckBreakGlassInput(in[0], in[1])
		fixed[confidant.MessageOf(err)] = true
	}
	f.Fuzz(func(t *testing.T, category, reason string) {
		got, err := service.CheckBreakGlassInput(category, reason)
		if err != nil {
			if k := confidant.KindOf(err); k != confidant.KindInvalid {
				t.Fatalf("refused with kind %v: %v", k, err)
			}
			if !fixed[confidant.MessageOf(err)] {
				t.Fatalf("the message is not one of the fixed texts")
			}
			return
		}
		if service.BreakGlassCategoryLabel(category) == category {
			t.Fatalf("accepted unknown category %q", category)
		}
		n := utf8.RuneCountInString(got)
		if !utf8.ValidString(got) || got != strings.TrimSpace(got) || n < 10 || n > 2000 || len(got) > 1900 || strings.ContainsRune(got, 0) {
			t.Fatalf("accepted reason of %d runes, %d bytes", n, len(got))
		}
		if got != strings.TrimSpace(reason) {
			t.Fatalf("the reason was changed beyond trimming")
		}
	})
}
