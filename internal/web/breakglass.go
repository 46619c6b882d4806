package web

import (
	"net/http"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Break-the-glass (docs/SECURITY.md): a therapist finds a patient of their
// clinics outside their care by identity code, takes emergency access with
// a category, a reason and their second factor, and the chart opens with a
// banner saying until when; security officers review every grant.

// POST /patients/emergency-search: a whole identity code. A POST, so that
// the code never appears in a URL.
func (s *server) emergencySearch(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v := &patientsView{page: s.page(r, "My patients"), EmergencyQuery: r.PostForm.Get("identity_code"), EmergencySearched: true}
	v.Section = "patients"
	cs, err := s.svc.SearchForEmergency(r.Context(), v.EmergencyQuery)
	if err != nil {
		s.formFail(w, r, err, "patients", v)
		return
	}
	v.Emergency = cs
	s.render(w, r, http.StatusOK, "patients", v)
}

type emergencyFormView struct {
	page
	PatientID  string
	Categories []service.BreakGlassCategory
	Category   string
	Reason     string
	Hours      float64
}

func (s *server) emergencyView(r *http.Request, id string) *emergencyFormView {
	v := &emergencyFormView{
		page: s.page(r, "Emergency access", crumbPatients), PatientID: id, Categories: service.BreakGlassCategories,
		Hours: s.svc.Config().BreakGlassTTL.Hours(),
	}
	v.Section = "patients"
	return v
}

// GET /patients/{id}/emergency: the form. It shows nothing of the patient
// (the therapist has no access yet).
func (s *server) emergencyForm(w http.ResponseWriter, r *http.Request) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if a.Role != confidant.RoleTherapist { // the service refuses the POST too
		s.fail(w, r, confidant.ErrPermission)
		return
	}
	id := r.PathValue("id")
	if !confidant.ValidID(id) {
		s.fail(w, r, confidant.ErrNotFound)
		return
	}
	s.render(w, r, http.StatusOK, "emergency", s.emergencyView(r, id))
}

// POST /patients/{id}/emergency: take emergency access and open the chart.
func (s *server) breakGlass(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	v := s.emergencyView(r, id)
	v.Category, v.Reason = r.PostForm.Get("category"), r.PostForm.Get("reason")
	if _, err := s.svc.BreakGlass(r.Context(), id, v.Category, v.Reason, r.PostForm.Get("code")); err != nil {
		s.formFail(w, r, err, "emergency", v)
		return
	}
	redirect(w, r, "/patients/"+id, "emergency-access")
}

// The security officer's review queue.

type emergencyAccessView struct {
	page
	Status      string // open, reviewed or all
	Grants      []confidant.BreakGlass
	Names       map[string]string // therapists and reviewers
	ClinicNames map[string]string
	Now         time.Time
}

// GET /emergency-access?status=open|reviewed|all
func (s *server) emergencyAccess(w http.ResponseWriter, r *http.Request) {
	v, err := s.emergencyAccessView(r, r.URL.Query().Get("status"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "emergency-access", v)
}

func (s *server) emergencyAccessView(r *http.Request, status string) (*emergencyAccessView, error) {
	if status == "" {
		status = "open"
	}
	gs, err := s.svc.ListBreakGlass(r.Context(), status)
	if err != nil {
		return nil, err
	}
	v := &emergencyAccessView{page: s.page(r, "Emergency access"), Status: status, Grants: gs, Now: s.now(), ClinicNames: map[string]string{}}
	v.Section = "emergency"
	ids := make([]string, 0, 2*len(gs))
	for _, g := range gs {
		ids = append(ids, g.TherapistID)
		if g.ReviewedBy != "" {
			ids = append(ids, g.ReviewedBy)
		}
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

// POST /emergency-access/{id}/review: outcome and comment.
func (s *server) reviewEmergencyAccess(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, err := s.svc.ReviewBreakGlass(r.Context(), r.PathValue("id"), r.PostForm.Get("outcome"), r.PostForm.Get("comment"))
	switch {
	case err == nil:
		redirect(w, r, "/emergency-access", "emergency-reviewed")
	case confidant.IsKind(err, confidant.KindInvalid) || confidant.IsKind(err, confidant.KindConflict):
		// Back to the queue, with the message.
		v, lerr := s.emergencyAccessView(r, "open")
		if lerr != nil {
			s.fail(w, r, lerr)
			return
		}
		s.formFail(w, r, err, "emergency-access", v)
	default:
		s.fail(w, r, err)
	}
}
