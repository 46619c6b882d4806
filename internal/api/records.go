package api

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

type processNoteRequest struct {
	Body string `json:"body"`
}

// createProcessNote: POST /api/v1/patients/{id}/process-notes, a private
// note only its author can ever read.
func (h *handler) createProcessNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req processNoteRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	n, err := h.svc.CreateProcessNote(r.Context(), id, req.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newProcessNoteView(n))
	return nil
}

// listProcessNotes: GET /api/v1/patients/{id}/process-notes, the acting
// therapist's own process notes on the patient.
func (h *handler) listProcessNotes(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ns, err := h.svc.ProcessNotes(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, processNotesView{ProcessNotes: mapSlice(ns, newProcessNoteView)})
	return nil
}

type diagnosisRequest struct {
	Code string `json:"code"` // ICD-10 chapter F, e.g. "F32.1"
	Note string `json:"note"`
}

// createDiagnosis: POST /api/v1/patients/{id}/diagnoses.
func (h *handler) createDiagnosis(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req diagnosisRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := h.svc.AddDiagnosis(r.Context(), id, req.Code, req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newDiagnosisView(d))
	return nil
}

type diagnosisStatusRequest struct {
	Status string `json:"status"` // active or resolved
}

// setDiagnosisStatus: POST /api/v1/diagnoses/{id}/status.
func (h *handler) setDiagnosisStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req diagnosisStatusRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := h.svc.SetDiagnosisStatus(r.Context(), id, confidant.DiagnosisStatus(req.Status))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newDiagnosisView(d))
	return nil
}

type planRequest struct {
	Goals         string `json:"goals"`
	Interventions string `json:"interventions"`
	ReviewOn      string `json:"review_on"` // YYYY-MM-DD, optional
}

// createPlan: POST /api/v1/patients/{id}/plans saves a new version of the
// treatment plan.
func (h *handler) createPlan(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req planRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	review, err := parseDate("review_on", req.ReviewOn)
	if err != nil {
		return err
	}
	p, err := h.svc.SavePlan(r.Context(), id, service.PlanInput{Goals: req.Goals, Interventions: req.Interventions, ReviewOn: review})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newPlanView(p))
	return nil
}

type measureRequest struct {
	Instrument string `json:"instrument"` // phq9 or gad7
	// Answers has one 0..3 per item. Pointers, so that a JSON null (an
	// item left unanswered) is told apart from 0 and refused, never scored.
	Answers []*int `json:"answers"`
	TakenAt string `json:"taken_at"` // RFC 3339; default now
}

// errMissingAnswer refuses a measure with an unanswered item.
var errMissingAnswer = confidant.Errorf(confidant.KindInvalid, "missing_answer",
	"Every item needs an answer: an answer is null or missing.")

// answers returns the answers, or 400 missing_answer when one is null.
func (m measureRequest) answers() ([]int, error) {
	out := make([]int, len(m.Answers))
	for i, a := range m.Answers {
		if a == nil {
			return nil, errMissingAnswer
		}
		out[i] = *a
	}
	return out, nil
}

// createMeasure: POST /api/v1/patients/{id}/measures scores and stores an
// outcome measure.
func (h *handler) createMeasure(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req measureRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	answers, err := req.answers()
	if err != nil {
		return err
	}
	at, err := parseTime("taken_at", req.TakenAt)
	if err != nil {
		return err
	}
	m, err := h.svc.RecordMeasure(r.Context(), id, confidant.Instrument(req.Instrument), answers, at)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newMeasureView(m))
	return nil
}
