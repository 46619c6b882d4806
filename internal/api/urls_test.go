package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// personalParams are the names of URL parameters and path wildcards that
// would carry a name, an identity code or a file name.
var personalParams = []string{
	"q", "query", "search", "name", "names", "filename", "file", "file_name",
	"identity_code", "identitycode", "code_id", "ssn", "hetu", "personal_code",
	"given_name", "family_name", "first_name", "last_name", "surname", "patient_name",
	"display_name", "birth_date", "email", "phone", "address",
}

// identityCodeRE matches a Finnish identity code (ddmmyy, century sign,
// individual number, check character).
var identityCodeRE = regexp.MustCompile(`\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]`)

// fixtureNames are the people of the test fixtures and the demo's word
// lists, read from their sources.
func fixtureNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	quoted := regexp.MustCompile(`"([A-ZÄÖÅ][a-zäöå]+)"`)
	for _, f := range []string{"../testfix/testfix.go", "../demo/names.go", "../synth/synth.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if !names["Virtanen"] || !names["Aino"] {
		t.Fatalf("fixture names not found (%d)", len(names))
	}
	return names
}

// wildcards returns the {wildcard} names of a mux pattern's path.
func wildcards(pattern string) []string {
	var ws []string
	for _, m := range regexp.MustCompile(`\{([a-zA-Z_]+)(\.\.\.)?\$?\}`).FindAllStringSubmatch(pattern, -1) {
		ws = append(ws, strings.ToLower(m[1]))
	}
	return ws
}

// docRequest is a request documented in docs/API.md or README.md.
type docRequest struct {
	where, method, url string
}

// documentedRequests parses the request headings (#### `METHOD /path`),
// the table cells and prose that name a request (`METHOD /path?...`) and
// the curl examples of the docs.
func documentedRequests(t *testing.T) []docRequest {
	t.Helper()
	var out []docRequest
	method := regexp.MustCompile("`(GET|POST|PUT|DELETE|PATCH) (/[^` ]*)`")
	curl := regexp.MustCompile(`curl ([^\n]*)`)
	curlURL := regexp.MustCompile(`["']?(?:\$BASE|https?://[^/"' ]+)(/api/v1/[^"' ]*)`)
	curlMethod := regexp.MustCompile(`-X ([A-Z]+)`)
	for _, f := range []string{"../../docs/API.md", "../../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, m := range method.FindAllStringSubmatch(s, -1) {
			u := m[2]
			if !strings.HasPrefix(u, "/api/") {
				u = "/api/v1" + u
			}
			out = append(out, docRequest{f, m[1], u})
		}
		// Shell line continuations joined, a curl command is one line.
		for _, m := range curl.FindAllStringSubmatch(strings.ReplaceAll(s, "\\\n", " "), -1) {
			for _, u := range curlURL.FindAllStringSubmatch(m[1], -1) {
				meth := "GET"
				if mm := curlMethod.FindStringSubmatch(m[1]); mm != nil {
					meth = mm[1]
				} else if strings.Contains(m[1], "--data") || strings.Contains(m[1], " -d ") {
					meth = "POST"
				}
				out = append(out, docRequest{f, meth, u[1]})
			}
		}
	}
	if len(out) < 50 {
		t.Fatalf("found only %d documented requests: is the parser broken?", len(out))
	}
	return out
}

