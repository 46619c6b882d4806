package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// newStaff makes a staff account as the operator would, enrols its
// second factor and signs it in.
func (e *env) newStaff(t *testing.T, username string, role confidant.Role) string {
	t.Helper()
	u, err := e.Service.OperatorCreateUser(t.Context(), service.StaffInput{
		Username: username, DisplayName: username, Role: role, Password: testfix.Password,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, secret := testfix.NewTOTPSecret()
	if err := e.Store.Update(t.Context(), func(tx confidant.Tx) error {
		return service.EnrolTOTP(t.Context(), tx, u.ID, raw, time.Now().UTC().Truncate(time.Microsecond))
	}); err != nil {
		t.Fatal(err)
	}
	e.enrolled.Store(username, secret)
	return e.login(t, username)
}

// The interface the acceptance checks use: GET /api/v1/alerts answers
// {"alerts": [{"id", "rule", "severity", "actor_id", "patient_ids",
// "created_at", "status", "explanation", ...}]} newest first to security
// officers and the DPO (403 to others), ?since= keeps alerts created at or
// after it, and the lifecycle endpoints change the status.
func TestAlertsAPI(t *testing.T) {
	e := newEnv(t)
	sec := e.login(t, "security")
	dpo := e.newStaff(t, "dpo2", confidant.RoleDPO)
	sec2 := e.newStaff(t, "security2", confidant.RoleSecurity)

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(key string, at time.Time, patients []string) confidant.Alert {
		a := confidant.Alert{ID: confidant.NewID(), Rule: "no_care", Severity: confidant.AlertHigh, ActorID: e.OtherTherapist.ID,
			ClinicID: e.ClinicA.ID, PatientIDs: patients, Explanation: "Read charts without a care relationship.",
			From: at.Add(-time.Hour), To: at, FirstIndex: 1, LastIndex: 5, Key: key, CreatedAt: at, Status: confidant.AlertNew}
		if err := e.Store.Update(t.Context(), func(tx confidant.Tx) error {
			_, err := tx.CreateAlert(t.Context(), a)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := mk("k1", t0, []string{e.PatientA.ID})
	a2 := mk("k2", t0.Add(time.Hour), nil) // no patients: still an array
	a3 := mk("k3", t0.Add(2*time.Hour), []string{e.PatientA.ID, e.PatientC.ID})

	for _, u := range []string{"therapist", "manager", "aino"} {
		tok := e.login(t, u)
		for _, p := range []string{"/api/v1/alerts", "/api/v1/alerts/" + a1.ID, "/api/v1/honeytokens"} {
			if res := e.do(t, req{Method: "GET", Path: p, Token: tok}); res.Code != http.StatusForbidden {
				t.Errorf("%s GET %s: %d", u, p, res.Code)
			}
		}
		if res := e.do(t, req{Method: "POST", Path: "/api/v1/alerts/" + a1.ID + "/acknowledge", Token: tok}); res.Code != http.StatusForbidden {
			t.Errorf("%s acknowledges: %d", u, res.Code)
		}
		if res := e.do(t, req{Method: "POST", Path: "/api/v1/honeytokens", Token: tok, Body: map[string]string{"clinic_id": e.ClinicA.ID}}); res.Code != http.StatusForbidden {
			t.Errorf("%s creates a honeytoken: %d", u, res.Code)
		}
	}
	e.call(t, http.StatusUnauthorized, "GET", "/api/v1/alerts", "", nil)

	// The exact shape.
	var raw map[string][]map[string]json.RawMessage
	e.call(t, http.StatusOK, "GET", "/api/v1/alerts", sec, nil).decode(t, &raw)
	list := raw["alerts"]
	if len(raw) != 1 || len(list) != 3 {
		t.Fatalf("GET /alerts: %d keys, %d alerts", len(raw), len(list))
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var s string
		if err := json.Unmarshal(m[k], &s); err != nil {
			t.Errorf("field %s: %s is not a string", k, m[k])
		}
		return s
	}
	var ids []string
	for _, m := range list {
		for _, k := range []string{"id", "rule", "severity", "actor_id", "patient_ids", "created_at", "status", "explanation",
			"from", "to", "decided_by", "decided_at", "reason", "incident_id", "tampered"} {
			if _, ok := m[k]; !ok {
				t.Errorf("alert without %q: %v", k, m)
			}
		}
		ids = append(ids, str(m, "id"))
		var pids []string
		if string(m["patient_ids"]) == "null" || json.Unmarshal(m["patient_ids"], &pids) != nil {
			t.Errorf("patient_ids %s is not an array", m["patient_ids"])
		}
		if _, err := time.Parse(time.RFC3339, str(m, "created_at")); err != nil {
			t.Errorf("created_at: %v", err)
		}
		if str(m, "rule") != "no_care" || str(m, "severity") != "high" || str(m, "actor_id") != e.OtherTherapist.ID ||
			str(m, "status") != "new" || str(m, "explanation") == "" || string(m["tampered"]) != "false" {
			t.Errorf("alert fields: %v", m)
		}
	}
	if !slices.Equal(ids, []string{a3.ID, a2.ID, a1.ID}) {
		t.Errorf("order %v, want newest first", ids)
	}
	if string(list[1]["patient_ids"]) != "[]" || string(list[0]["patient_ids"]) != `["`+e.PatientA.ID+`","`+e.PatientC.ID+`"]` {
		t.Errorf("patient_ids: %s, %s", list[1]["patient_ids"], list[0]["patient_ids"])
	}

	// ?since=, at or after; other filters; the DPO too.
	type alertsAnswer struct {
		Alerts []alertView `json:"alerts"`
	}
	get := func(tok, query string) []string {
		var got alertsAnswer
		e.call(t, http.StatusOK, "GET", "/api/v1/alerts?"+query, tok, nil).decode(t, &got)
		var out []string
		for _, a := range got.Alerts {
			out = append(out, a.ID)
		}
		return out
	}
	since := url.Values{"since": {t0.Add(time.Hour).Format(time.RFC3339)}}.Encode()
	if got := get(sec, since); !slices.Equal(got, []string{a3.ID, a2.ID}) {
		t.Errorf("since: %v", got)
	}
	if got := get(dpo, url.Values{"since": {t0.Add(2 * time.Hour).In(time.FixedZone("EET", 7200)).Format(time.RFC3339)}}.Encode()); !slices.Equal(got, []string{a3.ID}) {
		t.Errorf("since with an offset: %v", got)
	}
	if got := get(sec, "limit=1&before="+a3.ID); !slices.Equal(got, []string{a2.ID}) {
		t.Errorf("before: %v", got)
	}
	for _, q := range []string{"since=yesterday", "since=2026-03-01", "limit=0", "limit=1001", "limit=x", "status=open", "before=nope"} {
		res := e.do(t, req{Method: "GET", Path: "/api/v1/alerts?" + q, Token: sec})
		if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code == "" {
			t.Errorf("?%s: %d %s", q, res.Code, res.Body)
		}
	}

	// One alert; the lifecycle.
	var one alertView
	e.call(t, http.StatusOK, "GET", "/api/v1/alerts/"+a1.ID, dpo, nil).decode(t, &one)
	if one.ID != a1.ID || !slices.Equal(one.PatientIDs, []string{e.PatientA.ID}) {
		t.Errorf("GET /alerts/{id}: %+v", one)
	}
	e.call(t, http.StatusNotFound, "GET", "/api/v1/alerts/"+confidant.NewID(), sec, nil)
	e.call(t, http.StatusOK, "POST", "/api/v1/alerts/"+a1.ID+"/acknowledge", sec, nil).decode(t, &one)
	if one.Status != "acknowledged" {
		t.Errorf("acknowledged: %+v", one)
	}
	if res := e.do(t, req{Method: "POST", Path: "/api/v1/alerts/" + a1.ID + "/acknowledge", Token: sec}); res.Code != http.StatusConflict ||
		res.errorOf(t).Error.Code != "alert_state" {
		t.Errorf("acknowledge twice: %d %s", res.Code, res.Body)
	}
	res := e.do(t, req{Method: "POST", Path: "/api/v1/alerts/" + a1.ID + "/dismiss", Token: sec, Body: map[string]string{"reason": "short"}})
	if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "invalid_reason" {
		t.Errorf("dismiss with a short reason: %d %s", res.Code, res.Body)
	}
	reason := "A planned records audit agreed with the clinic manager."
	e.call(t, http.StatusOK, "POST", "/api/v1/alerts/"+a1.ID+"/dismiss", sec, map[string]string{"reason": reason}).decode(t, &one)
	if one.Status != "dismissed" || one.Reason != reason || one.DecidedBy != e.Security.ID || one.DecidedAt == nil {
		t.Errorf("dismissed: %+v", one)
	}
	var dismissed alertsAnswer
	e.call(t, http.StatusOK, "GET", "/api/v1/alerts?status=dismissed", dpo, nil).decode(t, &dismissed)
	if len(dismissed.Alerts) != 1 || dismissed.Alerts[0].Reason != reason {
		t.Errorf("dismissed list: %+v", dismissed)
	}
	res = e.do(t, req{Method: "POST", Path: "/api/v1/alerts/" + a1.ID + "/reopen", Token: sec})
	if res.Code != http.StatusForbidden || res.errorOf(t).Error.Code != "own_dismissal" {
		t.Errorf("reopen own dismissal: %d %s", res.Code, res.Body)
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/alerts/"+a1.ID+"/reopen", sec2, nil).decode(t, &one)
	if one.Status != "new" || one.Reason != "" {
		t.Errorf("reopened: %+v", one)
	}
}

// POST /api/v1/honeytokens {"clinic_id"} answers 201 with the decoy's
// "id"; GET lists it to security officers and the DPO; the decoy is found
// by the manager like any patient of the clinic.
func TestHoneytokensAPI(t *testing.T) {
	e := newEnv(t)
	sec := e.login(t, "security")
	dpo := e.newStaff(t, "dpo2", confidant.RoleDPO)
	res := e.do(t, req{Method: "POST", Path: "/api/v1/honeytokens", Token: dpo, Body: map[string]string{"clinic_id": e.ClinicA.ID}})
	if res.Code != http.StatusForbidden {
		t.Errorf("DPO creates a honeytoken: %d", res.Code)
	}
	res = e.do(t, req{Method: "POST", Path: "/api/v1/honeytokens", Token: sec, Body: map[string]string{"clinic_id": confidant.NewID()}})
	if res.Code != http.StatusBadRequest || res.errorOf(t).Error.Code != "invalid_clinic" {
		t.Errorf("unknown clinic: %d %s", res.Code, res.Body)
	}
	var h honeytokenView
	e.call(t, http.StatusCreated, "POST", "/api/v1/honeytokens", sec, map[string]string{"clinic_id": e.ClinicA.ID}).decode(t, &h)
	if !confidant.ValidID(h.ID) || h.ClinicID != e.ClinicA.ID || h.CreatedAt == nil || h.FamilyName == "" {
		t.Fatalf("created: %+v", h)
	}
	for _, tok := range []string{sec, dpo} {
		var l struct {
			Honeytokens []honeytokenView `json:"honeytokens"`
		}
		e.call(t, http.StatusOK, "GET", "/api/v1/honeytokens", tok, nil).decode(t, &l)
		if len(l.Honeytokens) != 1 || l.Honeytokens[0].ID != h.ID {
			t.Errorf("listed: %+v", l)
		}
	}
	// The manager's clinic list has the decoy like any other patient.
	var ps struct {
		Patients []struct {
			ID string `json:"id"`
		} `json:"patients"`
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/patients?clinic="+e.ClinicA.ID, e.login(t, "manager"), nil).decode(t, &ps)
	found := false
	for _, p := range ps.Patients {
		found = found || p.ID == h.ID
	}
	if !found {
		t.Errorf("the decoy is not in the clinic's patient list (%d patients)", len(ps.Patients))
	}
}
