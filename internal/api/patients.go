package api

import (
	"net/http"
	"net/url"
	"strconv"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Paging of clinic patient listings (managers).
const (
	defaultPageSize = 100
	maxPageSize     = 500
	maxOffset       = 1_000_000
)

// listPatients: GET /api/v1/patients.
//
//   - managers: ?clinic= (required), ?limit=, ?offset= (service.ClinicPatients).
//   - otherwise: the acting therapist's patients in active care
//     (service.MyPatients).
//
// A search (?q=) or a name filter (?name=) in the URL is refused with
// use_post_patients_search: names and identity codes are sent in the body of
// POST /api/v1/patients/search, never in a URL, where proxies, browsers and
// access logs keep them.
func (h *handler) listPatients(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := personalQuery(q); err != nil {
		return err
	}
	return h.patients(w, r, patientQuery{
		Clinic: q.Get("clinic"), Limit: q.Get("limit"), Offset: q.Get("offset"),
	}, false)
}

// personalQuery refuses the query parameters that carried a name or an
// identity code before they moved into the body of POST
// /api/v1/patients/search.
func personalQuery(q url.Values) error {
	if q.Has("q") || q.Has("name") {
		return errUsePatientsSearch
	}
	return nil
}

// errUsePatientsSearch answers the old search forms (GET
// /api/v1/patients?q= and ?name=).
var errUsePatientsSearch = confidant.Errorf(confidant.KindInvalid, "use_post_patients_search",
	"Names and identity codes are not accepted in a URL: send the search as {\"q\": ...} (or a manager's {\"clinic\": ..., \"name\": ...}) in the body of POST /api/v1/patients/search.")

// patientSearchRequest is the body of POST /api/v1/patients/search.
type patientSearchRequest struct {
	Q      *string `json:"q"`
	Clinic string  `json:"clinic"`
	Name   string  `json:"name"`
	Limit  *int    `json:"limit"`
	Offset *int    `json:"offset"`
}

// patientQuery is a listing or a search, with paging as given (strings, as
// in a URL).
type patientQuery struct {
	Q             *string
	Clinic, Name  string
	Limit, Offset string
}

// optInt is n as a paging parameter's string ("" when absent).
func optInt(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// searchPatients: POST /api/v1/patients/search.
//
//   - {"q": ...}: search the acting therapist's own patients
//     (service.SearchPatients).
//   - managers: {"clinic": ... (required), "name": ... (optional prefix),
//     "limit": ..., "offset": ...} (service.ClinicPatients).
func (h *handler) searchPatients(w http.ResponseWriter, r *http.Request) error {
	if err := personalQuery(r.URL.Query()); err != nil {
		return err
	}
	var req patientSearchRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	return h.patients(w, r, patientQuery{
		Q: req.Q, Clinic: req.Clinic, Name: req.Name, Limit: optInt(req.Limit), Offset: optInt(req.Offset),
	}, true)
}

// patients answers a listing or a search.
func (h *handler) patients(w http.ResponseWriter, r *http.Request, req patientQuery, search bool) error {
	a, err := actorOf(r)
	if err != nil {
		return err
	}
	var (
		ps   []confidant.Patient
		next *int
	)
	switch {
	case req.Q != nil:
		ps, err = h.svc.SearchPatients(r.Context(), *req.Q)
	case a.Role == confidant.RoleManager:
		if req.Clinic == "" {
			return confidant.Errorf(confidant.KindInvalid, "missing_clinic", "The clinic is required for clinic managers.")
		}
		limit, err := intParam(req.Limit, "limit", defaultPageSize, 1, maxPageSize)
		if err != nil {
			return err
		}
		offset, err := intParam(req.Offset, "offset", 0, 0, maxOffset)
		if err != nil {
			return err
		}
		if ps, err = h.svc.ClinicPatients(r.Context(), req.Clinic, req.Name, limit, offset); err != nil {
			return err
		}
		if len(ps) == limit {
			n := offset + limit
			next = &n
		}
	case search:
		return missing("q")
	default:
		ps, err = h.svc.MyPatients(r.Context())
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, patientsView{Patients: mapSlice(ps, newPatientView), NextOffset: next})
	return nil
}

// intParam parses an optional integer query parameter within [min, max].
func intParam(s, name string, def, min, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, confidant.Errorf(confidant.KindInvalid, "invalid_"+name, "Parameter %q must be an integer from %d to %d.", name, min, max)
	}
	return n, nil
}

type patientRequest struct {
	ClinicID     string `json:"clinic_id"`
	GivenName    string `json:"given_name"`
	FamilyName   string `json:"family_name"`
	IdentityCode string `json:"identity_code"`
	Phone        string `json:"phone"`
	Email        string `json:"email"`
	Address      string `json:"address"`
}

// createPatient: POST /api/v1/patients. A therapist creating a patient is
// given a care relationship with them at once (service.CreatePatient).
func (h *handler) createPatient(w http.ResponseWriter, r *http.Request) error {
	var req patientRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := h.svc.CreatePatient(r.Context(), service.PatientInput{
		ClinicID: req.ClinicID, GivenName: req.GivenName, FamilyName: req.FamilyName,
		IdentityCode: req.IdentityCode, Phone: req.Phone, Email: req.Email, Address: req.Address,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"patients/"+p.ID)
	writeJSON(w, http.StatusCreated, newPatientView(p))
	return nil
}

// getPatient: GET /api/v1/patients/{id}, demographics.
func (h *handler) getPatient(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := h.svc.Patient(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPatientView(p))
	return nil
}

// chart: GET /api/v1/patients/{id}/chart, the whole chart for a therapist
// in care.
func (h *handler) chart(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var opts []service.ChartOption
	switch r.URL.Query().Get("notes") {
	case "":
	case "all":
		opts = append(opts, service.AllNotes())
	default:
		return confidant.Errorf(confidant.KindInvalid, "invalid_query", "The notes parameter must be \"all\" or absent.")
	}
	c, err := h.svc.Chart(r.Context(), id, opts...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newChartView(c))
	return nil
}

type accountRequest struct {
	Username string `json:"username"`
	// Email receives the invitation; it is not stored.
	Email string `json:"email"`
	// Handover asks for a code to hand over in person instead.
	Handover bool `json:"handover"`
	// Password is refused (password_not_accepted).
	Password *string `json:"password"`
}

// createPatientAccount: POST /api/v1/patients/{id}/account, a portal
// account for a patient of the acting manager's clinic.
func (h *handler) createPatientAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req accountRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Password != nil {
		return service.ErrPasswordNotAccepted
	}
	inv, err := h.svc.CreatePatientAccount(r.Context(), id, service.PatientAccountInput{
		Username: req.Username, Email: req.Email, Handover: req.Handover,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newInvitedView(inv))
	return nil
}
