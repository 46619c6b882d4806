package api

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The incident register (docs/INCIDENTS.md, "The incident register").

// incidentRequest: POST /api/v1/incidents: from alerts, or by hand with
// the accounts and the period of the scope.
type incidentRequest struct {
	Title      string   `json:"title"`
	AlertIDs   []string `json:"alert_ids"`
	AccountIDs []string `json:"account_ids"`
	From       string   `json:"from"`
	To         string   `json:"to"`
}

// scopeRequest: POST /api/v1/incidents/{id}/rescope (all empty: the
// current scope's accounts and period again).
type scopeRequest struct {
	AccountIDs []string `json:"account_ids"`
	From       string   `json:"from"`
	To         string   `json:"to"`
}

func (r scopeRequest) input() (service.ScopeInput, error) {
	from, err := parseTime("from", r.From)
	if err != nil {
		return service.ScopeInput{}, err
	}
	to, err := parseTime("to", r.To)
	if err != nil {
		return service.ScopeInput{}, err
	}
	return service.ScopeInput{AccountIDs: r.AccountIDs, From: from, To: to}, nil
}

func (r incidentRequest) input() (service.IncidentInput, error) {
	sc, err := scopeRequest{AccountIDs: r.AccountIDs, From: r.From, To: r.To}.input()
	if err != nil {
		return service.IncidentInput{}, err
	}
	return service.CheckIncidentInput(service.IncidentInput{Title: r.Title, AlertIDs: r.AlertIDs, Scope: sc})
}

type awarenessRequest struct {
	At     string `json:"at"`
	Reason string `json:"reason"` // required to correct a time already set
}

type textRequest struct {
	Text string `json:"text"`
}

type closeRequest struct {
	Conclusion string `json:"conclusion"`
}

type lettersRequest struct {
	Phase      string   `json:"phase"`
	PatientIDs []string `json:"patient_ids"` // absent: every patient in scope not yet notified
}

// notificationRequest: PUT /api/v1/incidents/{id}/notification, the
// GDPR Art. 33(3) fields (all replaced; absent ones become empty).
type notificationRequest struct {
	Nature            string `json:"nature"`
	SubjectCategories string `json:"subject_categories"`
	SubjectsApprox    *int   `json:"subjects_approx"`
	RecordCategories  string `json:"record_categories"`
	RecordsApprox     *int   `json:"records_approx"`
	DPOContact        string `json:"dpo_contact"`
	Consequences      string `json:"consequences"`
	Measures          string `json:"measures"`
}

func (r notificationRequest) notification() (confidant.IncidentNotification, error) {
	n := confidant.IncidentNotification{Nature: r.Nature, SubjectCategories: r.SubjectCategories, RecordCategories: r.RecordCategories,
		DPOContact: r.DPOContact, Consequences: r.Consequences, Measures: r.Measures}
	if r.SubjectsApprox != nil {
		n.SubjectsApprox = *r.SubjectsApprox
	}
	if r.RecordsApprox != nil {
		n.RecordsApprox = *r.RecordsApprox
	}
	return service.CheckNotification(n)
}

type checkpointView struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"` // hex
	Note   string `json:"note"` // the signed checkpoint
}

type scopeView struct {
	Version     int            `json:"version"`
	PatientIDs  []string       `json:"patient_ids"`
	RecordKinds []string       `json:"record_kinds"`
	AccountIDs  []string       `json:"account_ids"`
	From        *string        `json:"from"`
	To          *string        `json:"to"`
	Events      int            `json:"events"`
	ComputedAt  *string        `json:"computed_at"`
	Checkpoint  checkpointView `json:"checkpoint"`
}

