package web_test

import (
	"bytes"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/confidanthealth/confidant/internal/web"
)

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	r := c.get("/patients")
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("unauthenticated GET: status %d to %q, want 303 to /login", r.status, r.header.Get("Location"))
	}
	if got := r.header.Get("Location"); got != "/login?next=%2Fpatients" {
		t.Errorf("Location = %q, want the sign-in page returning to /patients", got)
	}
	if r := c.post("/patients", url.Values{"given_name": {"X"}}); r.status != http.StatusUnauthorized {
		t.Errorf("unauthenticated POST: status %d, want 401", r.status)
	}

	r = c.post("/login", url.Values{"username": {"therapist"}, "password": {"wrong password!"}})
	if r.status != http.StatusUnauthorized || !has(r.body, "Wrong username or password") {
		t.Fatalf("wrong password: status %d, body lacks message:\n%s", r.status, text(r.body))
	}
	if !strings.Contains(r.body, `value="therapist"`) {
		t.Errorf("wrong password: username not kept in the form")
	}
	if strings.Contains(r.body, "wrong password!") {
		t.Errorf("wrong password: the password was echoed back")
	}

	// The right password leads to the second factor, with the pending
	// sign-in in a cookie of its own and no session yet.
	r = c.post("/login", url.Values{"username": {"therapist"}, "password": {testfix.Password}, "next": {"/patients"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/totp?next=%2Fpatients" {
		t.Fatalf("password: status %d to %q, want the code page", r.status, r.header.Get("Location"))
	}
	mck := sessionCookie(t, r, "confidant-mfa")
	if !mck.HttpOnly || mck.SameSite != http.SameSiteStrictMode || mck.Path != "/" || mck.Secure || mck.MaxAge != 300 || mck.Domain != "" {
		t.Errorf("MFA cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, Max-Age=300", mck)
	}
	if r := e.withToken(mck.Value).get("/patients"); r.status != http.StatusSeeOther {
		t.Errorf("the MFA token as a session: status %d, want it refused", r.status)
	}
	r = c.get("/login/totp?next=%2Fpatients")
	if r.status != http.StatusOK || !has(r.body, "Enter your code") || !strings.Contains(r.body, `name="next" value="/patients"`) {
		t.Fatalf("code page: status %d:\n%s", r.status, text(r.body))
	}
	r = c.post("/login/totp", url.Values{"code": {"12345"}, "next": {"/patients"}})
	if r.status != http.StatusUnauthorized || !has(r.body, "The code is not valid.") {
		t.Fatalf("wrong code: status %d:\n%s", r.status, text(r.body))
	}
	r = c.post("/login/totp", url.Values{"code": {testfix.Code(t, e.w.TOTPSecret(e.w.Therapist))}, "next": {"/patients"}})
	if r.status != http.StatusSeeOther || r.location() != "/patients" {
		t.Fatalf("sign in: status %d to %q", r.status, r.header.Get("Location"))
	}
	if ck := sessionCookie(t, r, "confidant-mfa"); ck.MaxAge >= 0 {
		t.Errorf("MFA cookie not cleared after sign-in: %+v", ck)
	}
	ck := sessionCookie(t, r, "confidant")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.MaxAge != 0 || !ck.Expires.IsZero() || ck.Domain != "" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, no Secure (plain HTTP), no Max-Age or Expires", ck)
	}

	r = c.get("/")
	if r.status != http.StatusSeeOther || r.location() != "/patients" {
		t.Errorf("therapist home: %d to %q, want /patients", r.status, r.header.Get("Location"))
	}
	r = c.get("/patients")
	if r.status != http.StatusOK || !has(r.body, "Äijälä, Aino") || !has(r.body, "Sign out") || !has(r.body, "Therapist") {
		t.Fatalf("My patients: status %d:\n%s", r.status, text(r.body))
	}

	r = c.post("/logout", nil)
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("sign out: status %d to %q", r.status, r.header.Get("Location"))
	}
	if ck := sessionCookie(t, r, "confidant"); ck.MaxAge >= 0 {
		t.Errorf("sign out: cookie not cleared: %+v", ck)
	}
	if r := c.get("/patients"); r.status != http.StatusSeeOther {
		t.Errorf("after sign out: status %d, want a redirect to sign in", r.status)
	}
	// The old token is dead on the server, not only forgotten by the browser.
	if r := e.withToken(ck.Value).get("/patients"); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Errorf("token after sign out: status %d, want it refused", r.status)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t)
	h, err := web.New(e.w.Service, web.Config{SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"username": {"therapist"}, "password": {testfix.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d", rec.Code)
	}
	mck := sessionCookie(t, result{header: rec.Result().Header}, "__Host-confidant-mfa")
	if !mck.Secure || !mck.HttpOnly || mck.Path != "/" || mck.Domain != "" || mck.SameSite != http.SameSiteStrictMode {
		t.Errorf("MFA cookie = %+v, want a __Host- cookie: Secure, HttpOnly, Path=/, no Domain, SameSite=Strict", mck)
	}
	req = httptest.NewRequest(http.MethodPost, "/login/totp", strings.NewReader(url.Values{"code": {testfix.Code(t, e.w.TOTPSecret(e.w.Therapist))}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(mck)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("code: status %d", rec.Code)
	}
	ck := sessionCookie(t, result{header: rec.Result().Header}, "__Host-confidant")
	if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie = %+v, want a __Host- cookie: Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", ck)
	}
}

func TestSessionRenewedAtSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.signIn(e.w.Therapist, "")
	first := sessionCookie(t, r, "confidant").Value
	// Signing in again in the same browser (now as someone else) ends the
	// first session before starting the next.
	r = c.signIn(e.w.Manager, "")
	second := sessionCookie(t, r, "confidant").Value
	if first == second || second == "" {
		t.Fatalf("session not renewed at sign-in")
	}
	if r := e.withToken(first).get("/patients"); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Errorf("first session still valid after a new sign-in: status %d", r.status)
	}
	if r := c.get("/clinics"); r.status != http.StatusOK {
		t.Errorf("second session: status %d", r.status)
	}
}

