package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/confidanthealth/confidant/internal/web"
)

// amrUser is a provider's user whose ID tokens assert amr.
type amrUser struct {
	*mockoidc.MockUser
	amr []string
}

type amrClaims struct {
	*mockoidc.IDTokenClaims
	AMR []string `json:"amr,omitempty"`
}

func (u amrUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &amrClaims{IDTokenClaims: c, AMR: u.amr}, nil
}

// ssoEnv is a web app with single sign-on against an OpenID Connect
// provider (mockoidc) running in the test process.
func ssoEnv(t *testing.T) (*env, *mockoidc.MockOIDC) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	w := testfix.New(t, testfix.SQLite(t))
	buf := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg := m.Config()
	h, err := web.New(w.Service, web.Config{Logger: logger, SSO: web.SSOConfig{
		Name: "Clinic ID", Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: base + "/sso/callback",
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = httpx.Secure(httpx.Logged(logger, h))
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, w: w, srv: srv, log: buf}, m
}

// viaProvider follows r (a redirect to the provider) through the
// provider, which signs in the queued user at once, and delivers its
// answer (the redirect back with a code) to c; it returns the app's answer.
func viaProvider(t *testing.T, c *client, r result) result {
	t.Helper()
	if r.status != http.StatusFound {
		t.Fatalf("want a redirect to the provider, got %d to %q\n%s", r.status, r.header.Get("Location"), text(r.body))
	}
	to := r.header.Get("Location")
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request without PKCE, nonce or state: %s", u.RawQuery)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, c.e.srv.URL+"/sso/callback?") {
		t.Fatalf("the provider answered %d to %q", resp.StatusCode, back)
	}
	return c.get(strings.TrimPrefix(back, c.e.srv.URL))
}

