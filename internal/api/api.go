// Package api is Confidant's JSON API, served under /api/v1/.
//
// Every handler authenticates the bearer token, decodes its request with
// one strict decoder (decode), calls exactly one method of internal/service
// (which authorizes the operation), and answers with an explicit response
// struct (views.go). Domain structs are never serialised directly, so a new
// field on a domain type cannot leak by accident. Every error goes through
// one funnel (writeError) that maps it to a status and a JSON body that
// carries a stable code and a user-safe message, never patient data.
//
// The caller mounts the handler at /api/v1/ and wraps it with httpx.Secure
// and httpx.Logged. docs/API.md documents every endpoint.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// Prefix is the path under which the API is mounted. Handlers see full
// paths that begin with it.
const Prefix = "/api/v1/"

// Config configures the API handler.
type Config struct {
	// Logger receives refused and failed requests (ids, routes and error
	// codes only). Nil means slog.Default().
	Logger *slog.Logger
}

// New returns the JSON API handler. It expects full request paths beginning
// with /api/v1/. Every route except POST /api/v1/login and the second
// factor's POST /api/v1/login/totp and /api/v1/login/totp/enrol requires a
// bearer token from them.
func New(svc *service.Service, cfg Config) http.Handler {
	h := &handler{svc: svc, log: cfg.Logger, mux: httpx.NewServeMux()}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.routes()
	return h
}

// handler is the API: the service it calls and the routes.
type handler struct {
	svc *service.Service
	log *slog.Logger
	mux *httpx.ServeMux
	// patterns lists the registered routes, for the route walk test.
	patterns []string
}