func TestTherapistNoteFlow(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA

	r := th.get("/patients/" + pa.ID + "/notes/new?template=soap")
	if r.status != http.StatusOK || !strings.Contains(r.body, "Subjective:\n\nObjective:") {
		t.Fatalf("new note with SOAP: status %d, skeleton missing:\n%s", r.status, r.body)
	}
	body := "Subjective:\nSleeping better since the last session.\n\nObjective:\nCalm.\n\nAssessment:\nImproving.\n\nPlan:\nContinue weekly."
	r = th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"soap"}, "body": {body}, "session_at": {"2026-01-15T14:00"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create note: status %d\n%s", r.status, text(r.body))
	}
	noteURL := r.location()
	if !regexp.MustCompile(`^/notes/[0-9a-z]{26}$`).MatchString(noteURL) {
		t.Fatalf("create note redirected to %q", noteURL)
	}
	r = th.get(noteURL)
	if r.status != http.StatusOK || !has(r.body, "Sleeping better") || !has(r.body, "Draft") {
		t.Fatalf("draft page: %d\n%s", r.status, text(r.body))
	}

	// Edit the draft.
	edited := strings.Replace(body, "Calm.", "Calm and engaged.", 1)
	r = th.follow(noteURL+"/draft", url.Values{"version": {"1"}, "template": {"soap"}, "body": {edited}})
	if !has(r.body, "Calm and engaged.") || !has(r.body, "The draft was saved.") {
		t.Fatalf("after saving the draft:\n%s", text(r.body))
	}

	// Sign (from the editor, with its text).
	r = th.follow(noteURL+"/sign", url.Values{"version": {"1"}, "template": {"soap"}, "body": {edited}})
	if !has(r.body, "The note was signed") || !has(r.body, "Signed") {
		t.Fatalf("after signing:\n%s", text(r.body))
	}

	// A signed note cannot be edited: 409, the message, and the typed text
	// kept (in the amendment form).
	r = th.post(noteURL+"/draft", url.Values{"version": {"1"}, "template": {"soap"}, "body": {"Sneaky change to a signed note."}})
	if r.status != http.StatusConflict || !has(r.body, "This note is signed and locked. Amend it to make a change.") {
		t.Fatalf("editing a signed note: status %d\n%s", r.status, text(r.body))
	}
	if !has(r.body, "Sneaky change to a signed note.") {
		t.Errorf("the text of the refused edit was not kept")
	}
	if n, _ := e.w.Service.Note(e.w.As(e.w.Therapist), strings.TrimPrefix(noteURL, "/notes/")); strings.Contains(n.Current().Body, "Sneaky") {
		t.Fatalf("a signed note was changed")
	}

	// Amend.
	amended := strings.Replace(edited, "Continue weekly.", "Continue weekly; review PHQ-9 in four weeks.", 1)
	r = th.follow(noteURL+"/amend", url.Values{"body": {amended}, "reason": {"Added the review date"}})
	for _, want := range []string{"The amendment was signed", "Version 1 · original", "Version 2 · amendment", "Calm and engaged.", "review PHQ-9 in four weeks", "Added the review date", "Written by therapist"} {
		if !has(r.body, want) {
			t.Errorf("after amending, page lacks %q", want)
		}
	}
	if strings.Count(text(r.body), "Sleeping better since the last session.") < 3 {
		t.Errorf("both versions should be shown in full (current and history)")
	}

	// Not yet released: the patient sees nothing.
	pt := e.as(e.w.PatientUser)
	if r := pt.get("/record"); r.status != http.StatusOK || has(r.body, "Sleeping better") {
		t.Fatalf("patient sees an unreleased note (status %d)", r.status)
	}

	r = th.follow(noteURL+"/release", nil)
	if !has(r.body, "The note was released to the patient.") || !has(r.body, "Released") {
		t.Fatalf("after release:\n%s", text(r.body))
	}

	// The chart lists it with its badges.
	r = th.get("/patients/" + pa.ID)
	for _, want := range []string{"badge-signed", "badge-amended", "badge-released"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("chart lacks %s", want)
		}
	}

	// The patient now reads it: the current version and the earlier one.
	r = pt.get("/")
	if r.location() != "/record" {
		t.Errorf("patient home = %q", r.location())
	}
	if r := pt.get(noteURL); r.status != http.StatusForbidden {
		t.Errorf("patient on the therapist's note page: status %d", r.status)
	}
	if r := pt.get("/patients/" + pa.ID); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Errorf("patient on the chart: status %d", r.status)
	}
	r = pt.get("/record")
	if !has(r.body, "review PHQ-9 in four weeks") || !has(r.body, "Earlier versions") || !has(r.body, "Aino Äijälä") {
		t.Fatalf("patient record:\n%s", text(r.body))
	}
	if strings.Contains(r.body, "/notes/") || strings.Contains(r.body, "/patients/") {
		t.Errorf("the patient's page links to staff pages")
	}
}

