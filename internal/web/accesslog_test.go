package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
	"golang.org/x/mod/sumdb/note"
)

// accessLog returns the world's access log.
func (e *env) accessLog() *audit.Log {
	e.t.Helper()
	l := testfix.Log(e.w.Store)
	if l == nil {
		e.t.Fatal("the test store has no access log")
	}
	return l
}

// lastEvent returns the newest event matching f.
func (e *env) lastEvent(f confidant.EventFilter) confidant.StoredEvent {
	e.t.Helper()
	f.Limit = 1
	evs, err := e.accessLog().Query(context.Background(), f)
	if err != nil || len(evs) != 1 {
		e.t.Fatalf("no event matches %+v (%v)", f, err)
	}
	return evs[0]
}

// recordEvents appends n events about patient, by actor, to the log.
func (e *env) recordEvents(n int, actor confidant.User, patientID, action string) {
	e.t.Helper()
	evs := make([]confidant.AuditEvent, n)
	for i := range evs {
		evs[i] = confidant.AuditEvent{
			Time: time.Now(), ActorID: actor.ID, Role: actor.Role, Action: action, PatientID: patientID,
			Outcome: confidant.OutcomeOK,
		}
	}
	if err := e.accessLog().Record(context.Background(), evs...); err != nil {
		e.t.Fatal(err)
	}
}

var proofLink = regexp.MustCompile(`href="/record/access/(\d+)/proof"`)

