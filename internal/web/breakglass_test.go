package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// Emergency access without JavaScript: refusals keep the form with a
// message and grant nothing; the queue is the security officers' alone.
func TestBreakGlassPages(t *testing.T) {
	e := newEnv(t)
	pa := e.w.PatientA
	other := e.as(e.w.OtherTherapist)
	reason := "Crisis call at night, the treating therapist is on leave."
	form := url.Values{"category": {"risk_to_life"}, "reason": {reason}, "code": {"000000"}}

	r := other.post("/patients/"+pa.ID+"/emergency", form)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "The code is not valid") || !strings.Contains(r.body, reason) {
		t.Errorf("wrong code: %d %.500s", r.status, r.body)
	}
	if r := other.get("/patients/" + pa.ID); r.status != http.StatusNotFound {
		t.Errorf("chart after a wrong code: %d", r.status)
	}
	// Another clinic's therapist: the patient does not exist for them.
	b := e.as(e.w.TherapistB)
	form.Set("code", testfix.Code(t, e.w.TOTPSecret(e.w.TherapistB)))
	if r := b.post("/patients/"+pa.ID+"/emergency", form); r.status != http.StatusNotFound || strings.Contains(r.body, pa.FamilyName) {
		t.Errorf("another clinic's therapist: %d", r.status)
	}
	// The search finds by identity code only, and within one's clinics.
	if r := b.post("/patients/emergency-search", url.Values{"identity_code": {pa.IdentityCode}}); r.status != http.StatusOK ||
		strings.Contains(r.body, pa.FamilyName) || !strings.Contains(r.body, "No patient of your clinics has this identity code.") {
		t.Errorf("search by another clinic's therapist: %d", r.status)
	}
	if r := other.post("/patients/emergency-search", url.Values{"identity_code": {pa.FamilyName}}); r.status != http.StatusBadRequest {
		t.Errorf("search by name: %d", r.status)
	}

	form.Set("code", testfix.Code(t, e.w.TOTPSecret(e.w.OtherTherapist)))
	page := other.follow("/patients/"+pa.ID+"/emergency", form)
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="emergency-banner"`) || !strings.Contains(page.body, "Emergency access until") {
		t.Errorf("chart after emergency access: %d %.300s", page.status, page.body)
	}
	// The treating therapist's chart has no banner.
	if r := e.as(e.w.Therapist).get("/patients/" + pa.ID); r.status != http.StatusOK || strings.Contains(r.body, "emergency-banner") {
		t.Errorf("treating therapist's chart: %d", r.status)
	}

	// The form is a therapist's.
	if r := e.as(e.w.Manager).get("/patients/" + pa.ID + "/emergency"); r.status != http.StatusForbidden {
		t.Errorf("emergency form for a manager: %d", r.status)
	}
	if r := other.get("/patients/" + pa.ID + "/emergency"); r.status != http.StatusOK || strings.Contains(r.body, pa.FamilyName) {
		t.Errorf("emergency form: %d", r.status)
	}

	// The queue: security officers only.
	for _, c := range []*client{other, e.as(e.w.Manager)} {
		if r := c.get("/emergency-access"); r.status != http.StatusForbidden || strings.Contains(r.body, reason) {
			t.Errorf("queue for a non-officer: %d", r.status)
		}
	}
	sec := e.as(e.w.Security)
	q := sec.get("/emergency-access")
	if q.status != http.StatusOK || !strings.Contains(q.body, reason) || !strings.Contains(q.body, "1 to review") {
		t.Fatalf("queue: %d", q.status)
	}
	gs, err := e.w.Service.ListBreakGlass(e.w.As(e.w.Security), "open")
	if err != nil || len(gs) != 1 {
		t.Fatalf("grants: %v %d", err, len(gs))
	}
	if r := sec.post("/emergency-access/"+gs[0].ID+"/review", url.Values{"outcome": {"not_justified"}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "Explain in a comment") {
		t.Errorf("not justified without a comment: %d", r.status)
	}
	done := sec.follow("/emergency-access/"+gs[0].ID+"/review", url.Values{"outcome": {"justified"}, "comment": {"Confirmed."}})
	if !strings.Contains(done.body, "The review was recorded.") || strings.Contains(done.body, reason) || strings.Contains(done.body, "to review</span>") {
		t.Errorf("after review: %.500s", done.body)
	}
	if r := sec.post("/emergency-access/"+gs[0].ID+"/review", url.Values{"outcome": {"justified"}}); r.status != http.StatusConflict {
		t.Errorf("second review: %d", r.status)
	}
}
