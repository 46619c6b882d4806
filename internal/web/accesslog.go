package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The access log as people read it: the patient's "Who has accessed my
// records" with a downloadable proof per entry, and the security officer's
// query page. Both show ids and metadata, never clinical content.

// accessPage is the number of entries on one page.
const accessPage = 50

// actionText is how an access-log action reads to the patient whose record
// it concerns, and to a security officer.
type actionText struct{ patient, staff string }

// actionTexts names every action the service records (service.Act*). An
// action missing here is shown as its code.
var actionTexts = map[string]actionText{
	service.ActLoginOK:           {"Signed in", "Signed in"},
	service.ActLoginFailed:       {"Failed to sign in", "Failed sign-in"},
	service.ActLogout:            {"Signed out", "Signed out"},
	service.ActPassword:          {"Changed a password", "Changed a password"},
	service.ActTOTPEnrol:         {"Started setting up an authenticator app", "Started setting up an authenticator app"},
	service.ActTOTPConfirm:       {"Set up an authenticator app", "Set up an authenticator app"},
	service.ActWebAuthnBegin:     {"Started using a passkey", "Started a passkey ceremony"},
	service.ActWebAuthnRegister:  {"Added a passkey", "Added a passkey"},
	service.ActWebAuthnRemove:    {"Removed a passkey", "Removed a passkey"},
	service.ActWebAuthnStepUp:    {"Confirmed with a passkey", "Confirmed with a passkey"},
	service.ActRecoveryGenerate:  {"Made new recovery codes", "Made new recovery codes"},
	service.ActRecoveryUse:       {"Used a recovery code", "Used a recovery code"},
	service.ActPatientsList:      {"Listed their patients", "Listed their patients"},
	service.ActPatientsSearch:    {"Searched for patients", "Searched for patients"},
	service.ActSearchByName:      {"Searched for you by name and found you", "Searched for patients by name"},
	service.ActSearchByCode:      {"Searched for you by identity code and found you", "Searched for patients by identity code"},
	service.ActPatientsClinic:    {"Listed a clinic's patients", "Listed a clinic's patients"},
	service.ActPatientCreate:     {"Registered you as a patient", "Registered a patient"},
	service.ActPatientRead:       {"Opened your details", "Opened a patient's details"},
	service.ActPatientErase:      {"Erased your record", "Erased a patient's record"},
	service.ActChartRead:         {"Opened your chart", "Opened a chart"},
	service.ActNotesRead:         {"Read your session notes", "Read session notes"},
	service.ActNoteRead:          {"Read a session note", "Read a session note"},
	service.ActNoteCreate:        {"Started a session note", "Started a session note"},
	service.ActNoteEdit:          {"Edited a draft session note", "Edited a draft session note"},
	service.ActNoteSign:          {"Signed a session note", "Signed a session note"},
	service.ActNoteAmend:         {"Amended a session note", "Amended a session note"},
	service.ActNoteRelease:       {"Released a session note to you", "Released a session note to the patient"},
	service.ActProcessCreate:     {"Wrote a private process note", "Wrote a private process note"},
	service.ActProcessRead:       {"Read private process notes", "Read private process notes"},
	service.ActDiagnosisCreate:   {"Recorded a diagnosis", "Recorded a diagnosis"},
	service.ActDiagnosisStatus:   {"Updated a diagnosis", "Updated a diagnosis"},
	service.ActPlanCreate:        {"Saved your treatment plan", "Saved a treatment plan"},
	service.ActMeasureCreate:     {"Recorded a questionnaire result", "Recorded an outcome measure"},
	service.ActAttachCreate:      {"Attached a file to your chart", "Attached a file"},
	service.ActAttachRead:        {"Downloaded a file from your chart", "Downloaded an attachment"},
	service.ActPortalRead:        {"Viewed your record in the portal", "Viewed their record in the portal"},
	service.ActClinicCreate:      {"Created a clinic", "Created a clinic"},
	service.ActClinicUpdate:      {"Updated a clinic", "Updated a clinic"},
	service.ActAccountCreate:     {"Created an account", "Created an account"},
	service.ActAccountUpdate:     {"Updated an account", "Updated an account"},
	service.ActAccountDisable:    {"Disabled an account", "Disabled an account"},
	service.ActAccountEnable:     {"Enabled an account", "Enabled an account"},
	service.ActCareAssign:        {"Started your care with a therapist", "Started a care relationship"},
	service.ActCareEnd:           {"Ended your care with a therapist", "Ended a care relationship"},
	service.ActFactForged:        {"A forged access right was refused", "An authorization fact failed its integrity check"},
	service.ActAuditQuery:        {"Looked at your access history", "Searched the access log"},
	service.ActAuditScope:        {"Listed the patients an account accessed", "Listed the patients an account accessed"},
	service.ActDashboard:         {"Looked at the security dashboard", "Looked at the security dashboard"},
	service.ActRecordsReport:     {"Read the records check report", "Read the records check report"},
	service.ActKeyUnwrap:         {"Opened the key of your record to serve a request", "Unwrapped a key"},
	service.ActThrottleList:      {"Listed throttled sign-ins", "Listed throttled sign-ins"},
	service.ActThrottleClear:     {"Cleared the failed sign-ins of your account", "Cleared an account's failed sign-ins"},
	service.ActIdentityCodeTaken: {"Tried to register your identity code as a new patient (refused: you are registered already)", "Tried to register an identity code that a patient has already"},

	service.ActInvitationSend:   {"Invited you to a portal account", "Sent an invitation"},
	service.ActInvitationAccept: {"Used an invitation to set a password", "Used an invitation"},
	service.ActAccountApprove:   {"Approved an account", "Approved an account"},
	service.ActAccountReset:     {"Reset an account's password and second factor", "Reset an account"},

	service.ActBreakGlass:        {"Took emergency access to your records (without being in your care)", "Took emergency access (break-the-glass)"},
	service.ActBreakGlassList:    {"Read the emergency accesses to your records, for review", "Listed emergency accesses for review"},
	service.ActBreakGlassReview:  {"Reviewed an emergency access to your records", "Reviewed an emergency access"},
	service.ActAlertRaised:       {"Raised an alert", "Raised an alert"},
	service.ActAlertsList:        {"Listed alerts", "Listed alerts"},
	service.ActAlertRead:         {"Read an alert", "Read an alert"},
	service.ActAlertAcknowledged: {"Acknowledged an alert", "Acknowledged an alert"},
	service.ActAlertDismissed:    {"Dismissed an alert", "Dismissed an alert"},
	service.ActAlertReopened:     {"Reopened a dismissed alert", "Reopened a dismissed alert"},
	service.ActAlertEscalated:    {"Escalated an alert to an incident", "Escalated an alert to an incident"},
	service.ActHoneytokenCreate:  {"Created a decoy patient", "Created a decoy patient"},
	service.ActHoneytokenList:    {"Listed the decoy patients", "Listed the decoy patients"},
	service.ActSearchEmergency:   {"Searched for you by identity code for emergency access and found you", "Searched for a patient for emergency access"},
}

