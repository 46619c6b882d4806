package web_test

import (
	"strings"
	"testing"
)

// TestRequestLogRoute checks that the request line names the page's route
// (the pattern, not the path with its ids), also behind the sign-in
// middleware.
func TestRequestLogRoute(t *testing.T) {
	e := newEnv(t)
	c := e.as(e.w.Therapist)
	if r := c.get("/patients/" + e.w.PatientA.ID); r.status != 200 {
		t.Fatalf("chart: %d", r.status)
	}
	for _, want := range []string{
		`msg=request method=POST route="POST /login" status=303`,
		`msg=request method=GET route="GET /patients/{id}" status=200`,
	} {
		if log := e.log.String(); !strings.Contains(log, want) {
			t.Errorf("no request line %q in the log:\n%s", want, log)
		}
	}
	if log := e.log.String(); strings.Contains(log, e.w.PatientA.ID) {
		t.Errorf("the log holds the patient's id:\n%s", log)
	}
}
