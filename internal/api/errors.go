package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
)

// Errors raised by the transport itself. Their messages name fields and
// limits, never values.
var (
	errNoRoute = confidant.Errorf(confidant.KindNotFound, "not_found", "No such endpoint.")
	errMethod  = confidant.Errorf(confidant.KindInvalid, "method_not_allowed", "This endpoint does not support the method; see the Allow header.")
	errNoToken = confidant.Errorf(confidant.KindUnauthenticated, "unauthenticated",
		"Send a bearer token from POST /api/v1/login in the Authorization header.")
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError is the one place where an error becomes a response: the status
// comes from the error's kind (httpx.Status), the body carries its code and
// user-safe message (internal errors get a generic message), and the error is
// logged by httpx.LogError, which records route and code, never values.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeErrorStatus(w, r, httpx.Status(err), err)
}

// writeErrorStatus is writeError with the status given; only the router uses
// it directly, for 405, which has no error kind.
func (h *handler) writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	httpx.LogError(h.log, r, err)
	if status == http.StatusUnauthorized {
		// RFC 6750 section 3: a 401 names the scheme; a presented but
		// unusable token is "invalid_token".
		challenge := `Bearer realm="confidant"`
		if _, ok := bearerToken(r); ok && !strings.HasPrefix(r.Pattern, "POST /api/v1/login") {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if d, ok := confidant.RetryAfter(err); ok && status == http.StatusTooManyRequests {
		// RFC 9110 section 10.2.3: whole seconds.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: confidant.CodeOf(err), Message: httpx.Message(err)}})
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only response structs of this package reach here; they always
		// marshal. Answer with a fixed body rather than a partial one.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"Something went wrong on our side. The problem has been logged."}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
