package service_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// fakeAlerts stands in for the detector's alert store. Escalations are
// recorded, not applied to what IncidentAlerts returns: a service
// function may run twice (staged), as the real store's transaction would
// undo the first run.
type fakeAlerts struct {
	mu        sync.Mutex
	alerts    map[string]confidant.Alert
	escalated map[string]string // alert id -> incident id
}

func (f *fakeAlerts) IncidentAlerts(_ context.Context, _ confidant.Tx, ids []string) ([]confidant.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []confidant.Alert
	for _, id := range ids {
		a, ok := f.alerts[id]
		if !ok {
			return nil, confidant.ErrNotFound
		}
		out = append(out, a)
	}
	return out, nil
}

func (f *fakeAlerts) EscalateAlerts(_ context.Context, _ confidant.Tx, ids []string, incidentID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.escalated[id] = incidentID
	}
	return nil
}

// fakeOutbox records the mail enqueued, by patient.
type fakeOutbox struct {
	mu   sync.Mutex
	mail map[string]service.IncidentMail
}

func (o *fakeOutbox) enqueue(_ context.Context, _ confidant.Tx, m service.IncidentMail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mail[m.PatientID] = m
	return nil
}

// incWorld is the fixture world with a data protection officer and a
// service with a test clock, the fake alert store and outbox.
type incWorld struct {
	*testfix.World
	svc    *service.Service
	dpo    confidant.User
	alerts *fakeAlerts
	outbox *fakeOutbox
	mu     sync.Mutex
	now    time.Time
}

func (w *incWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *incWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func newIncWorld(t *testing.T) *incWorld {
	t.Helper()
	w := &incWorld{World: newWorld(t), now: time.Now().UTC().Truncate(time.Second).Add(time.Hour),
		alerts: &fakeAlerts{alerts: map[string]confidant.Alert{}, escalated: map[string]string{}},
		outbox: &fakeOutbox{mail: map[string]service.IncidentMail{}}}
	l := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), service.WithAuditor(l), service.WithAuditReader(l),
		service.WithClock(w.clock), service.WithIncidentAlerts(w.alerts), service.WithIncidentOutbox(w.outbox.enqueue))
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	if w.dpo, err = svc.OperatorCreateUser(context.Background(), service.StaffInput{
		Username: "dpo2", DisplayName: "Data Protection Officer", Role: confidant.RoleDPO, Password: testfix.Password,
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// breach makes the therapist read patient A's chart (in care) and try
// patient C's (refused), and therapist B read patient B's, all at the
// test clock; it returns the period the therapist's accesses fall in.
func (w *incWorld) breach(t *testing.T) (from, to time.Time) {
	t.Helper()
	from = w.clock()
	w.advance(time.Minute)
	if _, err := w.svc.Chart(w.As(w.Therapist), w.PatientA.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Chart(w.As(w.Therapist), w.PatientC.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("chart outside care: %v", err)
	}
	if _, err := w.svc.Chart(w.As(w.TherapistB), w.PatientB.ID); err != nil {
		t.Fatal(err)
	}
	w.advance(time.Minute)
	return from, w.clock()
}

func TestIncidentOpenFromAlerts(t *testing.T) {
	w := newIncWorld(t)
	from, to := w.breach(t)
	al := confidant.Alert{ID: confidant.NewID(), Rule: "no_care", Severity: confidant.AlertHigh, ActorID: w.Therapist.ID,
		From: from, To: to, CreatedAt: to.Add(time.Second), Status: confidant.AlertNew}
	al2 := al
	al2.ID, al2.CreatedAt = confidant.NewID(), to.Add(-30*time.Second)
	w.alerts.alerts[al.ID], w.alerts.alerts[al2.ID] = al, al2
	w.advance(time.Hour)
	sec := w.As(w.Security)
	inc, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "Therapist browsing without care", AlertIDs: []string{al.ID, al2.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// The scope is exactly the patient the account accessed in the period
	// (not the refused one, not another account's).
	if !slices.Equal(inc.Scope.PatientIDs, []string{w.PatientA.ID}) {
		t.Fatalf("scope patients %v, want only patient A", inc.Scope.PatientIDs)
	}
	if !slices.Equal(inc.Scope.RecordKinds, []string{"chart"}) || inc.Scope.Checkpoint.Size == 0 || len(inc.Scope.Checkpoint.Root) != 32 ||
		!strings.Contains(inc.Scope.Checkpoint.Note, "confidant/access-log") {
		t.Fatalf("scope %+v", inc.Scope)
	}
	if !inc.FirstAlertAt.Equal(al2.CreatedAt) {
		t.Errorf("first alert at %v, want %v", inc.FirstAlertAt, al2.CreatedAt)
	}
	for _, id := range []string{al.ID, al2.ID} {
		if w.alerts.escalated[id] != inc.ID {
			t.Errorf("alert %s escalated to %q", id, w.alerts.escalated[id])
		}
	}
	// Frozen: later accesses by the same account do not change it.
	if _, err := w.svc.Chart(w.As(w.Therapist), w.PatientA.ID); err != nil {
		t.Fatal(err)
	}
	d, err := w.svc.Incident(sec, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Incident.Scope.PatientIDs, inc.Scope.PatientIDs) || d.Incident.Scope.Checkpoint.Size != inc.Scope.Checkpoint.Size {
		t.Errorf("scope changed on reading: %+v", d.Incident.Scope)
	}
	if len(d.History) != 1 || d.History[0].Kind != confidant.IncidentEventOpened || d.History[0].Scope == nil {
		t.Errorf("history %+v", d.History)
	}
	// An unknown alert, and an escalated one.
	if _, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "x", AlertIDs: []string{confidant.NewID()}}); confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("unknown alert: %v", err)
	}
	al.Status = confidant.AlertEscalated
	w.alerts.alerts[al.ID] = al
	if _, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "x", AlertIDs: []string{al.ID}}); confidant.CodeOf(err) != "alert_escalated" {
		t.Errorf("escalated alert: %v", err)
	}
}

