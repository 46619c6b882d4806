package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

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