func newScopeView(s confidant.IncidentScope) scopeView {
	nz := func(xs []string) []string {
		if xs == nil {
			return []string{}
		}
		return xs
	}
	return scopeView{Version: s.Version, PatientIDs: nz(s.PatientIDs), RecordKinds: nz(s.RecordKinds), AccountIDs: nz(s.AccountIDs),
		From: timestamp(s.From), To: timestamp(s.To), Events: s.Events, ComputedAt: timestamp(s.ComputedAt),
		Checkpoint: checkpointView{Origin: s.Checkpoint.Origin, Size: s.Checkpoint.Size, Root: hex.EncodeToString(s.Checkpoint.Root), Note: s.Checkpoint.Note}}
}

type notificationView struct {
	Nature            string  `json:"nature"`
	SubjectCategories string  `json:"subject_categories"`
	SubjectsApprox    int     `json:"subjects_approx"`
	RecordCategories  string  `json:"record_categories"`
	RecordsApprox     int     `json:"records_approx"`
	DPOContact        string  `json:"dpo_contact"`
	Consequences      string  `json:"consequences"`
	Measures          string  `json:"measures"`
	UpdatedBy         string  `json:"updated_by"`
	UpdatedAt         *string `json:"updated_at"`
}

func newNotificationView(n confidant.IncidentNotification) notificationView {
	return notificationView{Nature: n.Nature, SubjectCategories: n.SubjectCategories, SubjectsApprox: n.SubjectsApprox,
		RecordCategories: n.RecordCategories, RecordsApprox: n.RecordsApprox, DPOContact: n.DPOContact, Consequences: n.Consequences,
		Measures: n.Measures, UpdatedBy: n.UpdatedBy, UpdatedAt: timestamp(n.UpdatedAt)}
}

type historyView struct {
	Seq          int               `json:"seq"`
	At           *string           `json:"at"`
	By           string            `json:"by"`
	Kind         string            `json:"kind"`
	Text         string            `json:"text,omitempty"`
	Time         *string           `json:"time,omitempty"`
	Scope        *scopeView        `json:"scope,omitempty"`
	Notification *notificationView `json:"notification,omitempty"`
	Phase        string            `json:"phase,omitempty"`
	PatientIDs   []string          `json:"patient_ids,omitempty"`
	Count        int               `json:"count,omitempty"`
}

func newHistoryView(e confidant.IncidentEvent) historyView {
	v := historyView{Seq: e.Seq, At: timestamp(e.At), By: e.By, Kind: e.Kind, Text: e.Text, Time: timestamp(e.Time),
		Phase: e.Phase, PatientIDs: e.PatientIDs, Count: e.Count}
	if e.Scope != nil {
		s := newScopeView(*e.Scope)
		v.Scope = &s
	}
	if e.Notification != nil {
		n := newNotificationView(*e.Notification)
		v.Notification = &n
	}
	return v
}

type letterMetaView struct {
	ID        string  `json:"id"`
	PatientID string  `json:"patient_id"`
	Phase     string  `json:"phase"`
	CreatedAt *string `json:"created_at"`
	Mailed    bool    `json:"mailed"`
}

// incidentView is an incident with its clocks: time_left is the number of
// seconds to the GDPR 72-hour deadline (negative once overdue; null until
// awareness is set and once closed).
type incidentView struct {
	ID                   string           `json:"id"`
	Title                string           `json:"title"`
	Status               string           `json:"status"`
	OpenedBy             string           `json:"opened_by"`
	OpenedAt             *string          `json:"opened_at"`
	FirstAlertAt         *string          `json:"first_alert_at"`
	AwarenessAt          *string          `json:"awareness_at"`
	AwarenessSetBy       string           `json:"awareness_set_by"`
	EarlyWarningDeadline *string          `json:"early_warning_deadline"`
	RegulatorDeadline    *string          `json:"regulator_deadline"`
	TimeLeft             *int64           `json:"time_left"`
	Overdue              bool             `json:"overdue"`
	ClosedAt             *string          `json:"closed_at"`
	ClosedBy             string           `json:"closed_by"`
	Conclusion           string           `json:"conclusion"`
	AlertIDs             []string         `json:"alert_ids"`
	Scope                scopeView        `json:"scope"`
	Notification         notificationView `json:"notification"`
	History              []historyView    `json:"history,omitempty"`
	Letters              []letterMetaView `json:"letters,omitempty"`
}