// apiFunc is a handler that returns its error instead of writing it, so
// that every error reaches writeError.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (h *handler) routes() {
	// Sessions and the acting account.
	h.public("POST /api/v1/login", h.login)
	h.public("POST /api/v1/login/totp", h.loginTOTP)
	h.public("POST /api/v1/login/totp/enrol", h.enrolTOTP)
	h.public("POST /api/v1/login/webauthn/begin", h.loginWebAuthnBegin)
	h.public("POST /api/v1/login/webauthn/finish", h.loginWebAuthnFinish)
	h.public("POST /api/v1/login/webauthn/enrol/begin", h.enrolWebAuthnBegin)
	h.public("POST /api/v1/login/webauthn/enrol/finish", h.enrolWebAuthnFinish)
	h.public("POST /api/v1/login/recovery", h.loginRecovery)
	h.authed("GET /api/v1/me/webauthn", h.listWebAuthn)
	h.authed("POST /api/v1/me/webauthn/register/begin", h.registerWebAuthnBegin)
	h.authed("POST /api/v1/me/webauthn/register/finish", h.registerWebAuthnFinish)
	h.authed("DELETE /api/v1/me/webauthn/{id}", h.deleteWebAuthn)
	h.authed("POST /api/v1/me/step-up/webauthn/begin", h.stepUpWebAuthnBegin)
	h.authed("POST /api/v1/me/step-up/webauthn/finish", h.stepUpWebAuthnFinish)
	h.authed("GET /api/v1/me/recovery-codes", h.recoveryCodesStatus)
	h.authed("POST /api/v1/me/recovery-codes", h.regenerateRecoveryCodes)
	h.authed("POST /api/v1/logout", h.logout)
	h.authed("GET /api/v1/me", h.me)
	h.authed("POST /api/v1/me/password", h.changePassword)
	h.authed("GET /api/v1/me/sessions", h.mySessions)
	h.authed("DELETE /api/v1/me/sessions/{id}", h.endSession)
	h.authed("GET /api/v1/me/notices", h.myNotices)
	h.authed("POST /api/v1/me/notices/read", h.readNotices)
	h.authed("GET /api/v1/me/record", h.myRecord)
	h.authed("GET /api/v1/me/access-log", h.myAccessLog)
	h.authed("GET /api/v1/me/access-log/{index}/proof", h.accessProof)
	h.authed("GET /api/v1/audit/events", h.auditEvents)
	h.authed("GET /api/v1/audit/scope", h.breachScope)
	h.authed("GET /api/v1/audit/records-report", h.recordsReport)

	// Patients and charts.
	h.authed("GET /api/v1/patients", h.listPatients)
	h.authed("POST /api/v1/patients", h.createPatient)
	h.authed("POST /api/v1/patients/search", h.searchPatients)
	h.authed("GET /api/v1/patients/{id}", h.getPatient)
	h.authed("GET /api/v1/patients/{id}/chart", h.chart)
	h.authed("POST /api/v1/patients/{id}/account", h.createPatientAccount)
	h.authed("POST /api/v1/patients/{id}/break-glass", h.breakGlass)

	// Session notes.
	h.authed("GET /api/v1/patients/{id}/notes", h.listNotes)
	h.authed("POST /api/v1/patients/{id}/notes", h.createNote)
	h.authed("GET /api/v1/notes/{id}", h.getNote)
	h.authed("PUT /api/v1/notes/{id}/draft", h.updateDraft)
	h.authed("POST /api/v1/notes/{id}/sign", h.signNote)
	h.authed("POST /api/v1/notes/{id}/amend", h.amendNote)
	h.authed("POST /api/v1/notes/{id}/release", h.releaseNote)

	// Other records.
	h.authed("GET /api/v1/patients/{id}/process-notes", h.listProcessNotes)
	h.authed("POST /api/v1/patients/{id}/process-notes", h.createProcessNote)
	h.authed("POST /api/v1/patients/{id}/diagnoses", h.createDiagnosis)
	h.authed("POST /api/v1/diagnoses/{id}/status", h.setDiagnosisStatus)
	h.authed("POST /api/v1/patients/{id}/plans", h.createPlan)
	h.authed("POST /api/v1/patients/{id}/measures", h.createMeasure)
	h.authed("POST /api/v1/patients/{id}/attachments", h.uploadAttachment)
	h.authed("GET /api/v1/attachments/{id}", h.downloadAttachment)

	// Administration.
	h.authed("GET /api/v1/clinics", h.listClinics)
	h.authed("POST /api/v1/clinics", h.createClinic)
	h.authed("PUT /api/v1/clinics/{id}", h.updateClinic)
	h.authed("GET /api/v1/staff", h.listStaff)
	h.authed("POST /api/v1/staff", h.createStaff)
	h.authed("PUT /api/v1/staff/{id}", h.updateStaff)
	h.authed("GET /api/v1/care", h.listCare)
	h.authed("POST /api/v1/care", h.assignCare)
	h.authed("POST /api/v1/care/{id}/end", h.endCare)
	h.authed("POST /api/v1/accounts/{id}/disable", h.disableAccount)
	h.authed("POST /api/v1/accounts/{id}/enable", h.enableAccount)
	h.authed("GET /api/v1/security/throttled", h.listThrottled)
	h.authed("POST /api/v1/security/throttled/{id}/clear", h.clearThrottle)
	h.authed("POST /api/v1/accounts/{id}/approve", h.approveAccount)
	h.authed("POST /api/v1/accounts/{id}/reset", h.resetAccount)
	h.authed("GET /api/v1/accounts/awaiting-approval", h.listAwaitingApproval)
	h.authed("GET /api/v1/break-glass", h.listBreakGlass)
	h.authed("POST /api/v1/break-glass/{id}/review", h.reviewBreakGlass)
	h.authed("GET /api/v1/alerts", h.listAlerts)
	h.authed("GET /api/v1/alerts/{id}", h.getAlert)
	h.authed("POST /api/v1/alerts/{id}/acknowledge", alertAction(h.svc.AcknowledgeAlert))
	h.authed("POST /api/v1/alerts/{id}/dismiss", h.dismissAlert)
	h.authed("POST /api/v1/alerts/{id}/reopen", alertAction(h.svc.ReopenAlert))
	h.authed("GET /api/v1/honeytokens", h.listHoneytokens)
	h.authed("POST /api/v1/honeytokens", h.createHoneytoken)

	// The incident register (docs/INCIDENTS.md).
	h.authed("GET /api/v1/incidents", h.listIncidents)
	h.authed("POST /api/v1/incidents", h.openIncident)
	h.authed("GET /api/v1/incidents/{id}", h.getIncident)
	h.authed("DELETE /api/v1/incidents/{id}", h.deleteIncident)
	h.authed("POST /api/v1/incidents/{id}/awareness", h.setAwareness)
	h.authed("POST /api/v1/incidents/{id}/decisions", h.addDecision)
	h.authed("PUT /api/v1/incidents/{id}/notification", h.setNotification)
	h.authed("POST /api/v1/incidents/{id}/rescope", h.rescope)
	h.authed("POST /api/v1/incidents/{id}/close", h.closeIncident)
	h.authed("POST /api/v1/incidents/{id}/letters", h.sendLetters)
	h.authed("GET /api/v1/incidents/{id}/regulator-notification", h.regulatorNotification)
	h.authed("GET /api/v1/incidents/{id}/regulator-notification.pdf", h.regulatorNotification)
	h.authed("GET /api/v1/me/letters", h.myLetters)
	h.authed("GET /api/v1/recipients", h.listRecipients)
	h.authed("POST /api/v1/recipients", h.proposeRecipient)
	h.authed("POST /api/v1/recipients/{id}/remove", h.proposeRecipientRemoval)
	h.authed("GET /api/v1/recipients/changes", h.listRecipientChanges)
	h.authed("POST /api/v1/recipients/changes/{id}/approve", h.approveRecipientChange)
	h.authed("GET /api/v1/outbox", h.listOutbox)
	h.authed("GET /api/v1/board-digest", h.boardDigest)
	h.public("POST /api/v1/invitations/accept", h.acceptInvitation)
}

