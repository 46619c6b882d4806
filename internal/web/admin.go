package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The clinic manager's pages. They show clinics, accounts, patients'
// names and care relationships; nothing here links to a chart or shows
// clinical content, and the service would refuse it anyway.

var crumbClinics = crumb{"Clinics", "/clinics"}

// managerOnly refuses the administration pages to other roles. The service
// authorizes every call regardless; this only keeps other roles from
// landing on pages that make no sense for them.
func managerOnly(r *http.Request) (confidant.Actor, error) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		return a, err
	}
	if a.Role != confidant.RoleManager {
		return a, confidant.ErrPermission
	}
	return a, nil
}

type clinicRow struct {
	confidant.Clinic
	Managed bool
}

type clinicsView struct {
	page
	Clinics []clinicRow
	Name    string
	City    string
}

func (s *server) clinicsView(r *http.Request) (*clinicsView, error) {
	a, err := managerOnly(r)
	if err != nil {
		return nil, err
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		return nil, err
	}
	v := &clinicsView{page: s.page(r, "Clinics")}
	v.Section = "clinics"
	for _, c := range cs {
		v.Clinics = append(v.Clinics, clinicRow{c, a.InClinic(c.ID)})
	}
	// The clinics one manages first.
	slices.SortStableFunc(v.Clinics, func(x, y clinicRow) int {
		if x.Managed == y.Managed {
			return 0
		}
		if x.Managed {
			return -1
		}
		return 1
	})
	return v, nil
}

func (s *server) clinics(w http.ResponseWriter, r *http.Request) {
	v, err := s.clinicsView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "clinics", v)
}

func (s *server) createClinic(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.clinicsView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Name, v.City = r.PostForm.Get("name"), r.PostForm.Get("city")
	c, err := s.svc.CreateClinic(r.Context(), v.Name, v.City)
	if err != nil {
		s.formFail(w, r, err, "clinics", v)
		return
	}
	redirect(w, r, "/clinics/"+c.ID, "clinic-created")
}

// managedClinic loads the clinic of the URL, which the acting manager must
// manage.
func (s *server) managedClinic(r *http.Request) (confidant.Actor, confidant.Clinic, error) {
	a, err := managerOnly(r)
	if err != nil {
		return a, confidant.Clinic{}, err
	}
	c, err := s.svc.Clinic(r.Context(), r.PathValue("cid"))
	if err != nil {
		return a, c, err
	}
	if !a.InClinic(c.ID) {
		return a, c, confidant.ErrNotFound
	}
	return a, c, nil
}

func clinicCrumbs(c confidant.Clinic) []crumb {
	return []crumb{crumbClinics, {c.Name, "/clinics/" + c.ID}}
}

type clinicView struct {
	page
	Clinic confidant.Clinic
	Name   string
	City   string
}

func (s *server) clinic(w http.ResponseWriter, r *http.Request) {
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &clinicView{page: s.page(r, c.Name, crumbClinics), Clinic: c, Name: c.Name, City: c.City}
	v.Section = "clinics"
	s.render(w, r, http.StatusOK, "clinic", v)
}

func (s *server) updateClinic(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &clinicView{page: s.page(r, c.Name, crumbClinics), Clinic: c, Name: r.PostForm.Get("name"), City: r.PostForm.Get("city")}
	v.Section = "clinics"
	if _, err := s.svc.UpdateClinic(r.Context(), c.ID, v.Name, v.City); err != nil {
		s.formFail(w, r, err, "clinic", v)
		return
	}
	redirect(w, r, "/clinics/"+c.ID, "clinic-updated")
}

// Staff.

type staffView struct {
	page
	Clinic confidant.Clinic
	Staff  []confidant.User
	Roles  []confidant.Role
	In     service.StaffInput
}

func (s *server) staffView(r *http.Request) (*staffView, error) {
	_, c, err := s.managedClinic(r)
	if err != nil {
		return nil, err
	}
	us, err := s.svc.Staff(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	v := &staffView{page: s.page(r, "Staff", clinicCrumbs(c)...), Clinic: c, Staff: us,
		Roles: []confidant.Role{confidant.RoleTherapist, confidant.RoleManager}}
	v.Section = "clinics"
	v.In.Role = confidant.RoleTherapist
	return v, nil
}

func (s *server) staff(w http.ResponseWriter, r *http.Request) {
	v, err := s.staffView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "staff", v)
}

