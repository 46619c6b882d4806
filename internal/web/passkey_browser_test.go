package web_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/confidanthealth/confidant/internal/web"
)

// newLocalhostEnv serves the web app at http://localhost:<port>, with that
// as the public URL: browsers accept "localhost" (not an IP address) as a
// WebAuthn relying party, and treat it as a secure context.
func newLocalhostEnv(t *testing.T) (*env, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	cfg := service.DefaultConfig()
	cfg.PublicURL = base
	w := testfix.NewWithConfig(t, testfix.SQLite(t), cfg)
	buf := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := web.New(w.Service, web.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(httpx.Secure(httpx.Logged(logger, h)))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, w: w, srv: srv, log: buf}, base
}

// A staff member signs in with password and app code, adds a passkey on
// the Sign-in methods page (Chrome's virtual authenticator through the
// DevTools WebAuthn domain: CTAP2, internal, resident keys, user
// verification), sees the recovery codes once, signs out, and signs in
// again with the passkey alone (discoverable, no username).
func TestBrowserPasskey(t *testing.T) {
	chrome := findChrome(t)
	e, base := newLocalhostEnv(t)

	ctx := startBrowser(t, chrome, 4*time.Minute, 1280)
	tab := watch(t, ctx)
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	va, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
			Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}

	u := e.w.Therapist
	signIn(t, ctx, base, u.Username, e.w.TOTPSecret(u), `.who-name`)
	step(t, ctx, "open Sign-in methods",
		chromedp.Click(chromedp.CSS(`a[href="/account/sign-in"]`)),
		chromedp.WaitVisible(chromedp.ID("passkey-add")), // passkey.js ran: WebAuthn is there
		chromedp.SetValue(chromedp.ID("passkey-name"), "Test laptop"),
		chromedp.Click(chromedp.ID("passkey-add")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	)
	codes := textOf(t, ctx, "#recovery-codes-list")
	if n := strings.Count(codes, "-"); n != service.RecoveryCodeCount {
		t.Fatalf("recovery codes shown once: %d, want %d:\n%s", n, service.RecoveryCodeCount, codes)
	}
	step(t, ctx, "continue to the passkey list",
		chromedp.Click(chromedp.ID("recovery-codes-continue")),
		chromedp.WaitVisible(chromedp.CSS(`.passkey-name`)),
	)
	if s := textOf(t, ctx, "#passkeys"); !strings.Contains(s, "Test laptop") || !strings.Contains(s, "not used yet") {
		t.Fatalf("passkey list: %s", s)
	}
	if s := textOf(t, ctx, "main"); !strings.Contains(s, "The passkey was added.") || !strings.Contains(s, "10 of 10 recovery codes left") {
		t.Fatalf("after adding: %.1500s", s)
	}
	creds, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: va.AuthenticatorID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %v (%v), want one discoverable credential", creds, err)
	}
	if cr := creds.Credentials[0]; cr.RpID != "localhost" || strings.Contains(string(cr.UserHandle), u.ID) {
		t.Errorf("credential for RP %q with user handle %q", cr.RpID, cr.UserHandle)
	}
	saveScreenshot(t, ctx, "sign-in-methods.png")

	step(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	step(t, ctx, "sign in with the passkey alone",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")),
		chromedp.WaitVisible(chromedp.CSS(`.who-name`)),
	)
	if s := textOf(t, ctx, ".who"); !strings.Contains(s, u.DisplayName) {
		t.Fatalf("signed in as %q, want %s", s, u.DisplayName)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.Contains(loc, "/login") {
		t.Fatalf("after the passkey sign-in the browser is at %q (%v)", loc, err)
	}
	step(t, ctx, "the passkey was used",
		chromedp.Navigate(base+"/account/sign-in"),
		chromedp.WaitVisible(chromedp.CSS(`.passkey-name`)),
	)
	if s := textOf(t, ctx, "#passkeys"); !strings.Contains(s, "last used") {
		t.Errorf("passkey not marked used: %s", s)
	}

	// A new staff member's first sign-in: a passkey instead of an app,
	// then the password and "Use a passkey" as the second step.
	step(t, ctx, "sign out again",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	invited, err := e.w.Service.OperatorInviteUser(t.Context(), service.StaffInput{
		Username: "newcomer", DisplayName: "New Comer", Role: confidant.RoleManager,
		ClinicIDs: []string{e.w.ClinicA.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	nu := invited.User
	password := func(what string) {
		t.Helper()
		step(t, ctx, what,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), nu.Username),
			chromedp.SendKeys(chromedp.ID("password"), testfix.Password),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		)
	}
	step(t, ctx, "newcomer accepts the invitation",
		chromedp.Navigate(base+"/invite#"+invited.Code),
		chromedp.WaitVisible(chromedp.ID("password2")),
		chromedp.SendKeys(chromedp.ID("password"), testfix.Password),
		chromedp.SendKeys(chromedp.ID("password2"), testfix.Password),
		chromedp.Click(chromedp.CSS(`form[action="/invite"] button[type="submit"]`)),
	)
	step(t, ctx, "set up a passkey instead of an app",
		chromedp.WaitVisible(chromedp.ID("passkey-enrol")),
		chromedp.Click(chromedp.ID("passkey-enrol")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
		chromedp.Click(chromedp.ID("recovery-codes-continue")),
		chromedp.WaitVisible(chromedp.CSS(`.who-name`)),
	)
	if s := textOf(t, ctx, ".who"); !strings.Contains(s, nu.DisplayName) {
		t.Fatalf("after enrolment signed in as %q", s)
	}
	step(t, ctx, "newcomer signs out",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	password("newcomer's password, second time")
	step(t, ctx, "use a passkey as the second factor",
		chromedp.WaitVisible(chromedp.ID("passkey-second")),
		chromedp.Click(chromedp.ID("passkey-second")),
		chromedp.WaitVisible(chromedp.CSS(`.who-name`)),
	)
	if s := textOf(t, ctx, ".who"); !strings.Contains(s, nu.DisplayName) {
		t.Fatalf("after the second factor signed in as %q", s)
	}

	violations, errs, console, _ := tab.snapshot()
	if len(violations) > 0 || len(errs) > 0 {
		t.Errorf("CSP violations %q, script errors %q (console %q)", violations, errs, console)
	}
	_, _ = chromedp.Call(ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: va.AuthenticatorID})
}
