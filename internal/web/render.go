package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
)

//go:embed templates
var templateFS embed.FS

// views are the parsed page templates. Each page file is parsed together
// with the layout and the partials, and defines the blocks "title" and
// "main".
type views struct {
	pages map[string]*template.Template
}

func loadViews(funcs template.FuncMap) (*views, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, f := range files {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, f); err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		v.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return v, nil
}

// page is what the layout needs; every view embeds it.
type page struct {
	Title     string
	Me        *viewer // nil when nobody is signed in
	Crumbs    []crumb // breadcrumbs before the current page (Title)
	Flash     string  // confirmation after a POST-redirect-GET
	Error     string  // the message of a failed request, shown next to the form
	Section   string  // the top-bar item to highlight
	CSS, JS   string
	Icon      string
	PasskeyJS string // the URL of static/passkey.js
	SSO       string // the single sign-on provider's name, when configured
}

func (p *page) setError(msg string) { p.Error = msg }

// viewer is the signed-in user as the top bar shows them.
type viewer struct {
	Name string
	Role confidant.Role
	// OpenEmergency: emergency accesses awaiting a security officer's
	// review (shown in their navigation).
	OpenEmergency int
	// Incident: the countdown to the nearest deadline of an open incident
	// (security officers and the DPO), nil for none.
	Incident *incidentBanner
}

type crumb struct {
	Label, URL string
}

// flashes are the only confirmations a redirect may ask for: a fixed set of
// keys, so that no data ever travels in a URL.
var flashes = map[string]string{
	"signed-out":                 "You have signed out.",
	"expired":                    "Your session has ended. Please sign in again.",
	"mfa-expired":                "Your sign-in has expired or was ended. Please sign in again.",
	"patient-created":            "The patient was registered.",
	"note-created":               "The draft was saved.",
	"draft-saved":                "The draft was saved.",
	"signed":                     "The note was signed and is now locked.",
	"amended":                    "The amendment was signed and added as a new version.",
	"released":                   "The note was released to the patient.",
	"diagnosis-added":            "The diagnosis was recorded.",
	"diagnosis-status":           "The diagnosis was updated.",
	"plan-saved":                 "The treatment plan was saved as a new version.",
	"measure-recorded":           "The measure was scored and recorded.",
	"process-note":               "The private process note was saved.",
	"uploaded":                   "The file was attached.",
	"clinic-created":             "The clinic was created.",
	"clinic-updated":             "The clinic was updated.",
	"staff-created":              "The account was created and its invitation sent.",
	"staff-updated":              "The account was updated.",
	"care-assigned":              "The care relationship was started.",
	"care-ended":                 "The care relationship was ended. The therapist no longer has access.",
	"account-created":            "The portal account was created.",
	"account-disabled":           "The account was disabled and its sessions ended.",
	"account-enabled":            "The account was enabled.",
	"throttle-cleared":           "The failed sign-ins were cleared: every client may try again at once.",
	"account-approved":           "The account was approved.",
	"account-reset":              "The account was reset: its owner got a new invitation and sets up a new second factor.",
	"password-set":               "Your password is set. Sign in with it.",
	"session-ended":              "The session has ended.",
	"emergency-access":           "Emergency access was granted. It is recorded with your reason, security officers have been notified, and the patient sees it.",
	"emergency-reviewed":         "The review was recorded.",
	"alert-acknowledged":         "The alert was acknowledged.",
	"alert-dismissed":            "The alert was dismissed. Someone else can review the dismissal and reopen it.",
	"alert-reopened":             "The alert was reopened.",
	"honeytoken-created":         "The decoy patient was created. Nobody has a reason to open it: any access raises an alert.",
	"password-changed":           "Your password is changed, and every session of your account has ended. Sign in with the new password.",
	"passkey-added":              "The passkey was added.",
	"passkey-removed":            "The passkey was removed.",
	"incident-opened":            "The incident was opened; its scope is frozen at the access log's checkpoint.",
	"incident-awareness":         "The time of awareness was recorded; the clocks are running.",
	"incident-decision":          "The decision was recorded.",
	"incident-notification":      "The notification fields were saved.",
	"incident-rescoped":          "A new scope was computed and kept as the next version.",
	"incident-closed":            "The incident was closed.",
	"incident-letters":           "The letters were sent to the patients' portal (and by e-mail where possible).",
	"recipient-proposed":         "The recipient was proposed. It receives alerts once another security officer or the data protection officer approves it; every recipient was told.",
	"recipient-removal-proposed": "The removal was proposed. The recipient keeps receiving alerts until another security officer or the data protection officer approves it; every recipient was told.",
	"recipient-change-approved":  "The change was approved; every recipient, old and new, was told.",
}