func TestNoteErrorsKeepInput(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	r := th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"dap"}, "body": {"Data: seen.\n"}, "session_at": {"yesterday"}})
	if r.status != http.StatusBadRequest || !has(r.body, "The session time must be") || !has(r.body, "Data: seen.") {
		t.Errorf("bad session time: status %d\n%s", r.status, text(r.body))
	}
	r = th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"free"}, "body": {""}})
	if r.status != http.StatusBadRequest || !has(r.body, "The note is required.") {
		t.Errorf("empty note: status %d\n%s", r.status, text(r.body))
	}
	// Signing an untouched skeleton is refused with a message.
	r = th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"soap"}, "body": {confidant.TemplateSOAP.Skeleton()}})
	noteURL := r.location()
	r = th.post(noteURL+"/sign", nil)
	if r.status != http.StatusBadRequest || !has(r.body, "An empty note cannot be signed.") {
		t.Errorf("signing an empty skeleton: status %d\n%s", r.status, text(r.body))
	}
	// A stale version number is a conflict, not an overwrite.
	r = th.post(noteURL+"/draft", url.Values{"version": {"7"}, "template": {"soap"}, "body": {"Stale text"}})
	if r.status != http.StatusConflict || !has(r.body, "Stale text") {
		t.Errorf("stale draft: status %d\n%s", r.status, text(r.body))
	}
}

func TestDiagnosis(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA

	r := th.post("/patients/"+pa.ID+"/diagnoses", url.Values{"code": {"Z99.9"}, "note": {"My comment"}})
	if r.status != http.StatusBadRequest || !has(r.body, "Unknown diagnosis code") || !has(r.body, "My comment") || !strings.Contains(r.body, `value="Z99.9"`) {
		t.Fatalf("unknown code: status %d\n%s", r.status, text(r.body))
	}
	c, err := e.w.Service.Chart(e.w.As(e.w.Therapist), pa.ID)
	if err != nil || len(c.Diagnoses) != 0 {
		t.Fatalf("a refused diagnosis was stored: %v %v", c.Diagnoses, err)
	}

	r = th.get("/patients/" + pa.ID + "/diagnoses/new?q=depressive+episode")
	if r.status != http.StatusOK || !strings.Contains(r.body, `value="F32.1"`) {
		t.Fatalf("code search: status %d, F32.1 not offered\n%s", r.status, text(r.body))
	}
	r = th.follow("/patients/"+pa.ID+"/diagnoses", url.Values{"code": {"F32.1"}, "note": {"First episode"}})
	if !has(r.body, "F32.1") || !has(r.body, "Moderate depressive episode") || !has(r.body, "The diagnosis was recorded.") {
		t.Fatalf("chart after diagnosis:\n%s", text(r.body))
	}
	c, _ = e.w.Service.Chart(e.w.As(e.w.Therapist), pa.ID)
	r = th.follow("/diagnoses/"+c.Diagnoses[0].ID+"/status", url.Values{"status": {"resolved"}})
	if !has(r.body, "1 resolved diagnosis") || !has(r.body, "No active diagnoses.") {
		t.Errorf("after resolving:\n%s", text(r.body))
	}
}

func TestPlanAndMeasures(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA

	r := th.post("/patients/"+pa.ID+"/plan", url.Values{"goals": {""}, "interventions": {"CBT"}})
	if r.status != http.StatusBadRequest || !has(r.body, "Goals is required.") || !has(r.body, "CBT") {
		t.Errorf("plan without goals: status %d\n%s", r.status, text(r.body))
	}
	r = th.follow("/patients/"+pa.ID+"/plan", url.Values{"goals": {"Sleep through the night"}, "interventions": {"CBT-I"}, "review_on": {"2026-06-01"}})
	if !has(r.body, "Sleep through the night") || !has(r.body, "Review on 1 Jun 2026") {
		t.Errorf("chart after plan:\n%s", text(r.body))
	}

	r = th.get("/patients/" + pa.ID + "/measures/phq9")
	if r.status != http.StatusOK || !has(r.body, "Little interest or pleasure in doing things") || !has(r.body, "More than half the days") {
		t.Fatalf("PHQ-9 form: %d", r.status)
	}
	form := url.Values{"taken_on": {"2026-01-01"}}
	for i := 1; i <= 8; i++ {
		form.Set("q"+strconv.Itoa(i), "2")
	}
	r = th.post("/patients/"+pa.ID+"/measures/phq9", form)
	if r.status != http.StatusBadRequest || !has(r.body, "Missing: item 9") || strings.Count(r.body, `value="2" checked`) != 8 {
		t.Fatalf("PHQ-9 with a missing answer: status %d\n%s", r.status, text(r.body))
	}
	form.Set("q9", "0")
	th.follow("/patients/"+pa.ID+"/measures/phq9", form) // 16: moderately severe
	form = url.Values{"taken_on": {"2026-02-01"}}
	for i := 1; i <= 9; i++ {
		form.Set("q"+strconv.Itoa(i), "1")
	}
	r = th.follow("/patients/"+pa.ID+"/measures/phq9", form) // 9: mild
	for _, want := range []string{"PHQ-9", "mild", "down 7 since the first", "<svg class=\"sparkline\"", "<polyline points=", "PHQ-9 scores, oldest to newest: 16, 9 (of 27)."} {
		if !strings.Contains(r.body, want) && !has(r.body, want) {
			t.Errorf("chart after measures lacks %q", want)
		}
	}
	if r := th.get("/patients/" + pa.ID + "/measures/bdi"); r.status != http.StatusNotFound {
		t.Errorf("unknown instrument: status %d", r.status)
	}
}