func patientAction(code string) string {
	if t, ok := actionTexts[code]; ok {
		return t.patient
	}
	return code
}

func staffAction(code string) string {
	if t, ok := actionTexts[code]; ok {
		return t.staff
	}
	return code
}

// Patient: who has accessed my records.

// myAccessEntry is one line of a patient's access history.
type myAccessEntry struct {
	Index    uint64
	Time     time.Time
	Who      string // a name, "You", or a placeholder
	Role     string // role label; "" for the patient themself
	What     string
	Why      string
	Refused  bool
	Failed   bool
	ProofURL string
}

type myAccessView struct {
	page
	Entries []myAccessEntry
	Paged   bool   // not the newest page
	Older   string // URL of the next (older) page, "" if none
}

// GET /record/access?before=<index>
func (s *server) myAccessLog(w http.ResponseWriter, r *http.Request) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	before, err := beforeParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	es, err := s.svc.MyAccessLog(r.Context(), before, accessPage+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &myAccessView{page: s.page(r, "Who has accessed my records", crumb{"My record", "/record"}), Paged: before != 0}
	v.Section = "access"
	if len(es) > accessPage {
		es = es[:accessPage]
		v.Older = "/record/access?before=" + strconv.FormatUint(es[len(es)-1].Index, 10)
	}
	for _, e := range es {
		m := myAccessEntry{
			Index: e.Index, Time: e.Time, Who: e.ActorName, Role: e.Role.Label(), What: patientAction(e.Action),
			Why: e.Purpose, Refused: e.Outcome == confidant.OutcomeDenied, Failed: e.Outcome == confidant.OutcomeFailed,
			ProofURL: "/record/access/" + strconv.FormatUint(e.Index, 10) + "/proof",
		}
		if strings.HasPrefix(e.Purpose, service.EmergencyPurpose) {
			m.Why = "Emergency access: this person is not in your care team and gave a reason when they took it (see their emergency access entry)"
		}
		switch {
		case e.ActorID != "" && e.ActorID == a.UserID:
			m.Who, m.Role = "You", ""
		case e.ActorID == "" && e.Action == service.ActKeyUnwrap:
			m.Who, m.Role = "Confidant (automatic)", ""
		case e.ActorID == "":
			m.Who, m.Role = "Someone not signed in", ""
		case m.Who == "":
			m.Who = "An account that no longer exists"
		}
		if e.SubjectName != "" && e.Outcome == confidant.OutcomeOK {
			switch e.Action {
			case service.ActCareAssign:
				m.What = e.SubjectName + " was assigned as your therapist by " + m.Who
			case service.ActCareEnd:
				m.What = "The care with " + e.SubjectName + " was ended by " + m.Who
			}
		}
		v.Entries = append(v.Entries, m)
	}
	s.render(w, r, http.StatusOK, "my-access", v)
}

