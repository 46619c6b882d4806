package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBench drives a real server for two seconds and checks that the report
// covers every operation of the realistic mix without errors.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	logins := filepath.Join(dir, "logins.json")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "40", "--logins", logins, "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", data, "--log-level", "error")
	base, stop := startServer(t, cfg, openOptions{})

	// The server runs in this process: --server-pid is the test's own
	// (the load generator's CPU included; only its presence is checked).
	pid := strconv.Itoa(os.Getpid())
	code, out, errOut := runCmd(t, "bench", "--url", base, "--logins", logins, "--users", "8", "--duration", "2s", "--server-pid", pid, "--json")
	if err := stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
	if code != 0 {
		t.Fatalf("bench: %d %s", code, errOut)
	}
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	for _, op := range []string{"chart_open", "note_save", "note_sign", "search", "patient_record", "patient_access_log"} {
		r, ok := res.Operations[op]
		if !ok || r.Count == 0 || r.PerSecond <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: %+v", op, r)
		}
		if r.Errors > 0 {
			t.Errorf("%s: %d errors", op, r.Errors)
		}
		if r.ServerCPU != 0 {
			t.Errorf("%s: server CPU %g ms attributed to one operation of a mixed run", op, r.ServerCPU)
		}
	}
	// The default mode: all users on the demo therapist's patients.
	if ws := res.WorkingSet; ws.Therapists != 1 || ws.Patients != ws.LargestCaseload || ws.PatientsTouched > ws.Patients {
		t.Errorf("working set: %+v", ws)
	}
	checkCPU(t, res, pid, "all operations, mixed")
}

// checkCPU checks that a run reports a positive CPU time per request for the
// server process pid and for the load generator.
func checkCPU(t *testing.T, res benchResult, pid, of string) {
	t.Helper()
	sc, bc := res.ServerCPU, res.BenchCPU
	if sc == nil || bc == nil {
		t.Fatalf("no CPU figures: server %+v, bench %+v", sc, bc)
	}
	if len(sc.PIDs) != 1 || strconv.Itoa(sc.PIDs[0]) != pid || sc.Seconds <= 0 || sc.MSPerRequest <= 0 || sc.PerRequestOf != of {
		t.Errorf("server CPU: %+v, want pid %s, per request of %q", sc, pid, of)
	}
	if bc.MSPerRequest <= 0 || bc.PerRequestOf != of {
		t.Errorf("load generator CPU: %+v", bc)
	}
	if res.Requests <= 0 {
		t.Errorf("%d requests", res.Requests)
	}
}