func (s *server) createStaff(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.staffView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	v.In = service.StaffInput{
		Username: f.Get("username"), DisplayName: f.Get("display_name"),
		Role: confidant.Role(f.Get("role")), ClinicIDs: []string{v.Clinic.ID}, Email: f.Get("email"),
	}
	if _, err := s.svc.CreateStaff(r.Context(), v.In); err != nil {
		s.formFail(w, r, err, "staff", v)
		return
	}
	redirect(w, r, "/clinics/"+v.Clinic.ID+"/staff", "staff-created")
}

type staffMemberView struct {
	page
	Clinic   confidant.Clinic
	User     confidant.User
	Clinics  []confidant.Clinic // the manager's clinics, to choose memberships from
	Name     string
	Member   map[string]bool
	Disabled bool
}

func (s *server) staffMemberView(r *http.Request) (*staffMemberView, error) {
	a, c, err := s.managedClinic(r)
	if err != nil {
		return nil, err
	}
	us, err := s.svc.Staff(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(us, func(u confidant.User) bool { return u.ID == r.PathValue("uid") })
	if i < 0 {
		return nil, confidant.ErrNotFound
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		return nil, err
	}
	u := us[i]
	v := &staffMemberView{page: s.page(r, u.DisplayName, append(clinicCrumbs(c), crumb{"Staff", "/clinics/" + c.ID + "/staff"})...),
		Clinic: c, User: u, Name: u.DisplayName, Member: map[string]bool{}, Disabled: u.Disabled}
	v.Section = "clinics"
	for _, x := range cs {
		if a.InClinic(x.ID) {
			v.Clinics = append(v.Clinics, x)
		}
	}
	for _, id := range u.ClinicIDs {
		v.Member[id] = true
	}
	return v, nil
}

func (s *server) staffMember(w http.ResponseWriter, r *http.Request) {
	v, err := s.staffMemberView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "staff-member", v)
}

func (s *server) updateStaff(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.staffMemberView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	v.Name, v.Disabled = f.Get("display_name"), f.Get("disabled") == "1"
	v.Member = map[string]bool{}
	for _, id := range f["clinic"] {
		v.Member[id] = true
	}
	in := service.StaffUpdate{DisplayName: v.Name, ClinicIDs: f["clinic"], Disabled: v.Disabled}
	if _, err := s.svc.UpdateStaff(r.Context(), v.User.ID, in); err != nil {
		s.formFail(w, r, err, "staff-member", v)
		return
	}
	redirect(w, r, "/clinics/"+v.Clinic.ID+"/staff", "staff-updated")
}

// Patients of a clinic.

const clinicPageSize = 25

type clinicPatientsView struct {
	page
	Clinic   confidant.Clinic
	Patients []confidant.Patient
	Name     string
	Offset   int
	Prev     int
	Next     int // 0: no next page
}

// clinicPatients lists a clinic's patients by name. Filtering and paging
// are POSTed so that names never appear in a URL.
func (s *server) clinicPatients(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && !s.parseForm(w, r) {
		return
	}
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &clinicPatientsView{page: s.page(r, "Patients", clinicCrumbs(c)...), Clinic: c}
	v.Section = "clinics"
	if r.Method == http.MethodPost {
		v.Name = strings.TrimSpace(r.PostForm.Get("name"))
		v.Offset, _ = strconv.Atoi(r.PostForm.Get("offset"))
		v.Offset = max(v.Offset, 0)
	}
	ps, err := s.svc.ClinicPatients(r.Context(), c.ID, v.Name, clinicPageSize+1, v.Offset)
	if err != nil {
		s.formFail(w, r, err, "clinic-patients", v)
		return
	}
	if len(ps) > clinicPageSize {
		ps, v.Next = ps[:clinicPageSize], v.Offset+clinicPageSize
	}
	v.Patients, v.Prev = ps, max(v.Offset-clinicPageSize, 0)
	s.render(w, r, http.StatusOK, "clinic-patients", v)
}

func (s *server) newClinicPatientForm(w http.ResponseWriter, r *http.Request) {
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &patientFormView{page: s.page(r, "Register a patient", append(clinicCrumbs(c), crumb{"Patients", "/clinics/" + c.ID + "/patients"})...),
		Action: "/clinics/" + c.ID + "/patients"}
	v.Section = "clinics"
	s.render(w, r, http.StatusOK, "patient-form", v)
}

func (s *server) createClinicPatient(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &patientFormView{page: s.page(r, "Register a patient", append(clinicCrumbs(c), crumb{"Patients", "/clinics/" + c.ID + "/patients"})...),
		Action: "/clinics/" + c.ID + "/patients", In: patientInput(r)}
	v.Section = "clinics"
	v.In.ClinicID = c.ID
	p, err := s.svc.CreatePatient(r.Context(), v.In)
	if err != nil {
		s.formFail(w, r, err, "patient-form", v)
		return
	}
	redirect(w, r, "/clinics/"+c.ID+"/patients/"+p.ID, "patient-created")
}