func newIncidentView(i confidant.Incident, now time.Time) incidentView {
	v := incidentView{
		ID: i.ID, Title: i.Title, Status: string(i.Status), OpenedBy: i.OpenedBy, OpenedAt: timestamp(i.OpenedAt),
		FirstAlertAt: timestamp(i.FirstAlertAt), AwarenessAt: timestamp(i.AwarenessAt), AwarenessSetBy: i.AwarenessSetBy,
		EarlyWarningDeadline: timestamp(i.EarlyWarningDeadline()), RegulatorDeadline: timestamp(i.RegulatorDeadline()),
		ClosedAt: timestamp(i.ClosedAt), ClosedBy: i.ClosedBy, Conclusion: i.Conclusion, AlertIDs: i.AlertIDs,
		Scope: newScopeView(i.Scope), Notification: newNotificationView(i.Notification),
	}
	if v.AlertIDs == nil {
		v.AlertIDs = []string{}
	}
	if d := i.RegulatorDeadline(); !d.IsZero() && i.Status == confidant.IncidentOpen {
		left := int64(d.Sub(now) / time.Second)
		v.TimeLeft, v.Overdue = &left, !now.Before(d)
	}
	return v
}

type incidentListView struct {
	Incidents []incidentView `json:"incidents"`
}

// listIncidents: GET /api/v1/incidents?status=open|closed (security
// officers, DPO).
func (h *handler) listIncidents(w http.ResponseWriter, r *http.Request) error {
	is, err := h.svc.ListIncidents(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	now := h.svc.Now()
	writeJSON(w, http.StatusOK, incidentListView{Incidents: mapSlice(is, func(i confidant.Incident) incidentView { return newIncidentView(i, now) })})
	return nil
}

// openIncident: POST /api/v1/incidents {"title", "alert_ids"} or
// {"title", "account_ids", "from", "to"}.
func (h *handler) openIncident(w http.ResponseWriter, r *http.Request) error {
	var req incidentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	i, err := h.svc.OpenIncident(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newIncidentView(i, h.svc.Now()))
	return nil
}

// getIncident: GET /api/v1/incidents/{id}, with its history and letters.
func (h *handler) getIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Incident(r.Context(), id)
	if err != nil {
		return err
	}
	v := newIncidentView(d.Incident, h.svc.Now())
	v.History = mapSlice(d.History, newHistoryView)
	v.Letters = mapSlice(d.Letters, func(l confidant.IncidentLetter) letterMetaView {
		return letterMetaView{ID: l.ID, PatientID: l.PatientID, Phase: l.Phase, CreatedAt: timestamp(l.CreatedAt), Mailed: l.Mailed}
	})
	writeJSON(w, http.StatusOK, v)
	return nil
}

// deleteIncident: DELETE /api/v1/incidents/{id} is always refused (403
// incidents_are_never_deleted), and the attempt recorded.
func (h *handler) deleteIncident(w http.ResponseWriter, r *http.Request) error {
	return h.svc.DeleteIncident(r.Context(), r.PathValue("id"))
}

// incidentChange decodes req, runs fn and answers with the incident.
func incidentChange[T any](h *handler, w http.ResponseWriter, r *http.Request, fn func(id string, req T) (confidant.Incident, error)) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req T
	if err := decode(w, r, &req); err != nil {
		return err
	}
	i, err := fn(id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newIncidentView(i, h.svc.Now()))
	return nil
}

// setAwareness: POST /api/v1/incidents/{id}/awareness {"at", "reason"}
// (DPO).
func (h *handler) setAwareness(w http.ResponseWriter, r *http.Request) error {
	return incidentChange(h, w, r, func(id string, req awarenessRequest) (confidant.Incident, error) {
		if req.At == "" {
			return confidant.Incident{}, missing("at")
		}
		at, err := parseTime("at", req.At)
		if err != nil {
			return confidant.Incident{}, err
		}
		return h.svc.SetIncidentAwareness(r.Context(), id, at, req.Reason)
	})
}