// TestBenchSpread drives a seeded data set with --spread over two target
// URLs (the same server twice) and checks, in the bench's counters and in
// the server's access log, that every user signed in as a different
// therapist and that the chart opens went beyond any one therapist's
// caseload.
func TestBenchSpread(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, out, errOut := runCmd(t, "seed", "--data", data, "--patients", "60", "--notes-per-patient", "2",
		"--staff", "10", "--clinics", "2"); code != 0 {
		t.Fatalf("seed: %s %s", out, errOut)
	}
	logins := filepath.Join(data, seedLoginsFile)
	var li struct {
		Security struct {
			Username, Password string
			TOTPSecret         string `json:"totp_secret"`
		}
		Therapists []string
	}
	if b, err := os.ReadFile(logins); err != nil || json.Unmarshal(b, &li) != nil {
		t.Fatalf("%s: %v", logins, err)
	}
	if len(li.Therapists) != 10-1-2 {
		t.Fatalf("therapists in %s: %q", logins, li.Therapists)
	}
	cfg := resolve(t, "--data", data, "--log-level", "error")
	base, stop := startServer(t, cfg, openOptions{})
	pid := strconv.Itoa(os.Getpid())

	// More users than therapists: refused, nothing run.
	if code, _, errOut := runCmd(t, "bench", "--url", base, "--logins", logins, "--users", "8", "--duration", "1s", "--spread"); code != 1 ||
		!strings.Contains(errOut, "lists 7 therapists, fewer than --users 8") {
		t.Errorf("8 users for 7 therapists: exit %d, %s", code, errOut)
	}

	from := time.Now().UTC().Add(-time.Second)
	const users = 4
	// A number of operations per user rather than a time, so that a slow
	// machine does the same work (the duration only caps it).
	code, out, errOut := runCmd(t, "bench", "--url", base+","+base, "--logins", logins, "--users", strconv.Itoa(users),
		"--duration", "3m", "--iterations", "40", "--spread", "--server-pid", pid, "--json")
	if code != 0 {
		t.Fatalf("bench --spread: %d %s", code, errOut)
	}
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	for op, r := range res.Operations {
		if r.Errors > 0 {
			t.Errorf("%s: %d errors", op, r.Errors)
		}
	}
	ws := res.WorkingSet
	if !res.Spread || len(res.Servers) != 2 || ws.Therapists != users || ws.Patients <= ws.LargestCaseload || ws.PatientsTouched <= ws.LargestCaseload {
		t.Errorf("spread %v over %q, working set %+v: want %d therapists, more patients touched than the largest caseload", res.Spread, res.Servers, ws, users)
	}
	checkCPU(t, res, pid, "all operations, mixed")

	// The access log: chart opens by exactly `users` therapists, of more
	// patients than the largest caseload holds.
	bc := &benchClient{hc: http.DefaultClient}
	sec, err := bc.login(t.Context(), base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	actors, patients := map[string]bool{}, map[string]bool{}
	q := url.Values{"action": {"chart.read"}, "from": {from.Format(time.RFC3339)}, "limit": {"200"}}
	for page := 0; ; page++ {
		var v struct {
			Events []struct {
				ActorID   string `json:"actor_id"`
				Role      string `json:"role"`
				PatientID string `json:"patient_id"`
			}
			Before *uint64 `json:"next_before"`
		}
		if page > 1000 || !bc.call(t.Context(), base, "GET", "/api/v1/audit/events?"+q.Encode(), sec, nil, &v) {
			t.Fatalf("access-log page %d failed", page)
		}
		for _, e := range v.Events {
			if e.Role == "therapist" {
				actors[e.ActorID], patients[e.PatientID] = true, true
			}
		}
		if v.Before == nil {
			break
		}
		q.Set("before", strconv.FormatUint(*v.Before, 10))
	}
	if len(actors) != users || len(patients) <= ws.LargestCaseload {
		t.Errorf("access log: chart opens by %d therapists of %d patients; want %d therapists, more than %d patients", len(actors), len(patients), users, ws.LargestCaseload)
	}

	// One operation (--mix reads): the CPU is attributed to it.
	code, out, errOut = runCmd(t, "bench", "--url", base, "--logins", logins, "--users", "2", "--duration", "1s",
		"--spread", "--mix", "reads", "--server-pid", pid, "--json")
	if err := stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
	if code != 0 {
		t.Fatalf("bench --mix reads: %d %s", code, errOut)
	}
	res = benchResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	checkCPU(t, res, pid, "chart_open")
	if r := res.Operations["chart_open"]; len(res.Operations) != 1 || r.ServerCPU <= 0 || r.ServerCPU != res.ServerCPU.MSPerRequest {
		t.Errorf("reads: operations %+v, server CPU %+v", res.Operations, res.ServerCPU)
	}
}

func TestParseProcStat(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks, 22 (starttime)
	// is 12345; the command name holds a space and parentheses.
	stat := "4242 (conf (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 1500000000 5000 18446744073709551615\n"
	cpu, started, err := parseProcStat([]byte(stat))
	if err != nil || cpu != 3*time.Second || started != 12345 {
		t.Errorf("parseProcStat = %v, %d, %v; want 3s, 12345", cpu, started, err)
	}
	for _, bad := range []string{"", "4242 conf S 1", "4242 (conf) S 1 2 3", "4242 (conf) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 50 0 0 20 0 9 0 12345 1 2"} {
		if _, _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
	// This process, twice: the same start, CPU not going backwards.
	c0, s0, err := procCPU(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	c1, s1, err := procCPU(os.Getpid())
	if err != nil || s1 != s0 || c1 < c0 {
		t.Errorf("procCPU: %v %d then %v %d, %v", c0, s0, c1, s1, err)
	}
}

func TestBenchRefusesRemoteTargets(t *testing.T) {
	code, _, errOut := runCmd(t, "bench", "--url", "http://192.0.2.10:8080", "--logins", "x.json", "--duration", "1s")
	if code != 1 || !strings.Contains(errOut, "not a loopback address") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
