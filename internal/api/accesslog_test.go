package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/testfix"
	"golang.org/x/mod/sumdb/note"
)

// TestAccessLog: a patient sees the therapist's reads of their chart, with a
// proof that checks offline; a security officer can query by patient and
// actor; others are refused; every query is itself recorded.
func TestAccessLog(t *testing.T) {
	e := newEnv(t)
	ther, pat, sec, mgr := e.login(t, "therapist"), e.login(t, "aino"), e.login(t, "security"), e.login(t, "manager")
	e.call(t, 200, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", ther, nil)
	e.call(t, 404, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", e.login(t, "other"), nil) // refused, and recorded

	var log accessLogView
	e.call(t, 200, "GET", "/api/v1/me/access-log", pat, nil).decode(t, &log)
	var read, denied *accessEntryView
	for i, ev := range log.Events {
		if ev.Action == "chart.read" && ev.Outcome == "ok" && ev.ActorID == e.Therapist.ID {
			read = &log.Events[i]
		}
		if ev.Action == "chart.read" && ev.Outcome == "denied" && ev.ActorID == e.OtherTherapist.ID {
			denied = &log.Events[i]
		}
		if ev.Client != "" {
			t.Error("a patient sees client addresses")
		}
	}
	if read == nil || denied == nil || read.ActorName != "therapist" || read.Role != "therapist" {
		t.Fatalf("patient's access log lacks the read or the refusal: %+v", log.Events)
	}

	res := e.call(t, 200, "GET", "/api/v1/me/access-log/"+strconv.FormatUint(read.Index, 10)+"/proof", pat, nil)
	b, err := auditlog.ParseBundle(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auditlog.NewVerifier(testfix.Log(e.Store).VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := auditlog.CheckBundle(b, note.VerifierList(v))
	if err != nil || got.ActorID != e.Therapist.ID || got.PatientID != e.PatientA.ID || got.Action != "chart.read" {
		t.Fatalf("bundle: %+v %v", got, err)
	}
	// Another patient's entry is not theirs to prove.
	e.call(t, 404, "GET", "/api/v1/me/access-log/0/proof", pat, nil)

	// Security officer: by patient and by actor, with client addresses.
	e.call(t, 200, "GET", "/api/v1/audit/events?patient="+e.PatientA.ID+"&action=chart.read", sec, nil).decode(t, &log)
	if len(log.Events) != 2 {
		t.Fatalf("security query by patient: %+v", log.Events)
	}
	e.call(t, 200, "GET", "/api/v1/audit/events?actor="+e.OtherTherapist.ID+"&limit=5", sec, nil).decode(t, &log)
	if len(log.Events) == 0 || log.Events[0].Outcome != "denied" {
		t.Fatalf("security query by actor: %+v", log.Events)
	}
	for _, path := range []string{"/api/v1/audit/events?from=yesterday", "/api/v1/audit/events?patient=../x", "/api/v1/audit/events?limit=0"} {
		e.call(t, 400, "GET", path, sec, nil)
	}
	// Nobody else queries the log; managers and therapists have no access log of their own.
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/events", mgr, nil)
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/events", ther, nil)
	e.call(t, http.StatusForbidden, "GET", "/api/v1/me/access-log", ther, nil)
	// The security officer's own queries are in the log.
	e.call(t, 200, "GET", "/api/v1/audit/events?action=audit.query", sec, nil).decode(t, &log)
	if len(log.Events) < 2 || !strings.Contains(log.Events[0].Purpose, "query") {
		t.Fatalf("queries not recorded: %+v", log.Events)
	}
}

// TestBreachScope: after an account is suspected, a security officer lists
// every patient it accessed in a period, with counts and refusals; others
// are refused; the question is itself recorded.
func TestBreachScope(t *testing.T) {
	e := newEnv(t)
	ther, other, sec, mgr := e.login(t, "therapist"), e.login(t, "other"), e.login(t, "security"), e.login(t, "manager")
	e.call(t, 200, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", ther, nil)
	e.call(t, 200, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", ther, nil)
	e.call(t, 404, "GET", "/api/v1/patients/"+e.PatientA.ID+"/chart", other, nil) // refused

	from := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	to := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	var scope breachScopeView
	e.call(t, 200, "GET", "/api/v1/audit/scope?actor="+e.Therapist.ID+"&from="+from+"&to="+to, sec, nil).decode(t, &scope)
	var a *patientAccessView
	for i, p := range scope.Patients {
		if p.PatientID == e.PatientA.ID {
			a = &scope.Patients[i]
		}
	}
	if a == nil || a.Events < 2 || a.Denied != 0 || a.First.After(a.Last) {
		t.Fatalf("therapist's scope: %+v", scope)
	}
	e.call(t, 200, "GET", "/api/v1/audit/scope?actor="+e.OtherTherapist.ID+"&from="+from+"&to="+to, sec, nil).decode(t, &scope)
	if len(scope.Patients) != 1 || scope.Patients[0].PatientID != e.PatientA.ID || scope.Patients[0].Denied != 1 {
		t.Fatalf("other therapist's scope (one refusal): %+v", scope)
	}
	// A period before anything happened is empty.
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	e.call(t, 200, "GET", "/api/v1/audit/scope?actor="+e.Therapist.ID+"&from="+old+"&to="+from, sec, nil).decode(t, &scope)
	if len(scope.Patients) != 0 {
		t.Fatalf("empty period: %+v", scope)
	}
	for _, q := range []string{"actor=" + e.Therapist.ID + "&from=" + from, "actor=x&from=" + from + "&to=" + to,
		"actor=" + e.Therapist.ID + "&from=" + to + "&to=" + from, "actor=" + e.Therapist.ID + "&from=yesterday&to=" + to} {
		e.call(t, 400, "GET", "/api/v1/audit/scope?"+q, sec, nil)
	}
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/scope?actor="+e.Therapist.ID+"&from="+from+"&to="+to, mgr, nil)
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/scope?actor="+e.Therapist.ID+"&from="+from+"&to="+to, ther, nil)
	var log accessLogView
	e.call(t, 200, "GET", "/api/v1/audit/events?action=audit.scope", sec, nil).decode(t, &log)
	asked := 0
	for _, ev := range log.Events {
		if ev.Outcome == "ok" && ev.ActorID == e.Security.ID && strings.Contains(ev.Purpose, "breach scope: actor=") {
			asked++
		}
	}
	if asked != 3 {
		t.Fatalf("breach-scope questions recorded: %d, want 3: %+v", asked, log.Events)
	}
	e.call(t, 200, "GET", "/api/v1/audit/events?actor="+e.Manager.ID+"&action=audit.scope", sec, nil).decode(t, &log)
	if len(log.Events) != 1 || log.Events[0].Outcome != "denied" {
		t.Fatalf("a refused breach-scope question is not recorded: %+v", log.Events)
	}
	// A refused caller's probe with bad parameters is refused, not
	// corrected, and recorded all the same.
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/scope?from=yesterday", ther, nil)
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/events?limit=0", ther, nil)
	e.call(t, 200, "GET", "/api/v1/audit/events?actor="+e.Therapist.ID+"&action=audit.scope", sec, nil).decode(t, &log)
	if len(log.Events) != 2 || log.Events[0].Outcome != "denied" {
		t.Fatalf("the therapist's refused breach-scope questions: %+v", log.Events)
	}
	e.call(t, 200, "GET", "/api/v1/audit/events?actor="+e.Therapist.ID+"&action=audit.query", sec, nil).decode(t, &log)
	if len(log.Events) != 1 || log.Events[0].Outcome != "denied" {
		t.Fatalf("the therapist's refused query with a bad limit: %+v", log.Events)
	}
}