// addDecision: POST /api/v1/incidents/{id}/decisions {"text"}.
func (h *handler) addDecision(w http.ResponseWriter, r *http.Request) error {
	return incidentChange(h, w, r, func(id string, req textRequest) (confidant.Incident, error) {
		return h.svc.AddIncidentDecision(r.Context(), id, req.Text)
	})
}

// setNotification: PUT /api/v1/incidents/{id}/notification.
func (h *handler) setNotification(w http.ResponseWriter, r *http.Request) error {
	return incidentChange(h, w, r, func(id string, req notificationRequest) (confidant.Incident, error) {
		n, err := req.notification()
		if err != nil {
			return confidant.Incident{}, err
		}
		return h.svc.SetIncidentNotification(r.Context(), id, n)
	})
}

// rescope: POST /api/v1/incidents/{id}/rescope {"account_ids", "from",
// "to"} (or {} for the current accounts and period).
func (h *handler) rescope(w http.ResponseWriter, r *http.Request) error {
	return incidentChange(h, w, r, func(id string, req scopeRequest) (confidant.Incident, error) {
		sc, err := req.input()
		if err != nil {
			return confidant.Incident{}, err
		}
		return h.svc.RescopeIncident(r.Context(), id, sc)
	})
}

// closeIncident: POST /api/v1/incidents/{id}/close {"conclusion"} (DPO).
func (h *handler) closeIncident(w http.ResponseWriter, r *http.Request) error {
	return incidentChange(h, w, r, func(id string, req closeRequest) (confidant.Incident, error) {
		return h.svc.CloseIncident(r.Context(), id, req.Conclusion)
	})
}

type lettersView struct {
	Phase      string   `json:"phase"`
	Sent       []string `json:"sent"`
	Mailed     int      `json:"mailed"`
	Skipped    int      `json:"skipped"`
	Remaining  int      `json:"remaining"`
	IncidentID string   `json:"incident_id"`
}

// sendLetters: POST /api/v1/incidents/{id}/letters {"phase",
// "patient_ids"?}.
func (h *handler) sendLetters(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req lettersRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := h.svc.SendIncidentLetters(r.Context(), id, req.Phase, req.PatientIDs)
	if err != nil {
		return err
	}
	if res.Sent == nil {
		res.Sent = []string{}
	}
	writeJSON(w, http.StatusOK, lettersView{Phase: res.Phase, Sent: res.Sent, Mailed: res.Mailed, Skipped: res.Skipped,
		Remaining: res.Remaining, IncidentID: id})
	return nil
}

type decisionView struct {
	At   *string `json:"at"`
	By   string  `json:"by"`
	Text string  `json:"text"`
}

// regulatorView is the notification to the supervisory authority: numbers
// and categories, never a patient id.
type regulatorView struct {
	IncidentID           string         `json:"incident_id"`
	Title                string         `json:"title"`
	Controller           string         `json:"controller"`
	DPOContact           string         `json:"dpo_contact"`
	Status               string         `json:"status"`
	FirstAlertAt         *string        `json:"first_alert_at"`
	OpenedAt             *string        `json:"opened_at"`
	AwarenessAt          *string        `json:"awareness_at"`
	EarlyWarningDeadline *string        `json:"early_warning_deadline"`
	RegulatorDeadline    *string        `json:"regulator_deadline"`
	ClosedAt             *string        `json:"closed_at"`
	GeneratedAt          *string        `json:"generated_at"`
	Late                 bool           `json:"late"`
	Nature               string         `json:"nature"`
	SubjectCategories    string         `json:"subject_categories"`
	SubjectsApprox       int            `json:"subjects_approx"`
	RecordCategories     string         `json:"record_categories"`
	RecordsApprox        int            `json:"records_approx"`
	Consequences         string         `json:"likely_consequences"`
	Measures             string         `json:"measures"`
	PatientsInScope      int            `json:"patients_in_scope"`
	RecordKinds          []string       `json:"record_kinds"`
	ScopeFrom            *string        `json:"scope_from"`
	ScopeTo              *string        `json:"scope_to"`
	CheckpointSize       uint64         `json:"checkpoint_size"`
	CheckpointRoot       string         `json:"checkpoint_root"`
	Decisions            []decisionView `json:"decisions"`
	LettersSent          int            `json:"letters_sent"`
	Conclusion           string         `json:"conclusion"`
}

