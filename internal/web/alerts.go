package web

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Alerts and honeytokens: security officers' and the data protection
// officer's pages (docs/INCIDENTS.md).

type alertsView struct {
	page
	Status      string // "" for all
	Statuses    []string
	Alerts      []confidant.Alert
	Names       map[string]string // accounts (actors and deciders)
	ClinicNames map[string]string
	// Me is the signed-in account (a dismissal is reopened by someone
	// else).
	MeID string
}

var alertStatuses = []string{"new", "acknowledged", "dismissed", "escalated"}

// GET /alerts?status=
func (s *server) alerts(w http.ResponseWriter, r *http.Request) {
	v, err := s.alertsView(r, r.URL.Query().Get("status"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "alerts", v)
}

func (s *server) alertsView(r *http.Request, status string) (*alertsView, error) {
	as, err := s.svc.ListAlerts(r.Context(), service.AlertQuery{Status: confidant.AlertStatus(status)})
	if err != nil {
		return nil, err
	}
	v := &alertsView{page: s.page(r, "Alerts"), Status: status, Statuses: alertStatuses, Alerts: as, ClinicNames: map[string]string{}}
	v.Section = "alerts"
	if a, err := confidant.ActorFrom(r.Context()); err == nil {
		v.MeID = a.UserID
	}
	ids := make([]string, 0, 2*len(as))
	for _, a := range as {
		ids = append(ids, a.ActorID, a.DecidedBy)
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		v.ClinicNames[c.ID] = c.Name
	}
	return v, nil
}

// POST /alerts/{id}/acknowledge, /alerts/{id}/dismiss (reason),
// /alerts/{id}/reopen.
func (s *server) alertAction(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	var err error
	var done string
	switch r.PathValue("action") {
	case "acknowledge":
		_, err = s.svc.AcknowledgeAlert(r.Context(), id)
		done = "alert-acknowledged"
	case "dismiss":
		_, err = s.svc.DismissAlert(r.Context(), id, r.PostForm.Get("reason"))
		done = "alert-dismissed"
	case "reopen":
		_, err = s.svc.ReopenAlert(r.Context(), id)
		done = "alert-reopened"
	default:
		s.fail(w, r, confidant.ErrNotFound)
		return
	}
	switch {
	case err == nil:
		redirect(w, r, "/alerts", done)
	case confidant.IsKind(err, confidant.KindInvalid) || confidant.IsKind(err, confidant.KindConflict) ||
		confidant.CodeOf(err) == "own_dismissal":
		v, lerr := s.alertsView(r, "")
		if lerr != nil {
			s.fail(w, r, lerr)
			return
		}
		s.formFail(w, r, err, "alerts", v)
	default:
		s.fail(w, r, err)
	}
}

type honeytokensView struct {
	page
	Honeytokens []service.HoneytokenView
	Clinics     []confidant.Clinic
	ClinicNames map[string]string
	Names       map[string]string
	// CanCreate: security officers make decoys; the DPO only sees them.
	CanCreate bool
	ClinicID  string // the form's choice
}

// GET /honeytokens
func (s *server) honeytokens(w http.ResponseWriter, r *http.Request) {
	v, err := s.honeytokensView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "honeytokens", v)
}

func (s *server) honeytokensView(r *http.Request) (*honeytokensView, error) {
	hs, err := s.svc.ListHoneytokens(r.Context())
	if err != nil {
		return nil, err
	}
	v := &honeytokensView{page: s.page(r, "Honeytokens"), Honeytokens: hs, ClinicNames: map[string]string{}}
	v.Section = "honeytokens"
	if a, err := confidant.ActorFrom(r.Context()); err == nil {
		v.CanCreate = a.Role == confidant.RoleSecurity
	}
	if v.Clinics, err = s.svc.Clinics(r.Context()); err != nil {
		return nil, err
	}
	for _, c := range v.Clinics {
		v.ClinicNames[c.ID] = c.Name
	}
	ids := make([]string, 0, len(hs))
	for _, h := range hs {
		ids = append(ids, h.CreatedBy)
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	return v, nil
}

// POST /honeytokens: clinic.
func (s *server) createHoneytoken(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, err := s.svc.CreateHoneytoken(r.Context(), r.PostForm.Get("clinic"))
	switch {
	case err == nil:
		redirect(w, r, "/honeytokens", "honeytoken-created")
	case confidant.IsKind(err, confidant.KindInvalid):
		v, lerr := s.honeytokensView(r)
		if lerr != nil {
			s.fail(w, r, lerr)
			return
		}
		v.ClinicID = r.PostForm.Get("clinic")
		s.formFail(w, r, err, "honeytokens", v)
	default:
		s.fail(w, r, err)
	}
}
