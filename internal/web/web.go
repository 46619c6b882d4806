// Package web is Confidant's server-rendered web application: HTML pages
// built with html/template from embedded templates, plain POST forms for
// every change, and a little optional JavaScript that only enhances.
//
// Every operation goes through internal/service, which authenticates and
// authorizes; the handlers here parse forms, call the service and render.
// The handler does not set security headers or log requests: the caller
// wraps it with httpx.Secure (headers, CSP, cross-origin protection) and
// httpx.Logged. It does not serve /api/.
//
// Rules the handlers keep:
//   - no GET changes state; every change is a POST form followed by a
//     redirect with a fixed flash key (?done=signed), never data in a URL;
//   - searches by name or identity code are POSTed, so that patient data
//     stays out of URLs, browser history and proxy logs;
//   - errors go through one funnel (fail, formFail): status from
//     httpx.Status, message from confidant.MessageOf;
//   - nothing about a patient is logged; ids only.
package web

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/confidanthealth/confidant/internal/service"
)

// Config configures the web app.
type Config struct {
	// Logger receives error logs; nil means slog.Default().
	Logger *slog.Logger
	// SecureCookies marks the session cookie Secure and names it with the
	// __Host- prefix. Set it whenever the app is served over HTTPS, which is
	// always outside local development and tests.
	SecureCookies bool
	// Location is the time zone dates and times are shown and entered in;
	// nil means Europe/Helsinki when the system knows it, else UTC.
	Location *time.Location
	// SSO configures single sign-on for staff (OpenID Connect); the zero
	// value turns it off.
	SSO SSOConfig
}

// server holds what the handlers share.
type server struct {
	svc    *service.Service
	log    *slog.Logger
	secure bool
	cookie string
	// mfaCookie holds the token of a sign-in waiting for its second factor.
	mfaCookie string
	loc       *time.Location
	views     *views
	assets    *assets
	now       func() time.Time
	sso       *sso // nil without single sign-on
}

// New returns the web app's handler.
func New(svc *service.Service, cfg Config) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("web: nil service")
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
		if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
			loc = l
		}
	}
	s := &server{
		svc:    svc,
		log:    cmp.Or(cfg.Logger, slog.Default()),
		secure: cfg.SecureCookies,
		cookie: "confidant",
		loc:    loc,
		now:    time.Now,
	}
	s.mfaCookie = s.cookie + "-mfa"
	if s.secure {
		s.cookie = "__Host-confidant"
		s.mfaCookie = "__Host-confidant-mfa"
	}
	var err error
	if cfg.SSO.Issuer != "" {
		if s.sso, err = newSSO(cfg.SSO, s.secure, s.log); err != nil {
			return nil, err
		}
	}
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.views, err = loadViews(s.funcs()); err != nil {
		return nil, err
	}
	return s.routes(), nil
}