// regulatorNotification: GET /api/v1/incidents/{id}/regulator-notification
// (JSON; ?format=pdf for the PDF) and .../regulator-notification.pdf.
func (h *handler) regulatorNotification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	switch f := r.URL.Query().Get("format"); {
	case f == "pdf" || r.URL.Path == "/api/v1/incidents/"+id+"/regulator-notification.pdf":
		b, err := h.svc.RegulatorNotificationPDF(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="breach-notification-`+id+`.pdf"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return nil
	case f != "" && f != "json":
		return confidant.Errorf(confidant.KindInvalid, "invalid_format", "The format is json or pdf.")
	}
	rep, err := h.svc.RegulatorNotification(r.Context(), id)
	if err != nil {
		return err
	}
	v := regulatorView{
		IncidentID: rep.IncidentID, Title: rep.Title, Controller: rep.Controller, DPOContact: rep.DPOContact, Status: string(rep.Status),
		FirstAlertAt: timestamp(rep.FirstAlertAt), OpenedAt: timestamp(rep.OpenedAt), AwarenessAt: timestamp(rep.AwarenessAt),
		EarlyWarningDeadline: timestamp(rep.EarlyWarningDeadline), RegulatorDeadline: timestamp(rep.RegulatorDeadline),
		ClosedAt: timestamp(rep.ClosedAt), GeneratedAt: timestamp(rep.GeneratedAt), Late: rep.Late, Nature: rep.Nature,
		SubjectCategories: rep.SubjectCategories, SubjectsApprox: rep.SubjectsApprox, RecordCategories: rep.RecordCategories,
		RecordsApprox: rep.RecordsApprox, Consequences: rep.Consequences, Measures: rep.Measures, PatientsInScope: rep.PatientsInScope,
		RecordKinds: rep.RecordKinds, ScopeFrom: timestamp(rep.ScopeFrom), ScopeTo: timestamp(rep.ScopeTo),
		CheckpointSize: rep.CheckpointSize, CheckpointRoot: rep.CheckpointRoot, LettersSent: rep.LettersSent, Conclusion: rep.Conclusion,
		Decisions: mapSlice(rep.Decisions, func(d service.RegulatorDecision) decisionView {
			return decisionView{At: timestamp(d.At), By: d.By, Text: d.Text}
		}),
	}
	if v.RecordKinds == nil {
		v.RecordKinds = []string{}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type letterTextView struct {
	Lang    string `json:"lang"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

type letterView struct {
	ID         string           `json:"id"`
	IncidentID string           `json:"incident_id"`
	Phase      string           `json:"phase"`
	CreatedAt  *string          `json:"created_at"`
	Texts      []letterTextView `json:"texts"`
}

type lettersListView struct {
	Letters []letterView `json:"letters"`
}

// myLetters: GET /api/v1/me/letters (patients): the breach notification
// letters addressed to them, in Finnish, Swedish and English.
func (h *handler) myLetters(w http.ResponseWriter, r *http.Request) error {
	ls, err := h.svc.MyLetters(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lettersListView{Letters: mapSlice(ls, func(l confidant.IncidentLetter) letterView {
		return letterView{ID: l.ID, IncidentID: l.IncidentID, Phase: l.Phase, CreatedAt: timestamp(l.CreatedAt),
			Texts: mapSlice(l.Texts, func(t confidant.LetterText) letterTextView { return letterTextView(t) })}
	})})
	return nil
}
