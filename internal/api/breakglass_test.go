package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// The interface the acceptance checks use: POST
// /api/v1/patients/{id}/break-glass {"category","reason","code"} answers
// 200 {"expires_at", ...}, and the patient's GET /api/v1/me/access-log
// shows the grant with its reason; security officers list and review it.
func TestBreakGlassAPI(t *testing.T) {
	e := newEnv(t)
	other := e.login(t, "other")
	path := "/api/v1/patients/" + e.PatientA.ID + "/break-glass"
	reason := "Crisis call at night; the treating therapist is on leave."

	// A wrong code: 400 second_factor_invalid; nothing granted.
	res := e.do(t, req{Method: "POST", Path: path, Token: other,
		Body: map[string]string{"category": "risk_to_life", "reason": reason, "code": "000000"}})
	if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "second_factor_invalid" {
		t.Fatalf("wrong code: %d %s", res.Code, res.Body)
	}
	e.call(t, http.StatusNotFound, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", other, nil)
	// Bad input is a clear 400.
	res = e.do(t, req{Method: "POST", Path: path, Token: other,
		Body: map[string]string{"category": "curiosity", "reason": reason, "code": "000000"}})
	if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "invalid_category" {
		t.Fatalf("bad category: %d %s", res.Code, res.Body)
	}

	before := time.Now()
	res = e.call(t, http.StatusOK, "POST", path, other, map[string]string{
		"category": "risk_to_life", "reason": reason, "code": testfix.Code(t, e.secretOf(t, "other")),
	})
	var g struct {
		ID        string `json:"id"`
		Category  string `json:"category"`
		ExpiresAt string `json:"expires_at"`
	}
	res.decode(t, &g)
	exp, err := time.Parse(time.RFC3339, g.ExpiresAt)
	if err != nil || g.ID == "" || g.Category != "risk_to_life" ||
		exp.Before(before.Add(4*time.Hour-time.Minute)) || exp.After(time.Now().Add(4*time.Hour+time.Minute)) {
		t.Fatalf("grant %+v (%v)", g, err)
	}
	var chart struct {
		EmergencyUntil *string `json:"emergency_until"`
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", other, nil).decode(t, &chart)
	if chart.EmergencyUntil == nil || *chart.EmergencyUntil == "" {
		t.Errorf("chart under the grant has no emergency_until")
	}
	// In care: no grant needed.
	th := e.login(t, "therapist")
	res = e.do(t, req{Method: "POST", Path: path, Token: th,
		Body: map[string]string{"category": "risk_to_life", "reason": reason, "code": testfix.Code(t, e.secretOf(t, "therapist"))}})
	if res.Code != http.StatusConflict || res.errorOf(t).Error.Code != "care_exists" {
		t.Errorf("therapist in care: %d %s", res.Code, res.Body)
	}

	// The patient's access history shows it with the reason.
	pat := e.login(t, "aino")
	var log struct {
		Events []struct {
			Action   string `json:"action"`
			Purpose  string `json:"purpose"`
			RecordID string `json:"record_id"`
			ActorID  string `json:"actor_id"`
			Outcome  string `json:"outcome"`
		} `json:"events"`
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/me/access-log", pat, nil).decode(t, &log)
	found := false
	for _, ev := range log.Events {
		if ev.Action == "patient.break_glass" && ev.Outcome == "ok" {
			found = strings.Contains(ev.Purpose, reason) && ev.ActorID == e.OtherTherapist.ID && ev.RecordID == g.ID
		}
	}
	if !found {
		t.Errorf("the patient's access log does not show the emergency access with its reason: %s", e.call(t, http.StatusOK, "GET", "/api/v1/me/access-log", pat, nil).Body)
	}

	// Security officers: the queue, then one review.
	sec := e.login(t, "security")
	var list struct {
		Grants []struct {
			ID          string `json:"id"`
			PatientID   string `json:"patient_id"`
			TherapistID string `json:"therapist_id"`
			Reason      string `json:"reason"`
			Status      string `json:"status"`
			Review      *struct {
				Outcome string `json:"outcome"`
				Comment string `json:"comment"`
			} `json:"review"`
		} `json:"grants"`
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/break-glass", sec, nil).decode(t, &list)
	if len(list.Grants) != 1 || list.Grants[0].ID != g.ID || list.Grants[0].Reason != reason || list.Grants[0].Review != nil ||
		list.Grants[0].PatientID != e.PatientA.ID || list.Grants[0].TherapistID != e.OtherTherapist.ID || list.Grants[0].Status != "open" {
		t.Fatalf("queue: %+v", list)
	}
	res = e.do(t, req{Method: "POST", Path: "/api/v1/break-glass/" + g.ID + "/review", Token: sec,
		Body: map[string]string{"outcome": "not_justified"}})
	if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "comment_required" {
		t.Errorf("not justified without comment: %d %s", res.Code, res.Body)
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/break-glass/"+g.ID+"/review", sec,
		map[string]string{"outcome": "justified", "comment": "Confirmed with the crisis line."})
	res = e.do(t, req{Method: "POST", Path: "/api/v1/break-glass/" + g.ID + "/review", Token: sec,
		Body: map[string]string{"outcome": "justified"}})
	if res.Code != http.StatusConflict || res.errorOf(t).Error.Code != "already_reviewed" {
		t.Errorf("second review: %d %s", res.Code, res.Body)
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/break-glass?status=reviewed", sec, nil).decode(t, &list)
	if len(list.Grants) != 1 || list.Grants[0].Review == nil || list.Grants[0].Review.Outcome != "justified" ||
		list.Grants[0].Review.Comment != "Confirmed with the crisis line." {
		t.Errorf("reviewed: %+v", list)
	}
}

// Wrong codes are throttled as sign-ins are: 429 with Retry-After.
func TestBreakGlassThrottled(t *testing.T) {
	e := newEnv(t)
	other := e.login(t, "other")
	path := "/api/v1/patients/" + e.PatientC.ID + "/break-glass"
	body := map[string]string{"category": "other", "reason": "An emergency with a long enough reason.", "code": "000000"}
	for i := range 20 {
		res := e.do(t, req{Method: "POST", Path: path, Token: other, Body: body})
		if res.Code == http.StatusTooManyRequests {
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			if i < 3 {
				t.Errorf("throttled after %d wrong codes", i)
			}
			return
		}
		if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "second_factor_invalid" {
			t.Fatalf("wrong code %d: %d %s", i, res.Code, res.Body)
		}
	}
	t.Fatal("20 wrong codes and no 429")
}
