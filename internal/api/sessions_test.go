package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// A user lists their sessions and ends one from another; a sign-in from a
// new client and repeated failures leave notices in the app and in the
// user's mail.
func TestSessionsAndNotices(t *testing.T) {
	e := newEnv(t)
	mgr := e.login(t, "manager")
	e.call(t, http.StatusCreated, "POST", "/api/v1/staff", mgr, staffRequest{
		Username: "noticed", DisplayName: "No Ticed", Role: "manager", ClinicIDs: []string{e.ClinicA.ID}, Email: "noticed@example.org",
	})
	// The invitation's enrolment signs in from 192.0.2.1 (httptest's
	// address): the account's first client, no notice.
	first := e.accept(t, e.Mail.InvitationCode(t, "noticed@example.org"), "noticed")
	mailsBefore := len(e.Mail.Messages())

	// A sign-in from another client.
	const laptop = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
	signIn := func(addr, agent string) string {
		t.Helper()
		hd := map[string]string{"User-Agent": agent}
		var m struct {
			MFAToken string `json:"mfa_token"`
		}
		res := e.do(t, req{Method: "POST", Path: "/api/v1/login", Body: loginRequest{Username: "noticed", Password: testfix.Password}, RemoteAddr: addr, Header: hd})
		if res.Code != http.StatusOK {
			t.Fatalf("sign-in from %s: %d %s", addr, res.Code, res.Body)
		}
		res.decode(t, &m)
		secret := e.secretOf(t, "noticed")
		res = e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: m.MFAToken, Code: testfix.Code(t, secret)}, RemoteAddr: addr, Header: hd})
		var tok tokenView
		res.decode(t, &tok)
		if res.Code != http.StatusOK || tok.Token == "" {
			t.Fatalf("second factor from %s: %d %s", addr, res.Code, res.Body)
		}
		return tok.Token
	}
	second := signIn("198.51.100.7:40000", laptop)
	msgs := e.Mail.Messages()
	if len(msgs) != mailsBefore+1 {
		t.Fatalf("%d messages after a sign-in from a new client, want %d", len(msgs), mailsBefore+1)
	}
	m := msgs[len(msgs)-1]
	if m.To[0] != "noticed@example.org" || m.Subject != "New sign-in to your Confidant account" ||
		!strings.Contains(m.Text, "198.51.100.7") || !strings.Contains(m.Text, "Firefox/140.0") {
		t.Errorf("new-client notice mail: to %v, %q\n%s", m.To, m.Subject, m.Text)
	}
	// The new client is in the access log too, for the detector.
	newClient := func() int {
		t.Helper()
		evs, err := testfix.Log(e.Store).Query(context.Background(), confidant.EventFilter{Action: "login.new_client", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if n := newClient(); n != 1 {
		t.Errorf("%d login.new_client events after a sign-in from a new client, want 1", n)
	}
	// The same client again: no new notice.
	third := signIn("198.51.100.7:40001", laptop)
	if n := newClient(); n != 1 {
		t.Errorf("%d login.new_client events after a known client's sign-in, want 1", n)
	}
	if n := len(e.Mail.Messages()); n != mailsBefore+1 {
		t.Errorf("a known client's sign-in sent mail (%d messages)", n)
	}

	// The sessions, newest first, this one marked.
	var list struct{ Sessions []sessionView }
	e.call(t, http.StatusOK, "GET", "/api/v1/me/sessions", second, nil).decode(t, &list)
	if len(list.Sessions) != 3 {
		t.Fatalf("%d sessions, want 3: %+v", len(list.Sessions), list.Sessions)
	}
	byID := map[bool]int{}
	var firstID string
	for _, s := range list.Sessions {
		byID[s.Current]++
		if s.Client == "192.0.2.1" {
			firstID = s.ID
		}
		if s.Kind != "api" || s.CreatedAt == nil || s.LastSeen == nil || s.ExpiresAt == nil {
			t.Errorf("session view: %+v", s)
		}
	}
	if byID[true] != 1 || firstID == "" || list.Sessions[2].ID != firstID {
		t.Fatalf("sessions: %+v", list.Sessions)
	}
	if list.Sessions[0].Agent != laptop && list.Sessions[1].Agent != laptop {
		t.Errorf("the laptop's software is not shown: %+v", list.Sessions)
	}
	// Another user's session and unknown ids are not found; one's own
	// other session ends.
	var other struct{ Sessions []sessionView }
	e.call(t, http.StatusOK, "GET", "/api/v1/me/sessions", mgr, nil).decode(t, &other)
	e.call(t, http.StatusNotFound, "DELETE", "/api/v1/me/sessions/"+other.Sessions[0].ID, second, nil)
	e.call(t, http.StatusNotFound, "DELETE", "/api/v1/me/sessions/not-an-id", second, nil)
	e.call(t, http.StatusOK, "GET", "/api/v1/me", mgr, nil)
	e.call(t, http.StatusNoContent, "DELETE", "/api/v1/me/sessions/"+firstID, second, nil)
	e.call(t, http.StatusUnauthorized, "GET", "/api/v1/me", first, nil)
	e.call(t, http.StatusOK, "GET", "/api/v1/me", third, nil)

	// Five wrong passwords (three from one address, two from another)
	// leave one notice, mailed once.
	for i, addr := range []string{"203.0.113.5:1", "203.0.113.5:2", "203.0.113.5:3", "203.0.113.6:1", "203.0.113.6:2"} {
		res := e.do(t, req{Method: "POST", Path: "/api/v1/login", Body: loginRequest{Username: "noticed", Password: "wrong password " + addr}, RemoteAddr: addr})
		if res.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, res.Code)
		}
	}
	msgs = e.Mail.Messages()
	if len(msgs) != mailsBefore+2 || msgs[len(msgs)-1].Subject != "Failed sign-ins to your Confidant account" ||
		!strings.Contains(msgs[len(msgs)-1].Text, "5 failed attempts") {
		t.Fatalf("after five failures: %d messages, last %q", len(msgs), msgs[len(msgs)-1].Subject)
	}
	if res := e.do(t, req{Method: "POST", Path: "/api/v1/login", Body: loginRequest{Username: "noticed", Password: "wrong again"}, RemoteAddr: "203.0.113.7:1"}); res.Code != http.StatusUnauthorized {
		t.Fatalf("sixth failure: %d", res.Code)
	}
	if n := len(e.Mail.Messages()); n != mailsBefore+2 {
		t.Errorf("a sixth failure within the hour mailed again (%d messages)", n)
	}
	for _, m := range e.Mail.Messages() {
		if strings.Contains(m.Text, "wrong password") || strings.Contains(m.Text, "wrong again") {
			t.Fatal("a typed password is in a notice")
		}
	}

	// In the app: both notices, unread, then read.
	var ns struct{ Notices []noticeView }
	e.call(t, http.StatusOK, "GET", "/api/v1/me/notices", third, nil).decode(t, &ns)
	if len(ns.Notices) != 2 || ns.Notices[0].Kind != "failures" || ns.Notices[0].Count < 5 || ns.Notices[1].Kind != "new_client" ||
		ns.Notices[1].Client != "198.51.100.7" || ns.Notices[0].Read || ns.Notices[1].Read {
		t.Fatalf("notices: %+v", ns.Notices)
	}
	e.call(t, http.StatusNoContent, "POST", "/api/v1/me/notices/read", third, nil)
	e.call(t, http.StatusOK, "GET", "/api/v1/me/notices", third, nil).decode(t, &ns)
	if !ns.Notices[0].Read || !ns.Notices[1].Read {
		t.Errorf("notices after reading: %+v", ns.Notices)
	}
	// Nobody else sees them.
	e.call(t, http.StatusOK, "GET", "/api/v1/me/notices", mgr, nil).decode(t, &ns)
	if len(ns.Notices) != 0 {
		t.Errorf("the manager sees %d notices", len(ns.Notices))
	}
}
