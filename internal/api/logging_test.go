package api

import (
	"strings"
	"testing"
)

// TestRequestLogRoute checks that the request line names the API route
// (the pattern, not the path with its ids).
func TestRequestLogRoute(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, "therapist")
	e.call(t, 200, "GET", "/api/v1/patients/"+e.PatientA.ID, tok, nil)
	want := `msg=request method=GET route="GET /api/v1/patients/{id}" status=200`
	if log := e.log.String(); !strings.Contains(log, want) {
		t.Errorf("no request line %q in the log:\n%s", want, log)
	}
	if log := e.log.String(); strings.Contains(log, e.PatientA.ID) {
		t.Errorf("the log holds the patient's id:\n%s", log)
	}
}
