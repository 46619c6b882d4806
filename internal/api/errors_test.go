package api

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// TestErrors checks status, code and body of every kind of refusal. Each
// case is a fresh request against one shared world.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	ther, mgr := e.login(t, "therapist"), e.login(t, "manager")
	ctx := e.As(e.Therapist)
	svc := e.Service
	draft, err := svc.CreateNote(ctx, e.PatientA.ID, service.NoteInput{Body: "draft"})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := svc.CreateNote(ctx, e.PatientA.ID, service.NoteInput{Body: "to be signed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignNote(ctx, signed.ID); err != nil {
		t.Fatal(err)
	}
	pA := "/api/v1/patients/" + e.PatientA.ID
	huge := `{"body":"` + strings.Repeat("a", maxBody) + `"}`
	limit := svc.Config().MaxAttachment
	ctJSON := map[string]string{"Content-Type": "application/json"}
	const secret = "SECRET-VALUE-31337"

	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		// Decoding.
		{"malformed JSON", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body": "x"`}, 400, "malformed_json"},
		{"syntax error", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body": x}`}, 400, "malformed_json"},
		{"empty body", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: ``}, 400, "malformed_json"},
		{"not an object", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `["` + secret + `"]`}, 400, "malformed_json"},
		{"wrong type", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body": 31337}`}, 400, "malformed_json"},
		{"wrong element type", req{Method: "POST", Path: pA + "/measures", Token: ther, Body: `{"instrument":"phq9","answers":["` + secret + `"]}`}, 400, "malformed_json"},
		{"trailing data", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x"} {"body":"y"}`}, 400, "malformed_json"},
		{"trailing garbage", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x"}` + secret}, 400, "malformed_json"},
		{"unknown field", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x","bodyy":"` + secret + `"}`}, 400, "unknown_field"},
		{"wrong content type", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x"}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"form content type", req{Method: "POST", Path: "/api/v1/login", Body: `username=a&password=b`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"no content type", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: []byte(`{"body":"x"}`)}, 415, "unsupported_media_type"},
		{"wrong charset", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x"}`, Header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, 415, "unsupported_media_type"},
		{"oversize body", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: huge}, 413, "too_large"},
		{"bad time", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x","session_at":"` + secret + `"}`}, 400, "invalid_session_at"},
		{"bad date", req{Method: "POST", Path: pA + "/plans", Token: ther, Body: `{"goals":"x","review_on":"` + secret + `"}`}, 400, "invalid_review_on"},
		{"missing version", req{Method: "PUT", Path: "/api/v1/notes/" + draft.ID + "/draft", Token: ther, Body: `{"template":"free","body":"x"}`}, 400, "missing_version"},
		{"missing disabled", req{Method: "PUT", Path: "/api/v1/staff/" + e.OtherTherapist.ID, Token: mgr, Body: `{"display_name":"x","clinic_ids":[]}`}, 400, "missing_disabled"},

		// Ids and routes.
		{"unknown patient", req{Method: "GET", Path: "/api/v1/patients/" + confidant.NewID(), Token: ther}, 404, "not_found"},
		{"garbage patient id", req{Method: "GET", Path: "/api/v1/patients/" + secret, Token: ther}, 404, "not_found"},
		{"unknown note", req{Method: "GET", Path: "/api/v1/notes/" + confidant.NewID(), Token: ther}, 404, "not_found"},
		{"garbage note id", req{Method: "POST", Path: "/api/v1/notes/..%2f/sign", Token: ther}, 404, "not_found"},
		{"unknown note, manager", req{Method: "GET", Path: "/api/v1/notes/x", Token: mgr}, 404, "not_found"},
		{"unknown attachment", req{Method: "GET", Path: "/api/v1/attachments/" + confidant.NewID(), Token: ther}, 404, "not_found"},
		{"unknown diagnosis", req{Method: "POST", Path: "/api/v1/diagnoses/" + confidant.NewID() + "/status", Token: ther, Body: `{"status":"resolved"}`}, 404, "not_found"},
		{"unknown care", req{Method: "POST", Path: "/api/v1/care/" + confidant.NewID() + "/end", Token: mgr}, 404, "not_found"},
		{"unknown clinic", req{Method: "PUT", Path: "/api/v1/clinics/" + confidant.NewID(), Token: mgr, Body: `{"name":"x"}`}, 404, "not_found"},
		{"unknown route", req{Method: "GET", Path: "/api/v1/nothing", Token: ther}, 404, "not_found"},
		{"unknown route, anonymous", req{Method: "GET", Path: "/api/v1/nothing"}, 404, "not_found"},
		{"trailing slash", req{Method: "GET", Path: "/api/v1/patients/", Token: ther}, 404, "not_found"},
		{"unclean path", req{Method: "GET", Path: "/api/v1/clinics/../patients", Token: ther}, 404, "not_found"},
		{"double slash", req{Method: "GET", Path: "/api/v1//patients", Token: ther}, 404, "not_found"},
		{"wrong method", req{Method: "DELETE", Path: pA, Token: ther}, 405, "method_not_allowed"},
		{"wrong method on login", req{Method: "GET", Path: "/api/v1/login"}, 405, "method_not_allowed"},

		// Validation in the service.
		{"malformed identity code", req{Method: "POST", Path: "/api/v1/patients", Token: ther, Body: `{"given_name":"A","family_name":"B","identity_code":"010190-902X"}`}, 400, "invalid_identity_code"},
		{"duplicate identity code", req{Method: "POST", Path: "/api/v1/patients", Token: ther, Body: `{"given_name":"A","family_name":"B","identity_code":"010190-902S"}`}, 409, "identity_code_taken"},
		{"unknown ICD code", req{Method: "POST", Path: pA + "/diagnoses", Token: ther, Body: `{"code":"X99.9"}`}, 400, "unknown_icd10_code"},
		{"unknown template", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":"x","template":"` + secret + `"}`}, 400, "invalid_template"},
		{"empty note", req{Method: "POST", Path: pA + "/notes", Token: ther, Body: `{"body":""}`}, 400, "missing_body"},
		{"wrong answers", req{Method: "POST", Path: pA + "/measures", Token: ther, Body: `{"instrument":"gad7","answers":[1,2]}`}, 400, "invalid_answers"},
		{"null answer", req{Method: "POST", Path: pA + "/measures", Token: ther, Body: `{"instrument":"gad7","answers":[1,2,null,0,1,2,3]}`}, 400, "missing_answer"},
		{"null answers only", req{Method: "POST", Path: pA + "/measures", Token: ther, Body: `{"instrument":"gad7","answers":[null,null,null,null,null,null,null]}`}, 400, "missing_answer"},
		{"editing a signed note", req{Method: "PUT", Path: "/api/v1/notes/" + signed.ID + "/draft", Token: ther, Body: `{"version":1,"template":"free","body":"changed"}`}, 409, "note_signed"},
		{"stale draft version", req{Method: "PUT", Path: "/api/v1/notes/" + draft.ID + "/draft", Token: ther, Body: `{"version":2,"template":"free","body":"changed"}`}, 409, "note_version_stale"},
		{"signing a signed note", req{Method: "POST", Path: "/api/v1/notes/" + signed.ID + "/sign", Token: ther}, 409, "note_signed"},
		{"releasing a draft", req{Method: "POST", Path: "/api/v1/notes/" + draft.ID + "/release", Token: ther}, 409, "note_unsigned"},
		{"amending a draft", req{Method: "POST", Path: "/api/v1/notes/" + draft.ID + "/amend", Token: ther, Body: `{"body":"x"}`}, 409, "note_draft"},
		{"manager lists without clinic", req{Method: "GET", Path: "/api/v1/patients", Token: mgr}, 400, "missing_clinic"},
		{"bad limit", req{Method: "GET", Path: "/api/v1/patients?clinic=" + e.ClinicA.ID + "&limit=0", Token: mgr}, 400, "invalid_limit"},
		{"bad offset", req{Method: "GET", Path: "/api/v1/patients?clinic=" + e.ClinicA.ID + "&offset=-1", Token: mgr}, 400, "invalid_offset"},
		{"short search", req{Method: "POST", Path: "/api/v1/patients/search", Token: ther, Body: map[string]string{"q": "a"}}, 400, "invalid_query"},
		{"search in the URL", req{Method: "GET", Path: "/api/v1/patients?q=a", Token: ther}, 400, "use_post_patients_search"},
		{"name filter in the URL", req{Method: "GET", Path: "/api/v1/patients?clinic=x&name=a", Token: ther}, 400, "use_post_patients_search"},
		{"search without q", req{Method: "POST", Path: "/api/v1/patients/search", Token: ther, Body: map[string]string{}}, 400, "missing_q"},
		{"file name in the URL", req{Method: "POST", Path: pA + "/attachments?filename=a.txt", Token: ther, Body: []byte("text")}, 400, "use_content_disposition"},
		{"care without clinic", req{Method: "GET", Path: "/api/v1/care", Token: mgr}, 400, "missing_clinic"},
		{"care bad active", req{Method: "GET", Path: "/api/v1/care?clinic=" + e.ClinicA.ID + "&active=" + secret, Token: mgr}, 400, "invalid_active"},

		// Attachments.
		{"attachment too large (declared)", req{Method: "POST", Path: pA + "/attachments", Token: ther, Header: map[string]string{"Content-Disposition": "attachment; filename=a.txt"},
			Body: io.Reader(strings.NewReader("never read")), ContentLength: limit + 1}, 413, "attachment_too_large"},
		{"attachment too large (streamed)", req{Method: "POST", Path: pA + "/attachments", Token: ther, Header: map[string]string{"Content-Disposition": "attachment; filename=a.txt"},
			Body: io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("a"), int(limit))), strings.NewReader("b"))}, 413, "attachment_too_large"},
		{"attachment type not allowed", req{Method: "POST", Path: pA + "/attachments", Token: ther, Header: map[string]string{"Content-Disposition": "attachment; filename=a.zip"},
			Body: []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")}, 415, "attachment_type_not_allowed"},
		{"attachment as a form", req{Method: "POST", Path: pA + "/attachments", Token: ther,
			Body: []byte("--x\r\n"), Header: map[string]string{"Content-Type": "multipart/form-data; boundary=x", "Content-Disposition": "attachment; filename=a.txt"}}, 415, "unsupported_media_type"},
		{"attachment without name", req{Method: "POST", Path: pA + "/attachments", Token: ther, Body: []byte("text")}, 400, "invalid_filename"},
		{"empty attachment", req{Method: "POST", Path: pA + "/attachments", Token: ther, Header: map[string]string{"Content-Disposition": "attachment; filename=a.txt"}, Body: []byte{}}, 400, "empty_attachment"},

		// Authentication.
		{"no token", req{Method: "GET", Path: "/api/v1/me"}, 401, "unauthenticated"},
		{"other scheme", req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Authorization": "Basic " + ther}}, 401, "unauthenticated"},
		{"bad token", req{Method: "GET", Path: "/api/v1/me", Token: secret}, 401, "unauthenticated"},
		{"wrong password", req{Method: "POST", Path: "/api/v1/login", Body: `{"username":"therapist","password":"` + secret + `"}`}, 401, "invalid_credentials"},
		{"unknown user", req{Method: "POST", Path: "/api/v1/login", Body: `{"username":"nobody","password":"x"}`}, 401, "invalid_credentials"},
		{"auth before id check", req{Method: "GET", Path: "/api/v1/notes/garbage"}, 401, "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Header == nil && tc.r.Body != nil {
				if _, ok := tc.r.Body.(string); ok {
					tc.r.Header = ctJSON
				}
			}
			res := e.do(t, tc.r)
			if res.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", res.Code, tc.status, res.Body)
			}
			got := res.errorOf(t)
			if tc.code != "" && got.Error.Code != tc.code {
				t.Errorf("code %q, want %q (%s)", got.Error.Code, tc.code, got.Error.Message)
			}
			if strings.Contains(string(res.Body), secret) || strings.Contains(string(res.Body), "31337") {
				t.Errorf("error echoes the value sent: %s", res.Body)
			}
			for _, bad := range []string{"goroutine", ".go:", "panic", "sql", "SQL"} {
				if strings.Contains(got.Error.Message, bad) {
					t.Errorf("message leaks internals (%q): %s", bad, got.Error.Message)
				}
			}
			switch res.Code {
			case 401:
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %q", res.Header.Get("WWW-Authenticate"))
				}
			case 405:
				if res.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}
	// 31337 as a number of its own: request durations in the log
	// (dur=1.313375ms) can contain those digits by chance.
	if log := e.log.String(); strings.Contains(log, secret) || loneNumber.MatchString(log) || strings.Contains(log, "Äijälä") {
		t.Errorf("values in the log:\n%s", log)
	}
}

// TestAuthChallenge checks the WWW-Authenticate header of RFC 6750.
func TestAuthChallenge(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, req{Method: "GET", Path: "/api/v1/me"})
	if got := res.Header.Get("WWW-Authenticate"); got != `Bearer realm="confidant"` {
		t.Errorf("missing token: WWW-Authenticate %q", got)
	}
	res = e.do(t, req{Method: "GET", Path: "/api/v1/me", Token: "nope"})
	if got := res.Header.Get("WWW-Authenticate"); got != `Bearer realm="confidant", error="invalid_token"` {
		t.Errorf("bad token: WWW-Authenticate %q", got)
	}
	// The scheme is case-insensitive.
	tok := e.login(t, "therapist")
	res = e.do(t, req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Authorization": "bearer " + tok}})
	if res.Code != http.StatusOK {
		t.Errorf("lower-case scheme: %d", res.Code)
	}
	// Security headers come from httpx.Secure around the API.
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers missing: %v", res.Header)
	}
}

// loneNumber finds 31337 standing alone, not inside a longer number.
var loneNumber = regexp.MustCompile(`(^|[^0-9.])31337([^0-9]|$)`)
