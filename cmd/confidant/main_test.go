package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// runCmdWithin runs the command like runCmd but ends it after d (a server
// that should have refused to start then returns instead of hanging the
// test until go test's own timeout).
func runCmdWithin(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	if code, _, errOut := runCmd(t, "--help"); code != 0 || !strings.Contains(errOut, "Commands:") {
		t.Fatalf("--help: %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t); code != 2 {
		t.Fatalf("no args: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
	for _, c := range commands {
		args := []string{c.name, "--help"}
		if c.name == "version" {
			continue
		}
		code, _, errOut := runCmd(t, args...)
		if code != 0 || !strings.Contains(errOut, "Usage: confidant "+c.name) {
			t.Errorf("%s --help: exit %d, output %q", c.name, code, errOut)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "confidant.json")
	os.WriteFile(file, []byte(`{"addr": "127.0.0.1:1111", "log_level": "warn", "session_idle": "10m", "max_attachment_mib": 3}`), 0o600)
	t.Setenv("CONFIDANT_ADDR", "127.0.0.1:2222")
	t.Setenv("CONFIDANT_SESSION_IDLE", "20m")
	fs := newFlagSet("x", "x", io.Discard)
	resolve := configFlags(fs)
	if err := fs.Parse([]string{"--data", dir, "--session-idle", "5m"}); err != nil {
		t.Fatal(err)
	}
	c, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:2222" { // env beats file
		t.Errorf("addr %q", c.Addr)
	}
	if c.SessionIdle != 5*time.Minute { // flag beats env
		t.Errorf("idle %v", c.SessionIdle)
	}
	if c.LogLevel.String() != "WARN" || c.MaxAttachment != 3<<20 { // file beats default
		t.Errorf("log level %v, max attachment %d", c.LogLevel, c.MaxAttachment)
	}
	if c.BreakGlass != 4*time.Hour || c.serviceConfig().BreakGlassTTL != 4*time.Hour { // the default
		t.Errorf("break-glass duration %v", c.BreakGlass)
	}
	for _, bad := range []string{"30s", "25h", "soon"} {
		fs := newFlagSet("x", "x", io.Discard)
		resolve := configFlags(fs)
		fs.Parse([]string{"--data", dir, "--break-glass-duration", bad})
		if _, err := resolve(); err == nil {
			t.Errorf("break-glass duration %q accepted", bad)
		}
	}
	// Unknown keys and bad values are refused with a clear message.
	os.WriteFile(file, []byte(`{"adress": "x"}`), 0o600)
	fs = newFlagSet("x", "x", io.Discard)
	resolve = configFlags(fs)
	fs.Parse([]string{"--data", dir})
	if _, err := resolve(); err == nil || !strings.Contains(err.Error(), `unknown setting "adress"`) {
		t.Errorf("unknown key: %v", err)
	}
	fs = newFlagSet("x", "x", io.Discard)
	resolve = configFlags(fs)
	fs.Parse([]string{"--data", t.TempDir(), "--database-url", "mysql://x"})
	if _, err := resolve(); err == nil {
		t.Error("mysql URL accepted")
	}
}

func TestInitAndUser(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCmd(t, "init", "--data", dir, "--org", "Test Oy", "--clinic", "Helsinki")
	if code != 0 || !strings.Contains(out, "Clinic manager account: manager  invitation code: ") || strings.Contains(out, "password:") {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "init", "--data", dir, "--org", "Again", "--clinic", "X"); code != 1 || !strings.Contains(errOut, "already initialised") {
		t.Fatalf("second init: %d %s", code, errOut)
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
	// Nobody, the operator included, chooses another person's password.
	if code, _, errOut := runCmd(t, "user", "create", "--data", dir, "--username", "sec2", "--name", "Second Officer", "--role", "security", "--password-file", pw); code != 1 || !strings.Contains(errOut, "by invitation") {
		t.Fatalf("user create with a password: %d %s", code, errOut)
	}
	codeRE := regexp.MustCompile(`invitation code: ([A-Z2-7 ]+) \(shown only once`)
	code, out, errOut = runCmd(t, "user", "create", "--data", dir, "--username", "sec2", "--name", "Second Officer", "--role", "security")
	first := codeRE.FindStringSubmatch(out)
	if code != 0 || !strings.Contains(out, "created security sec2") || strings.Contains(out, "password:") || first == nil {
		t.Fatalf("user create: %d %s %s", code, out, errOut)
	}
	// A new invitation revokes the first.
	code, out, errOut = runCmd(t, "user", "invite", "--data", dir, "sec2")
	second := codeRE.FindStringSubmatch(out)
	if code != 0 || second == nil || second[1] == first[1] {
		t.Fatalf("user invite: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "user", "create", "--data", dir, "--username", "x", "--name", "X", "--role", "therapist"); code != 1 || !strings.Contains(errOut, "Usernames are") {
		t.Fatalf("bad username: %d %s", code, errOut)
	}
	// A staff member's identity code: checked, stored as its blind index
	// only (the detector's staff_close), never printed.
	if code, _, errOut := runCmd(t, "user", "create", "--data", dir, "--username", "sec3", "--name", "Third Officer", "--role", "security", "--identity-code", "010190-902X"); code != 1 || !strings.Contains(errOut, "identity code is not valid") {
		t.Fatalf("bad identity code: %d %s", code, errOut)
	}
	if code, out, errOut := runCmd(t, "user", "create", "--data", dir, "--username", "sec3", "--name", "Third Officer", "--role", "security", "--identity-code", "010190-902S"); code != 0 || strings.Contains(out+errOut, "010190") {
		t.Fatalf("user create --identity-code: %d %s %s", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "user", "disable", "--data", dir, "sec2"); code != 0 {
		t.Fatal("disable failed")
	}
	code, out, _ = runCmd(t, "user", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "sec2") || !strings.Contains(out, "true") {
		t.Fatalf("user list: %s", out)
	}
	if code, _, _ := runCmd(t, "user", "enable", "--data", dir, "sec2"); code != 0 {
		t.Fatal("enable failed")
	}
	// The operator's changes are in the access log.
	cfg := resolve(t, "--data", dir)
	a, err := openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"clinic.create", "account.create", "account.disable", "account.invitation.send"} {
		evs, err := a.log.Query(t.Context(), confidant.EventFilter{Action: action, Limit: 10})
		if err != nil || len(evs) == 0 {
			t.Errorf("%s not in the access log: %v", action, err)
		}
	}
	// The second code sets the password and starts the enrolment of the
	// second factor; the first no longer works.
	svc, err := service.New(a.store, testfix.FastHasher{}, service.DefaultConfig(), service.WithAuditor(a.log))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AcceptInvitationSignIn(t.Context(), first[1], testfix.Password); confidant.CodeOf(err) != "invitation_invalid" {
		t.Errorf("the revoked code: %v", err)
	}
	if _, res, err := svc.AcceptInvitationSignIn(t.Context(), second[1], testfix.Password); err != nil || !res.MFAEnrol {
		t.Errorf("the operator's invitation: %v, enrolment %v", err, res.MFAEnrol)
	}
	a.Close()
	if code, out, _ := runCmd(t, "migrate", "--data", dir); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %s", out)
	}
}

func TestDemoAndServe(t *testing.T) {
	dir, li := newDemo(t, 60)
	for role, c := range map[string]demo.Credential{"therapist": li.Therapist, "patient": li.Patient, "manager": li.Manager, "security": li.Security, "dpo": li.DPO} {
		if c.Username == "" || c.Password == "" || (role != "patient") != (len(c.TOTPSecret) == 32) {
			t.Errorf("logins lack %s, or its TOTP secret is wrong", role)
		}
	}
	if len(li.Therapists) < 2 || li.Therapists[0] != li.Therapist.Username {
		t.Errorf("logins list therapists %q, want the demo therapist first", li.Therapists)
	}
	// A second run reuses the data and the same sign-ins.
	code, out, _ := runCmd(t, "demo", "--data", dir, "--no-serve")
	if code != 0 || !strings.Contains(out, "Using the existing demo data") || !strings.Contains(out, li.Therapist.Password) {
		t.Fatalf("second demo run: %d %s", code, out)
	}

	// Serve it and sign in through the API.
	fs := newFlagSet("serve", "", io.Discard)
	resolve := configFlags(fs)
	fs.Parse([]string{"--data", dir, "--log-level", "error"})
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	base, stop := startServer(t, cfg, openOptions{})
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	// A password alone gives staff no token; the TOTP secret of the logins
	// file completes the sign-in.
	body, _ := json.Marshal(map[string]string{"username": li.Therapist.Username, "password": li.Therapist.Password})
	resp, err = http.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var half map[string]any
	json.NewDecoder(resp.Body).Decode(&half)
	resp.Body.Close()
	if resp.StatusCode != 200 || half["mfa_required"] != true || half["token"] != nil {
		t.Fatalf("password alone: %d, mfa_required %v, token given %v", resp.StatusCode, half["mfa_required"], half["token"] != nil)
	}
	token := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	req, _ := http.NewRequest("GET", base+"/api/v1/patients", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pats struct{ Patients []struct{ ID string } }
	err = json.NewDecoder(resp.Body).Decode(&pats)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(pats.Patients) == 0 {
		t.Fatalf("patients: %d %v, %d patients", resp.StatusCode, err, len(pats.Patients))
	}
	if h := resp.Header.Get("Content-Security-Policy"); !strings.Contains(h, "default-src 'none'") {
		t.Errorf("CSP missing: %q", h)
	}
	// The data protection officer signs in with the second factor, reads
	// access-log metadata and reaches no chart.
	dpo := apiLogin(t, base, li.DPO.Username, li.DPO.Password, li.DPO.TOTPSecret)
	for path, want := range map[string]int{
		"/api/v1/audit/events?limit=5":                       200,
		"/api/v1/patients/" + pats.Patients[0].ID + "/notes": 403,
	} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+dpo)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("dpo GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// startServer serves the installation of cfg in this process on a free
// loopback port and returns its base URL, and stop, which shuts it down and
// returns serve's error. Stopping and closing the installation also happen
// when the test ends.
func startServer(t *testing.T, cfg Config, opt openOptions) (base string, stop func() error) {
	t.Helper()
	a, err := openApp(t.Context(), cfg, io.Discard, opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, a, ln, newLogger(io.Discard, cfg.LogLevel), func(u string) { ready <- u })
	}()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serr = <-done
			a.Close()
		})
		return serr
	}
	t.Cleanup(func() { stop() })
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve did not start: %v", err)
	}
	return base, stop
}

// --public-url names the server in invitation links; it defaults to
// http://<addr> and must be a plain http(s) URL.
func TestPublicURL(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for refused
	}{
		{[]string{"--addr", "127.0.0.1:9999"}, "http://127.0.0.1:9999"},
		{[]string{"--public-url", "https://confidant.clinic.example/"}, "https://confidant.clinic.example"},
		{[]string{"--public-url", "https://confidant.clinic.example/records"}, "https://confidant.clinic.example/records"},
		{[]string{"--public-url", "ftp://confidant.clinic.example"}, ""},
		{[]string{"--public-url", "https://user@confidant.clinic.example"}, ""},
		{[]string{"--public-url", "https://confidant.clinic.example/?x=1"}, ""},
		{[]string{"--public-url", "confidant.clinic.example"}, ""},
	} {
		fs := newFlagSet("x", "x", io.Discard)
		resolve := configFlags(fs)
		err := fs.Parse(append([]string{"--data", t.TempDir()}, tc.args...))
		var c Config
		if err == nil {
			c, err = resolve()
		}
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%v accepted", tc.args)
		case tc.want != "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && c.serviceConfig().PublicURL != tc.want:
			t.Errorf("%v: public URL %q, want %q", tc.args, c.serviceConfig().PublicURL, tc.want)
		}
	}
}