func TestAttachments(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	max := e.w.Service.Config().MaxAttachment
	stored := func() int {
		c, err := e.w.Service.Chart(e.w.As(e.w.Therapist), pa.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(c.Attachments)
	}

	big := bytes.Repeat([]byte("a"), int(max)+1)
	r := th.upload("/patients/"+pa.ID+"/attachments", "big.txt", big)
	if r.status != http.StatusRequestEntityTooLarge || !has(r.body, "larger than the limit") {
		t.Errorf("oversize upload: status %d\n%s", r.status, text(r.body))
	}
	r = th.upload("/patients/"+pa.ID+"/attachments", "page.html", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"))
	if r.status != http.StatusUnsupportedMediaType || !has(r.body, "This kind of file cannot be attached.") {
		t.Errorf("HTML upload: status %d\n%s", r.status, text(r.body))
	}
	r = th.upload("/patients/"+pa.ID+"/attachments", "tool.exe", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"))
	if r.status != http.StatusUnsupportedMediaType {
		t.Errorf("binary upload: status %d", r.status)
	}
	if n := stored(); n != 0 {
		t.Fatalf("%d refused attachments were stored", n)
	}
	// A request far larger than the limit is cut off by MaxBytesReader.
	if r := th.upload("/patients/"+pa.ID+"/attachments", "huge.txt", bytes.Repeat([]byte("b"), int(max)+200<<10)); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("huge upload: status %d", r.status)
	}
	if r := th.upload("/patients/"+pa.ID+"/attachments", "", nil); r.status != http.StatusBadRequest {
		t.Errorf("upload without a file: status %d", r.status)
	}

	content := []byte("Referral letter.\nPlain text.\n")
	r = th.upload("/patients/"+pa.ID+"/attachments", "Lähete \"x\".txt", content)
	if r.status != http.StatusBadRequest {
		t.Errorf("file name with a quote: status %d", r.status)
	}
	r = th.upload("/patients/"+pa.ID+"/attachments", "Lähete 2026.txt", content)
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: status %d\n%s", r.status, text(r.body))
	}
	page := th.get(r.header.Get("Location"))
	m := regexp.MustCompile(`href="(/attachments/[0-9a-z]{26})"`).FindStringSubmatch(page.body)
	if m == nil || !has(page.body, "Lähete 2026.txt") {
		t.Fatalf("chart does not list the attachment:\n%s", text(page.body))
	}
	r = th.get(m[1])
	if r.status != http.StatusOK || r.body != string(content) {
		t.Fatalf("download: status %d body %q", r.status, r.body)
	}
	want := map[string]string{
		"Content-Type":           "text/plain; charset=utf-8",
		"Content-Disposition":    `attachment; filename="L_hete 2026.txt"; filename*=UTF-8''L%C3%A4hete%202026.txt`,
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Nobody else may download it.
	if r := e.as(e.w.OtherTherapist).get(m[1]); r.status != http.StatusNotFound {
		t.Errorf("download by a therapist not in care: status %d", r.status)
	}
	if r := e.as(e.w.Manager).get(m[1]); r.status != http.StatusForbidden || strings.Contains(r.body, "Referral letter") {
		t.Errorf("download by a manager: status %d", r.status)
	}
}

func TestNewPatient(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	form := url.Values{"given_name": {"Eero"}, "family_name": {"Mäkinen"}, "identity_code": {"131052-308X"}, "email": {"eero@example.invalid"}}
	r := th.post("/patients", form)
	if r.status != http.StatusBadRequest || !has(r.body, "The identity code is not valid: the check character does not match.") {
		t.Fatalf("malformed identity code: status %d\n%s", r.status, text(r.body))
	}
	for _, v := range []string{`value="Eero"`, `value="Mäkinen"`, `value="131052-308X"`, `value="eero@example.invalid"`} {
		if !strings.Contains(r.body, v) {
			t.Errorf("input not kept: %s", v)
		}
	}
	form.Set("identity_code", "131052-308T")
	r = th.follow("/patients", form)
	if !has(r.body, "The patient was registered.") || !has(r.body, "Eero Mäkinen") || !has(r.body, "131052-308T") {
		t.Fatalf("chart of the new patient:\n%s", text(r.body))
	}

	// Search by identity code and by name: POSTed, nothing in the URL.
	r = th.post("/patients/search", url.Values{"q": {"131052-308t"}})
	if r.status != http.StatusOK || !has(r.body, "Mäkinen, Eero") || has(r.body, "Äijälä, Aino") {
		t.Errorf("search by code:\n%s", text(r.body))
	}
	r = th.post("/patients/search", url.Values{"q": {"äijälä"}})
	if r.status != http.StatusOK || !has(r.body, "Äijälä, Aino") || has(r.body, "Mäkinen, Eero") {
		t.Errorf("search by name:\n%s", text(r.body))
	}
	r = th.post("/patients/search", url.Values{"q": {"Mäkinen 1952"}})
	if r.status != http.StatusOK || !has(r.body, "Mäkinen, Eero") || has(r.body, "Äijälä, Aino") {
		t.Errorf("search by name and birth year:\n%s", text(r.body))
	}
	r = th.post("/patients/search", url.Values{"q": {"x"}})
	if r.status != http.StatusBadRequest || !has(r.body, "Search by a whole family name") {
		t.Errorf("short search: status %d", r.status)
	}
	// PatientC is in nobody's care: never found.
	if r := th.post("/patients/search", url.Values{"q": {"Virtanen"}}); r.status != http.StatusOK || has(r.body, "Virtanen, Cecilia") {
		t.Errorf("search found a patient outside care")
	}
}

func TestUnknownIDs(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	id := confidant.NewID()
	for _, path := range []string{
		"/patients/" + id, "/patients/not-an-id", "/notes/" + id, "/notes/x", "/attachments/" + id,
		"/patients/" + id + "/notes/new", "/patients/" + id + "/plan", "/patients/" + id + "/measures/phq9",
		"/patients/" + e.w.PatientB.ID, // another clinic's patient
		"/patients/" + e.w.PatientC.ID, // in nobody's care
		"/no/such/page",
	} {
		if r := th.get(path); r.status != http.StatusNotFound || !has(r.body, "Not found") {
			t.Errorf("GET %s: status %d, want 404", path, r.status)
		}
	}
	if r := th.post("/notes/"+id+"/sign", nil); r.status != http.StatusNotFound {
		t.Errorf("sign unknown note: status %d", r.status)
	}
	if r := th.post("/diagnoses/"+id+"/status", url.Values{"status": {"resolved"}}); r.status != http.StatusNotFound {
		t.Errorf("resolve unknown diagnosis: status %d", r.status)
	}
}

func TestManagerNeverSeesClinicalContent(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	secret := "Discussed the recurring dream about the lake house."
	r := th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"free"}, "body": {secret}})
	noteURL := r.location()
	th.post(noteURL+"/sign", nil)
	th.post("/patients/"+pa.ID+"/process-notes", url.Values{"body": {"Private hunch about the lake."}})
	th.post("/patients/"+pa.ID+"/diagnoses", url.Values{"code": {"F41.1"}})

	m := e.as(e.w.Manager)
	for _, path := range []string{
		noteURL, "/patients/" + pa.ID, "/patients/" + pa.ID + "/notes/new", "/patients/" + pa.ID + "/plan",
		"/patients/" + pa.ID + "/diagnoses/new?q=F41", "/patients/" + pa.ID + "/measures/gad7",
	} {
		r := m.get(path)
		if r.status != http.StatusForbidden && r.status != http.StatusNotFound {
			t.Errorf("manager GET %s: status %d, want 403 or 404", path, r.status)
		}
		for _, leak := range []string{"lake", "F41.1", "anxiety"} {
			if strings.Contains(strings.ToLower(r.body), strings.ToLower(leak)) {
				t.Errorf("manager GET %s: body contains %q", path, leak)
			}
		}
	}
	if r := m.post(noteURL+"/release", nil); r.status != http.StatusForbidden {
		t.Errorf("manager releasing a note: status %d", r.status)
	}

	// The manager's own pages about the patient: names and care, no chart links.
	r = m.get("/clinics/" + e.w.ClinicA.ID + "/patients/" + pa.ID)
	if r.status != http.StatusOK || !has(r.body, "Aino Äijälä") || !has(r.body, "therapist") {
		t.Fatalf("manager patient page: %d\n%s", r.status, text(r.body))
	}
	if strings.Contains(r.body, `href="/patients/`) || strings.Contains(r.body, `href="/notes/`) || strings.Contains(r.body, "lake") {
		t.Errorf("manager patient page links to clinical pages or shows clinical text")
	}
}

