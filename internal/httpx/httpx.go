// Package httpx holds what the web app and the JSON API share: the mapping
// from error kinds to status codes, security headers, cross-origin
// protection and request logging that never records patient data.
package httpx

import (
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
		protected.ServeHTTP(w, r.WithContext(confidant.WithClient(r.Context(), ClientAddr(r))))
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
func Logged(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panicked", slog.String("method", r.Method), slog.String("route", r.Pattern))
				if sw.status == 0 {
					http.Error(sw, "Internal error", http.StatusInternalServerError)
				}
			}
			log.Info("request", slog.String("method", r.Method), slog.String("route", r.Pattern),
				slog.Int("status", sw.status), slog.Duration("dur", time.Since(start)))
		}()
		h.ServeHTTP(sw, r)
	})
}