// GET /record/access/{index}/proof: the proof bundle of one entry, as a
// JSON file to keep and check with `confidant audit check-proof`.
func (s *server) accessProof(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		s.fail(w, r, confidant.ErrNotFound)
		return
	}
	b, err := s.svc.AccessProof(r.Context(), index)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := json.Marshal(b)
	if err != nil {
		s.fail(w, r, confidant.Wrap(err, confidant.KindInternal, "proof_encoding", "The proof could not be prepared."))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="access-`+strconv.FormatUint(index, 10)+`.proof.json"`)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.Write(append(body, '\n'))
}

// beforeParam reads ?before=<log index> (absent or 0: the newest page).
func beforeParam(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("before")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalid("invalid_before", "The page asked for does not exist.")
	}
	return n, nil
}

// Security officer: the access log.

// auditForm is the query form as submitted, to fill it in again.
type auditForm struct {
	Patient, Actor, Action, From, To string
}

// values returns the form as a query string's values, empty fields left out.
func (f auditForm) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"patient": f.Patient, "actor": f.Actor, "action": f.Action, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

type actionOption struct{ Code, Label string }

// auditEntry is one row of the security officer's results: ids and
// metadata only.
type auditEntry struct {
	Index                uint64
	Time                 time.Time
	ActorID, ActorName   string
	Role                 string
	ClinicID, ClinicName string
	Action, What         string
	PatientID, RecordID  string
	Outcome              string
	Refused, Failed      bool
	Purpose, Client      string
	ActorURL, PatientURL string // the same query narrowed to this actor or patient; "" if it already is
}

type auditView struct {
	page
	Form    auditForm
	Actions []actionOption
	Zone    string
	Entries []auditEntry
	Ran     bool   // the query ran (no error)
	Paged   bool   // not the newest page
	Newest  string // URL of the newest page of this query
	Older   string // URL of the next (older) page, "" if none
	Scope   string // URL of the breach scope of the actor and period, "" unless both are given
	// Records is the server's latest records check (docs/AUDIT.md,
	// "Records"), nil before the first.
	Records *confidant.RecordsReport
}

// actionOptions lists the known actions for the form's select, by code.
var actionOptions = func() []actionOption {
	var os []actionOption
	for code, t := range actionTexts {
		os = append(os, actionOption{Code: code, Label: t.staff})
	}
	slices.SortFunc(os, func(a, b actionOption) int { return strings.Compare(a.Code, b.Code) })
	return os
}()

// GET /access-log?patient=&actor=&action=&from=&to=&before=
func (s *server) accessLog(w http.ResponseWriter, r *http.Request) {
	// Whoever may not query the log is refused (and recorded) before the
	// form is read.
	if err := s.svc.MayQueryAudit(r.Context(), service.ActAuditQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &auditView{page: s.page(r, "Access log"), Actions: actionOptions, Zone: s.loc.String()}
	v.Records = s.svc.LatestRecordsReport() // shown to whoever may query the log (checked above)
	v.Section = "access-log"
	q, err := s.auditQuery(r, &v.Form)
	if err != nil {
		s.formFail(w, r, err, "access-log", v)
		return
	}
	es, err := s.svc.AuditEvents(r.Context(), q)
	if err != nil {
		s.formFail(w, r, err, "access-log", v)
		return
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	clinics := map[string]string{}
	for _, c := range cs {
		clinics[c.ID] = c.Name
	}
	v.Ran, v.Paged = true, q.Before != 0
	if v.Form.Actor != "" && v.Form.From != "" && v.Form.To != "" {
		v.Scope = "/access-log/scope?" + url.Values{"actor": {v.Form.Actor}, "from": {v.Form.From}, "to": {v.Form.To}}.Encode()
	}
	base := v.Form.values()
	v.Newest = "/access-log"
	if len(base) > 0 {
		v.Newest += "?" + base.Encode()
	}
	if len(es) > accessPage {
		es = es[:accessPage]
		older := v.Form.values()
		older.Set("before", strconv.FormatUint(es[len(es)-1].Index, 10))
		v.Older = "/access-log?" + older.Encode()
	}
	narrow := func(k, id string) string {
		q := v.Form.values()
		q.Set(k, id)
		return "/access-log?" + q.Encode()
	}
	for _, e := range es {
		ae := auditEntry{
			Index: e.Index, Time: e.Time, ActorID: e.ActorID, ActorName: e.ActorName, Role: e.Role.Label(),
			ClinicID: e.ClinicID, ClinicName: clinics[e.ClinicID], Action: e.Action, What: staffAction(e.Action),
			PatientID: e.PatientID, RecordID: e.RecordID, Outcome: e.Outcome,
			Refused: e.Outcome == confidant.OutcomeDenied, Failed: e.Outcome == confidant.OutcomeFailed,
			Purpose: e.Purpose, Client: e.Client,
		}
		if e.ActorID != "" && e.ActorID != v.Form.Actor {
			ae.ActorURL = narrow("actor", e.ActorID)
		}
		if e.PatientID != "" && e.PatientID != v.Form.Patient {
			ae.PatientURL = narrow("patient", e.PatientID)
		}
		v.Entries = append(v.Entries, ae)
	}
	s.render(w, r, http.StatusOK, "access-log", v)
}

// scopeView is the breach scope of an account: the patients it touched in
// a period.
type scopeView struct {
	page
	Form      auditForm
	Zone      string
	ActorName string
	Patients  []scopeRow
	Events    int
	Back      string // the access-log search of the same actor and period
}

type scopeRow struct {
	confidant.PatientAccess
	EventsURL string // the access-log search of this patient in the period
}

// GET /access-log/scope?actor=&from=&to=: every patient an account accessed
// in a period (security officers), one recorded question.
func (s *server) accessScope(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.MayQueryAudit(r.Context(), service.ActAuditScope); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &scopeView{page: s.page(r, "Patients an account accessed"), Zone: s.loc.String()}
	v.Section = "access-log"
	q, err := s.auditQuery(r, &v.Form)
	if err == nil && (q.ActorID == "" || q.From.IsZero() || q.To.IsZero()) {
		err = invalid("invalid_scope", "Give an actor id and both dates.")
	}
	if err != nil {
		s.formFail(w, r, err, "access-scope", v)
		return
	}
	ps, err := s.svc.BreachScope(r.Context(), q.ActorID, q.From, q.To)
	if err != nil {
		s.formFail(w, r, err, "access-scope", v)
		return
	}
	names, err := s.svc.UserNames(r.Context(), []string{q.ActorID})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.ActorName = names[q.ActorID]
	period := url.Values{"from": {v.Form.From}, "to": {v.Form.To}}
	back := url.Values{"actor": {v.Form.Actor}, "from": {v.Form.From}, "to": {v.Form.To}}
	v.Back = "/access-log?" + back.Encode()
	for _, p := range ps {
		pq := url.Values{"patient": {p.PatientID}}
		for k, vs := range period {
			pq[k] = vs
		}
		v.Patients = append(v.Patients, scopeRow{PatientAccess: p, EventsURL: "/access-log?" + pq.Encode()})
		v.Events += p.Events
	}
	s.render(w, r, http.StatusOK, "access-scope", v)
}

// auditQuery reads the query form into f (as typed) and returns the
// service's query. Dates are calendar days in the display location; the
// "to" day is included.
func (s *server) auditQuery(r *http.Request, f *auditForm) (service.AuditQuery, error) {
	qs := r.URL.Query()
	*f = auditForm{
		Patient: strings.TrimSpace(qs.Get("patient")), Actor: strings.TrimSpace(qs.Get("actor")),
		Action: strings.TrimSpace(qs.Get("action")), From: strings.TrimSpace(qs.Get("from")), To: strings.TrimSpace(qs.Get("to")),
	}
	// Ids and the order of the dates are the service's to check.
	q := service.AuditQuery{PatientID: f.Patient, ActorID: f.Actor, Action: f.Action, Limit: accessPage + 1}
	if _, ok := actionTexts[f.Action]; f.Action != "" && !ok {
		return q, invalid("invalid_action", "Choose an action from the list.")
	}
	var err error
	if q.From, err = s.parseDate(f.From, "From"); err != nil {
		return q, err
	}
	if q.To, err = s.parseDate(f.To, "To"); err != nil {
		return q, err
	}
	if !q.To.IsZero() {
		q.To = q.To.AddDate(0, 0, 1) // the whole "to" day
	}
	if q.Before, err = beforeParam(r); err != nil {
		return q, err
	}
	return q, nil
}