// redirect sends the browser to target after a successful POST, with a
// flash key from the fixed set.
func redirect(w http.ResponseWriter, r *http.Request, target, done string) {
	if _, ok := flashes[done]; !ok && done != "" {
		panic("web: unknown flash key " + done)
	}
	if done != "" {
		target += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// page returns the layout data for a request: who is signed in, the flash
// message if any, and the asset URLs.
func (s *server) page(r *http.Request, title string, crumbs ...crumb) page {
	p := page{
		Title:     title,
		Crumbs:    crumbs,
		Flash:     flashes[r.URL.Query().Get("done")],
		CSS:       s.assets.URL("app.css"),
		JS:        s.assets.URL("app.js"),
		PasskeyJS: s.assets.URL("passkey.js"),
		Icon:      s.assets.URL("icon.svg"),
	}
	if s.sso != nil {
		p.SSO = s.sso.cfg.Name
	}
	if a, err := confidant.ActorFrom(r.Context()); err == nil {
		p.Me = &viewer{Name: a.Username, Role: a.Role}
		if u, err := s.svc.Me(r.Context()); err == nil && u.DisplayName != "" {
			p.Me.Name = u.DisplayName
		}
		if a.Role == confidant.RoleSecurity {
			if n, err := s.svc.OpenBreakGlassCount(r.Context()); err == nil {
				p.Me.OpenEmergency = n
			}
		}
		if a.Role == confidant.RoleSecurity || a.Role == confidant.RoleDPO {
			switch cs, err := s.svc.IncidentClocks(r.Context()); {
			case err == nil:
				p.Me.Incident = banner(cs, s.svc.Now())
			case !confidant.IsKind(err, confidant.KindPermission) && !confidant.IsKind(err, confidant.KindUnauthenticated):
				p.Me.Incident = &incidentBanner{Unreadable: true}
				s.log.Warn("the open incidents could not be read for the banner", "code", confidant.CodeOf(err))
			}
		}
	}
	return p
}

// render executes a page into a buffer, so that a template error never
// leaves half a page, and writes it with status.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := s.views.pages[name]
	if !ok {
		s.log.Error("unknown view", "view", name)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("render failed", "view", name, "route", r.Pattern, "err", err.Error())
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorView is the page every refused or failed request ends on.
type errorView struct {
	page
	Status  int
	Heading string
	Home    string
}

// fail is the error funnel for pages: status from httpx.Status, message from
// confidant.MessageOf, logged with httpx.LogError. A GET without a valid
// session goes to the sign-in page instead.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.LogError(s.log, r, err)
	status := httpx.Status(err)
	if status == http.StatusUnauthorized {
		s.clearCookie(w)
		if r.Method == http.MethodGet {
			done := ""
			if s.token(r) != "" {
				done = "expired"
			}
			http.Redirect(w, r, loginURL(r, done), http.StatusSeeOther)
			return
		}
	}
	v := &errorView{Status: status, Home: "/"}
	switch status {
	case http.StatusNotFound:
		v.Heading = "Not found"
	case http.StatusForbidden:
		v.Heading = "Not allowed"
	case http.StatusUnauthorized:
		v.Heading = "Please sign in"
		v.Home = "/login"
	case http.StatusConflict:
		v.Heading = "This cannot be done now"
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		v.Heading = "The request could not be accepted"
	case http.StatusTooManyRequests:
		v.Heading = "Too many attempts"
	case http.StatusServiceUnavailable:
		v.Heading = "Temporarily unavailable"
		if confidant.CodeOf(err) == confidant.CodeOutcomeUnknown {
			// Not "failed": the change may have been saved.
			v.Heading = "Not known whether it was saved"
		}
	default:
		v.Heading = "Something went wrong"
	}
	v.page = s.page(r, v.Heading)
	v.Error = httpx.Message(err)
	setRetryAfter(w, err)
	s.render(w, r, status, "error", v)
}

// formFail re-renders a form after a refused submission, with the user's
// input (already in v) and the message next to the form. Refusals that say
// the thing is not there or not theirs go to the error page instead: the
// form's context would not make sense.
func (s *server) formFail(w http.ResponseWriter, r *http.Request, err error, name string, v interface{ setError(string) }) {
	switch confidant.KindOf(err) {
	case confidant.KindNotFound, confidant.KindPermission, confidant.KindUnauthenticated:
		s.fail(w, r, err)
		return
	}
	httpx.LogError(s.log, r, err)
	v.setError(confidant.MessageOf(err))
	s.render(w, r, httpx.Status(err), name, v)
}

// notFound is the page for unknown URLs.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, confidant.ErrNotFound)
}

// invalid returns a KindInvalid error for form input the handler parses
// itself (dates, numbers) before the service sees it.
func invalid(code, msg string) error {
	return confidant.Errorf(confidant.KindInvalid, code, "%s", msg)
}

// Form values.

// parseDate parses an <input type=date> value in loc; "" is the zero time.
func (s *server) parseDate(v, what string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, s.loc)
	if err != nil {
		return time.Time{}, invalid("invalid_date", what+" must be a date like 2026-01-31.")
	}
	return t, nil
}

// parseDateTime parses an <input type=datetime-local> value in loc.
func (s *server) parseDateTime(v, what string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		// Only the form written back ("T09:05", not "T9:05", which the
		// parser also takes): what is read is what was sent.
		if t, err := time.ParseInLocation(layout, v, s.loc); err == nil && t.Format(layout) == v {
			return t, nil
		}
	}
	return time.Time{}, invalid("invalid_date", what+" must be a date and time like 2026-01-31 14:00.")
}
