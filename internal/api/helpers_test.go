package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// env is a test world on SQLite with the API wired as the server wires it
// (httpx.Secure around httpx.Logged around the API), and the log captured.
type env struct {
	*testfix.World
	h   http.Handler
	log *syncBuffer
	// enrolled holds the TOTP secrets of accounts enrolled during the test,
	// by username.
	enrolled sync.Map
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testfix.SQLite(t))
}

// newEnvOn is newEnv on a given (empty) store.
func newEnvOn(t *testing.T, st confidant.Store) *env {
	t.Helper()
	w := testfix.New(t, st)
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &env{World: w, h: httpx.Secure(httpx.Logged(log, New(w.Service, Config{Logger: log}))), log: buf}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// response is a recorded response.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// req describes a request. Body may be nil, a string (sent as JSON unless
// a Content-Type header is given), a []byte or io.Reader (sent raw, no
// Content-Type), or any other value (marshalled to JSON).
type req struct {
	Method, Path string
	Token        string
	Body         any
	Header       map[string]string
	// ContentLength, if set, is declared instead of the body's length.
	ContentLength int64
	// RemoteAddr, if set, is the client's address (host:port) instead of
	// httptest's 192.0.2.1:1234.
	RemoteAddr string
}

func (e *env) do(t *testing.T, r req) response {
	t.Helper()
	var (
		rd    io.Reader
		ctype string
	)
	switch b := r.Body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	hr := httptest.NewRequest(r.Method, r.Path, rd)
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	if r.ContentLength != 0 {
		hr.ContentLength = r.ContentLength
	}
	if r.RemoteAddr != "" {
		hr.RemoteAddr = r.RemoteAddr
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return response{Code: res.StatusCode, Header: res.Header, Body: body}
}

// call sends a request and checks the status; it returns the response.
func (e *env) call(t *testing.T, want int, method, path, token string, body any) response {
	t.Helper()
	res := e.do(t, req{Method: method, Path: path, Token: token, Body: body})
	if res.Code != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, res.Code, want, res.Body)
	}
	return res
}

// login signs in username with the fixture password (and, for staff, a
// TOTP code of the fixture's secret) and returns the token.
func (e *env) login(t *testing.T, username string) string {
	t.Helper()
	res := e.call(t, http.StatusOK, "POST", "/api/v1/login", "", map[string]string{"username": username, "password": testfix.Password})
	var mfa struct {
		MFARequired bool   `json:"mfa_required"`
		MFAToken    string `json:"mfa_token"`
		MFAEnrol    bool   `json:"mfa_enrol"`
	}
	res.decode(t, &mfa)
	if mfa.MFARequired {
		secret := e.secretOf(t, username)
		res = e.call(t, http.StatusOK, "POST", "/api/v1/login/totp", "",
			map[string]string{"mfa_token": mfa.MFAToken, "code": testfix.Code(t, secret)})
	}
	var tok struct {
		Token     string `json:"token"`
		TokenType string `json:"token_type"`
		ExpiresAt string `json:"expires_at"`
	}
	res.decode(t, &tok)
	if tok.Token == "" || tok.TokenType != "Bearer" || tok.ExpiresAt == "" {
		t.Fatalf("login %s: bad token response %s", username, res.Body)
	}
	return tok.Token
}

// accept accepts the invitation token for username with the fixture
// password. A staff account enrols its second factor in the pending
// sign-in that the acceptance starts (the secret is kept for later
// sign-ins) and its first code completes it: accept returns that session's
// token. A portal account gets "" (it signs in with e.login).
func (e *env) accept(t *testing.T, token, username string) string {
	t.Helper()
	var acc struct {
		MFAToken string `json:"mfa_token"`
		MFAEnrol bool   `json:"mfa_enrol"`
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": token, "password": testfix.Password}).decode(t, &acc)
	if !acc.MFAEnrol || acc.MFAToken == "" {
		return ""
	}
	var en struct{ Secret string }
	e.call(t, http.StatusOK, "POST", "/api/v1/login/totp/enrol", "", map[string]string{"mfa_token": acc.MFAToken}).decode(t, &en)
	e.enrolled.Store(username, en.Secret)
	var tok struct {
		Token string `json:"token"`
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/login/totp", "",
		map[string]string{"mfa_token": acc.MFAToken, "code": testfix.Code(t, en.Secret)}).decode(t, &tok)
	if tok.Token == "" {
		t.Fatalf("accept %s: no session after enrolment", username)
	}
	return tok.Token
}

// secretOf returns the TOTP secret of a fixture account by username.
func (e *env) secretOf(t *testing.T, username string) string {
	t.Helper()
	if s, ok := e.enrolled.Load(username); ok {
		return s.(string)
	}
	for _, u := range []confidant.User{e.Therapist, e.OtherTherapist, e.TherapistB, e.Manager, e.ManagerB, e.Security, e.DPO} {
		if u.Username == username {
			return e.TOTPSecret(u)
		}
	}
	t.Fatalf("no TOTP secret for %s", username)
	return ""
}

// decode unmarshals the body into v, failing on unknown content.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, r.Body)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// apiError is the error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorOf decodes an error body strictly: exactly {"error":{"code","message"}}.
func (r response) errorOf(t *testing.T) apiError {
	t.Helper()
	var e apiError
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("error Content-Type %q, want JSON; body %s", ct, r.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", r.Body, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body without code or message: %s", r.Body)
	}
	return e
}

// idOf returns the "id" field of a JSON object body.
func (r response) idOf(t *testing.T) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	r.decode(t, &v)
	if v.ID == "" {
		t.Fatalf("no id in %s", r.Body)
	}
	return v.ID
}
