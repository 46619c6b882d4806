package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The incident register (docs/INCIDENTS.md): the list with its clocks, an
// incident's page with its scope, history and forms, and the countdown to
// the nearest deadline in every page of security officers and the data
// protection officer (render.go).

// incidentBanner is the layout's countdown: the open incident with the
// nearest deadline.
type incidentBanner struct {
	ID, Title string
	Text      string
	Overdue   bool
	More      int // other open incidents
	// Unreadable: the open incidents could not be read (an incident
	// failing its integrity check, or the database): the banner says so
	// rather than vanish, since a missing countdown looks like no incident.
	Unreadable bool
}

// banner builds the countdown from the service's clocks.
func banner(cs []service.IncidentClock, now time.Time) *incidentBanner {
	if len(cs) == 0 {
		return nil
	}
	c := cs[0]
	return &incidentBanner{ID: c.ID, Title: c.Title, Overdue: c.Overdue, More: len(cs) - 1, Text: clockText(c, now)}
}

// clockText says where an open incident's clock stands at now.
func clockText(c service.IncidentClock, now time.Time) string {
	switch {
	case c.Deadline.IsZero():
		return "the time of awareness is not set yet: the 72-hour clock has not started"
	case c.Overdue:
		return "the 72-hour deadline to notify the supervisory authority passed " + humanDuration(now.Sub(c.Deadline)) + " ago"
	case c.What == "early_warning":
		return humanDuration(c.Deadline.Sub(now)) + " left for the NIS2 early warning (24 h)"
	}
	return humanDuration(c.Deadline.Sub(now)) + " left to notify the supervisory authority (GDPR, 72 h)"
}

// humanDuration writes d as hours and minutes.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h == 0 {
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// incidentRow is an incident in the list, with its clock.
type incidentRow struct {
	confidant.Incident
	Clock   string
	Overdue bool
}

func clockOf(i confidant.Incident, now time.Time) (string, bool) {
	switch {
	case i.Status == confidant.IncidentClosed:
		return "closed", false
	case i.AwarenessAt.IsZero():
		return "awareness not set", false
	case !now.Before(i.RegulatorDeadline()):
		return "overdue by " + humanDuration(now.Sub(i.RegulatorDeadline())), true
	}
	return humanDuration(i.RegulatorDeadline().Sub(now)) + " left", false
}

type incidentsView struct {
	page
	Incidents []incidentRow
	Title     string
	Accounts  string
	From, To  string
	AlertIDs  string
}

// GET /incidents
func (s *server) incidents(w http.ResponseWriter, r *http.Request) {
	v, err := s.incidentsView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "incidents", v)
}

func (s *server) incidentsView(r *http.Request) (*incidentsView, error) {
	is, err := s.svc.ListIncidents(r.Context(), "")
	if err != nil {
		return nil, err
	}
	v := &incidentsView{page: s.page(r, "Incidents")}
	v.Section = "incidents"
	now := s.svc.Now()
	for _, i := range is {
		c, o := clockOf(i, now)
		v.Incidents = append(v.Incidents, incidentRow{Incident: i, Clock: c, Overdue: o})
	}
	return v, nil
}

func splitIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// POST /incidents: open from alert ids or by hand.
func (s *server) openIncident(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := r.PostForm
	fail := func(err error) {
		v, lerr := s.incidentsView(r)
		if lerr != nil {
			s.fail(w, r, lerr)
			return
		}
		v.Title, v.Accounts, v.From, v.To, v.AlertIDs = f.Get("title"), f.Get("account_ids"), f.Get("from"), f.Get("to"), f.Get("alert_ids")
		s.formFail(w, r, err, "incidents", v)
	}
	from, err := s.parseDateTime(f.Get("from"), "The start of the period")
	if err != nil {
		fail(err)
		return
	}
	to, err := s.parseDateTime(f.Get("to"), "The end of the period")
	if err != nil {
		fail(err)
		return
	}
	in := service.IncidentInput{Title: f.Get("title"), AlertIDs: splitIDs(f.Get("alert_ids")),
		Scope: service.ScopeInput{AccountIDs: splitIDs(f.Get("account_ids")), From: from, To: to}}
	i, err := s.svc.OpenIncident(r.Context(), in)
	if err != nil {
		fail(err)
		return
	}
	redirect(w, r, "/incidents/"+i.ID, "incident-opened")
}

type incidentView struct {
	page
	I        confidant.Incident
	History  []confidant.IncidentEvent
	Letters  []confidant.IncidentLetter
	Names    map[string]string
	Clock    string
	Overdue  bool
	IsDPO    bool
	Notified map[string]bool
}

// GET /incidents/{id}
func (s *server) incident(w http.ResponseWriter, r *http.Request) {
	v, err := s.incidentView(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "incident", v)
}