func TestProcessNotesArePrivate(t *testing.T) {
	e := newEnv(t)
	pa := e.w.PatientA
	th := e.as(e.w.Therapist)
	private := "My countertransference today: impatience."
	r := th.follow("/patients/"+pa.ID+"/process-notes", url.Values{"body": {private}})
	if !has(r.body, private) || !has(r.body, "Private process notes (only you can read these)") {
		t.Fatalf("author does not see own process note:\n%s", text(r.body))
	}
	r = th.post("/patients/"+pa.ID+"/process-notes", url.Values{"body": {""}})
	if r.status != http.StatusBadRequest || !has(r.body, "The process note is required.") {
		t.Errorf("empty process note: status %d", r.status)
	}

	// A second therapist, also in care, sees the chart but not the process note.
	if _, err := e.w.Service.AssignCare(e.w.As(e.w.Manager), pa.ID, e.w.OtherTherapist.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	other := e.as(e.w.OtherTherapist)
	r = other.get("/patients/" + pa.ID)
	if r.status != http.StatusOK {
		t.Fatalf("other therapist in care: chart status %d", r.status)
	}
	if strings.Contains(r.body, "countertransference") {
		t.Errorf("another therapist in care reads the process note")
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	form := url.Values{"template": {"free"}, "body": {"Written by a forged form."}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/patients/"+e.w.PatientA.ID+"/notes", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r := th.do(req)
	if r.status != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403", r.status)
	}
	ns, err := e.w.Service.Notes(e.w.As(e.w.Therapist), e.w.PatientA.ID)
	if err != nil || len(ns) != 0 {
		t.Errorf("a cross-site POST stored a note: %d notes, %v", len(ns), err)
	}
	// Sign-in is a state change too.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"username": {"therapist"}, "password": {testfix.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := e.client().do(req); r.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: status %d, want 403", r.status)
	}
}

func TestSecurityHeadersAndAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/login")
	if r.status != http.StatusOK {
		t.Fatalf("login page: %d", r.status)
	}
	// The policy served, directive by directive, written out here rather
	// than compared with the constant, so that weakening it fails.
	csp := map[string]string{}
	for _, d := range strings.Split(r.header.Get("Content-Security-Policy"), ";") {
		if name, sources, _ := strings.Cut(strings.TrimSpace(d), " "); name != "" {
			csp[name] = strings.Join(strings.Fields(sources), " ")
		}
	}
	if want := map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
		"font-src": "'self'", "connect-src": "'self'", "form-action": "'self'", "frame-ancestors": "'none'", "base-uri": "'none'",
	}; !maps.Equal(csp, want) {
		t.Errorf("CSP = %q, want %q", csp, want)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("pages must not be cached: %q", r.header.Get("Cache-Control"))
	}
	for _, m := range regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(r.body, -1) {
		u := html.UnescapeString(m[1])
		if !strings.Contains(u, "?v=") {
			t.Errorf("asset %s has no version", u)
		}
		a := c.get(u)
		if a.status != http.StatusOK || !strings.Contains(a.header.Get("Cache-Control"), "max-age=31536000") || a.body == "" {
			t.Errorf("asset %s: status %d, Cache-Control %q", u, a.status, a.header.Get("Cache-Control"))
		}
	}
	if !strings.Contains(r.body, `<script src="/static/app.js?v=`) {
		t.Errorf("no script tag for app.js")
	}
	if a := c.get("/static/nope.css"); a.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", a.status)
	}
}