// clinicPatientView is a patient as the manager sees them: name, birth date
// and care relationships. No clinical content.
type clinicPatientView struct {
	page
	Clinic     confidant.Clinic
	Patient    confidant.Patient
	Care       []confidant.CareRelationship
	Names      map[string]string
	Therapists []confidant.User
	Now        time.Time

	Therapist    string
	From         string
	CareError    string
	Username     string
	AccountError string
	HandoverCode string // a new portal account's invitation code, shown once
	InviteURL    string
}

func (s *server) clinicPatientView(r *http.Request) (*clinicPatientView, error) {
	_, c, err := s.managedClinic(r)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Patient(r.Context(), r.PathValue("pid"))
	if err != nil {
		return nil, err
	}
	if p.ClinicID != c.ID {
		return nil, confidant.ErrNotFound
	}
	all, err := s.svc.CareList(r.Context(), c.ID, false)
	if err != nil {
		return nil, err
	}
	v := &clinicPatientView{page: s.page(r, p.Name(), append(clinicCrumbs(c), crumb{"Patients", "/clinics/" + c.ID + "/patients"})...),
		Clinic: c, Patient: p, Now: s.now()}
	v.Section = "clinics"
	var ids []string
	for _, cr := range all {
		if cr.PatientID == p.ID {
			v.Care = append(v.Care, cr)
			ids = append(ids, cr.TherapistID, cr.CreatedBy, cr.EndedBy)
		}
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	ts, err := s.svc.Therapists(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if !t.Disabled {
			v.Therapists = append(v.Therapists, t)
		}
	}
	return v, nil
}

func (s *server) clinicPatient(w http.ResponseWriter, r *http.Request) {
	v, err := s.clinicPatientView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "clinic-patient", v)
}

// clinicPatientFail re-renders the patient page with the message next to
// the form that failed.
func (s *server) clinicPatientFail(w http.ResponseWriter, r *http.Request, err error, set func(*clinicPatientView, string)) {
	v, e := s.clinicPatientView(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	s.formFail(w, r, err, "clinic-patient", &fieldError{v, set})
}

// fieldError routes a form error to one form's message field.
type fieldError struct {
	*clinicPatientView
	set func(*clinicPatientView, string)
}

func (f *fieldError) setError(msg string) { f.set(f.clinicPatientView, msg) }

func (s *server) assignCare(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	therapist, fromStr := r.PostForm.Get("therapist"), r.PostForm.Get("from")
	from, err := s.parseDate(fromStr, "The start date")
	if err == nil && from.Format(time.DateOnly) == s.now().In(s.loc).Format(time.DateOnly) {
		from = time.Time{} // today: from now
	}
	if err == nil {
		_, err = s.svc.AssignCare(r.Context(), r.PathValue("pid"), therapist, from)
	}
	if err != nil {
		s.clinicPatientFail(w, r, err, func(v *clinicPatientView, msg string) { v.Therapist, v.From, v.CareError = therapist, fromStr, msg })
		return
	}
	redirect(w, r, "/clinics/"+c.ID+"/patients/"+r.PathValue("pid"), "care-assigned")
}

func (s *server) endCare(w http.ResponseWriter, r *http.Request) {
	if _, err := managerOnly(r); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.svc.EndCare(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/clinics/"+c.ClinicID+"/patients/"+c.PatientID, "care-ended")
}

func (s *server) createPatientAccount(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, c, err := s.managedClinic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	username := r.PostForm.Get("username")
	inv, err := s.svc.CreatePatientAccount(r.Context(), r.PathValue("pid"), service.PatientAccountInput{
		Username: username, Email: r.PostForm.Get("email"), Handover: r.PostForm.Get("handover") == "1",
	})
	if err != nil {
		s.clinicPatientFail(w, r, err, func(v *clinicPatientView, msg string) { v.Username, v.AccountError = username, msg })
		return
	}
	if inv.Code == "" {
		redirect(w, r, "/clinics/"+c.ID+"/patients/"+r.PathValue("pid"), "account-created")
		return
	}
	// The hand-over code is shown on this answer only.
	v, err := s.clinicPatientView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.HandoverCode, v.InviteURL = service.GroupCode(inv.Code), s.svc.Config().PublicURL+"/invite"
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "clinic-patient", v)
}
