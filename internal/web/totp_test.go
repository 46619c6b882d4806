package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// A staff account's first sign-in sets up an authenticator app: the key is
// shown once (grouped, with its otpauth URI and a QR code drawn as inline
// SVG), and the first valid code confirms it and signs in.
func TestTOTPEnrolmentPages(t *testing.T) {
	e := newEnv(t)
	inv, err := e.w.Service.OperatorInviteUser(context.Background(), service.StaffInput{
		Username: "newcomer", DisplayName: "New Comer", Role: confidant.RoleManager,
		ClinicIDs: []string{e.w.ClinicA.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := inv.User
	c := e.client()
	// Without a pending sign-in the code page sends back to the password.
	if r := c.get("/login/totp"); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("code page without a pending sign-in: %d to %q", r.status, r.header.Get("Location"))
	}
	// Accepting the invitation leads straight to the enrolment.
	r := c.post("/invite", url.Values{"code": {inv.Code}, "password": {testfix.Password}, "password2": {testfix.Password}})
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("accepting the invitation: %d to %q", r.status, r.header.Get("Location"))
	}
	// The password alone, elsewhere, opens no enrolment.
	if r := e.client().post("/login", url.Values{"username": {u.Username}, "password": {testfix.Password}}); r.status != http.StatusForbidden || !has(r.body, "no second factor set up") {
		t.Fatalf("password alone before enrolling: %d\n%s", r.status, text(r.body))
	}
	r = c.get("/login/totp")
	if r.status != http.StatusOK || !has(r.body, "Set up your second factor") || !strings.Contains(r.body, `action="/login/totp/enrol"`) {
		t.Fatalf("enrolment offer: %d\n%s", r.status, text(r.body))
	}
	r = c.post("/login/totp/enrol", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Security-Policy") != httpx.CSP || !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Fatalf("enrolment page: status %d, headers %v", r.status, r.header)
	}
	m := regexp.MustCompile(`class="totp-secret">([A-Z2-7]{4}(?: [A-Z2-7]{1,4})*)</code>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no key in groups of four:\n%s", r.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if len(secret) != 32 || !strings.Contains(r.body, "otpauth://totp/") || !strings.Contains(r.body, "secret="+secret) ||
		!strings.Contains(r.body, `<svg class="totp-qr"`) || !strings.Contains(r.body, `<rect x="4" y="4" width="1" height="1" fill="#000"/>`) {
		t.Fatalf("enrolment page lacks the key, URI or QR code")
	}
	// A wrong code keeps the pending enrolment and says so.
	r = c.post("/login/totp", url.Values{"code": {"000000"}})
	if r.status != http.StatusUnauthorized || !has(r.body, "The code is not valid.") || !has(r.body, "Start the set-up again") {
		t.Fatalf("wrong first code: %d\n%s", r.status, text(r.body))
	}
	r = c.post("/login/totp", url.Values{"code": {testfix.Code(t, secret)}})
	// Signed in, and shown the account's ten recovery codes once.
	if r.status != http.StatusOK || !has(r.body, "Your recovery codes") || strings.Count(r.body, "<code>") != service.RecoveryCodeCount ||
		!strings.Contains(r.body, `href="/">I have saved them`) {
		t.Fatalf("first code: %d to %q\n%s", r.status, r.header.Get("Location"), text(r.body))
	}
	if r := c.get("/clinics"); r.status != http.StatusOK {
		t.Fatalf("signed in after enrolment: %d", r.status)
	}
	if strings.Contains(e.log.String(), secret) {
		t.Fatal("the key is in the log")
	}
	// The next sign-in asks for a code only.
	c = e.client()
	c.post("/login", url.Values{"username": {u.Username}, "password": {testfix.Password}})
	if r := c.get("/login/totp"); !has(r.body, "Enter your code") || has(r.body, "Start the set-up again") {
		t.Fatalf("second sign-in:\n%s", text(r.body))
	}
	if r := c.post("/login/totp/enrol", nil); r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("enrolment of an enrolled account: %d to %q", r.status, r.header.Get("Location"))
	}
	// Wrong codes from one address make it wait (throttling): after three,
	// the code page answers 429 and says how long, and keeps the pending
	// sign-in. (Its own cap of five wrong codes, reached from several
	// addresses, is tested in internal/service.)
	for range 3 {
		if r := c.post("/login/totp", url.Values{"code": {"abcdef"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d", r.status)
		}
	}
	r = c.post("/login/totp", url.Values{"code": {testfix.Code(t, secret)}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !has(r.body, "Too many failed sign-ins from your address.") || !has(r.body, "Enter your code") {
		t.Fatalf("code after three wrong ones: %d\n%s", r.status, text(r.body))
	}
	if r := c.get("/login/totp"); r.status != http.StatusOK || !has(r.body, "Enter your code") {
		t.Fatalf("code page while throttled: %d to %q", r.status, r.header.Get("Location"))
	}
}