func TestSingleSignOn(t *testing.T) {
	e, op := ssoEnv(t)
	sub := "sso-subject-1"
	pwdOnly := func(s string) amrUser {
		return amrUser{MockUser: &mockoidc.MockUser{Subject: s, Email: "x@example.org"}, amr: []string{"pwd"}}
	}

	// The sign-in page offers the provider.
	if r := e.client().get("/login"); !has(r.body, "Sign in with Clinic ID") || !strings.Contains(r.body, `href="/sso/start"`) {
		t.Fatalf("sign-in page without single sign-on:\n%s", text(r.body))
	}

	// (1) An identity linked to no account signs nobody in.
	op.QueueUser(pwdOnly(sub))
	c := e.client()
	r := viaProvider(t, c, c.get("/sso/start"))
	if r.status != http.StatusUnauthorized || !has(r.body, "not linked to a Confidant account") {
		t.Fatalf("unlinked identity: %d\n%s", r.status, text(r.body))
	}

	// (2) A manager invites a therapist, who accepts the invitation through
	// the provider (the code in the form, never in a URL) and then sets up
	// Confidant's second factor, as the provider asserted a password only.
	inv, err := e.w.Service.CreateStaff(e.w.As(e.w.Manager), service.StaffInput{
		Username: "sso.user", DisplayName: "Sso User", Role: confidant.RoleTherapist,
		ClinicIDs: []string{e.w.ClinicA.ID}, Email: "sso.user@clinic.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	code := e.w.Mail.InvitationCode(t, "sso.user@clinic.example")
	if r := e.client().get("/invite"); !strings.Contains(r.body, `formaction="/sso/link"`) {
		t.Fatalf("the invitation page does not offer the provider")
	}
	op.QueueUser(pwdOnly(sub))
	c = e.client()
	link := c.post("/sso/link", url.Values{"code": {code}, "password": {""}, "password2": {""}})
	if strings.Contains(link.header.Get("Location"), code) {
		t.Fatal("the invitation code is in the URL to the provider")
	}
	r = viaProvider(t, c, link)
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("after linking: %d to %q\n%s", r.status, r.location(), text(r.body))
	}
	r = c.post("/login/totp/enrol", nil)
	m := regexp.MustCompile(`class="totp-secret">([A-Z2-7 ]+)</code>`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("enrolment after linking: %d\n%s", r.status, text(r.body))
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	// The first code signs in and shows the new recovery codes once.
	if r := c.post("/login/totp", url.Values{"code": {testfix.Code(t, secret)}}); r.status != http.StatusOK || !has(r.body, "Your recovery codes") {
		t.Fatalf("first code: %d\n%s", r.status, text(r.body))
	}
	if r := c.get("/sessions"); r.status != http.StatusOK {
		t.Fatalf("signed in after linking: %d", r.status)
	}
	// The invitation is used.
	if _, err := e.w.Service.AcceptInvitation(t.Context(), code, testfix.Password); confidant.CodeOf(err) != "invitation_invalid" {
		t.Errorf("the invitation after linking: %v", err)
	}

	// (3) Signing in through the provider again: Confidant's second factor
	// follows, as the provider asserts no multi-factor authentication.
	op.QueueUser(pwdOnly(sub))
	c2 := e.client()
	r = viaProvider(t, c2, c2.get("/sso/start"))
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Fatalf("second sign-in: %d to %q\n%s", r.status, r.location(), text(r.body))
	}
	if r := c2.get("/sessions"); r.status != http.StatusSeeOther {
		t.Fatalf("signed in before the second factor: %d", r.status)
	}
	if r := c2.post("/login/totp", url.Values{"code": {testfix.Code(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("code after single sign-on: %d\n%s", r.status, text(r.body))
	}
	if r := c2.get("/sessions"); r.status != http.StatusOK {
		t.Fatalf("not signed in after the code: %d", r.status)
	}

	// (4) The provider asserts multi-factor authentication: no second code.
	op.QueueUser(amrUser{MockUser: &mockoidc.MockUser{Subject: sub}, amr: []string{"pwd", "mfa"}})
	c3 := e.client()
	r = viaProvider(t, c3, c3.get("/sso/start"))
	if r.status != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("sign-in with the provider's MFA: %d to %q\n%s", r.status, r.location(), text(r.body))
	}
	if r := c3.get("/sessions"); r.status != http.StatusOK {
		t.Fatalf("not signed in with the provider's MFA: %d", r.status)
	}

	// (5) A nonce from another flow: the ID token is refused.
	op.QueueUser(amrUser{MockUser: &mockoidc.MockUser{Subject: sub}, amr: []string{"mfa"}})
	victim, attacker := e.client(), e.client()
	start := victim.get("/sso/start")
	other := attacker.get("/sso/start")
	srvURL, _ := url.Parse(e.srv.URL)
	for _, ck := range (&http.Response{Header: other.header}).Cookies() {
		if ck.Name == "sso-nonce" {
			victim.hc.Jar.SetCookies(srvURL, []*http.Cookie{ck})
		}
	}
	r = viaProvider(t, victim, start)
	if r.status != http.StatusUnauthorized || !has(r.body, "did not complete") {
		t.Fatalf("an ID token with another flow's nonce: %d\n%s", r.status, text(r.body))
	}
	if r := victim.get("/sessions"); r.status != http.StatusSeeOther {
		t.Fatal("signed in with a wrong nonce")
	}
	if !strings.Contains(e.log.String(), `"single sign-on refused" why=nonce`) {
		t.Errorf("the refusal was not the nonce check:\n%s", e.log.String())
	}

	// (6) A callback whose state is not this browser's is refused.
	op.QueueUser(amrUser{MockUser: &mockoidc.MockUser{Subject: sub}, amr: []string{"mfa"}})
	c6 := e.client()
	start = c6.get("/sso/start")
	loc, _ := url.Parse(start.header.Get("Location"))
	q := loc.Query()
	q.Set("state", "forged-state")
	loc.RawQuery = q.Encode()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := c6.get(strings.TrimPrefix(resp.Header.Get("Location"), e.srv.URL)); r.status != http.StatusUnauthorized {
		t.Fatalf("forged state: %d", r.status)
	}

	// The access log has the link and the sign-ins; no token or code is
	// in the app's log.
	evs, err := e.w.Service.AuditEvents(e.w.As(e.w.Security), service.AuditQuery{Action: service.ActIdentityLink, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ActorID != inv.User.ID {
		t.Errorf("link events: %+v, %v", evs, err)
	}
	if strings.Contains(e.log.String(), code) {
		t.Error("the invitation code is in the log")
	}
}