// proofIndexes returns the log indexes of the proof links on a page.
func proofIndexes(t *testing.T, body string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range proofLink.FindAllStringSubmatch(body, -1) {
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestPatientSeesWhoAccessedAndDownloadsProof(t *testing.T) {
	e := newEnv(t)
	pa := e.w.PatientA
	pt := e.as(e.w.PatientUser)

	r := pt.get("/record")
	if !strings.Contains(r.body, `href="/record/access"`) {
		t.Errorf("the record page and top bar do not link to the access history")
	}

	th := e.as(e.w.Therapist)
	if r := th.get("/patients/" + pa.ID); r.status != http.StatusOK {
		t.Fatalf("chart: %d", r.status)
	}
	read := e.lastEvent(confidant.EventFilter{PatientID: pa.ID, Action: "chart.read"})
	other := e.as(e.w.OtherTherapist)
	if r := other.get("/patients/" + pa.ID); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Fatalf("a therapist without care opened the chart: %d", r.status)
	}

	r = pt.get("/record/access")
	if r.status != http.StatusOK {
		t.Fatalf("access history: %d\n%s", r.status, text(r.body))
	}
	page := text(r.body)
	for _, want := range []string{
		"Who has accessed my records", "Opened your chart", "therapist · Therapist", "other · Therapist", "Refused",
		"Viewed your record in the portal", "You", "How to check a proof", "confidant audit check-proof --key",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the access history lacks %q", want)
		}
	}
	if !strings.Contains(r.body, `aria-current="page">Who has accessed my records`) {
		t.Errorf("the top bar does not mark the page")
	}
	if has(r.body, "127.0.0.1") {
		t.Errorf("the patient sees client addresses")
	}
	idx := proofIndexes(t, r.body)
	if !slices.Contains(idx, read.Index) {
		t.Fatalf("no proof link for the chart read (index %d) among %v", read.Index, idx)
	}
	if !slices.IsSortedFunc(idx, func(a, b uint64) int { return int(b) - int(a) }) {
		t.Errorf("entries are not newest first: %v", idx)
	}
	// Refused accesses are marked.
	if !regexp.MustCompile(`access-refused[^>]*>[\s\S]*?Opened your chart[\s\S]*?Refused[\s\S]*?other`).MatchString(r.body) {
		t.Errorf("the refused chart read is not shown as refused")
	}

	// The proof: a JSON attachment that checks with the log's public key.
	r = pt.get("/record/access/" + strconv.FormatUint(read.Index, 10) + "/proof")
	if r.status != http.StatusOK {
		t.Fatalf("proof: %d\n%s", r.status, text(r.body))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("proof Content-Type %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="access-`+strconv.FormatUint(read.Index, 10)+`.proof.json"` {
		t.Errorf("proof Content-Disposition %q", cd)
	}
	b, err := auditlog.ParseBundle([]byte(r.body))
	if err != nil {
		t.Fatalf("the proof does not parse: %v", err)
	}
	v, err := auditlog.NewVerifier(e.accessLog().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := auditlog.CheckBundle(b, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the proof does not check: %v", err)
	}
	if ev.Index != read.Index || ev.Action != "chart.read" || ev.ActorID != e.w.Therapist.ID || ev.PatientID != pa.ID {
		t.Errorf("the proof is of another event: %+v", ev)
	}

	// Only the patient's own entries, and only real indexes.
	theirs := e.lastEvent(confidant.EventFilter{PatientID: e.w.PatientB.ID})
	for _, p := range []string{
		"/record/access/" + strconv.FormatUint(theirs.Index, 10) + "/proof", "/record/access/abc/proof",
		"/record/access/-1/proof", "/record/access/99999999999999999999/proof", "/record/access/18446744073709551615/proof",
	} {
		if r := pt.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
}

func TestPatientAccessHistoryPages(t *testing.T) {
	e := newEnv(t)
	e.recordEvents(70, e.w.Therapist, e.w.PatientA.ID, "note.read")
	pt := e.as(e.w.PatientUser)

	r := pt.get("/record/access")
	first := proofIndexes(t, r.body)
	if len(first) != 50 {
		t.Fatalf("first page has %d entries, want 50", len(first))
	}
	m := regexp.MustCompile(`href="(/record/access\?before=(\d+))"`).FindStringSubmatch(r.body)
	if m == nil || m[2] != strconv.FormatUint(first[49], 10) {
		t.Fatalf("no link to older entries (want before=%d)", first[49])
	}
	if has(r.body, "Newest entries") {
		t.Errorf("the newest page links to the newest page")
	}
	r = pt.get(m[1])
	second := proofIndexes(t, r.body)
	if len(second) < 20 || second[0] >= first[49] {
		t.Fatalf("second page: %v after %d", second, first[49])
	}
	if !has(r.body, "Newest entries") || !has(r.body, "Read a session note") {
		t.Errorf("second page:\n%s", text(r.body))
	}
	if has(r.body, "Older entries") {
		t.Errorf("the last page links to older entries")
	}
	r = pt.get("/record/access?before=" + strconv.FormatUint(second[len(second)-1], 10))
	if r.status != http.StatusOK || !has(r.body, "There are no older entries.") || len(proofIndexes(t, r.body)) != 0 {
		t.Errorf("past the oldest entry: %d\n%s", r.status, text(r.body))
	}
	if r := pt.get("/record/access?before=abc"); r.status != http.StatusBadRequest {
		t.Errorf("before=abc: %d", r.status)
	}
}

func TestSecurityOfficerAccessLog(t *testing.T) {
	e := newEnv(t)
	pa, pb := e.w.PatientA, e.w.PatientB
	th := e.as(e.w.Therapist)
	th.get("/patients/" + pa.ID)
	th.post("/patients/"+pa.ID+"/notes", url.Values{"template": {"free"}, "body": {"Clinical content never in the log."}})
	e.as(e.w.TherapistB).get("/patients/" + pb.ID)

	s := e.as(e.w.Security)
	if r := s.get("/accounts"); !strings.Contains(r.body, `href="/access-log"`) {
		t.Errorf("the security officer's top bar has no access log")
	}
	r := s.get("/access-log")
	if r.status != http.StatusOK {
		t.Fatalf("access log: %d\n%s", r.status, text(r.body))
	}
	for _, want := range []string{"Opened a chart", "chart.read", pa.ID, pb.ID, e.w.Therapist.ID, "Klinikka Helsinki", "Klinikka Tampere", "127.0.0.1", "Signed in"} {
		if !has(rows(r.body), want) {
			t.Errorf("the access log lacks %q", want)
		}
	}
	for _, never := range []string{"Clinical content", "Aino", "Äijälä", "Bertta"} {
		if has(r.body, never) {
			t.Errorf("the access log shows %q", never)
		}
	}

	// By patient: only that patient's events, and a link narrows by actor.
	r = s.get("/access-log?patient=" + pa.ID)
	if r.status != http.StatusOK || !has(rows(r.body), "Opened a chart") || !has(rows(r.body), "Started a session note") {
		t.Fatalf("by patient: %d\n%s", r.status, text(r.body))
	}
	if has(r.body, pb.ID) || has(r.body, e.w.TherapistB.ID) {
		t.Errorf("filtering by patient A shows patient B's events")
	}
	if !strings.Contains(r.body, `href="/access-log?actor=`+e.w.Therapist.ID+`&amp;patient=`+pa.ID+`"`) {
		t.Errorf("no link narrowing to the actor")
	}

	// By actor and action.
	r = s.get("/access-log?actor=" + e.w.TherapistB.ID + "&action=chart.read")
	if r.status != http.StatusOK || !has(rows(r.body), pb.ID) || has(r.body, pa.ID) || has(rows(r.body), "Signed in") {
		t.Fatalf("by actor and action: %d\n%s", r.status, text(r.body))
	}
	if !strings.Contains(r.body, `<option value="chart.read" selected>`) {
		t.Errorf("the chosen action is not kept in the form")
	}

	// By dates, in the app's location; "to" is included.
	today := time.Now().In(helsinki(t)).Format("2006-01-02")
	tomorrow := time.Now().In(helsinki(t)).AddDate(0, 0, 1).Format("2006-01-02")
	if r := s.get("/access-log?patient=" + pa.ID + "&from=" + today + "&to=" + today); !has(rows(r.body), "Opened a chart") {
		t.Errorf("today's events not found:\n%s", text(r.body))
	}
	if r := s.get("/access-log?patient=" + pa.ID + "&from=" + tomorrow); r.status != http.StatusOK || !has(r.body, "No entries match.") {
		t.Errorf("events from tomorrow: %d\n%s", r.status, text(r.body))
	}

	// Bad input: 400, the message next to the form, the input kept.
	for q, msg := range map[string]string{
		"patient=not-an-id":                  "Patient and actor must be ids.",
		"actor=" + strings.Repeat("x", 100):  "Patient and actor must be ids.",
		"action=chart.eat":                   "Choose an action from the list.",
		"from=2026-13-45":                    "From must be a date like 2026-01-31.",
		"to=yesterday":                       "To must be a date like 2026-01-31.",
		"from=2026-02-02&to=2026-02-01":      "The start of the period must be before its end.",
		"before=-4":                          "The page asked for does not exist.",
		"patient=" + pa.ID + "&before=x&y=1": "The page asked for does not exist.",
	} {
		r := s.get("/access-log?" + q)
		if r.status != http.StatusBadRequest || !has(r.body, msg) || !strings.Contains(r.body, `<form method="get" action="/access-log"`) {
			t.Errorf("?%s: %d, want 400 with %q\n%s", q, r.status, msg, text(r.body))
		}
	}
	if r := s.get("/access-log?patient=not-an-id"); !strings.Contains(r.body, `value="not-an-id"`) {
		t.Errorf("the refused input is not kept")
	}
}

func TestSecurityAccessLogPages(t *testing.T) {
	e := newEnv(t)
	e.recordEvents(60, e.w.Therapist, e.w.PatientA.ID, "note.read")
	s := e.as(e.w.Security)
	r := s.get("/access-log?patient=" + e.w.PatientA.ID + "&action=note.read")
	if n := strings.Count(rows(r.body), "<tr"); n != 50 {
		t.Errorf("first page has %d rows, want 50", n)
	}
	m := regexp.MustCompile(`href="(/access-log\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no link to older entries:\n%s", text(r.body))
	}
	older := strings.ReplaceAll(m[1], "&amp;", "&")
	u, _ := url.Parse(older)
	if u.Query().Get("patient") != e.w.PatientA.ID || u.Query().Get("action") != "note.read" {
		t.Errorf("the older page loses the filters: %s", older)
	}
	r = s.get(older)
	if r.status != http.StatusOK || !has(r.body, "Newest entries") || !has(rows(r.body), "Read a session note") {
		t.Errorf("older page: %d\n%s", r.status, text(r.body))
	}
}

// Only patients see their access history, and only security officers query
// the log; refusals are recorded.
func TestAccessLogPagesRefused(t *testing.T) {
	e := newEnv(t)
	for _, u := range []confidant.User{e.w.Manager, e.w.Therapist} {
		c := e.as(u)
		for _, p := range []string{"/access-log", "/access-log?patient=" + e.w.PatientA.ID, "/access-log?from=garbage", "/record/access", "/record/access/1/proof"} {
			if r := c.get(p); r.status != http.StatusForbidden {
				t.Errorf("%s on %s: %d, want 403", u.Username, p, r.status)
			}
		}
		if ev := e.lastEvent(confidant.EventFilter{ActorID: u.ID, Action: "audit.query"}); ev.Outcome != confidant.OutcomeDenied {
			t.Errorf("%s's refused query recorded as %q", u.Username, ev.Outcome)
		}
		if r := c.get("/"); strings.Contains(c.get(r.header.Get("Location")).body, `href="/access-log"`) {
			t.Errorf("%s's top bar links to the access log", u.Username)
		}
	}
	if r := e.as(e.w.PatientUser).get("/access-log"); r.status != http.StatusForbidden {
		t.Errorf("patient on the access log: %d", r.status)
	}
	if r := e.as(e.w.Security).get("/record/access"); r.status != http.StatusForbidden {
		t.Errorf("security officer on a patient's access history: %d", r.status)
	}
	if r := e.client().get("/record/access"); r.status != http.StatusSeeOther {
		t.Errorf("signed out: %d", r.status)
	}
}

// rows returns the body of the results table of the access-log page.
func rows(body string) string {
	_, after, _ := strings.Cut(body, "<tbody>")
	in, _, _ := strings.Cut(after, "</tbody>")
	return in
}

func helsinki(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		return time.UTC // web.New falls back to UTC too
	}
	return loc
}

// The breach scope of an account in the web app: from the access log's
// search by actor and dates, one page lists every patient the account
// touched, with counts; only security officers may ask.
func TestSecurityOfficerBreachScope(t *testing.T) {
	e := newEnv(t)
	pa, pb := e.w.PatientA, e.w.PatientB
	th := e.as(e.w.Therapist)
	th.get("/patients/" + pa.ID)
	th.get("/patients/" + pa.ID)
	th.get("/patients/" + pb.ID) // not in the therapist's care: refused
	s := e.as(e.w.Security)
	today := time.Now().In(helsinki(t)).Format("2006-01-02")
	q := "actor=" + e.w.Therapist.ID + "&from=" + today + "&to=" + today

	r := s.get("/access-log?" + q)
	link := `href="/access-log/scope?actor=` + e.w.Therapist.ID + `&amp;from=` + today + `&amp;to=` + today + `"`
	if r.status != http.StatusOK || !strings.Contains(r.body, link) {
		t.Fatalf("the access log's search by actor and dates has no breach-scope link: %d\n%s", r.status, r.body)
	}
	r = s.get("/access-log/scope?" + q)
	if r.status != http.StatusOK || !has(rows(r.body), pa.ID) || !has(rows(r.body), pb.ID) || !has(r.body, "2 patients") {
		t.Fatalf("breach scope: %d\n%s", r.status, text(r.body))
	}
	if !strings.Contains(r.body, `class="badge badge-refused">1<`) {
		t.Errorf("the refused access to patient B is not shown")
	}
	for _, never := range []string{"Aino", "Äijälä", "Bertta"} {
		if has(r.body, never) {
			t.Errorf("the breach scope shows %q", never)
		}
	}
	// Bad or missing input: 400 next to the form.
	for _, bad := range []string{"actor=" + e.w.Therapist.ID + "&from=" + today, "from=" + today + "&to=" + today, "actor=x&from=" + today + "&to=" + today} {
		if r := s.get("/access-log/scope?" + bad); r.status != http.StatusBadRequest || !strings.Contains(r.body, `action="/access-log/scope"`) {
			t.Errorf("?%s: %d, want 400\n%s", bad, r.status, text(r.body))
		}
	}
	// Others are refused.
	if r := th.get("/access-log/scope?" + q); r.status != http.StatusForbidden {
		t.Errorf("a therapist asks for a breach scope: %d", r.status)
	}
	if r := e.as(e.w.Manager).get("/access-log/scope"); r.status != http.StatusForbidden {
		t.Errorf("a manager opens the breach scope page: %d", r.status)
	}
	// The question is in the log.
	r = s.get("/access-log?action=audit.scope")
	if !has(rows(r.body), "breach scope: actor="+e.w.Therapist.ID) {
		t.Errorf("the breach-scope question is not recorded:\n%s", text(r.body))
	}
}

// TestPatientSeesSearchAndItsProofHidesTheClient: a therapist's search that
// finds the patient is in the patient's access history in words, and its
// proof, as the patient downloads it, holds neither the therapist's client
// address nor their session id, yet checks with the log's public key (as
// `confidant audit check-proof` checks it).
func TestPatientSeesSearchAndItsProofHidesTheClient(t *testing.T) {
	e := newEnv(t)
	pa := e.w.PatientA
	th := e.as(e.w.Therapist)
	if r := th.post("/patients/search", url.Values{"q": {pa.IdentityCode}}); r.status != http.StatusOK {
		t.Fatalf("search: %d", r.status)
	}
	search := e.lastEvent(confidant.EventFilter{PatientID: pa.ID, Action: service.ActSearchByCode})
	_, client, err := e.accessLog().OpenFree(search)
	if err != nil || client == "" || search.SessionID == "" || search.ActorID != e.w.Therapist.ID {
		t.Fatalf("the search event has no client address or session id to hide (%v)", err)
	}

	pt := e.as(e.w.PatientUser)
	r := pt.get("/record/access")
	if !has(r.body, "Searched for you by identity code and found you") {
		t.Errorf("the access history does not show the search in words")
	}
	if has(r.body, pa.IdentityCode) {
		t.Errorf("the access history shows the search term")
	}
	if !slices.Contains(proofIndexes(t, r.body), search.Index) {
		t.Fatalf("no proof link for the search (index %d)", search.Index)
	}

	r = pt.get("/record/access/" + strconv.FormatUint(search.Index, 10) + "/proof")
	if r.status != http.StatusOK {
		t.Fatalf("proof: %d", r.status)
	}
	b, err := auditlog.ParseBundle([]byte(r.body))
	if err != nil {
		t.Fatalf("the proof does not parse: %v", err)
	}
	for _, s := range []string{client, search.SessionID} {
		if strings.Contains(r.body, s) || strings.Contains(string(b.Event), s) {
			t.Errorf("the proof the patient downloads holds the client address or the session id")
		}
	}
	v, err := auditlog.NewVerifier(e.accessLog().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := auditlog.CheckBundle(b, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the proof does not check: %v", err)
	}
	if ev.Version != auditlog.EventV2 || ev.Index != search.Index || ev.Action != service.ActSearchByCode ||
		ev.PatientID != pa.ID || ev.ActorID != e.w.Therapist.ID || ev.Client != "" || ev.SessionID != "" {
		t.Errorf("the proof is of another event, or not of version 2 (version %d)", ev.Version)
	}
}