// openByHand opens an incident over the therapist's accesses as the DPO.
func (w *incWorld) openByHand(t *testing.T) confidant.Incident {
	t.Helper()
	from, to := w.breach(t)
	inc, err := w.svc.OpenIncident(w.As(w.dpo), service.IncidentInput{Title: "Stolen laptop: tietoturvaloukkaus ääkköset",
		Scope: service.ScopeInput{AccountIDs: []string{w.Therapist.ID}, From: from, To: to}})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestIncidentClocksAndRoles(t *testing.T) {
	w := newIncWorld(t)
	inc := w.openByHand(t)
	if !slices.Equal(inc.Scope.PatientIDs, []string{w.PatientA.ID}) {
		t.Fatalf("scope by hand: %v", inc.Scope.PatientIDs)
	}
	dpo, sec := w.As(w.dpo), w.As(w.Security)
	if !inc.RegulatorDeadline().IsZero() || !inc.EarlyWarningDeadline().IsZero() {
		t.Fatal("deadlines before awareness")
	}
	// Roles: therapists, managers and patients cannot touch the register.
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser} {
		ctx := w.As(u)
		if _, err := w.svc.Incident(ctx, inc.ID); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s reads: %v", u.Username, err)
		}
		if _, err := w.svc.ListIncidents(ctx, ""); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s lists: %v", u.Username, err)
		}
		if _, err := w.svc.OpenIncident(ctx, service.IncidentInput{Title: "x", Scope: service.ScopeInput{AccountIDs: []string{w.Therapist.ID}, From: w.clock().Add(-time.Hour), To: w.clock()}}); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s opens: %v", u.Username, err)
		}
		if _, err := w.svc.AddIncidentDecision(ctx, inc.ID, "x"); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s decides: %v", u.Username, err)
		}
	}
	// Awareness: the DPO only, not in the future.
	aware := w.clock().Add(-10 * time.Minute)
	if _, err := w.svc.SetIncidentAwareness(sec, inc.ID, aware, ""); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("security officer sets awareness: %v", err)
	}
	if _, err := w.svc.SetIncidentAwareness(dpo, inc.ID, w.clock().Add(time.Minute), ""); confidant.CodeOf(err) != "invalid_time" {
		t.Errorf("awareness in the future: %v", err)
	}
	inc2, err := w.svc.SetIncidentAwareness(dpo, inc.ID, aware, "")
	if err != nil {
		t.Fatal(err)
	}
	if !inc2.RegulatorDeadline().Equal(aware.Add(72*time.Hour)) || !inc2.EarlyWarningDeadline().Equal(aware.Add(24*time.Hour)) {
		t.Errorf("deadlines %v %v from awareness %v", inc2.RegulatorDeadline(), inc2.EarlyWarningDeadline(), aware)
	}
	// Once; a correction needs a reason, which stays in the history.
	if _, err := w.svc.SetIncidentAwareness(dpo, inc.ID, aware.Add(-time.Hour), ""); confidant.CodeOf(err) != "awareness_already_set" {
		t.Errorf("second awareness: %v", err)
	}
	if _, err := w.svc.SetIncidentAwareness(dpo, inc.ID, aware.Add(-time.Hour), "short"); confidant.CodeOf(err) != "reason_required" {
		t.Errorf("correction with a short reason: %v", err)
	}
	if _, err := w.svc.SetIncidentAwareness(dpo, inc.ID, aware.Add(-time.Hour), "The helpdesk ticket shows an earlier call."); err != nil {
		t.Fatal(err)
	}
	// The clocks the banner shows: early warning first, then the regulator's.
	cs, err := w.svc.IncidentClocks(sec)
	if err != nil || len(cs) != 1 || cs[0].What != "early_warning" || !cs[0].Deadline.Equal(aware.Add(23*time.Hour)) {
		t.Fatalf("clocks %+v %v", cs, err)
	}
	w.advance(30 * time.Hour)
	if cs, _ = w.svc.IncidentClocks(sec); cs[0].What != "regulator" || cs[0].Overdue {
		t.Errorf("after 30 h: %+v", cs)
	}
	w.advance(48 * time.Hour)
	if cs, _ = w.svc.IncidentClocks(sec); !cs[0].Overdue {
		t.Errorf("after 78 h: %+v", cs)
	}
	// Decisions and notification fields by both; close by the DPO only.
	if _, err := w.svc.AddIncidentDecision(sec, inc.ID, "Account disabled; password reset."); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetIncidentNotification(sec, inc.ID, confidant.IncidentNotification{Nature: "Unauthorised access", SubjectsApprox: -1}); confidant.CodeOf(err) != "invalid_number" {
		t.Errorf("negative number: %v", err)
	}
	n := confidant.IncidentNotification{Nature: "Unauthorised access by a staff account", SubjectCategories: "patients",
		SubjectsApprox: 1, RecordCategories: "health data", RecordsApprox: 3, DPOContact: "tietosuoja@example.org",
		Consequences: "Loss of confidentiality", Measures: "Account disabled"}
	if _, err := w.svc.SetIncidentNotification(dpo, inc.ID, n); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CloseIncident(sec, inc.ID, "done"); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("security officer closes: %v", err)
	}
	if err := w.svc.DeleteIncident(dpo, inc.ID); confidant.CodeOf(err) != "incidents_are_never_deleted" {
		t.Errorf("delete: %v", err)
	}
	if _, err := w.svc.CloseIncident(dpo, inc.ID, "Contained; patients notified; notification made on time."); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AddIncidentDecision(sec, inc.ID, "after closing"); confidant.CodeOf(err) != "incident_closed" {
		t.Errorf("decision after closing: %v", err)
	}
	d, err := w.svc.Incident(sec, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range d.History {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"opened", "awareness_set", "awareness_corrected", "decision", "notification_updated", "closed"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("history %v, want %v", kinds, want)
	}
	if !strings.Contains(d.History[2].Text, "helpdesk ticket") || !d.History[1].Time.Equal(aware) || d.History[3].By != w.Security.ID ||
		d.History[4].Notification == nil || d.History[4].Notification.RecordsApprox != 3 {
		t.Errorf("history details: %+v", d.History)
	}
	if d.Incident.Status != confidant.IncidentClosed || d.Incident.ClosedBy != w.dpo.ID || d.Incident.Notification.Nature != n.Nature {
		t.Errorf("closed incident: %+v", d.Incident)
	}
	// Every change is in the access log.
	evs, err := testfix.Log(w.Store).Query(context.Background(), confidant.EventFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range evs {
		if e.RecordID == inc.ID {
			got[e.Action+"/"+e.Outcome]++
		}
	}
	for _, a := range []string{"incident.open/ok", "incident.awareness/ok", "incident.decision/ok", "incident.notification/ok",
		"incident.close/ok", "incident.delete/denied", "incident.read/ok", "incident.awareness/denied"} {
		if got[a] == 0 {
			t.Errorf("no %s event (%v)", a, got)
		}
	}
}

func TestIncidentLettersAndReport(t *testing.T) {
	w := newIncWorld(t)
	inc := w.openByHand(t)
	dpo := w.As(w.dpo)
	if _, err := w.svc.SetIncidentAwareness(dpo, inc.ID, w.clock(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SendIncidentLetters(dpo, inc.ID, "1", []string{w.PatientB.ID}); confidant.CodeOf(err) != "not_in_scope" {
		t.Errorf("letter outside the scope: %v", err)
	}
	res, err := w.svc.SendIncidentLetters(dpo, inc.ID, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Sent, []string{w.PatientA.ID}) || res.Mailed != 1 || res.Remaining != 0 {
		t.Fatalf("letters %+v", res)
	}
	if m := w.outbox.mail[w.PatientA.ID]; m.To != "x@example.invalid" || !strings.Contains(m.Text, "Mitä tapahtui") {
		t.Errorf("mail %+v", m)
	}
	// A second default phase finds nobody left.
	if res, err = w.svc.SendIncidentLetters(dpo, inc.ID, "2", nil); err != nil || len(res.Sent) != 0 {
		t.Errorf("second phase: %+v %v", res, err)
	}
	// The patient's portal has it in three languages, and their access log
	// shows the delivery.
	pat := w.As(w.PatientUser)
	ls, err := w.svc.MyLetters(pat)
	if err != nil || len(ls) != 1 {
		t.Fatalf("my letters: %v %d", err, len(ls))
	}
	var langs []string
	for _, lt := range ls[0].Texts {
		langs = append(langs, lt.Lang)
	}
	if !slices.Equal(langs, []string{"fi", "sv", "en"}) || !strings.Contains(ls[0].Texts[1].Body, "Vad hände") ||
		!strings.Contains(ls[0].Texts[2].Body, "data protection officer") || !strings.Contains(ls[0].Texts[0].Body, "potilaskertomus") {
		t.Errorf("letter texts %+v", ls[0].Texts)
	}
	log, err := w.svc.MyAccessLog(pat, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, e := range log {
		seen = seen || e.Action == service.ActIncidentLetter && e.RecordID == ls[0].ID
	}
	if !seen {
		t.Error("the letter's delivery is not in the patient's access log")
	}
	// Patient B has none; staff have no portal letters.
	if _, err := w.svc.MyLetters(w.As(w.Therapist)); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("therapist's letters: %v", err)
	}
	// The regulator notification: numbers, never a patient id.
	r, err := w.svc.RegulatorNotification(dpo, inc.ID)
	if err != nil || r.PatientsInScope != 1 || r.LettersSent != 1 || !r.RegulatorDeadline.Equal(r.AwarenessAt.Add(72*time.Hour)) {
		t.Fatalf("report %+v %v", r, err)
	}
	pdf, err := w.svc.RegulatorNotificationPDF(dpo, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF")) || bytes.Contains(pdf, []byte(w.PatientA.ID)) {
		t.Errorf("PDF: prefix %q, holds the patient id: %v", pdf[:8], bytes.Contains(pdf, []byte(w.PatientA.ID)))
	}
	// Its text is searchable (so the check above means something), with
	// the Finnish letters in cp1252 (ä is 0xE4).
	if !bytes.Contains(pdf, []byte("Stolen laptop")) || !bytes.Contains(pdf, append([]byte("tietoturvaloukkaus "), 0xE4, 0xE4, 'k', 'k', 0xF6, 's')) {
		t.Errorf("the PDF's text is not searchable or its Finnish letters are lost")
	}
	if _, err := w.svc.RegulatorNotification(w.As(w.Manager), inc.ID); confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("manager's report: %v", err)
	}
}

func TestIncidentRescope(t *testing.T) {
	w := newIncWorld(t)
	inc := w.openByHand(t)
	sec := w.As(w.Security)
	// A wider scope over therapist B as well: a new version, the first
	// kept in the history.
	inc2, err := w.svc.RescopeIncident(sec, inc.ID, service.ScopeInput{AccountIDs: []string{w.Therapist.ID, w.TherapistB.ID},
		From: inc.Scope.From, To: inc.Scope.To})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{w.PatientA.ID, w.PatientB.ID}
	slices.Sort(want)
	if inc2.Scope.Version != 2 || !slices.Equal(inc2.Scope.PatientIDs, want) {
		t.Fatalf("rescoped %+v", inc2.Scope)
	}
	d, err := w.svc.Incident(sec, inc.ID)
	if err != nil || len(d.History) != 2 || d.History[0].Scope.Version != 1 || d.History[1].Scope.Version != 2 {
		t.Fatalf("history %v %+v", err, d.History)
	}
}

func FuzzCheckIncidentInput(f *testing.F) {
	f.Add("Breach", "", "", int64(0), int64(0))
	f.Add("ääkköset", "01JD0000000000000000000000", "", int64(0), int64(0))
	f.Add(" ", "", "01JD0000000000000000000000", int64(1), int64(2))
	f.Add(strings.Repeat("x", 300), "a,b", "c", int64(5), int64(1))
	f.Fuzz(func(t *testing.T, title, alerts, accounts string, from, to int64) {
		in := service.IncidentInput{Title: title, Scope: service.ScopeInput{From: time.Unix(from, 0), To: time.Unix(to, 0)}}
		if alerts != "" {
			in.AlertIDs = strings.Split(alerts, ",")
		}
		if accounts != "" {
			in.Scope.AccountIDs = strings.Split(accounts, ",")
		}
		out, err := service.CheckIncidentInput(in)
		if err != nil {
			if confidant.KindOf(err) != confidant.KindInvalid {
				t.Fatalf("error of kind %v", confidant.KindOf(err))
			}
			return
		}
		if out.Title == "" || len(out.AlertIDs) == 0 && (len(out.Scope.AccountIDs) == 0 || !out.Scope.From.Before(out.Scope.To)) {
			t.Fatalf("accepted %+v", out)
		}
	})
}

// By default (no WithIncidentOutbox) a letter to a patient with an e-mail
// address is queued in the durable outbox for that address only, in the
// letter's own transaction; the alerts' recipients get nothing of it.
func TestIncidentLetterQueuedInOutbox(t *testing.T) {
	w := newIncWorld(t)
	l := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), service.WithAuditor(l), service.WithAuditReader(l),
		service.WithClock(w.clock))
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	inc := w.openByHand(t)
	dpo := w.As(w.dpo)
	res, err := svc.SendIncidentLetters(dpo, inc.ID, "1", nil)
	if err != nil || res.Mailed != 1 {
		t.Fatalf("letters %+v %v", res, err)
	}
	items, err := svc.Outbox(w.As(w.Security), "pending")
	if err != nil {
		t.Fatal(err)
	}
	var letters int
	for _, it := range items {
		if strings.HasPrefix(it.MessageKey, "letter:") {
			letters++
			if it.Recipient != "patient:"+w.PatientA.ID || it.Channel != string(confidant.RecipientEmail) {
				t.Errorf("letter queued for %s by %s", it.Recipient, it.Channel)
			}
		}
	}
	if letters != 1 {
		t.Errorf("%d letters queued, want 1: %+v", letters, items)
	}
}