func (s *server) incidentView(r *http.Request, id string) (*incidentView, error) {
	d, err := s.svc.Incident(r.Context(), id)
	if err != nil {
		return nil, err
	}
	v := &incidentView{page: s.page(r, d.Incident.Title, crumb{"Incidents", "/incidents"}), I: d.Incident, History: d.History,
		Letters: d.Letters, Notified: map[string]bool{}}
	v.Section = "incidents"
	v.Clock, v.Overdue = clockOf(d.Incident, s.svc.Now())
	if a, err := confidant.ActorFrom(r.Context()); err == nil {
		v.IsDPO = a.Role == confidant.RoleDPO
	}
	ids := []string{d.Incident.OpenedBy, d.Incident.AwarenessSetBy, d.Incident.ClosedBy}
	for _, e := range d.History {
		ids = append(ids, e.By)
	}
	ids = append(ids, d.Incident.Scope.AccountIDs...)
	for _, l := range d.Letters {
		v.Notified[l.PatientID] = true
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	return v, nil
}

// incidentPost runs fn for POST /incidents/{id}/<action> and goes back to
// the incident, or shows it with the error.
func (s *server) incidentPost(done string, fn func(r *http.Request, id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.parseForm(w, r) {
			return
		}
		id := r.PathValue("id")
		if err := fn(r, id); err != nil {
			switch confidant.KindOf(err) {
			case confidant.KindInvalid, confidant.KindConflict:
				v, lerr := s.incidentView(r, id)
				if lerr != nil {
					s.fail(w, r, lerr)
					return
				}
				s.formFail(w, r, err, "incident", v)
			default:
				s.fail(w, r, err)
			}
			return
		}
		redirect(w, r, "/incidents/"+id, done)
	}
}

func (s *server) incidentAwareness(r *http.Request, id string) error {
	at, err := s.parseDateTime(r.PostForm.Get("at"), "The time of awareness")
	if err != nil {
		return err
	}
	if at.IsZero() {
		return invalid("invalid_time", "Give the time of awareness.")
	}
	_, err = s.svc.SetIncidentAwareness(r.Context(), id, at, r.PostForm.Get("reason"))
	return err
}

func (s *server) incidentDecision(r *http.Request, id string) error {
	_, err := s.svc.AddIncidentDecision(r.Context(), id, r.PostForm.Get("text"))
	return err
}

func (s *server) incidentNotification(r *http.Request, id string) error {
	f := r.PostForm
	num := func(name string) (int, error) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, invalid("invalid_number", "Approximate numbers are whole numbers, 0 or more.")
		}
		return n, nil
	}
	subjects, err := num("subjects_approx")
	if err != nil {
		return err
	}
	records, err := num("records_approx")
	if err != nil {
		return err
	}
	_, err = s.svc.SetIncidentNotification(r.Context(), id, confidant.IncidentNotification{
		Nature: f.Get("nature"), SubjectCategories: f.Get("subject_categories"), SubjectsApprox: subjects,
		RecordCategories: f.Get("record_categories"), RecordsApprox: records, DPOContact: f.Get("dpo_contact"),
		Consequences: f.Get("consequences"), Measures: f.Get("measures"),
	})
	return err
}

func (s *server) incidentRescope(r *http.Request, id string) error {
	_, err := s.svc.RescopeIncident(r.Context(), id, service.ScopeInput{})
	return err
}

func (s *server) incidentClose(r *http.Request, id string) error {
	_, err := s.svc.CloseIncident(r.Context(), id, r.PostForm.Get("conclusion"))
	return err
}

func (s *server) incidentLetters(r *http.Request, id string) error {
	var ids []string
	if v := strings.TrimSpace(r.PostForm.Get("patient_ids")); v != "" {
		ids = splitIDs(v)
	}
	_, err := s.svc.SendIncidentLetters(r.Context(), id, r.PostForm.Get("phase"), ids)
	return err
}

// GET /incidents/{id}/regulator-notification.pdf
func (s *server) incidentPDF(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := s.svc.RegulatorNotificationPDF(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="breach-notification-`+id+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// GET /incidents/{id}/regulator-notification.json: the same data as the
// API's JSON answer, for a download from the page.
func (s *server) incidentJSON(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rep, err := s.svc.RegulatorNotification(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="breach-notification-`+id+`.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

type lettersView struct {
	page
	Letters []confidant.IncidentLetter
}

// GET /record/letters: the patient's breach notification letters.
func (s *server) myLetters(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.MyLetters(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &lettersView{page: s.page(r, "Letters about your data"), Letters: ls}
	v.Section = "letters"
	s.render(w, r, http.StatusOK, "letters", v)
}
