package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Single sign-on for staff: Confidant is an OpenID Connect relying party
// (github.com/zitadel/oidc): the authorization code flow with PKCE (S256),
// a random state and a random nonce, each kept in a short-lived cookie
// encrypted and authenticated under keys derived from the client secret
// (so that any of several servers can finish a sign-in another started),
// and the ID token's signature, issuer, audience, expiry and nonce checked
// by the library. What the service gets is the issuer, the subject and the
// asserted authentication methods (amr); see service.LoginIdentity.

// SSOConfig configures single sign-on; the zero value (no Issuer) turns it
// off.
type SSOConfig struct {
	Name         string // shown on the button: "Sign in with <Name>"
	Issuer       string // the provider's issuer URL (discovery at /.well-known/openid-configuration)
	ClientID     string
	ClientSecret string // also keys the flow's cookies; required
	RedirectURL  string // <public URL>/sso/callback, registered at the provider
	// HTTPClient reaches the provider; nil means the library's default.
	HTTPClient *http.Client
}

// sso is the relying party, made at first use (the provider may be down
// when the server starts) and kept once made.
type sso struct {
	cfg     SSOConfig
	cookies *httphelper.CookieHandler
	log     *slog.Logger

	mu sync.Mutex
	rp rp.RelyingParty
}

// Cookie names of the flow (besides the library's "state" and "pkce").
const (
	ssoNonceCookie  = "sso-nonce"
	ssoInviteCookie = "sso-invite"
)

func newSSO(cfg SSOConfig, secure bool, log *slog.Logger) (*sso, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, errors.New("web: single sign-on needs a client id, a client secret and a redirect URL")
	}
	if cfg.Name == "" {
		cfg.Name = "your organisation"
	}
	hashKey := sha256.Sum256([]byte("confidant sso cookie mac v1\x00" + cfg.ClientSecret))
	encKey := sha256.Sum256([]byte("confidant sso cookie enc v1\x00" + cfg.ClientSecret))
	opts := []httphelper.CookieHandlerOpt{httphelper.WithMaxAge(600), httphelper.WithSameSite(http.SameSiteLaxMode)}
	if !secure {
		opts = append(opts, httphelper.WithUnsecure())
	}
	return &sso{cfg: cfg, cookies: httphelper.NewCookieHandler(hashKey[:], encKey[:], opts...), log: log}, nil
}

// nonceKey carries the nonce of the flow to the ID token verifier.
type nonceKey struct{}

// party returns the relying party, making it if need be.
func (o *sso) party(ctx context.Context) (rp.RelyingParty, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rp != nil {
		return o.rp, nil
	}
	opts := []rp.Option{
		rp.WithPKCE(o.cookies),
		rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string {
			n, _ := ctx.Value(nonceKey{}).(string)
			return n
		})),
		rp.WithUnauthorizedHandler(func(w http.ResponseWriter, r *http.Request, desc, _ string) {
			failSSO(w, r, desc)
		}),
		rp.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, errType, errDesc, _ string) {
			failSSO(w, r, "provider error "+errType+": "+errDesc)
		}),
	}
	if o.cfg.HTTPClient != nil {
		opts = append(opts, rp.WithHTTPClient(o.cfg.HTTPClient))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := rp.NewRelyingPartyOIDC(ctx, o.cfg.Issuer, o.cfg.ClientID, o.cfg.ClientSecret, o.cfg.RedirectURL,
		[]string{oidc.ScopeOpenID}, opts...)
	if err != nil {
		return nil, err
	}
	o.rp = p
	return p, nil
}

// failSSO is set per request (the library calls a fixed handler): see
// ssoFailure.
func failSSO(w http.ResponseWriter, r *http.Request, desc string) {
	if f, ok := r.Context().Value(ssoFailKey{}).(func(http.ResponseWriter, *http.Request, string)); ok {
		f(w, r, desc)
		return
	}
	http.Error(w, "Single sign-on failed.", http.StatusUnauthorized)
}

type ssoFailKey struct{}

var errSSOUnavailable = confidant.Errorf(confidant.KindUnavailable, "sso_unavailable",
	"The organisation's sign-in cannot be reached just now. Try again shortly, or sign in with your password.")

var errSSOFailed = confidant.Errorf(confidant.KindUnauthenticated, "sso_failed",
	"The organisation's sign-in did not complete. Please try again.")