// An integrity alert names no account: opened from it alone the incident
// is refused (alerts_without_scope); with the scope given by hand it opens,
// escalates the alert and scopes the hand's accounts and period.
func TestIncidentFromAlertWithHandScope(t *testing.T) {
	w := newIncWorld(t)
	from, to := w.breach(t)
	al := confidant.Alert{ID: confidant.NewID(), Rule: "integrity", Severity: confidant.AlertCritical,
		From: to, To: to, CreatedAt: to, Status: confidant.AlertNew}
	w.alerts.alerts[al.ID] = al
	sec := w.As(w.Security)
	if _, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "A witness disagrees", AlertIDs: []string{al.ID}}); confidant.CodeOf(err) != "alerts_without_scope" {
		t.Fatalf("from the alert alone: %v", err)
	}
	if _, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "A witness disagrees", AlertIDs: []string{al.ID},
		Scope: service.ScopeInput{AccountIDs: []string{w.Therapist.ID}}}); confidant.CodeOf(err) != "invalid_scope" {
		t.Errorf("with half a scope: %v", err)
	}
	inc, err := w.svc.OpenIncident(sec, service.IncidentInput{Title: "A witness disagrees", AlertIDs: []string{al.ID},
		Scope: service.ScopeInput{AccountIDs: []string{w.Therapist.ID}, From: from, To: to}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inc.Scope.PatientIDs, []string{w.PatientA.ID}) || !inc.FirstAlertAt.Equal(al.CreatedAt) || w.alerts.escalated[al.ID] != inc.ID {
		t.Errorf("scope %v, first alert %v, escalated to %q", inc.Scope.PatientIDs, inc.FirstAlertAt, w.alerts.escalated[al.ID])
	}
}
