package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// The recipients page: a security officer proposes, the proposal waits
// for another person, a bad address keeps the form with a message; other
// roles do not reach it; the board digest page shows a signed digest.
func TestRecipientsPages(t *testing.T) {
	e := newEnv(t)
	sec := e.as(e.w.Security)
	r := sec.get("/recipients")
	if r.status != http.StatusOK || !strings.Contains(r.body, "Recipients of alerts") || !strings.Contains(r.body, `href="/recipients"`) {
		t.Fatalf("recipients page: %d %.300s", r.status, r.body)
	}
	bad := sec.post("/recipients", url.Values{"kind": {"email"}, "label": {"board"}, "address": {"not an address"}})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "The e-mail address is not valid") || !strings.Contains(bad.body, "not an address") {
		t.Errorf("bad address: %d %.300s", bad.status, bad.body)
	}
	page := sec.follow("/recipients", url.Values{"kind": {"email"}, "label": {"board"}, "address": {"board@example.org"}})
	if page.status != http.StatusOK || !strings.Contains(page.body, "The recipient was proposed") || !strings.Contains(page.body, "board@example.org") ||
		!strings.Contains(page.body, "Changes awaiting approval") || !strings.Contains(page.body, "/approve") {
		t.Errorf("after proposing: %d %.500s", page.status, page.body)
	}
	// The proposer cannot approve.
	var id string
	if err := e.w.Store.View(t.Context(), func(tx confidant.Tx) error {
		rs, err := tx.ListRecipients(t.Context())
		if len(rs) == 1 {
			id = rs[0].ID
		}
		return err
	}); err != nil || id == "" {
		t.Fatalf("the proposal is not stored: %v", err)
	}
	own := sec.post("/recipients/changes/"+id+"/approve", url.Values{"code": {testfix.Code(t, e.w.TOTPSecret(e.w.Security))}})
	if own.status != http.StatusForbidden {
		t.Errorf("the proposer approves: %d", own.status)
	}
	for _, u := range []confidant.User{e.w.Therapist, e.w.Manager, e.w.PatientUser} {
		if r := e.as(u).get("/recipients"); r.status != http.StatusForbidden {
			t.Errorf("%s: recipients page %d", u.Username, r.status)
		}
		if r := e.as(u).get("/board-digest"); r.status != http.StatusForbidden {
			t.Errorf("%s: board digest page %d", u.Username, r.status)
		}
	}
	d := sec.get("/board-digest")
	if d.status != http.StatusOK || !strings.Contains(d.body, "confidant board digest v1") || !strings.Contains(d.body, "stops arriving") {
		t.Errorf("board digest page: %d %.300s", d.status, d.body)
	}
}
