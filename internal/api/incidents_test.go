package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// apiAlerts is the alert store the API test's service reads (the
// detector's, at merge).
type apiAlerts map[string]confidant.Alert

func (a apiAlerts) IncidentAlerts(_ context.Context, _ confidant.Tx, ids []string) ([]confidant.Alert, error) {
	var out []confidant.Alert
	for _, id := range ids {
		al, ok := a[id]
		if !ok {
			return nil, confidant.ErrNotFound
		}
		out = append(out, al)
	}
	return out, nil
}

func (apiAlerts) EscalateAlerts(context.Context, confidant.Tx, []string, string) error { return nil }

// incidentEnv is the API over a service with an alert store and an
// outbox, with a data protection officer signed in.
func incidentEnv(t *testing.T, alerts apiAlerts) (*env, string) {
	t.Helper()
	w := testfix.New(t, testfix.SQLite(t))
	l := testfix.Log(w.Store)
	svc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), service.WithAuditor(l), service.WithAuditReader(l),
		service.WithIncidentAlerts(alerts),
		service.WithIncidentOutbox(func(context.Context, confidant.Tx, service.IncidentMail) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	w.Service = svc
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{World: w, h: httpx.Secure(httpx.Logged(log, New(svc, Config{Logger: log}))), log: buf}
	dpo, err := svc.OperatorCreateUser(context.Background(), service.StaffInput{Username: "dpo2", DisplayName: "DPO",
		Role: confidant.RoleDPO, Password: testfix.Password})
	if err != nil {
		t.Fatal(err)
	}
	raw, secret := testfix.NewTOTPSecret()
	if err := w.Store.Update(context.Background(), func(tx confidant.Tx) error {
		return service.EnrolTOTP(context.Background(), tx, dpo.ID, raw, time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	e.enrolled.Store("dpo2", secret)
	return e, e.login(t, "dpo2")
}

func jsonOf(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	return m
}

func TestIncidentAPI(t *testing.T) {
	alerts := apiAlerts{}
	e, dpo := incidentEnv(t, alerts)
	sec, th, pat, mgr := e.login(t, "security"), e.login(t, "therapist"), e.login(t, "aino"), e.login(t, "manager")
	start := time.Now().UTC().Add(-time.Second)
	e.call(t, http.StatusOK, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", th, nil)
	end := time.Now().UTC().Add(time.Second)
	al := confidant.Alert{ID: confidant.NewID(), Rule: "no_care", ActorID: e.Therapist.ID, From: start, To: end,
		CreatedAt: end, Status: confidant.AlertNew}
	alerts[al.ID] = al

	// Opening: security officers and the DPO; not therapists, managers,
	// patients.
	for _, tok := range []string{th, mgr, pat} {
		if res := e.do(t, req{Method: "POST", Path: "/api/v1/incidents", Token: tok, Body: map[string]any{"title": "x", "alert_ids": []string{al.ID}}}); res.Code != http.StatusForbidden {
			t.Errorf("open as a non-officer: %d %s", res.Code, res.Body)
		}
	}
	res := e.call(t, http.StatusCreated, "POST", "/api/v1/incidents", sec, map[string]any{"title": "Browsing without care", "alert_ids": []string{al.ID}})
	inc := jsonOf(t, res)
	id, _ := inc["id"].(string)
	if id == "" || inc["regulator_deadline"] != nil || inc["time_left"] != nil {
		t.Fatalf("opened: %s", res.Body)
	}
	e.call(t, http.StatusBadRequest, "POST", "/api/v1/incidents", sec, map[string]any{"title": "", "alert_ids": []string{al.ID}})
	e.call(t, http.StatusNotFound, "POST", "/api/v1/incidents", sec, map[string]any{"title": "x", "alert_ids": []string{confidant.NewID()}})
	// By hand.
	e.call(t, http.StatusCreated, "POST", "/api/v1/incidents", dpo, map[string]any{"title": "By hand",
		"account_ids": []string{e.Therapist.ID}, "from": start.Format(time.RFC3339), "to": end.Add(time.Second).Format(time.RFC3339)})

	base := "/api/v1/incidents/" + id
	// Awareness: the DPO only; not in the future; RFC 3339.
	aware := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.call(t, http.StatusForbidden, "POST", base+"/awareness", sec, map[string]string{"at": aware.Format(time.RFC3339)})
	e.call(t, http.StatusBadRequest, "POST", base+"/awareness", dpo, map[string]string{"at": "yesterday"})
	e.call(t, http.StatusBadRequest, "POST", base+"/awareness", dpo, map[string]string{"at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	e.call(t, http.StatusOK, "POST", base+"/awareness", dpo, map[string]string{"at": aware.Format(time.RFC3339)})
	e.call(t, http.StatusConflict, "POST", base+"/awareness", dpo, map[string]string{"at": aware.Format(time.RFC3339)})

	e.call(t, http.StatusOK, "POST", base+"/decisions", sec, map[string]string{"text": "Disable the account."})
	e.call(t, http.StatusBadRequest, "POST", base+"/decisions", sec, map[string]string{"text": ""})
	e.call(t, http.StatusOK, "PUT", base+"/notification", dpo, map[string]any{"nature": "Unauthorised access", "subjects_approx": 1,
		"records_approx": 4, "dpo_contact": "tietosuoja@example.org", "measures": "Account disabled; password reset."})
	e.call(t, http.StatusBadRequest, "PUT", base+"/notification", dpo, map[string]any{"subjects_approx": -3})
	e.call(t, http.StatusOK, "POST", base+"/rescope", sec, map[string]any{})

	// The incident with its clocks, scope and history.
	got := jsonOf(t, e.call(t, http.StatusOK, "GET", base, sec, nil))
	want72, want24 := aware.Add(72*time.Hour).Format(time.RFC3339Nano), aware.Add(24*time.Hour).Format(time.RFC3339Nano)
	if got["regulator_deadline"] != want72 || got["early_warning_deadline"] != want24 || got["overdue"] != false {
		t.Errorf("clocks: %v %v %v", got["regulator_deadline"], got["early_warning_deadline"], got["overdue"])
	}
	if left, _ := got["time_left"].(float64); left < 70*3600 || left > 71*3600 {
		t.Errorf("time_left %v", got["time_left"])
	}
	scope, _ := got["scope"].(map[string]any)
	pids, _ := scope["patient_ids"].([]any)
	cp, _ := scope["checkpoint"].(map[string]any)
	if len(pids) != 1 || pids[0] != e.PatientA.ID || cp["size"].(float64) <= 0 || scope["version"].(float64) != 2 {
		t.Errorf("scope %v", scope)
	}
	if h, _ := got["history"].([]any); len(h) != 5 {
		t.Errorf("history %v", got["history"])
	}
	list := jsonOf(t, e.call(t, http.StatusOK, "GET", "/api/v1/incidents?status=open", dpo, nil))
	if is, _ := list["incidents"].([]any); len(is) != 2 {
		t.Errorf("list %v", list)
	}
	e.call(t, http.StatusBadRequest, "GET", "/api/v1/incidents?status=gone", dpo, nil)
	for _, tok := range []string{th, mgr, pat} {
		e.call(t, http.StatusForbidden, "GET", base, tok, nil)
		e.call(t, http.StatusForbidden, "GET", "/api/v1/incidents", tok, nil)
		e.call(t, http.StatusForbidden, "GET", base+"/regulator-notification", tok, nil)
		e.call(t, http.StatusForbidden, "POST", base+"/letters", tok, map[string]string{"phase": "1"})
	}
	// Never deleted.
	for _, tok := range []string{sec, dpo} {
		res := e.call(t, http.StatusForbidden, "DELETE", base, tok, nil)
		if res.errorOf(t).Error.Code != "incidents_are_never_deleted" {
			t.Errorf("delete: %s", res.Body)
		}
	}
	e.call(t, http.StatusOK, "GET", base, sec, nil)

	// Letters reach the patient's portal in three languages, and their
	// access log.
	lr := jsonOf(t, e.call(t, http.StatusOK, "POST", base+"/letters", dpo, map[string]any{"phase": "first"}))
	if sent, _ := lr["sent"].([]any); len(sent) != 1 || lr["mailed"].(float64) != 1 {
		t.Errorf("letters %v", lr)
	}
	e.call(t, http.StatusBadRequest, "POST", base+"/letters", dpo, map[string]any{"phase": "x", "patient_ids": []string{e.PatientB.ID}})
	ml := jsonOf(t, e.call(t, http.StatusOK, "GET", "/api/v1/me/letters", pat, nil))
	ls, _ := ml["letters"].([]any)
	if len(ls) != 1 {
		t.Fatalf("my letters %v", ml)
	}
	texts, _ := ls[0].(map[string]any)["texts"].([]any)
	var langs []string
	for _, x := range texts {
		langs = append(langs, x.(map[string]any)["lang"].(string))
	}
	if strings.Join(langs, ",") != "fi,sv,en" {
		t.Errorf("letter languages %v", langs)
	}
	e.call(t, http.StatusForbidden, "GET", "/api/v1/me/letters", sec, nil)
	if al := e.call(t, http.StatusOK, "GET", "/api/v1/me/access-log", pat, nil); !bytes.Contains(al.Body, []byte(`"incident.letter"`)) {
		t.Errorf("the letter is not in the patient's access log: %.500s", al.Body)
	}

	// The regulator notification: JSON and PDF, numbers without patient ids.
	rep := e.call(t, http.StatusOK, "GET", base+"/regulator-notification", dpo, nil)
	rm := jsonOf(t, rep)
	for _, k := range []string{"controller", "dpo_contact", "nature", "subjects_approx", "records_approx", "record_categories",
		"likely_consequences", "measures", "awareness_at", "regulator_deadline", "early_warning_deadline", "patients_in_scope", "decisions"} {
		if _, ok := rm[k]; !ok {
			t.Errorf("regulator notification without %q", k)
		}
	}
	if rm["patients_in_scope"].(float64) != 1 || rm["dpo_contact"] != "tietosuoja@example.org" || bytes.Contains(rep.Body, []byte(e.PatientA.ID)) {
		t.Errorf("regulator notification %s", rep.Body)
	}
	for _, path := range []string{base + "/regulator-notification?format=pdf", base + "/regulator-notification.pdf"} {
		res := e.call(t, http.StatusOK, "GET", path, sec, nil)
		if !bytes.HasPrefix(res.Body, []byte("%PDF")) || res.Header.Get("Content-Type") != "application/pdf" || bytes.Contains(res.Body, []byte(e.PatientA.ID)) {
			t.Errorf("%s: %q %q", path, res.Header.Get("Content-Type"), res.Body[:min(len(res.Body), 8)])
		}
	}
	e.call(t, http.StatusBadRequest, "GET", base+"/regulator-notification?format=docx", sec, nil)

	// Closing: the DPO only, with a conclusion; then nothing changes.
	e.call(t, http.StatusForbidden, "POST", base+"/close", sec, map[string]string{"conclusion": "done"})
	e.call(t, http.StatusBadRequest, "POST", base+"/close", dpo, map[string]string{"conclusion": ""})
	closed := jsonOf(t, e.call(t, http.StatusOK, "POST", base+"/close", dpo, map[string]string{"conclusion": "Contained and notified."}))
	if closed["status"] != "closed" || closed["time_left"] != nil {
		t.Errorf("closed %v", closed)
	}
	e.call(t, http.StatusConflict, "POST", base+"/decisions", sec, map[string]string{"text": "late"})
	e.call(t, http.StatusNotFound, "GET", "/api/v1/incidents/"+confidant.NewID(), sec, nil)
	if strings.Contains(e.log.String(), e.PatientA.ID) {
		t.Error("a patient id in the request log")
	}
}

// FuzzIncidentRequests: the register's request decoders never panic, and
// what they accept is valid for the service.
func FuzzIncidentRequests(f *testing.F) {
	for _, s := range []string{
		`{"title":"Breach","alert_ids":["01JD0000000000000000000000"]}`,
		`{"title":"By hand","account_ids":["a"],"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`,
		`{"at":"2026-01-01T00:00:00Z","reason":"corrected after the call log"}`,
		`{"nature":"x","subjects_approx":3,"records_approx":-1}`, `{"subjects_approx":1e99}`,
		`{"phase":"1","patient_ids":null}`, `{"text":"\ud800"}`, `{"title":1}`, `{}`, `[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	decodeAs := func(data []byte, v any) bool {
		r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(data))
		r.Header.Set("Content-Type", "application/json")
		return decode(httptest.NewRecorder(), r, v) == nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ir incidentRequest
		if decodeAs(data, &ir) {
			if in, err := ir.input(); err == nil && (in.Title == "" || len(in.AlertIDs) == 0 && len(in.Scope.AccountIDs) == 0) {
				t.Fatalf("accepted %+v", in)
			}
		}
		var nr notificationRequest
		if decodeAs(data, &nr) {
			if n, err := nr.notification(); err == nil && (n.SubjectsApprox < 0 || n.RecordsApprox < 0) {
				t.Fatalf("accepted %+v", n)
			}
		}
		var sr scopeRequest
		if decodeAs(data, &sr) {
			_, _ = sr.input()
		}
		for _, v := range []any{new(awarenessRequest), new(textRequest), new(closeRequest), new(lettersRequest)} {
			decodeAs(data, v)
		}
	})
}