func TestManagerAdministration(t *testing.T) {
	e := newEnv(t)
	m := e.as(e.w.Manager)
	cid := e.w.ClinicA.ID
	if r := m.get("/"); r.location() != "/clinics" {
		t.Errorf("manager home = %q", r.location())
	}
	r := m.get("/clinics")
	if r.status != http.StatusOK || !has(r.body, "Klinikka Helsinki") || strings.Contains(r.body, `href="/clinics/`+e.w.ClinicB.ID) {
		t.Errorf("clinics page: %d\n%s", r.status, text(r.body))
	}
	if r := m.get("/clinics/" + e.w.ClinicB.ID + "/staff"); r.status != http.StatusNotFound {
		t.Errorf("another clinic's staff: status %d", r.status)
	}
	r = m.post("/clinics", url.Values{"name": {""}, "city": {"Oulu"}})
	if r.status != http.StatusBadRequest || !has(r.body, "Clinic name is required.") || !strings.Contains(r.body, `value="Oulu"`) {
		t.Errorf("clinic without a name: status %d", r.status)
	}
	r = m.follow("/clinics", url.Values{"name": {"Klinikka Oulu"}, "city": {"Oulu"}})
	if !has(r.body, "The clinic was created.") || !has(r.body, "Klinikka Oulu") {
		t.Errorf("new clinic:\n%s", text(r.body))
	}
	r = m.follow("/clinics/"+cid, url.Values{"name": {"Klinikka Helsinki Keskusta"}, "city": {"Helsinki"}})
	if !has(r.body, "Klinikka Helsinki Keskusta") {
		t.Errorf("renamed clinic:\n%s", text(r.body))
	}

	// Staff.
	r = m.post("/clinics/"+cid+"/staff", url.Values{"display_name": {"Terttu Terapeutti"}, "username": {"terttu"}, "role": {"therapist"}, "email": {"not an address"}})
	if r.status != http.StatusBadRequest || !has(r.body, "Enter an email address") || !strings.Contains(r.body, `value="terttu"`) {
		t.Errorf("bad email: status %d", r.status)
	}
	if strings.Contains(r.body, `name="password"`) {
		t.Errorf("the staff form still asks for a password")
	}
	r = m.follow("/clinics/"+cid+"/staff", url.Values{"display_name": {"Terttu Terapeutti"}, "username": {"terttu"}, "role": {"therapist"}, "email": {"terttu@example.org"}})
	if !has(r.body, "Terttu Terapeutti") || !has(r.body, "invitation sent") {
		t.Fatalf("staff list:\n%s", text(r.body))
	}
	// The invitee sets their own password on the invitation page.
	code := e.w.Mail.InvitationCode(t, "terttu@example.org")
	if r := e.client().get("/invite"); r.status != http.StatusOK || !strings.Contains(r.body, `name="code"`) {
		t.Errorf("invitation page: %d", r.status)
	}
	if r := e.client().post("/invite", url.Values{"code": {code}, "password": {"a long enough password"}, "password2": {"a different password"}}); r.status != http.StatusBadRequest {
		t.Errorf("differing passwords: %d", r.status)
	}
	if r := e.client().post("/invite", url.Values{"code": {strings.ToLower(code)}, "password": {"a long enough password"}, "password2": {"a long enough password"}}); r.status != http.StatusSeeOther || r.location() != "/login/totp" {
		t.Errorf("accepting the invitation: %d to %q (want the second factor's set-up next)\n%s", r.status, r.location(), text(r.body))
	}
	if r := e.client().post("/invite", url.Values{"code": {code}, "password": {"another long password"}, "password2": {"another long password"}}); r.status != http.StatusBadRequest || !has(r.body, "This invitation is not valid") {
		t.Errorf("an invitation used twice: %d", r.status)
	}
	// The enrolment left unfinished, the password alone cannot start one.
	if r := e.client().post("/login", url.Values{"username": {"terttu"}, "password": {"a long enough password"}}); r.status != http.StatusForbidden {
		t.Errorf("the invitee's password alone: %d, want 403", r.status)
	}
	uid := regexp.MustCompile(`/clinics/` + cid + `/staff/([0-9a-z]{26})">Terttu`).FindStringSubmatch(r.body)
	if uid == nil {
		t.Fatalf("no link to the new account")
	}
	r = m.follow("/clinics/"+cid+"/staff/"+uid[1], url.Values{"display_name": {"Terttu T."}, "clinic": {cid}, "disabled": {"1"}})
	if !has(r.body, "Terttu T.") || !has(r.body, "Disabled") {
		t.Errorf("after disabling:\n%s", text(r.body))
	}
	if r := e.client().post("/login", url.Values{"username": {"terttu"}, "password": {"a long enough password"}}); r.status != http.StatusUnauthorized {
		t.Errorf("disabled account signed in: %d", r.status)
	}

	// Patients, care, portal account.
	r = m.get("/clinics/" + cid + "/patients")
	if !has(r.body, "Äijälä, Aino") || !has(r.body, "Virtanen, Cecilia") {
		t.Errorf("clinic patients:\n%s", text(r.body))
	}
	r = m.post("/clinics/"+cid+"/patients/search", url.Values{"name": {"virtanen"}})
	if !has(r.body, "Virtanen, Cecilia") || has(r.body, "Äijälä, Aino") {
		t.Errorf("filtered:\n%s", text(r.body))
	}
	pc := e.w.PatientC.ID
	r = m.post("/clinics/"+cid+"/patients/"+pc+"/care", url.Values{"therapist": {e.w.TherapistB.ID}})
	if r.status != http.StatusBadRequest || !has(r.body, "Choose an active therapist of the patient's clinic.") {
		t.Errorf("therapist of another clinic: status %d\n%s", r.status, text(r.body))
	}
	r = m.follow("/clinics/"+cid+"/patients/"+pc+"/care", url.Values{"therapist": {e.w.OtherTherapist.ID}})
	if !has(r.body, "The care relationship was started.") || !has(r.body, "other") {
		t.Fatalf("after assigning care:\n%s", text(r.body))
	}
	if r := e.as(e.w.OtherTherapist).get("/patients/" + pc); r.status != http.StatusOK {
		t.Errorf("therapist newly in care: chart status %d", r.status)
	}
	careID := regexp.MustCompile(`/care/([0-9a-z]{26})/end`).FindStringSubmatch(r.body)
	if careID == nil {
		t.Fatalf("no end-care button")
	}
	r = m.follow("/care/"+careID[1]+"/end", nil)
	if !has(r.body, "The care relationship was ended.") {
		t.Errorf("after ending care:\n%s", text(r.body))
	}
	if r := e.as(e.w.OtherTherapist).get("/patients/" + pc); r.status != http.StatusNotFound {
		t.Errorf("therapist after care ended: chart status %d", r.status)
	}
	r = m.post("/clinics/"+cid+"/patients/"+pc+"/account", url.Values{"username": {"cecilia"}, "handover": {"1"}})
	hc := regexp.MustCompile(`<p class="mono">([A-Z2-7 ]+)</p>`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || !has(r.body, "Hand-over code") || hc == nil {
		t.Fatalf("portal account: %d\n%s", r.status, text(r.body))
	}
	if r := e.client().post("/invite", url.Values{"code": {hc[1]}, "password": {"another long password"}, "password2": {"another long password"}}); r.status != http.StatusSeeOther {
		t.Errorf("the patient cannot use the hand-over code: %d\n%s", r.status, text(r.body))
	}
	if r := e.client().post("/login", url.Values{"username": {"cecilia"}, "password": {"another long password"}}); r.status != http.StatusSeeOther {
		t.Errorf("new patient account cannot sign in: %d", r.status)
	}
	r = m.post("/clinics/"+cid+"/patients/"+pc+"/account", url.Values{"username": {"cecilia2"}, "email": {"c@example.org"}})
	if r.status != http.StatusConflict || !has(r.body, "already has a portal account") || !strings.Contains(r.body, `value="cecilia2"`) {
		t.Errorf("a second portal account: status %d", r.status)
	}

	// Register a patient as a manager: no care, no chart link.
	r = m.follow("/clinics/"+cid+"/patients", url.Values{"given_name": {"Dora"}, "family_name": {"Dahl"}, "identity_code": {"131052-308T"}})
	if !has(r.body, "Dora Dahl") || strings.Contains(r.body, `href="/patients/`) {
		t.Errorf("registered by manager:\n%s", text(r.body))
	}

	// Other roles do not get the administration pages.
	if r := e.as(e.w.Therapist).get("/clinics"); r.status != http.StatusForbidden {
		t.Errorf("therapist on /clinics: %d", r.status)
	}
}

func TestSecurityOfficerAccounts(t *testing.T) {
	e := newEnv(t)
	s := e.as(e.w.Security)
	if r := s.get("/"); r.location() != "/accounts" {
		t.Errorf("security home = %q", r.location())
	}
	r := s.get("/accounts")
	if r.status != http.StatusOK || !has(r.body, "therapistb") || !has(r.body, "Klinikka Tampere") {
		t.Fatalf("accounts: %d\n%s", r.status, text(r.body))
	}
	if has(r.body, "Aino") || has(r.body, "aino") {
		t.Errorf("the accounts page lists patients")
	}
	th := e.as(e.w.Therapist)
	r = s.follow("/accounts/"+e.w.Therapist.ID+"/disabled", url.Values{"disabled": {"1"}})
	if !has(r.body, "The account was disabled") {
		t.Errorf("disable:\n%s", text(r.body))
	}
	if r := th.get("/patients"); r.status != http.StatusSeeOther {
		t.Errorf("disabled therapist's session still works: %d", r.status)
	}
	r = s.post("/accounts/"+e.w.Security.ID+"/disabled", url.Values{"disabled": {"1"}})
	if r.status != http.StatusBadRequest || !has(r.body, "You cannot disable your own account.") {
		t.Errorf("self-disable: %d", r.status)
	}
	s.follow("/accounts/"+e.w.Therapist.ID+"/disabled", url.Values{"disabled": {"0"}})
	e.as(e.w.Therapist)
	if r := s.get("/patients/" + e.w.PatientA.ID); r.status != http.StatusForbidden {
		t.Errorf("security officer on a chart: %d", r.status)
	}
}

func TestNoPatientDataInURLsOrLogs(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	r := th.post("/patients/search", url.Values{"q": {pa.IdentityCode}})
	if r.status != http.StatusOK {
		t.Fatalf("search: %d", r.status)
	}
	r = th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"free"}, "body": {"Loggable? Never."}})
	for _, h := range []string{r.header.Get("Location")} {
		if strings.Contains(h, "Never") {
			t.Errorf("redirect carries data: %s", h)
		}
	}
	th.post("/patients", url.Values{"given_name": {"Zelda"}, "family_name": {"Zimmer"}, "identity_code": {"bad"}})
	logs := e.log.String()
	for _, s := range []string{pa.IdentityCode, "Aino", "Äijälä", "Loggable", "Zelda", "correct horse"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains %q", s)
		}
	}
	if !strings.Contains(logs, "route=\"POST /patients/search\"") {
		t.Errorf("request log missing; got:\n%s", logs)
	}
}

// The chart shows the most recent notes and links to all of them.
func TestChartAllNotes(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	pa := e.w.PatientA
	base := time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	for i := range service.ChartNotes + 2 {
		body := fmt.Sprintf("Session number %02d of the series", i)
		if _, err := e.w.Service.CreateNote(e.w.As(e.w.Therapist), pa.ID, service.NoteInput{Body: body, SessionAt: base.AddDate(0, 0, 7*i)}); err != nil {
			t.Fatal(err)
		}
	}
	r := th.get("/patients/" + pa.ID)
	if r.status != http.StatusOK || !has(r.body, "Show all session notes") || !has(r.body, "Session number 11") || has(r.body, "Session number 01") {
		t.Fatalf("chart: status %d\n%s", r.status, text(r.body))
	}
	r = th.get("/patients/" + pa.ID + "?notes=all")
	if r.status != http.StatusOK || has(r.body, "Show all session notes") || !has(r.body, "Session number 00") || !has(r.body, "Session number 11") {
		t.Fatalf("chart with all notes: status %d\n%s", r.status, text(r.body))
	}
}
