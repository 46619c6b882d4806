package api

import (
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestDatabaseFaults checks the answers when the database fails: 503 with
// the store's code and message, and for a change whose commit answer was
// lost, outcome_unknown although the change was in fact saved.
func TestDatabaseFaults(t *testing.T) {
	st := testfix.NewFaults(testfix.SQLite(t))
	e := newEnvOn(t, st)
	tok := e.login(t, "therapist")
	notes := "/api/v1/patients/" + e.PatientA.ID + "/notes"

	st.LoseAnswer()
	res := e.do(t, req{Method: "POST", Path: notes, Token: tok, Body: `{"body":"Saved, but the answer was lost."}`})
	if res.Code != 503 {
		t.Fatalf("lost answer: status %d, want 503; body %s", res.Code, res.Body)
	}
	got := res.errorOf(t)
	if got.Error.Code != confidant.CodeOutcomeUnknown || got.Error.Message != confidant.MessageOf(confidant.ErrOutcomeUnknown(nil)) {
		t.Errorf("lost answer: %+v, want code %s with its message", got.Error, confidant.CodeOutcomeUnknown)
	}
	// The client looks before trying again, and finds the note.
	res = e.call(t, 200, "GET", notes, tok, nil)
	if !strings.Contains(string(res.Body), "Saved, but the answer was lost.") {
		t.Errorf("the note whose answer was lost is not listed: %s", res.Body)
	}

	st.SetDown(true)
	res = e.do(t, req{Method: "GET", Path: "/api/v1/patients/" + e.PatientA.ID, Token: tok})
	st.SetDown(false)
	if res.Code != 503 || res.errorOf(t).Error.Code != "database_unavailable" {
		t.Errorf("database down: %d %s, want 503 database_unavailable", res.Code, res.Body)
	}

	log := e.log.String()
	for _, want := range []string{`level=ERROR msg="request failed" method=POST route="POST /api/v1/patients/{id}/notes" code=outcome_unknown`,
		`code=database_unavailable`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "Saved, but") {
		t.Errorf("the note's text is in the log:\n%s", log)
	}
}
