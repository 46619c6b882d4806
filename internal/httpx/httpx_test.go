package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

func TestStatus(t *testing.T) {
	for kind, want := range map[confidant.Kind]int{
		confidant.KindInvalid: 400, confidant.KindUnauthenticated: 401, confidant.KindPermission: 403,
		confidant.KindNotFound: 404, confidant.KindConflict: 409, confidant.KindTooLarge: 413,
		confidant.KindUnsupported: 415, confidant.KindRateLimited: 429, confidant.KindInternal: 500,
		confidant.KindUnavailable: 503,
	} {
		if got := Status(confidant.Errorf(kind, "x", "x")); got != want {
			t.Errorf("%v: %d, want %d", kind, got, want)
		}
	}
	if Status(errors.New("plain")) != 500 {
		t.Error("a plain error is not a 500")
	}
}

func TestSecure(t *testing.T) {
	h := Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, hd := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cache-Control"} {
		if rec.Header().Get(hd) == "" {
			t.Errorf("missing %s", hd)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// A cross-site POST is refused before the handler runs.
	req := httptest.NewRequest("POST", "/notes", strings.NewReader("x"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || rec.Body.String() == "ok" {
		t.Errorf("cross-site POST: %d %q", rec.Code, rec.Body.String())
	}
}

func TestLoggedRecoversWithoutLeaking(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /patients/{id}", func(w http.ResponseWriter, r *http.Request) {
		panic("Aino Äijälä 010190-902S")
	})
	rec := httptest.NewRecorder()
	Logged(log, mux).ServeHTTP(rec, httptest.NewRequest("GET", "/patients/abc?q=Äijälä", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "Äijälä") || strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("response %d %q", rec.Code, rec.Body.String())
	}
	if strings.Contains(buf.String(), "Äijälä") || strings.Contains(buf.String(), "abc") {
		t.Errorf("log holds request data: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "handler panicked") {
		t.Errorf("panic not logged: %s", buf.String())
	}
}

// TestLoggedRoute checks that the request line names the route pattern of
// the innermost mux, through middleware that copies the request.
func TestLoggedRoute(t *testing.T) {
	copying := func(h http.Handler) http.Handler { // as Secure and sign-in middleware do
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, "x")))
		})
	}
	inner := NewServeMux()
	inner.HandleFunc("GET /patients/{id}", func(w http.ResponseWriter, r *http.Request) {})
	inner.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	outer := NewServeMux()
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	outer.Handle("/", copying(inner))
	plain := http.NewServeMux()
	plain.HandleFunc("GET /plain/{id}", func(w http.ResponseWriter, r *http.Request) {})

	tests := []struct {
		name, path, want string
		h                http.Handler
	}{
		{"nested behind copies", "/patients/abc", "GET /patients/{id}", Secure(copying(outer))},
		{"outer route", "/healthz", "GET /healthz", Secure(outer)},
		{"no inner route", "/nothing", "/", Secure(outer)},
		{"panic", "/boom", "GET /boom", Secure(outer)},
		{"http.ServeMux given the request", "/plain/abc", "GET /plain/{id}", plain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			Logged(log, tc.h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, "msg=request ") || !strings.Contains(last, fmt.Sprintf("route=%q ", tc.want)) && !strings.Contains(last, "route="+tc.want+" ") {
				t.Errorf("request line %q, want route %q", last, tc.want)
			}
			if strings.Contains(buf.String(), "abc") {
				t.Errorf("log holds the raw path: %s", buf.String())
			}
		})
	}
}

// wantCSP is the Content-Security-Policy, directive by directive, written
// out independently of the CSP constant so that weakening the constant
// fails here.
var wantCSP = map[string][]string{
	"default-src":     {"'none'"},
	"script-src":      {"'self'"},
	"style-src":       {"'self'"},
	"img-src":         {"'self'", "data:"},
	"font-src":        {"'self'"},
	"connect-src":     {"'self'"},
	"form-action":     {"'self'"},
	"frame-ancestors": {"'none'"},
	"base-uri":        {"'none'"},
}

// parseCSP splits a policy into its directives; a repeated directive is an
// error (browsers use the first and ignore the rest).
func parseCSP(t *testing.T, policy string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		name := strings.ToLower(f[0])
		if _, dup := out[name]; dup {
			t.Errorf("CSP directive %s given twice", name)
		}
		out[name] = f[1:]
	}
	return out
}

func TestCSPDirectives(t *testing.T) {
	rec := httptest.NewRecorder()
	Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	got := parseCSP(t, rec.Header().Get("Content-Security-Policy"))
	for name, want := range wantCSP {
		if !slices.Equal(got[name], want) {
			t.Errorf("CSP %s = %q, want %q", name, got[name], want)
		}
	}
	for name, sources := range got {
		if _, ok := wantCSP[name]; !ok {
			t.Errorf("CSP has the unexpected directive %s %q", name, sources)
		}
		for _, s := range sources {
			// No inline or eval, no wildcard, no other origin or scheme
			// (data: only for images).
			if strings.Contains(s, "unsafe") || strings.Contains(s, "*") || strings.Contains(s, ".") ||
				strings.HasSuffix(s, ":") && !(name == "img-src" && s == "data:") || !strings.HasPrefix(s, "'") && !strings.HasSuffix(s, ":") {
				t.Errorf("CSP %s allows %q", name, s)
			}
		}
	}
	// Scripts: self only, and nothing may embed the pages.
	if !slices.Equal(got["script-src"], []string{"'self'"}) || !slices.Equal(got["frame-ancestors"], []string{"'none'"}) {
		t.Errorf("CSP script-src %q, frame-ancestors %q", got["script-src"], got["frame-ancestors"])
	}
}
