package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// Without JavaScript: a staff member whose second factor is a passkey
// signs in with a recovery code and is told how many remain; the
// Sign-in methods page lists the passkey and makes new codes after a
// step-up with the current code.
func TestRecoveryCodeSignIn(t *testing.T) {
	e := newEnv(t)
	svc := e.w.Service
	inv, err := svc.OperatorInviteUser(t.Context(), service.StaffInput{
		Username: "keyonly", DisplayName: "Key Only", Role: confidant.RoleManager, ClinicIDs: []string{e.w.ClinicA.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, res, err := svc.AcceptInvitationSignIn(t.Context(), inv.Code, testfix.Password)
	if err != nil {
		t.Fatal(err)
	}
	cer, err := svc.BeginPasskeyEnrolment(t.Context(), res.MFAToken)
	if err != nil {
		t.Fatal(err)
	}
	auth := testfix.NewAuthenticator("http://localhost:8080")
	_, codes, err := svc.FinishPasskeyEnrolment(t.Context(), res.MFAToken, cer.ID, "Key", auth.Create(t, cer.Options), service.SessionWeb, "")
	if err != nil {
		t.Fatal(err)
	}

	c := e.client()
	r := c.post("/login", url.Values{"username": {u.Username}, "password": {testfix.Password}})
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("password step: %d %s", r.status, r.location())
	}
	page := c.get("/login/totp")
	for _, want := range []string{"Use your passkey", "Use a passkey", "Use a recovery code", `action="/login/recovery"`} {
		if !has(page.body, want) && !strings.Contains(page.body, want) {
			t.Errorf("second-factor page lacks %q", want)
		}
	}
	if !strings.Contains(page.body, `<script src="/static/passkey.js?v=`) {
		t.Error("the second-factor page does not load passkey.js")
	}
	if strings.Contains(page.body, `action="/login/totp"`) {
		t.Error("a passkey-only account is asked for an app code")
	}
	r = c.post("/login/recovery", url.Values{"recovery_code": {"AAAAA-AAAAA"}})
	if r.status != http.StatusUnauthorized || !has(r.body, "The recovery code is not valid.") {
		t.Fatalf("wrong code: %d %.500s", r.status, text(r.body))
	}
	r = c.post("/login/recovery", url.Values{"recovery_code": {strings.ToLower(codes[2])}})
	if r.status != http.StatusOK || !has(text(r.body), "You have 9 recovery codes left.") {
		t.Fatalf("recovery sign-in: %d %.800s", r.status, text(r.body))
	}
	m := c.get("/account/sign-in")
	if m.status != http.StatusOK || !has(m.body, "Key") || !has(text(m.body), "You have 9 of 10 recovery codes left.") {
		t.Fatalf("sign-in methods: %d %.800s", m.status, text(m.body))
	}
	// The last second factor stays.
	ps, _ := svc.ListPasskeys(e.w.As(u))
	r = c.post("/account/passkeys/"+ps[0].ID+"/remove", url.Values{})
	if r.status != http.StatusConflict || !has(r.body, "staff accounts must keep one") {
		t.Fatalf("removing the last factor: %d %.500s", r.status, text(r.body))
	}
	// New codes need a step-up: a recovery code does it.
	r = c.post("/account/recovery-codes", url.Values{"code": {""}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("regenerate without a step-up: %d", r.status)
	}
	r = c.post("/account/recovery-codes", url.Values{"code": {codes[5]}})
	if r.status != http.StatusOK || !has(r.body, "Your new recovery codes.") || strings.Count(r.body, "<code>") != 10 {
		t.Fatalf("regenerate: %d %.800s", r.status, text(r.body))
	}
	if strings.Contains(e.log.String(), codes[5]) || strings.Contains(e.log.String(), codes[2]) {
		t.Error("a recovery code in the log")
	}
}
