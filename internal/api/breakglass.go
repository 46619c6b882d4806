package api

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
)

// Break-the-glass (docs/SECURITY.md, "Break-the-glass").

// breakGlassRequest: POST /api/v1/patients/{id}/break-glass.
type breakGlassRequest struct {
	Category string `json:"category"`
	Reason   string `json:"reason"`
	Code     string `json:"code"` // the current code of the therapist's second factor
}

// breakGlassReviewRequest: POST /api/v1/break-glass/{id}/review.
type breakGlassReviewRequest struct {
	Outcome string `json:"outcome"` // justified | not_justified
	Comment string `json:"comment"`
}

// breakGlassGrantedView answers a therapist's grant.
type breakGlassGrantedView struct {
	ID        string  `json:"id"`
	Category  string  `json:"category"`
	ExpiresAt *string `json:"expires_at"`
}

// breakGlassView is a grant as security officers review it.
type breakGlassView struct {
	ID          string            `json:"id"`
	TherapistID string            `json:"therapist_id"`
	PatientID   string            `json:"patient_id"`
	ClinicID    string            `json:"clinic_id"`
	Category    string            `json:"category"`
	Reason      string            `json:"reason"`
	CreatedAt   *string           `json:"created_at"`
	ExpiresAt   *string           `json:"expires_at"`
	Status      string            `json:"status"`
	Review      *breakGlassReview `json:"review"` // null while open
}

type breakGlassReview struct {
	Outcome    string  `json:"outcome"`
	ReviewedBy string  `json:"reviewed_by"`
	ReviewedAt *string `json:"reviewed_at"`
	Comment    string  `json:"comment"`
}

func newBreakGlassView(g confidant.BreakGlass) breakGlassView {
	v := breakGlassView{
		ID: g.ID, TherapistID: g.TherapistID, PatientID: g.PatientID, ClinicID: g.ClinicID, Category: g.Category,
		Reason: g.Reason, CreatedAt: timestamp(g.CreatedAt), ExpiresAt: timestamp(g.ExpiresAt), Status: string(g.Status),
	}
	if g.Status != confidant.BreakGlassOpen {
		v.Review = &breakGlassReview{Outcome: string(g.Status), ReviewedBy: g.ReviewedBy, ReviewedAt: timestamp(g.ReviewedAt), Comment: g.ReviewComment}
	}
	return v
}

type breakGlassListView struct {
	Grants []breakGlassView `json:"grants"`
}

// breakGlass: POST /api/v1/patients/{id}/break-glass (therapists)
// {"category", "reason", "code"} grants time-limited emergency access.
func (h *handler) breakGlass(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req breakGlassRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	g, err := h.svc.BreakGlass(r.Context(), id, req.Category, req.Reason, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, breakGlassGrantedView{ID: g.ID, Category: g.Category, ExpiresAt: timestamp(g.ExpiresAt)})
	return nil
}

// listBreakGlass: GET /api/v1/break-glass?status=open|reviewed|all
// (security officers; default open).
func (h *handler) listBreakGlass(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.svc.ListBreakGlass(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, breakGlassListView{Grants: mapSlice(gs, newBreakGlassView)})
	return nil
}

// reviewBreakGlass: POST /api/v1/break-glass/{id}/review
// {"outcome", "comment"} (security officers; once per grant).
func (h *handler) reviewBreakGlass(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req breakGlassReviewRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	g, err := h.svc.ReviewBreakGlass(r.Context(), id, req.Outcome, req.Comment)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newBreakGlassView(g))
	return nil
}
