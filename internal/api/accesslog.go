package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// accessEntryView is an access-log entry in the API.
type accessEntryView struct {
	Index     uint64 `json:"index"`
	Time      string `json:"time"`
	ActorID   string `json:"actor_id,omitempty"`
	ActorName string `json:"actor_name,omitempty"`
	Role      string `json:"role,omitempty"`
	ClinicID  string `json:"clinic_id,omitempty"`
	Action    string `json:"action"`
	PatientID string `json:"patient_id,omitempty"`
	RecordID  string `json:"record_id,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Outcome   string `json:"outcome"`
	Client    string `json:"client,omitempty"`
	// SubjectName names the therapist of a care relationship started or
	// ended (care.assign, care.end).
	SubjectName string `json:"subject_name,omitempty"`
}

type accessLogView struct {
	Events []accessEntryView `json:"events"`
	Before *uint64           `json:"next_before,omitempty"` // pass as ?before= for the next (older) page
}

func newAccessLogView(es []service.AccessEntry, limit int) accessLogView {
	v := accessLogView{Events: make([]accessEntryView, len(es))}
	for i, e := range es {
		v.Events[i] = accessEntryView{
			Index: e.Index, Time: e.Time.UTC().Format(time.RFC3339Nano), ActorID: e.ActorID, ActorName: e.ActorName,
			Role: string(e.Role), ClinicID: e.ClinicID, Action: e.Action, PatientID: e.PatientID, RecordID: e.RecordID,
			Purpose: e.Purpose, Outcome: e.Outcome, Client: e.Client, SubjectName: e.SubjectName,
		}
	}
	if len(es) > 0 && len(es) == limit {
		b := es[len(es)-1].Index
		v.Before = &b
	}
	return v
}

// paging reads ?before= and ?limit=.
func paging(r *http.Request) (before uint64, limit int, err error) {
	q := r.URL.Query()
	limit = 50
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 200 {
			return 0, 0, confidant.Errorf(confidant.KindInvalid, "invalid_limit", "limit must be a whole number between 1 and 200.")
		}
	}
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, confidant.Errorf(confidant.KindInvalid, "invalid_before", "before must be a log index.")
		}
	}
	return before, limit, nil
}

// timeRange reads ?from= and ?to= (RFC 3339), both required when
// required is set; an absent optional one is the zero time.
func timeRange(q url.Values, required bool) (from, to time.Time, err error) {
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		s := q.Get(name)
		if s == "" && !required {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, time.Time{}, confidant.Errorf(confidant.KindInvalid, "invalid_time", "%s must be an RFC 3339 time, like 2026-01-31T00:00:00Z.", name)
		}
		*dst = t
	}
	return from, to, nil
}

// GET /api/v1/me/access-log: who accessed the acting patient's records.
func (h *handler) myAccessLog(w http.ResponseWriter, r *http.Request) error {
	before, limit, err := paging(r)
	if err != nil {
		return err
	}
	es, err := h.svc.MyAccessLog(r.Context(), before, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAccessLogView(es, limit))
	return nil
}

// breachScope: GET /api/v1/audit/scope?actor=ID&from=&to= (security
// officers): every patient the account accessed in the period.
func (h *handler) breachScope(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.MayQueryAudit(r.Context(), service.ActAuditScope); err != nil {
		return err
	}
	q := r.URL.Query()
	from, to, err := timeRange(q, true)
	if err != nil {
		return err
	}
	ps, err := h.svc.BreachScope(r.Context(), q.Get("actor"), from, to)
	if err != nil {
		return err
	}
	v := breachScopeView{ActorID: q.Get("actor"), From: from.UTC(), To: to.UTC(), Patients: make([]patientAccessView, len(ps))}
	for i, p := range ps {
		v.Patients[i] = patientAccessView{PatientID: p.PatientID, Events: p.Events, Denied: p.Denied, First: p.First.UTC(), Last: p.Last.UTC()}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type breachScopeView struct {
	ActorID  string              `json:"actor_id"`
	From     time.Time           `json:"from"`
	To       time.Time           `json:"to"`
	Patients []patientAccessView `json:"patients"`
}

type patientAccessView struct {
	PatientID string    `json:"patient_id"`
	Events    int       `json:"events"`
	Denied    int       `json:"denied"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// GET /api/v1/me/access-log/{index}/proof: the proof bundle of one entry.
func (h *handler) accessProof(w http.ResponseWriter, r *http.Request) error {
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return confidant.ErrNotFound
	}
	b, err := h.svc.AccessProof(r.Context(), index)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="access-`+strconv.FormatUint(index, 10)+`.proof.json"`)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// GET /api/v1/audit/events?patient=&actor=&action=&from=&to=&before=&limit=
// (security officers).
func (h *handler) auditEvents(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.MayQueryAudit(r.Context(), service.ActAuditQuery); err != nil {
		return err
	}
	before, limit, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aq := service.AuditQuery{PatientID: q.Get("patient"), ActorID: q.Get("actor"), Action: q.Get("action"), Before: before, Limit: limit}
	if aq.From, aq.To, err = timeRange(q, false); err != nil {
		return err
	}
	es, err := h.svc.AuditEvents(r.Context(), aq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAccessLogView(es, limit))
	return nil
}
