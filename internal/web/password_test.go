package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestChangePasswordPage: a signed-in user changes their own password on
// /password; mismatched, wrong and weak answers keep the session and say
// why; a change ends the session and the new password signs in.
func TestChangePasswordPage(t *testing.T) {
	e := newEnv(t)
	u := e.w.Therapist
	c := e.as(u)
	if r := c.get("/password"); r.status != http.StatusOK || !has(r.body, "Change your password") || !has(r.body, "authenticator app") {
		t.Fatalf("GET /password: %d", r.status)
	}
	const next = "a brand new passphrase for the clinic"
	for _, tc := range []struct {
		name    string
		form    url.Values
		status  int
		message string
	}{
		{"differ", url.Values{"current": {testfix.Password}, "password": {next}, "password2": {next + "x"}}, 400, "The two new passwords differ."},
		{"wrong current", url.Values{"current": {"not it"}, "password": {next}, "password2": {next}}, 400, "The current password is not correct."},
		{"common", url.Values{"current": {testfix.Password}, "password": {"password123"}, "password2": {"password123"}}, 400, "common"},
	} {
		r := c.post("/password", tc.form)
		if r.status != tc.status || !has(r.body, tc.message) {
			t.Errorf("%s: status %d, want %d with %q", tc.name, r.status, tc.status, tc.message)
		}
	}
	if r := c.get("/password"); r.status != http.StatusOK {
		t.Fatalf("the session ended after refused changes: %d", r.status)
	}
	r := c.post("/password", url.Values{"current": {testfix.Password}, "password": {next}, "password2": {next}})
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("change: status %d, location %q", r.status, r.location())
	}
	if r := c.get("/password"); r.status != http.StatusSeeOther {
		t.Errorf("the session survived the change: %d", r.status)
	}
	// The old password no longer signs in; the new one does, with a code.
	fresh := e.client()
	if r := fresh.signIn(u, ""); r.location() == "/" || r.location() == "/patients" {
		t.Errorf("the old password still signs in (%d, %s)", r.status, r.location())
	}
	r = fresh.post("/login", url.Values{"username": {u.Username}, "password": {next}})
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("the new password: status %d, location %q", r.status, r.location())
	}
	if r := fresh.post("/login/totp", url.Values{"code": {testfix.Code(t, e.w.TOTPSecret(u))}}); r.status != http.StatusSeeOther || r.location() == "/login" {
		t.Errorf("the code after the new password: status %d, location %q", r.status, r.location())
	}
}