// ServeHTTP routes r. Requests that match no route get a JSON 404, or a
// JSON 405 with an Allow header when the path exists for other methods.
// Paths that are not in canonical form (double slashes, dot segments) are
// 404 rather than redirected.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !cleanPath(r.URL.Path) {
		h.writeError(w, r, errNoRoute)
		return
	}
	fallback, pattern := h.mux.Handler(r)
	if pattern == "" {
		// Let the mux decide between 404 and 405 (and compute Allow), but
		// answer in JSON.
		cw := &captureWriter{header: http.Header{}}
		fallback.ServeHTTP(cw, r)
		if cw.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", cw.header.Get("Allow"))
			h.writeErrorStatus(w, r, http.StatusMethodNotAllowed, errMethod)
			return
		}
		h.writeError(w, r, errNoRoute)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// cleanPath reports whether p is in the canonical form that ServeMux would
// not redirect.
func cleanPath(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// captureWriter records the status and headers of the mux's own 404 and
// 405 answers and discards their plain-text bodies.
type captureWriter struct {
	header http.Header
	code   int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}

// public registers a route that needs no sign-in.
func (h *handler) public(pattern string, f apiFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.Handle(pattern, h.run(f))
}

// authed registers a route that needs a valid bearer token. The actor it
// names is put into the request's context for the service.
func (h *handler) authed(pattern string, f apiFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.Handle(pattern, h.run(func(w http.ResponseWriter, r *http.Request) error {
		ctx, err := h.authenticate(r)
		if err != nil {
			return err
		}
		return f(w, r.WithContext(ctx))
	}))
}

// run adapts an apiFunc to http.Handler, sending its error to writeError.
func (h *handler) run(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// authenticate resolves the request's bearer token to an actor.
func (h *handler) authenticate(r *http.Request) (context.Context, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, errNoToken
	}
	a, err := h.svc.Authenticate(r.Context(), token, service.SessionAPI, httpx.ClientAddr(r))
	if err != nil {
		return nil, err
	}
	return confidant.WithActor(r.Context(), a), nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 9110 section 11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// pathID returns the {id} path value, or NotFound when it cannot be an id,
// so that garbage never reaches the service and every bad id is a 404.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !confidant.ValidID(id) {
		return "", confidant.ErrNotFound
	}
	return id, nil
}

// actorOf returns the actor the request runs as.
func actorOf(r *http.Request) (confidant.Actor, error) { return confidant.ActorFrom(r.Context()) }
