package api

import (
	"net/http"
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
//   - ?q=: search the acting therapist's own patients (service.SearchPatients).
//   - managers: ?clinic= (required), optional ?name= prefix, ?limit=, ?offset=
//     (service.ClinicPatients).
//   - otherwise: the acting therapist's patients in active care
//     (service.MyPatients).
func (h *handler) listPatients(w http.ResponseWriter, r *http.Request) error {
	a, err := actorOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var (
		ps   []confidant.Patient
		next *int
	)
	switch {
	case q.Has("q"):
		ps, err = h.svc.SearchPatients(r.Context(), q.Get("q"))
	case a.Role == confidant.RoleManager:
		clinic := q.Get("clinic")
		if clinic == "" {
			return confidant.Errorf(confidant.KindInvalid, "missing_clinic", "Query parameter \"clinic\" is required for clinic managers.")
		}
		limit, err := intParam(q.Get("limit"), "limit", defaultPageSize, 1, maxPageSize)
		if err != nil {
			return err
		}
		offset, err := intParam(q.Get("offset"), "offset", 0, 0, maxOffset)
		if err != nil {
			return err
		}
		if ps, err = h.svc.ClinicPatients(r.Context(), clinic, q.Get("name"), limit, offset); err != nil {
			return err
		}
		if len(ps) == limit {
			n := offset + limit
			next = &n
		}
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
		return 0, confidant.Errorf(confidant.KindInvalid, "invalid_"+name, "Query parameter %q must be an integer from %d to %d.", name, min, max)
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
