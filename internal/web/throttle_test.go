package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestThrottledSignIn: after three wrong passwords the sign-in page says
// to wait (429, Retry-After); the security officer's page lists the
// account and clears it, and the client signs in at once.
func TestThrottledSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for range 3 {
		r := c.post("/login", url.Values{"username": {"manager"}, "password": {"not the password"}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d", r.status)
		}
	}
	r := c.post("/login", url.Values{"username": {"manager"}, "password": {testfix.Password}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
		!has(r.body, "Too many failed sign-ins from your address. Please wait 30 seconds and try again.") {
		t.Fatalf("throttled sign-in: status %d, Retry-After %q\n%s", r.status, r.header.Get("Retry-After"), text(r.body))
	}
	if !strings.Contains(r.body, `value="manager"`) {
		t.Errorf("throttled sign-in: username not kept in the form")
	}

	// Only security officers see the page.
	if r := e.as(e.w.Therapist).get("/accounts/throttled"); r.status != http.StatusForbidden {
		t.Errorf("therapist: status %d, want 403", r.status)
	}
	sec := e.as(e.w.Security)
	r = sec.get("/accounts/throttled")
	if r.status != http.StatusOK || !has(r.body, "Throttled sign-ins") || !has(r.body, e.w.Manager.Username) || !has(r.body, "Throttled until") {
		t.Fatalf("throttled page: status %d\n%s", r.status, text(r.body))
	}
	r = sec.follow("/accounts/throttled/"+e.w.Manager.ID+"/clear", nil)
	if !has(r.body, "The failed sign-ins were cleared") || has(r.body, e.w.Manager.Username) {
		t.Fatalf("after clear:\n%s", text(r.body))
	}
	if r := c.signIn(e.w.Manager, ""); r.status != http.StatusSeeOther {
		t.Fatalf("sign in after the clear: status %d\n%s", r.status, text(r.body))
	}
}
