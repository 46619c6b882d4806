package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// auth runs h with the actor of the session cookie in the request context.
// Without a valid session a GET goes to the sign-in page and anything else
// gets a 401 page.
func (s *server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.token(r)
		if token == "" {
			s.fail(w, r, confidant.ErrUnauthenticated)
			return
		}
		a, err := s.svc.Authenticate(r.Context(), token, service.SessionWeb, httpx.ClientAddr(r))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(confidant.WithActor(r.Context(), a)))
	})
}

// token returns the session token from the cookie, or "".
func (s *server) token(r *http.Request) string {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie stores the session token. The cookie has no Max-Age: it ends
// with the browser session, and the server ends the session itself after
// the idle and absolute timeouts.
func (s *server) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie, Value: token, Path: "/",
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// loginURL is the sign-in page that returns to the current page afterwards.
// Only the path travels: ids at most, never a query.
func loginURL(r *http.Request, done string) string {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.Path)
	}
	if done != "" {
		q.Set("done", done)
	}
	if len(q) == 0 {
		return "/login"
	}
	return "/login?" + q.Encode()
}

// safeNext accepts only a local absolute path as a place to return to.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\?#:\r\n") {
		return "/"
	}
	return next
}

type loginView struct {
	page
	Username string
	Next     string
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	v := &loginView{page: s.page(r, "Sign in"), Next: safeNext(r.URL.Query().Get("next"))}
	if v.Next == "/" {
		v.Next = ""
	}
	s.render(w, r, http.StatusOK, "login", v)
}

// login signs in. A session that the browser still holds is ended first, so
// that every sign-in starts a fresh session (no session fixation).
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	if old := s.token(r); old != "" {
		s.endSession(r, old)
	}
	v := &loginView{
		page:     s.page(r, "Sign in"),
		Username: r.PostForm.Get("username"),
		Next:     safeNext(r.PostForm.Get("next")),
	}
	v.Flash = ""
	res, err := s.svc.Login(r.Context(), v.Username, r.PostForm.Get("password"), service.SessionWeb)
	if err != nil {
		s.clearCookie(w)
		s.clearMFACookie(w)
		httpx.LogError(s.log, r, err)
		setRetryAfter(w, err)
		v.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "login", v)
		return
	}
	if res.MFARequired() {
		// The second step: the pending sign-in travels in a cookie of its
		// own, never in a URL.
		s.clearCookie(w)
		s.setMFACookie(w, res.MFAToken, service.MFALife)
		http.Redirect(w, r, totpURL(v.Next), http.StatusSeeOther)
		return
	}
	s.setCookie(w, res.Token)
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

// endSession ends the session of token, if it is still valid.
func (s *server) endSession(r *http.Request, token string) {
	a, err := s.svc.Authenticate(r.Context(), token, service.SessionWeb, httpx.ClientAddr(r))
	if err != nil {
		return
	}
	if err := s.svc.Logout(confidant.WithActor(r.Context(), a)); err != nil {
		httpx.LogError(s.log, r, err)
	}
}

// logout ends the session and clears the cookie.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if t := s.token(r); t != "" {
		s.endSession(r, t)
	}
	s.clearCookie(w)
	http.Redirect(w, r, "/login?done=signed-out", http.StatusSeeOther)
}

// home sends each role to its start page.
func (s *server) home(w http.ResponseWriter, r *http.Request) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, homeOf(a.Role), http.StatusSeeOther)
}

func homeOf(role confidant.Role) string {
	switch role {
	case confidant.RoleTherapist:
		return "/patients"
	case confidant.RolePatient:
		return "/record"
	case confidant.RoleManager:
		return "/clinics"
	case confidant.RoleSecurity:
		return "/accounts"
	case confidant.RoleDPO:
		return "/access-log"
	}
	return "/login"
}

// setRetryAfter sets Retry-After (whole seconds) on the answer to a
// throttled sign-in, whose message says how long to wait.
func setRetryAfter(w http.ResponseWriter, err error) {
	if d, ok := confidant.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}
