package web_test

import (
	"html"
	"net/url"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestDatabaseFaults checks the pages shown when the database fails: a
// change whose commit answer was lost says that it is not known whether it
// was saved (it was), keeps the text typed, and never claims that nothing
// changed; a database that is down gives the unavailable page.
func TestDatabaseFaults(t *testing.T) {
	st := testfix.NewFaults(testfix.SQLite(t))
	e := newEnvOn(t, st)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	const body = "Saved, but the answer was lost."

	st.LoseAnswer()
	r := th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"free"}, "body": {body}})
	if r.status != 503 {
		t.Fatalf("lost answer: status %d, want 503\n%s", r.status, r.body)
	}
	page := html.UnescapeString(r.body)
	if msg := confidant.MessageOf(confidant.ErrOutcomeUnknown(nil)); !strings.Contains(page, msg) {
		t.Errorf("the page lacks the message %q:\n%s", msg, page)
	}
	if !strings.Contains(page, body) {
		t.Errorf("the text typed is not kept in the form:\n%s", page)
	}
	for _, claim := range []string{"nothing was", "not saved", "was not", "failed"} {
		if strings.Contains(strings.ToLower(page), claim) {
			t.Errorf("the page claims %q:\n%s", claim, page)
		}
	}
	// Looking before trying again shows the note.
	if r := th.get("/patients/" + pa.ID); r.status != 200 || !strings.Contains(html.UnescapeString(r.body), body) {
		t.Errorf("chart after the lost answer: %d, note not shown", r.status)
	}

	// Signing re-renders the note as it now is: signed, with the message.
	notes, err := e.w.Service.Notes(e.w.As(e.w.Therapist), pa.ID)
	if err != nil || len(notes) != 1 {
		t.Fatalf("notes after the lost answer: %d, %v; want 1", len(notes), err)
	}
	st.LoseAnswer()
	r = th.post("/notes/"+notes[0].ID+"/sign", url.Values{})
	if r.status != 503 || !strings.Contains(html.UnescapeString(r.body), "not known whether the change was saved") ||
		!strings.Contains(r.body, "badge-signed") {
		t.Errorf("sign with a lost answer: %d, want 503, the message and the note shown signed\n%s", r.status, r.body)
	}

	// A page that fails outright names the outcome in its heading.
	mgr := e.as(e.w.Manager)
	care, err := e.w.Service.CareList(e.w.As(e.w.Manager), e.w.ClinicA.ID, true)
	if err != nil || len(care) == 0 {
		t.Fatalf("care list: %d, %v", len(care), err)
	}
	st.LoseAnswer()
	r = mgr.post("/care/"+care[0].ID+"/end", url.Values{})
	if r.status != 503 || !strings.Contains(r.body, "Not known whether it was saved") ||
		!strings.Contains(html.UnescapeString(r.body), "not known whether the change was saved") {
		t.Errorf("end care with a lost answer: %d\n%s", r.status, r.body)
	}

	st.SetDown(true)
	r = th.get("/patients/" + pa.ID)
	st.SetDown(false)
	if r.status != 503 || !strings.Contains(r.body, "Temporarily unavailable") ||
		!strings.Contains(r.body, "The database is not available") {
		t.Errorf("database down: %d\n%s", r.status, r.body)
	}
	if log := e.log.String(); !strings.Contains(log, "code=outcome_unknown") || strings.Contains(log, body) {
		t.Errorf("log:\n%s", log)
	}
}
