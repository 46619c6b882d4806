package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Alerts and honeytokens (docs/API.md; docs/INCIDENTS.md).

// alertView is an alert as security officers and the DPO see it.
type alertView struct {
	ID          string   `json:"id"`
	Rule        string   `json:"rule"`
	Severity    string   `json:"severity"`
	ActorID     string   `json:"actor_id"`
	ClinicID    string   `json:"clinic_id"`
	PatientIDs  []string `json:"patient_ids"` // never null
	Explanation string   `json:"explanation"`
	From        *string  `json:"from"`
	To          *string  `json:"to"`
	FirstIndex  uint64   `json:"first_index"`
	LastIndex   uint64   `json:"last_index"`
	CreatedAt   *string  `json:"created_at"`
	Status      string   `json:"status"`
	DecidedBy   string   `json:"decided_by"`
	DecidedAt   *string  `json:"decided_at"`
	Reason      string   `json:"reason"`
	IncidentID  string   `json:"incident_id"`
	// Tampered: the stored alert failed its integrity check (changed
	// outside the application); it is shown, not hidden.
	Tampered bool `json:"tampered"`
}

func newAlertView(a confidant.Alert) alertView {
	ids := a.PatientIDs
	if ids == nil {
		ids = []string{}
	}
	return alertView{
		ID: a.ID, Rule: a.Rule, Severity: string(a.Severity), ActorID: a.ActorID, ClinicID: a.ClinicID, PatientIDs: ids,
		Explanation: a.Explanation, From: timestamp(a.From), To: timestamp(a.To), FirstIndex: a.FirstIndex, LastIndex: a.LastIndex,
		CreatedAt: timestamp(a.CreatedAt), Status: string(a.Status), DecidedBy: a.DecidedBy, DecidedAt: timestamp(a.DecidedAt),
		Reason: a.Reason, IncidentID: a.IncidentID, Tampered: a.Tampered,
	}
}

type alertListView struct {
	Alerts []alertView `json:"alerts"`
}

// alertQuery reads ?since= (RFC 3339), ?status=, ?rule=, ?limit= (1 to
// 1000, default 100) and ?before= (an alert's id).
func alertQuery(r *http.Request) (service.AlertQuery, error) {
	q := r.URL.Query()
	var f service.AlertQuery
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, confidant.Errorf(confidant.KindInvalid, "invalid_since", "since must be an RFC 3339 time, like 2026-01-31T00:00:00Z.")
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > service.MaxAlertLimit {
			return f, confidant.Errorf(confidant.KindInvalid, "invalid_limit", "limit must be a whole number between 1 and %d.", service.MaxAlertLimit)
		}
		f.Limit = n
	}
	if s := q.Get("status"); s != "" {
		if !confidant.AlertStatus(s).Valid() {
			return f, confidant.Errorf(confidant.KindInvalid, "invalid_status", "status must be new, acknowledged, dismissed or escalated.")
		}
		f.Status = confidant.AlertStatus(s)
	}
	if s := q.Get("before"); s != "" {
		if !confidant.ValidID(s) {
			return f, confidant.Errorf(confidant.KindInvalid, "invalid_before", "before must be the id of an alert.")
		}
		f.Before = s
	}
	if s := q.Get("rule"); s != "" {
		if len(s) > 100 {
			return f, confidant.Errorf(confidant.KindInvalid, "invalid_rule", "rule must be a rule's name.")
		}
		f.Rule = s
	}
	return f, nil
}

// listAlerts: GET /api/v1/alerts (security officers and the DPO).
func (h *handler) listAlerts(w http.ResponseWriter, r *http.Request) error {
	// Refuse by role before judging the parameters.
	if err := h.svc.MayListAlerts(r.Context()); err != nil {
		return err
	}
	f, err := alertQuery(r)
	if err != nil {
		return err
	}
	as, err := h.svc.ListAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, alertListView{Alerts: mapSlice(as, newAlertView)})
	return nil
}

// getAlert: GET /api/v1/alerts/{id}.
func (h *handler) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a, err := h.svc.Alert(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAlertView(a))
	return nil
}

// alertAction answers POST /api/v1/alerts/{id}/acknowledge and /reopen.
func alertAction(do func(ctx context.Context, id string) (confidant.Alert, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		a, err := do(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, newAlertView(a))
		return nil
	}
}

type dismissRequest struct {
	Reason string `json:"reason"`
}

// dismissAlert: POST /api/v1/alerts/{id}/dismiss {"reason"}.
func (h *handler) dismissAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req dismissRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	a, err := h.svc.DismissAlert(r.Context(), id, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAlertView(a))
	return nil
}

// honeytokenView is a decoy patient as security officers see it: "id" is
// the decoy patient's id.
type honeytokenView struct {
	ID           string  `json:"id"`
	HoneytokenID string  `json:"honeytoken_id"`
	ClinicID     string  `json:"clinic_id"`
	GivenName    string  `json:"given_name"`
	FamilyName   string  `json:"family_name"`
	CreatedBy    string  `json:"created_by"`
	CreatedAt    *string `json:"created_at"`
	Tampered     bool    `json:"tampered"`
}

func newHoneytokenView(h service.HoneytokenView) honeytokenView {
	return honeytokenView{ID: h.PatientID, HoneytokenID: h.ID, ClinicID: h.ClinicID, GivenName: h.GivenName, FamilyName: h.FamilyName,
		CreatedBy: h.CreatedBy, CreatedAt: timestamp(h.CreatedAt), Tampered: h.Tampered}
}

type honeytokenListView struct {
	Honeytokens []honeytokenView `json:"honeytokens"`
}

type honeytokenRequest struct {
	ClinicID string `json:"clinic_id"`
}

// createHoneytoken: POST /api/v1/honeytokens {"clinic_id"} (security
// officers): 201 with the decoy.
func (h *handler) createHoneytoken(w http.ResponseWriter, r *http.Request) error {
	var req honeytokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ht, err := h.svc.CreateHoneytoken(r.Context(), req.ClinicID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newHoneytokenView(ht))
	return nil
}

// listHoneytokens: GET /api/v1/honeytokens (security officers and the DPO).
func (h *handler) listHoneytokens(w http.ResponseWriter, r *http.Request) error {
	hs, err := h.svc.ListHoneytokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, honeytokenListView{Honeytokens: mapSlice(hs, newHoneytokenView)})
	return nil
}
