package web_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// TestSessionsPage: a user sees their sessions on /sessions, ends another
// of them (which then signs nothing in), reads their notices, and ending
// the current session signs out. Another user's session cannot be ended.
func TestSessionsPage(t *testing.T) {
	e := newEnv(t)
	u := e.w.Manager
	old := e.as(u)
	cur := e.as(u)
	other := e.as(e.w.Security)
	n := confidant.Notice{
		ID: confidant.NewID(), UserID: u.ID, Kind: confidant.NoticeNewClient, At: time.Now(),
		Client: "198.51.100.7", Agent: "Firefox/140.0",
	}
	if err := e.w.Store.Update(context.Background(), func(tx confidant.Tx) error { return tx.CreateNotice(context.Background(), n) }); err != nil {
		t.Fatal(err)
	}
	r := cur.get("/sessions")
	ends := regexp.MustCompile(`action="/sessions/([0-9a-z]{26})/end"`).FindAllStringSubmatch(r.body, -1)
	if r.status != http.StatusOK || len(ends) != 2 || !has(r.body, "(this one)") || !has(r.body, "198.51.100.7") ||
		!has(r.body, "1 new") || !has(r.body, "not used before") {
		t.Fatalf("sessions page: %d, %d sessions\n%s", r.status, len(ends), text(r.body))
	}
	// The newest first: this session, then the older one.
	olderID := ends[1][1]
	if r := other.post("/sessions/"+olderID+"/end", nil); r.status != http.StatusNotFound {
		t.Errorf("another user ended the session: %d", r.status)
	}
	if r := old.get("/sessions"); r.status != http.StatusOK {
		t.Fatalf("the older session was ended by someone else: %d", r.status)
	}
	if r := cur.post("/sessions/"+olderID+"/end", nil); r.status != http.StatusSeeOther || r.location() != "/sessions" {
		t.Fatalf("ending the older session: %d to %q", r.status, r.location())
	}
	if r := old.get("/sessions"); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Errorf("the ended session still works: %d to %q", r.status, r.location())
	}
	if r := cur.post("/notices/read", nil); r.status != http.StatusSeeOther {
		t.Errorf("reading notices: %d", r.status)
	}
	if r := cur.get("/sessions"); has(r.body, "1 new") || !has(r.body, "not used before") {
		t.Errorf("after reading, the notice is still new or gone:\n%s", text(r.body))
	}
	// Ending this session signs out.
	if r := cur.post("/sessions/"+ends[0][1]+"/end", nil); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Errorf("ending the current session: %d to %q", r.status, r.location())
	}
	if r := cur.get("/sessions"); r.status != http.StatusSeeOther {
		t.Errorf("signed out, /sessions answers %d", r.status)
	}
}
