package web_test

import (
	"bytes"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/confidanthealth/confidant/internal/web"
)

// env is a running web app over a fresh SQLite store and the testfix world,
// wrapped as cmd wraps it: httpx.Secure outside, httpx.Logged inside.
type env struct {
	t   testing.TB
	w   *testfix.World
	srv *httptest.Server
	log *logBuffer // everything the app and the request log wrote
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, testfix.SQLite(t))
}

// newEnvOn is newEnv on a given (empty) store.
func newEnvOn(t testing.TB, st confidant.Store) *env {
	t.Helper()
	w := testfix.New(t, st)
	buf := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := web.New(w.Service, web.Config{Logger: logger})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	srv := httptest.NewServer(httpx.Secure(httpx.Logged(logger, h)))
	t.Cleanup(srv.Close)
	return &env{t: t, w: w, srv: srv, log: buf}
}

// client is one browser: a cookie jar, no automatic redirects.
type client struct {
	e  *env
	hc *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// as returns a client signed in as u.
func (e *env) as(u confidant.User) *client {
	e.t.Helper()
	c := e.client()
	r := c.signIn(u, "")
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: status %d\n%s", u.Username, r.status, r.body)
	}
	return c
}

// signIn posts u's password (with next, if set) and, when the app asks for
// the second factor, a TOTP code of the fixture's secret; it returns the
// last answer.
func (c *client) signIn(u confidant.User, next string) result {
	c.e.t.Helper()
	form := url.Values{"username": {u.Username}, "password": {testfix.Password}}
	if next != "" {
		form.Set("next", next)
	}
	r := c.post("/login", form)
	if r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		return r
	}
	code := url.Values{"code": {testfix.Code(c.e.t, c.e.w.TOTPSecret(u))}}
	if next != "" {
		code.Set("next", next)
	}
	return c.post("/login/totp", code)
}

// withToken returns a client that presents a given session token.
func (e *env) withToken(token string) *client {
	c := e.client()
	u, _ := url.Parse(e.srv.URL)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "confidant", Value: token, Path: "/"}})
	return c
}

// sessionCookie returns the cookie called name set by r.
func sessionCookie(t testing.TB, r result, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set; Set-Cookie: %q", name, r.header.Values("Set-Cookie"))
	return nil
}

// result is a response with its body read.
type result struct {
	status int
	header http.Header
	body   string
}

// location is the redirect target, without the query.
func (r result) location() string {
	l := r.header.Get("Location")
	if i := strings.IndexByte(l, '?'); i >= 0 {
		return l[:i]
	}
	return l
}

func (c *client) do(req *http.Request) result {
	c.e.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) result {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.do(req)
}

// post submits a form as a same-origin browser would.
func (c *client) post(path string, form url.Values) result {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// upload posts a multipart form with one file.
func (c *client) upload(path, filename string, content []byte) result {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		c.e.t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, &buf)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// follow posts and follows the redirect, returning the page it lands on.
func (c *client) follow(path string, form url.Values) result {
	c.e.t.Helper()
	r := c.post(path, form)
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("POST %s: status %d, want 303\n%s", path, r.status, r.body)
	}
	return c.get(r.header.Get("Location"))
}

// text returns the visible text of an HTML page, unescaped, whitespace
// collapsed, so that tests can look for what a person would read.
func text(body string) string {
	body = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(body)), " ")
}

// has reports whether the visible text or the raw HTML of body contains s.
func has(body, s string) bool {
	return strings.Contains(text(body), s) || strings.Contains(body, html.EscapeString(s))
}

// logBuffer collects log output of concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