// randomValue is 32 random bytes, base64url.
func randomValue() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// begin sends the browser to the provider with a new state, PKCE
// challenge and nonce.
func (s *server) ssoBegin(w http.ResponseWriter, r *http.Request) {
	p, err := s.sso.party(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "single sign-on provider unreachable", slog.String("error", err.Error()))
		s.loginError(w, r, errSSOUnavailable)
		return
	}
	state, nonce := randomValue(), randomValue()
	if err := p.CookieHandler().SetCookie(w, "state", state); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.sso.cookies.SetCookie(w, ssoNonceCookie, nonce); err != nil {
		s.fail(w, r, err)
		return
	}
	challenge, err := rp.GenerateAndStoreCodeChallenge(w, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, rp.AuthURL(state, p, rp.WithCodeChallenge(challenge), rp.AuthURLOpt(rp.WithURLParam("nonce", nonce))), http.StatusFound)
}

// GET /sso/start signs in through the provider.
func (s *server) ssoStart(w http.ResponseWriter, r *http.Request) {
	s.sso.cookies.DeleteCookie(w, ssoInviteCookie)
	s.ssoBegin(w, r)
}

// POST /sso/link accepts an invitation (its code in the form, never in a
// URL) through the provider: the code waits in an encrypted cookie while
// the browser visits the provider.
func (s *server) ssoLink(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	code := r.PostForm.Get("code")
	if _, err := service.DecodeInvitationToken(code); err != nil {
		v := &inviteView{page: s.page(r, "Set your password")}
		v.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "invite", v)
		return
	}
	if err := s.sso.cookies.SetCookie(w, ssoInviteCookie, code); err != nil {
		s.fail(w, r, err)
		return
	}
	s.ssoBegin(w, r)
}

// GET /sso/callback: the provider sends the browser back with a code; the
// library checks the state, exchanges the code with the PKCE verifier and
// verifies the ID token (with the nonce of this flow).
func (s *server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	p, err := s.sso.party(r.Context())
	if err != nil {
		s.loginError(w, r, errSSOUnavailable)
		return
	}
	nonce, err := s.sso.cookies.CheckCookie(r, ssoNonceCookie)
	if err != nil || nonce == "" {
		s.ssoFailed(w, r, "no nonce cookie")
		return
	}
	s.sso.cookies.DeleteCookie(w, ssoNonceCookie)
	invite, _ := s.sso.cookies.CheckCookie(r, ssoInviteCookie)
	s.sso.cookies.DeleteCookie(w, ssoInviteCookie)
	ctx := context.WithValue(r.Context(), nonceKey{}, nonce)
	ctx = context.WithValue(ctx, ssoFailKey{}, s.ssoFailed)
	done := func(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], _ string, _ rp.RelyingParty) {
		c := tokens.IDTokenClaims
		id := service.Identity{Issuer: c.Issuer, Subject: c.Subject, AMR: c.AuthenticationMethodsReferences}
		var res service.LoginResult
		var err error
		if invite != "" {
			_, res, err = s.svc.LinkIdentityByInvitation(r.Context(), invite, id, service.SessionWeb)
		} else {
			res, err = s.svc.LoginIdentity(r.Context(), id, service.SessionWeb)
		}
		if err != nil {
			s.loginError(w, r, err)
			return
		}
		if old := s.token(r); old != "" {
			s.endSession(r, old)
		}
		if res.MFARequired() {
			s.clearCookie(w)
			life := service.MFALife
			if res.MFAEnrol {
				life = service.MFAEnrolLife
			}
			s.setMFACookie(w, res.MFAToken, life)
			http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
			return
		}
		s.setCookie(w, res.Token)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
	rp.CodeExchangeHandler(done, p).ServeHTTP(w, r.WithContext(ctx))
}

// ssoFailed logs why a flow failed and shows the sign-in page with a
// plain message. The library's description may quote what the provider
// sent (its error_description, a claim), so only the kind of failure is
// logged, from a fixed vocabulary: never the provider's text.
func (s *server) ssoFailed(w http.ResponseWriter, r *http.Request, why string) {
	s.log.WarnContext(r.Context(), "single sign-on refused", slog.String("why", ssoFailureKind(why)))
	s.loginError(w, r, errSSOFailed)
}

// ssoFailureKind classifies a failure description into a fixed word.
func ssoFailureKind(desc string) string {
	d := strings.ToLower(desc)
	for _, k := range []string{"nonce", "state", "pkce", "verifier", "signature", "expired", "issuer", "audience", "token", "code"} {
		if strings.Contains(d, k) {
			return k
		}
	}
	if strings.Contains(d, "access_denied") || strings.Contains(d, "denied") {
		return "denied"
	}
	return "other"
}

// loginError shows the sign-in page with err's message.
func (s *server) loginError(w http.ResponseWriter, r *http.Request, err error) {
	httpx.LogError(s.log, r, err)
	v := &loginView{page: s.page(r, "Sign in")}
	v.Flash = ""
	v.Error = confidant.MessageOf(err)
	s.render(w, r, httpx.Status(err), "login", v)
}
