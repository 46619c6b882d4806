package web

import (
	"errors"
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

var crumbPatients = crumb{"My patients", "/patients"}

type patientsView struct {
	page
	Patients []confidant.Patient
	Query    string
	Searched bool
	// Emergency: patients of the therapist's clinics found by identity
	// code for emergency access (break-the-glass).
	Emergency         []service.EmergencyCandidate
	EmergencyQuery    string
	EmergencySearched bool
}

// myPatients lists the therapist's patients in active care.
func (s *server) myPatients(w http.ResponseWriter, r *http.Request) {
	ps, err := s.svc.MyPatients(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &patientsView{page: s.page(r, "My patients"), Patients: ps}
	v.Section = "patients"
	s.render(w, r, http.StatusOK, "patients", v)
}

// searchPatients searches the therapist's own patients. It is a POST so
// that names and identity codes never appear in a URL.
func (s *server) searchPatients(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v := &patientsView{page: s.page(r, "My patients"), Query: r.PostForm.Get("q"), Searched: true}
	v.Section = "patients"
	ps, err := s.svc.SearchPatients(r.Context(), v.Query)
	if err != nil {
		s.formFail(w, r, err, "patients", v)
		return
	}
	v.Patients = ps
	s.render(w, r, http.StatusOK, "patients", v)
}

// patientFormView is the registration form, for a therapist (into one of
// their clinics, with care starting now) or a manager (into a clinic).
type patientFormView struct {
	page
	Action  string
	Clinics []confidant.Clinic // choices; empty when fixed
	In      service.PatientInput
}

func (s *server) newPatientForm(w http.ResponseWriter, r *http.Request) {
	v := &patientFormView{page: s.page(r, "New patient", crumbPatients), Action: "/patients"}
	v.Section = "patients"
	if err := s.ownClinics(r, v); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "patient-form", v)
}

// ownClinics fills the clinic choice with the actor's clinics when there is
// more than one.
func (s *server) ownClinics(r *http.Request, v *patientFormView) error {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		return err
	}
	if len(a.ClinicIDs) < 2 {
		return nil
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		return err
	}
	for _, c := range cs {
		if a.InClinic(c.ID) {
			v.Clinics = append(v.Clinics, c)
		}
	}
	return nil
}

func (s *server) createPatient(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v := &patientFormView{page: s.page(r, "New patient", crumbPatients), Action: "/patients", In: patientInput(r)}
	v.Section = "patients"
	p, err := s.svc.CreatePatient(r.Context(), v.In)
	if err != nil {
		if e := s.ownClinics(r, v); e != nil {
			s.fail(w, r, e)
			return
		}
		s.formFail(w, r, err, "patient-form", v)
		return
	}
	redirect(w, r, "/patients/"+p.ID, "patient-created")
}

func patientInput(r *http.Request) service.PatientInput {
	f := r.PostForm
	return service.PatientInput{
		ClinicID:     f.Get("clinic"),
		GivenName:    f.Get("given_name"),
		FamilyName:   f.Get("family_name"),
		IdentityCode: f.Get("identity_code"),
		Phone:        f.Get("phone"),
		Email:        f.Get("email"),
		Address:      f.Get("address"),
	}
}

// parseForm reads a url-encoded POST body of bounded size. On failure it
// has answered and returns false.
func (s *server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, formError(err))
		return false
	}
	return true
}

// maxFormBytes bounds a form: a note may be 100,000 characters, which is up
// to 400 KB of UTF-8, and URL encoding can triple that.
const maxFormBytes = 2 << 20

func formError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return confidant.Errorf(confidant.KindTooLarge, "form_too_large", "The form is too large.")
	}
	return invalid("invalid_form", "The form could not be read.")
}
