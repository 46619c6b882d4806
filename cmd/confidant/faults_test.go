package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/jackc/pgx/v5"
)

// The process-level fault-injection tests (docs/OPERATIONS.md,
// "Fault-injection tests"): several `confidant serve` processes on one
// PostgreSQL database, one of them killed under load; and operator
// commands (keys rotate-kek, keys verify, user disable, patient erase) run
// from the shell while a server serves. Afterwards every acknowledged write
// is readable as written, `confidant audit verify` passes and a restarted
// server starts. The servers are this test binary acting as the confidant
// command (TestMain, crash_test.go), so nothing is built.

// faultTimeout bounds every wait of these tests, so that a hang fails them;
// progressTimeout is how long writers may go without an acknowledgement.
const (
	faultTimeout    = 60 * time.Second
	progressTimeout = 20 * time.Second
)

// proc is a `confidant serve` process.
type proc struct {
	cmd    *exec.Cmd
	base   string
	cpDir  string // the checkpoints it signed (--checkpoint-dir)
	stderr *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe starts `confidant serve` with the configuration args on a free
// port, signing a checkpoint every 100ms into a directory of its own, and
// waits until it answers /healthz. It fails the test if the server
// does not start (with the end of its stderr, which holds no patient data).
// The process is killed when the test ends.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	p := &proc{base: "http://" + addr, cpDir: t.TempDir(), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve", "--addr", addr, "--log-level", "error",
		"--checkpoint-every", "100ms", "--checkpoint-dir", p.cpDir}, args...)...)
	p.cmd.Env = append(os.Environ(), "CONFIDANT_TEST_AS_MAIN=1")
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(faultTimeout)
	for {
		if r, err := http.Get(p.base + "/healthz"); err == nil {
			r.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("confidant serve did not start: %s\n%s", p.cmd.ProcessState, lastBytes(p.stderr.String(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("confidant serve did not answer within %s\n%s", faultTimeout, lastBytes(p.stderr.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop asks the process to shut down (SIGTERM) and waits, killing it if it
// does not.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(faultTimeout):
		p.kill()
		t.Errorf("confidant serve did not stop on SIGTERM")
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// apiClient has the bounded HTTP client of these tests.
var apiClient = &http.Client{Timeout: faultTimeout}

// target is one server and a therapist's token there.
type target struct {
	p     *proc
	token string
}

// httpLoad is writers posting session notes to a set of servers.
type httpLoad struct {
	mu       sync.Mutex
	targets  []target
	patients []string
	notes    map[string]string // acknowledged note id -> body
	statuses map[int]int       // answers other than 201 -> count
	acks     atomic.Int64
}

func newHTTPLoad(patients []string) *httpLoad {
	return &httpLoad{patients: patients, notes: map[string]string{}, statuses: map[int]int{}}
}

func (l *httpLoad) add(tg target) {
	l.mu.Lock()
	l.targets = append(l.targets, tg)
	l.mu.Unlock()
}

// remove takes the server p out of the rotation.
func (l *httpLoad) remove(p *proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, tg := range l.targets {
		if tg.p == p {
			l.targets = append(l.targets[:i], l.targets[i+1:]...)
			return
		}
	}
}

// run starts writers until ctx ends; wait waits for them.
func (l *httpLoad) run(ctx context.Context, writers int) (wait func()) {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				l.mu.Lock()
				tg := l.targets[(w+i)%len(l.targets)]
				p := l.patients[(w+i)%len(l.patients)]
				l.mu.Unlock()
				body := fmt.Sprintf("fault-test note %d/%d", w, i)
				status, id := postNote(ctx, tg, p, body)
				l.mu.Lock()
				if status == http.StatusCreated && id != "" {
					l.notes[id] = body
					l.acks.Add(1)
				} else if status != 0 { // 0: no answer (a killed server, or the end)
					l.statuses[status]++
				}
				l.mu.Unlock()
				if status != http.StatusCreated {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	return wg.Wait
}

// checkpointFlags returns the audit verify flags naming every checkpoint
// the servers signed and published (--checkpoint-dir) during the run.
func checkpointFlags(t *testing.T, ps ...*proc) []string {
	t.Helper()
	var flags []string
	for _, p := range ps {
		files, err := filepath.Glob(filepath.Join(p.cpDir, "[0-9]*.checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			flags = append(flags, "--checkpoint", f)
		}
	}
	t.Logf("%d checkpoints signed by %d servers during the run", len(flags)/2, len(ps))
	if len(flags) == 0 {
		t.Error("the servers signed no checkpoint during the run")
	}
	return flags
}

// postNote creates a note; it returns the HTTP status (0 without an
// answer) and the note's id.
func postNote(ctx context.Context, tg target, patient, body string) (int, string) {
	b, _ := json.Marshal(map[string]string{"body": body})
	req, _ := http.NewRequestWithContext(ctx, "POST", tg.p.base+"/api/v1/patients/"+patient+"/notes", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tg.token)
	res, err := apiClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	var n struct {
		ID string `json:"id"`
	}
	json.NewDecoder(res.Body).Decode(&n)
	return res.StatusCode, n.ID
}

// progress waits until n more writes have been acknowledged.
func (l *httpLoad) progress(t *testing.T, n int64, after string) bool {
	t.Helper()
	want := l.acks.Load() + n
	deadline := time.Now().Add(progressTimeout)
	for l.acks.Load() < want {
		if time.Now().After(deadline) {
			l.mu.Lock()
			t.Errorf("writes stopped being acknowledged after %s (other answers so far, status: count: %v)", after, l.statuses)
			l.mu.Unlock()
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// check asserts that no answer was a 500, and that every acknowledged note
// reads back with its exact body through tg.
func (l *httpLoad) check(t *testing.T, tg target) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d notes acknowledged; other answers (status: count): %v", len(l.notes), l.statuses)
	for status, n := range l.statuses {
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d; failures must be 503", n, status)
		}
	}
	if len(l.notes) < 20 {
		t.Errorf("only %d notes were acknowledged; the load did not exercise much", len(l.notes))
	}
	lost := 0
	for id, body := range l.notes {
		req, _ := http.NewRequest("GET", tg.p.base+"/api/v1/notes/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tg.token)
		res, err := apiClient.Do(req)
		if err != nil {
			t.Fatalf("reading notes back: %v", err)
		}
		var n struct {
			Versions []struct {
				Body string `json:"body"`
			} `json:"versions"`
		}
		json.NewDecoder(res.Body).Decode(&n)
		res.Body.Close()
		if res.StatusCode != 200 || len(n.Versions) == 0 || n.Versions[len(n.Versions)-1].Body != body {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged note %s: status %d, same body: %v", id, res.StatusCode, len(n.Versions) > 0 && n.Versions[len(n.Versions)-1].Body == body)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged notes are not readable as written", lost, len(l.notes))
	}
}

// faultDatabase creates a PostgreSQL database of the test's own (dropped
// afterwards), seeds it into data, and returns its URL and the sign-ins.
func faultDatabase(t *testing.T, data string) (string, demo.Logins) {
	t.Helper()
	dsn := testfix.FaultsPostgresDSN(t, "the several-servers and operator-command fault tests")
	ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "confidant_faults_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
		defer cancel()
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	if code, _, errOut := runCmd(t, "seed", "--data", data, "--database-url", u.String(), "--patients", "8", "--notes-per-patient", "1",
		"--seed", "3", "--staff", "8", "--clinics", "1"); code != 0 {
		t.Fatalf("seed: exit %d\n%s", code, errOut)
	}
	return u.String(), readLogins(t, filepath.Join(data, seedLoginsFile))
}

// demoData seeds the SQLite demo into data and returns the sign-ins.
func demoData(t *testing.T, data string) demo.Logins {
	t.Helper()
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "12", "--no-serve"); code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, errOut)
	}
	return readLogins(t, filepath.Join(data, demoLoginsFile))
}

func readLogins(t *testing.T, path string) demo.Logins {
	t.Helper()
	var li demo.Logins
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &li)
	}
	if err != nil || li.Therapist.Username == "" {
		t.Fatalf("sign-ins %s: %v", filepath.Base(path), err)
	}
	return li
}

// runProcess runs a confidant command as its own process, as an operator
// would from the shell, and returns its exit code and stderr.
func runProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*faultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CONFIDANT_TEST_AS_MAIN=1")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("confidant %s did not finish within %s", args[0], 2*faultTimeout)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("confidant %s: %v", args[0], err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// auditVerify runs `confidant audit verify` on the installation (and any
// --checkpoint flags: each checkpoint must be a prefix of the log).
func auditVerify(t *testing.T, cfg ...string) {
	t.Helper()
	if code, _, errOut := runCmd(t, append([]string{"audit", "verify"}, cfg...)...); code != 0 {
		t.Errorf("confidant audit verify: exit %d\n%s", code, lastBytes(errOut, 2000))
	}
}

// TestFaultsSeveralServers runs 2, then 3 `confidant serve` processes on
// one PostgreSQL database, writes through all of them at once, kills one
// (SIGKILL) in the middle, and checks the writes, the log and a restart.
func TestFaultsSeveralServers(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection test skipped in -short mode")
	}
	data := filepath.Join(t.TempDir(), "data")
	dbURL, li := faultDatabase(t, data)
	cfg := []string{"--data", data, "--database-url", dbURL}
	// One sign-in serves every server: sessions are stored in the shared
	// database, as behind a load balancer (and a TOTP code is accepted
	// once per 30-s step, so signing in on each server would wait).
	var token string
	login := func(p *proc) target {
		if token == "" {
			token = apiLogin(t, p.base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
		}
		return target{p: p, token: token}
	}

	a, b := startServe(t, cfg...), startServe(t, cfg...)
	servers := []*proc{a, b}
	ta, tb := login(a), login(b)
	l := newHTTPLoad(apiPatients(t, a.base, ta.token))
	l.add(ta)
	l.add(tb)
	ctx, stopLoad := context.WithCancel(context.Background())
	wait := l.run(ctx, 10)
	func() {
		if !l.progress(t, 30, "two servers started writing") {
			return
		}
		c := startServe(t, cfg...)
		servers = append(servers, c)
		l.add(login(c))
		if !l.progress(t, 30, "a third server joined") {
			return
		}
		l.remove(b)
		b.kill()
		l.progress(t, 30, "one of three servers was killed")
	}()
	stopLoad()
	wait()

	// Checkpoints signed by different servers are consistent with each
	// other: each is a prefix of the log.
	auditVerify(t, append(cfg, checkpointFlags(t, servers...)...)...)
	restarted := startServe(t, cfg...)
	l.check(t, login(restarted))
	auditVerify(t, cfg...)
}

// TestFaultsOperatorCommands runs the operator commands that write to the
// database (keys rotate-kek, keys verify, user disable, patient erase),
// each as a process of its own as from the shell, while a server serves
// writes, on SQLite and on PostgreSQL, then restarts the server: it starts,
// the acknowledged writes are there and the log verifies.
func TestFaultsOperatorCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection test skipped in -short mode")
	}
	t.Run("sqlite", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		li := demoData(t, data)
		operatorCommands(t, li, "--data", data)
	})
	t.Run("postgres", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		dbURL, li := faultDatabase(t, data)
		operatorCommands(t, li, "--data", data, "--database-url", dbURL)
	})
}

func operatorCommands(t *testing.T, li demo.Logins, cfg ...string) {
	p := startServe(t, cfg...)
	tg := target{p: p, token: apiLogin(t, p.base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)}
	patients := apiPatients(t, p.base, tg.token)
	if len(patients) < 2 {
		t.Fatalf("the therapist has %d patients; the test needs 2", len(patients))
	}
	// The writers leave the last patient alone: it is erased.
	erased := patients[len(patients)-1]
	l := newHTTPLoad(patients[:len(patients)-1])
	l.add(tg)
	ctx, stopLoad := context.WithCancel(context.Background())
	wait := l.run(ctx, 5)
	// Every command runs, even after writes stopped being acknowledged,
	// so that each is seen to succeed or fail. keys rotate-kek comes last:
	// a running server keeps the KEK keys it opened, so it answers 503
	// kek_unavailable for keysets re-wrapped under the new key until it is
	// restarted (docs/OPERATIONS.md, Rotation).
	serving := l.progress(t, 20, "the server started writing")
	for _, c := range []struct {
		name, pre, post []string
		serves          bool // the server goes on acknowledging writes afterwards
	}{
		{[]string{"keys", "verify"}, []string{"keys", "verify"}, nil, true},
		{[]string{"user", "disable"}, []string{"user", "disable"}, []string{li.Manager.Username}, true},
		{[]string{"patient", "erase"}, []string{"patient", "erase", "--patient", erased, "--retention-years", "0"}, nil, true},
		{[]string{"keys", "rotate-kek"}, []string{"keys", "rotate-kek"}, nil, false},
	} {
		args := append(append(append([]string{}, c.pre...), cfg...), c.post...) // flags before the username
		if code, errOut := runProcess(t, args...); code != 0 {
			t.Errorf("confidant %s %s while serving: exit %d\n%s", c.name[0], c.name[1], code, lastBytes(errOut, 2000))
		}
		if serving && c.serves {
			if serving = l.progress(t, 10, "confidant "+c.name[0]+" "+c.name[1]); !serving {
				// The server logs codes and ids, never patient data.
				t.Logf("the server's log:\n%s", lastBytes(p.stderr.String(), 1500))
			}
		}
	}
	stopLoad()
	wait()
	p.stop(t)

	restarted := startServe(t, cfg...)
	l.check(t, target{p: restarted, token: apiLogin(t, restarted.base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)})
	auditVerify(t, append(cfg, checkpointFlags(t, p, restarted)...)...)
}
