// Package httpx holds what the web app and the JSON API share: the mapping
// from error kinds to status codes, security headers, cross-origin
// protection and request logging that never records patient data.
package httpx

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Status returns the HTTP status for an error's kind. It is the single place
// where kinds become status codes.
func Status(err error) int {
	switch confidant.KindOf(err) {
	case confidant.KindInvalid:
		return http.StatusBadRequest
	case confidant.KindNotFound:
		return http.StatusNotFound
	case confidant.KindConflict:
		return http.StatusConflict
	case confidant.KindPermission:
		return http.StatusForbidden
	case confidant.KindUnauthenticated:
		return http.StatusUnauthorized
	case confidant.KindUnavailable:
		return http.StatusServiceUnavailable
	case confidant.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case confidant.KindUnsupported:
		return http.StatusUnsupportedMediaType
	case confidant.KindRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// Message returns the user-safe message of err for a response. Every
// "not_found" answers with the one message of confidant.ErrNotFound,
// whichever layer refused, so that "does not exist" and "not yours" read
// alike.
func Message(err error) string {
	if confidant.KindOf(err) == confidant.KindNotFound && confidant.CodeOf(err) == confidant.ErrNotFound.Code {
		return confidant.ErrNotFound.Message
	}
	return confidant.MessageOf(err)
}

// LogError logs err at a level fitting its kind. Internal errors are logged
// with their cause; the cause never contains patient data by the rules of
// confidant.Error. Other kinds are the user's doing and logged at debug.
func LogError(log *slog.Logger, r *http.Request, err error) {
	attrs := []any{slog.String("method", r.Method), slog.String("route", r.Pattern), slog.String("code", confidant.CodeOf(err))}
	if confidant.KindOf(err) == confidant.KindInternal || confidant.KindOf(err) == confidant.KindUnavailable {
		log.Error("request failed", append(attrs, slog.String("err", err.Error()))...)
		return
	}
	log.Debug("request refused", attrs...)
}

// CSP is the Content-Security-Policy of every response: no inline script or
// style, nothing from other origins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Secure wraps h with the security headers and net/http's
// CrossOriginProtection (which refuses cross-origin state-changing requests
// by Sec-Fetch-Site / Origin).
func Secure(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	protected := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		hd.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		ctx := confidant.WithAgent(confidant.WithClient(r.Context(), ClientAddr(r)), r.UserAgent())
		protected.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientAddr returns the client's IP address (without port), for the access
// log. Proxy headers are not trusted.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusWriter records the status code for the access line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Logged logs one line per request: method, route pattern (never the raw
// path, which may hold ids a reader could correlate), status and duration.
// It also recovers panics into a plain 500 without a stack trace in the
// response; the panic value is not logged because it might hold data.
//
// The route is the pattern of the innermost ServeMux (this package's) that
// routed the request, or else the Pattern an http.ServeMux set on the
// request Logged passed on; a mux behind middleware that copies the request
// (r.WithContext) sets the Pattern on a copy Logged never sees, so such a
// mux must be a ServeMux.
func Logged(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		rt := &route{}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt))
		start := time.Now()
		defer func() {
			pattern := rt.pattern
			if pattern == "" {
				pattern = r.Pattern // set by an http.ServeMux given r itself
			}
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panicked", slog.String("method", r.Method), slog.String("route", pattern))
				if sw.status == 0 {
					http.Error(sw, "Internal error", http.StatusInternalServerError)
				}
			}
			log.Info("request", slog.String("method", r.Method), slog.String("route", pattern),
				slog.Int("status", sw.status), slog.Duration("dur", time.Since(start)))
		}()
		h.ServeHTTP(sw, r)
	})
}

// route holds the pattern of the route that served a request, for Logged.
type route struct{ pattern string }

type routeKey struct{}

// ServeMux is an http.ServeMux whose handlers record their pattern for
// Logged, however many copies of the request middleware made between the
// two. Nested muxes work: the innermost pattern is recorded last.
type ServeMux struct {
	mux http.ServeMux
}

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux { return &ServeMux{} }

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (m *ServeMux) Handle(pattern string, h http.Handler) {
	m.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt, ok := r.Context().Value(routeKey{}).(*route); ok {
			rt.pattern = r.Pattern
		}
		h.ServeHTTP(w, r)
	}))
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does.
func (m *ServeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Handler returns the handler and pattern for r, as http.ServeMux.Handler
// does.
func (m *ServeMux) Handler(r *http.Request) (h http.Handler, pattern string) {
	return m.mux.Handler(r)
}

// ServeHTTP dispatches r to the handler whose pattern matches it best.
func (m *ServeMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}