// TestNoPersonalDataInURLs walks every route of the API and the web app
// and every request documented in docs/API.md and README.md, and fails if
// a URL can carry a name, an identity code or a file name: a path wildcard
// or query parameter named for one (unless the documented request is an
// old form that the API refuses with 400 use_...), an identity code, or a
// fixture's name. It then sends every GET route of the API with each such
// parameter added and fails if the parameter changes the answer other
// than by refusing it.
func TestNoPersonalDataInURLs(t *testing.T) {
	e := newEnv(t)
	ther, mgr := e.login(t, "therapist"), e.login(t, "manager")
	names := fixtureNames(t)

	// API routes: path wildcards.
	apiPatterns := New(e.Service, Config{}).(*handler).patterns
	if len(apiPatterns) < 40 {
		t.Fatalf("only %d API routes", len(apiPatterns))
	}
	for _, p := range apiPatterns {
		for _, w := range wildcards(p) {
			if slices.Contains(personalParams, w) {
				t.Errorf("API route %q has the path wildcard {%s}", p, w)
			}
		}
	}

	// Web routes (from the source: the web server needs more to construct).
	src, err := os.ReadFile("../web/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	webRoutes := regexp.MustCompile(`(?m)^\s*(?:public|private)\("([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(webRoutes) < 40 {
		t.Fatalf("only %d web routes found", len(webRoutes))
	}
	for _, m := range webRoutes {
		for _, w := range wildcards(m[1]) {
			if m[1] == "GET /static/{name}" && w == "name" {
				continue // the app's own asset files
			}
			if slices.Contains(personalParams, w) {
				t.Errorf("web route %q has the path wildcard {%s}", m[1], w)
			}
		}
		if strings.Contains(m[1], "?") {
			t.Errorf("web route %q has a query", m[1])
		}
	}

	// Documented requests. Every route is documented, so that this walk
	// covers them all.
	documented := map[string]bool{}
	for _, d := range documentedRequests(t) {
		u, _, _ := strings.Cut(d.url, "?")
		documented[d.method+" "+u] = true
	}
	for _, p := range apiPatterns {
		if !documented[p] {
			t.Errorf("route %q is not documented in docs/API.md", p)
		}
	}
	for _, d := range documentedRequests(t) {
		u, err := url.Parse(strings.NewReplacer("{", "", "}", "", "…", "").Replace(d.url))
		if err != nil {
			t.Errorf("%s: %s %s: %v", d.where, d.method, d.url, err)
			continue
		}
		if identityCodeRE.MatchString(d.url) {
			t.Errorf("%s: %s %s carries an identity code", d.where, d.method, d.url)
		}
		for _, word := range regexp.MustCompile(`[\p{L}]+`).FindAllString(d.url, -1) {
			if names[word] {
				t.Errorf("%s: %s %s carries the name %q", d.where, d.method, d.url, word)
			}
		}
		for k := range u.Query() {
			if !slices.Contains(personalParams, strings.ToLower(k)) {
				continue
			}
			// Documented only as an old form the API refuses.
			path := strings.NewReplacer("$PATIENT", e.PatientA.ID, "$NOTE", e.PatientA.ID).Replace(u.Path) + "?" + k + "=Virtanen"
			for _, tok := range []string{ther, mgr} {
				res := e.do(t, req{Method: d.method, Path: path, Token: tok, Body: []byte("text")})
				if code := errorCode(res); res.Code != http.StatusBadRequest || !strings.HasPrefix(code, "use_") {
					t.Errorf("%s: %s %s carries %q in its URL, and the API answers %d %s to it", d.where, d.method, d.url, k, res.Code, code)
					break
				}
			}
		}
	}

	// Every GET route, with each personal parameter added.
	ids := map[string]string{"{id}": e.PatientA.ID, "{index}": "0"}
	for _, p := range apiPatterns {
		method, path, _ := strings.Cut(p, " ")
		if method != "GET" {
			continue
		}
		for k, v := range ids {
			path = strings.ReplaceAll(path, k, v)
		}
		base := path + "?clinic=" + e.ClinicA.ID
		for _, tok := range []string{ther, mgr} {
			plain := e.do(t, req{Method: "GET", Path: base, Token: tok})
			again := e.do(t, req{Method: "GET", Path: base, Token: tok})
			stable := plain.Code == again.Code && string(plain.Body) == string(again.Body)
			for _, k := range personalParams {
				res := e.do(t, req{Method: "GET", Path: base + "&" + k + "=Virtanen", Token: tok})
				if res.Code == http.StatusBadRequest && strings.HasPrefix(errorCode(res), "use_") {
					continue
				}
				if res.Code != plain.Code || errorCode(res) != errorCode(plain) || (stable && string(res.Body) != string(plain.Body)) {
					t.Errorf("GET %s: the URL parameter %q changes the answer (%d %s, without it %d %s): it carries personal data in a URL",
						p, k, res.Code, errorCode(res), plain.Code, errorCode(plain))
				}
			}
		}
	}
}

// errorCode is the code of a JSON error answer, or "".
func errorCode(r response) string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}
