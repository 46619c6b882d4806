package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pquerna/otp/totp"
)

// runBench drives running servers over HTTP as many simulated users and
// reports throughput and latency per operation, and, for servers on this
// machine named by --server-pid, their CPU time per request. It is bounded
// in time and in requests and refuses targets other than loopback unless
// told otherwise.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench --url URL [--url URL ...] --logins FILE [--users N] [--duration D] [--mix realistic] [--spread] [--server-pid PID ...] [--json]", stderr)
	var targets, pidArgs listFlag
	fs.Var(&targets, "url", "server `URL` to drive (default http://127.0.0.1:8080); repeat it or separate URLs with commas to drive several servers of one database, the users spread over them round-robin")
	logins := fs.String("logins", "", "sign-ins JSON: DATA/seed-logins.json (confidant seed) or the file of confidant demo --logins FILE (required)")
	users := fs.Int("users", 50, "concurrent simulated users")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	mix := fs.String("mix", "realistic", "operation mix: realistic (therapists, patients, security officers) or reads")
	spread := fs.Bool("spread", false, "every user signs in as a different therapist of the logins file (therapists with no patients skipped; refused if there are fewer than --users) and works on that therapist's whole caseload; default: all users work on the demo therapist's patients")
	fs.Var(&pidArgs, "server-pid", "process id (`PID`) of a server on this machine (Linux; repeat it or separate ids with commas): its CPU time over the run (/proc/PID/stat) is reported per request")
	asJSON := fs.Bool("json", false, "print results as JSON")
	maxReq := fs.Int("max-requests", 1_000_000, "stop after this many requests in all")
	iterations := fs.Int("iterations", 0, "each user stops after this many operations (--duration still caps the run); 0: run for --duration")
	remote := fs.Bool("allow-remote", false, "allow a target that is not on this machine's loopback interface")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *logins == "" {
		fs.Usage()
		return errUsage
	}
	if len(targets) == 0 {
		targets = listFlag{"http://127.0.0.1:8080"}
	}
	if len(targets) > maxBenchServers || len(pidArgs) > maxBenchServers {
		return fmt.Errorf("--url and --server-pid: at most %d each", maxBenchServers)
	}
	servers := make([]*benchServer, len(targets))
	for k, t := range targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("--url must be an http(s) URL")
		}
		if !*remote && !isLoopback(u.Hostname()) {
			return fmt.Errorf("refusing to drive %s: not a loopback address (use --allow-remote for a server you run)", u.Hostname())
		}
		servers[k] = &benchServer{base: strings.TrimRight(u.String(), "/")}
	}
	if *users < 1 || *users > 10_000 || *duration <= 0 || *duration > 24*time.Hour || *maxReq < 1 || *iterations < 0 {
		return errors.New("--users must be 1..10000, --duration positive and at most 24h, --max-requests positive, --iterations not negative")
	}
	if *mix != "realistic" && *mix != "reads" {
		return errors.New("--mix must be realistic or reads")
	}
	var pids []int
	for _, a := range pidArgs {
		pid, err := strconv.Atoi(a)
		if err != nil || pid < 1 {
			return fmt.Errorf("--server-pid %q: not a process id", a)
		}
		if _, _, err := procCPU(pid); err != nil {
			return fmt.Errorf("--server-pid %d: %w (only servers on this machine, on Linux)", pid, err)
		}
		pids = append(pids, pid)
	}
	var li struct {
		Therapist, Patient, Security struct {
			Username, Password string
			TOTPSecret         string `json:"totp_secret"`
		}
		Therapists []string
	}
	b, err := os.ReadFile(*logins)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &li); err != nil {
		return fmt.Errorf("%s is not a logins file: %w", *logins, err)
	}
	bc := &benchClient{hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *users}}, stats: map[string]*opStats{}, steps: map[string]int64{}}

	// Sign-ins, before the measured phase: the therapists by mode, then the
	// patient and the security officer on every server. User i works on
	// servers[i%len(servers)].
	us := make([]benchUser, *users)
	if *spread {
		if err := spreadUsers(ctx, bc, servers, us, li.Therapists, li.Therapist.Password, li.Therapist.TOTPSecret, *logins, stderr); err != nil {
			return err
		}
	} else {
		for _, s := range servers {
			if s.ther, err = bc.login(ctx, s.base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret); err != nil {
				return fmt.Errorf("therapist sign-in at %s: %w", s.base, err)
			}
		}
		pats, err := bc.patients(ctx, servers[0].base, servers[0].ther)
		if err != nil || len(pats) == 0 {
			return fmt.Errorf("the therapist has no patients to work with (%v)", err)
		}
		for i := range us {
			s := servers[i%len(servers)]
			us[i] = benchUser{srv: s, name: li.Therapist.Username, ther: s.ther, pats: pats}
		}
	}
	if *mix == "realistic" {
		for _, s := range servers {
			if s.pat, err = bc.login(ctx, s.base, li.Patient.Username, li.Patient.Password, li.Patient.TOTPSecret); err != nil {
				return fmt.Errorf("patient sign-in at %s: %w", s.base, err)
			}
			if s.sec, err = bc.login(ctx, s.base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret); err != nil {
				return fmt.Errorf("security officer sign-in at %s: %w", s.base, err)
			}
		}
	}
	ws := newWorkingSet(us)
	fmt.Fprintf(stderr, "driving %s with %d users for %s (%s mix, %s)\n", strings.Join(targets, ", "), *users, *duration, *mix, ws)

	rctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var sent sync.Mutex
	budget := *maxReq
	take := func() bool {
		sent.Lock()
		defer sent.Unlock()
		budget--
		return budget >= 0
	}
	touched := make([]map[string]bool, *users) // patients each user's requests named
	// Without --server-pid only this process's CPU is reported, and not
	// at all where /proc cannot be read.
	cpu0, cpuErr := sampleCPU(pids)
	if cpuErr != nil && len(pids) > 0 {
		return cpuErr
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			u := us[i]
			s := u.srv
			seen := map[string]bool{}
			touched[i] = seen
			for n := 0; rctx.Err() == nil && (*iterations == 0 || n < *iterations) && take(); n++ {
				p := u.pats[rng.IntN(len(u.pats))]
				r := rng.IntN(100)
				switch {
				case *mix == "reads" || r < 55:
					seen[p.ID] = true
					bc.do(rctx, "chart_open", s.base, "GET", "/api/v1/patients/"+p.ID+"/chart", u.ther, nil)
				case r < 70:
					var n struct {
						ID string `json:"id"`
					}
					seen[p.ID] = true
					body := map[string]string{"template": "soap", "body": benchNote(rng)}
					if bc.do(rctx, "note_save", s.base, "POST", "/api/v1/patients/"+p.ID+"/notes", u.ther, body, &n) && n.ID != "" {
						bc.do(rctx, "note_sign", s.base, "POST", "/api/v1/notes/"+n.ID+"/sign", u.ther, nil)
					}
				case r < 80:
					seen[p.ID] = true
					bc.do(rctx, "search", s.base, "POST", "/api/v1/patients/search", u.ther, map[string]string{"q": p.Code})
				case r < 88:
					bc.do(rctx, "patient_record", s.base, "GET", "/api/v1/me/record", s.pat, nil)
				case r < 95:
					bc.do(rctx, "patient_access_log", s.base, "GET", "/api/v1/me/access-log?limit=50", s.pat, nil)
				default:
					seen[p.ID] = true
					bc.do(rctx, "audit_query", s.base, "GET", "/api/v1/audit/events?patient="+p.ID+"&limit=50", s.sec, nil)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var cpu1 []procSample
	if cpuErr == nil {
		if cpu1, cpuErr = sampleCPU(pids); cpuErr == nil {
			cpuErr = sameProcesses(cpu0, cpu1)
		}
	}
	all := map[string]bool{}
	for _, m := range touched {
		for id := range m {
			all[id] = true
		}
	}
	ws.PatientsTouched = len(all)
	res := bc.result(elapsed, cpu0, cpu1, cpuErr == nil)
	res.Servers, res.Mix, res.Spread, res.WorkingSet = targets, *mix, *spread, ws
	if err := res.write(stdout, *asJSON); err != nil {
		return err
	}
	if cpuErr != nil && len(pids) > 0 {
		return fmt.Errorf("server CPU not reported: %w", cpuErr)
	}
	return nil
}

// maxBenchServers bounds --url and --server-pid.
const maxBenchServers = 64

// listFlag is a flag that may be repeated, each value a comma-separated
// list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return errors.New("empty value in the list")
		}
		*l = append(*l, v)
	}
	return nil
}

// benchServer is one target server and the sessions shared by the users
// that drive it.
type benchServer struct {
	base           string
	ther, pat, sec string // the demo therapist (default mode), patient and security officer
}

// benchUser is one simulated user: a therapist's session on a server and
// the patients it works on.
type benchUser struct {
	srv  *benchServer
	name string // the therapist's username
	ther string // the therapist's session
	pats []benchPatient
}

// spreadUsers signs in a different therapist for every user, in the order
// of names (the logins file's), skipping those with no patients in active
// care, on the user's server, and gives each user that therapist's whole
// caseload. It refuses, rather than sharing therapists between users, when
// there are too few.
func spreadUsers(ctx context.Context, bc *benchClient, servers []*benchServer, us []benchUser, names []string, password, totpSecret, file string, stderr io.Writer) error {
	if len(names) < len(us) {
		return fmt.Errorf("--spread: %s lists %d therapists, fewer than --users %d (each user signs in as a different therapist; seed with more --staff or use fewer users; a file without a \"therapists\" list comes from before --spread)", file, len(names), len(us))
	}
	fmt.Fprintf(stderr, "signing in %d therapists\n", len(us))
	next, skipped := 0, 0
	for i := range us {
		s := servers[i%len(servers)]
		for us[i].ther == "" {
			if next == len(names) {
				return fmt.Errorf("--spread: only %d of the %d therapists in %s have patients in active care, fewer than --users %d", i, len(names), file, len(us))
			}
			name := names[next]
			next++
			tok, err := bc.login(ctx, s.base, name, password, totpSecret)
			if err != nil {
				return fmt.Errorf("therapist %s sign-in at %s: %w", name, s.base, err)
			}
			ps, err := bc.patients(ctx, s.base, tok)
			if err != nil {
				return fmt.Errorf("therapist %s: %w", name, err)
			}
			if len(ps) == 0 {
				skipped++
				continue
			}
			us[i] = benchUser{srv: s, name: name, ther: tok, pats: ps}
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "skipped %d therapists with no patients in active care\n", skipped)
	}
	return nil
}

// workingSet describes the patients the users work on.
type workingSet struct {
	Therapists      int `json:"therapists"`       // distinct therapists signed in for the users
	Patients        int `json:"patients"`         // distinct patients in their caseloads
	LargestCaseload int `json:"largest_caseload"` // the most patients one user works on
	PatientsTouched int `json:"patients_touched"` // distinct patients named by the requests of the run
}

func newWorkingSet(us []benchUser) workingSet {
	var ws workingSet
	names, ids := map[string]bool{}, map[string]bool{}
	for _, u := range us {
		names[u.name] = true
		ws.LargestCaseload = max(ws.LargestCaseload, len(u.pats))
		for _, p := range u.pats {
			ids[p.ID] = true
		}
	}
	ws.Therapists, ws.Patients = len(names), len(ids)
	return ws
}

func (ws workingSet) String() string {
	if ws.Therapists == 1 {
		return fmt.Sprintf("one therapist's %d patients", ws.Patients)
	}
	return fmt.Sprintf("%d therapists' %d patients, at most %d each", ws.Therapists, ws.Patients, ws.LargestCaseload)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// benchNote is a 2-4 KiB synthetic note.
func benchNote(rng *rand.Rand) string {
	parts := []string{"Subjective: reports sleeping better; worry about work persists. ",
		"Objective: calm, good eye contact, affect congruent. ", "Assessment: mood improving; no risk indicators. ",
		"Plan: continue weekly CBT, worry postponement, review PHQ-9 in four weeks. "}
	var b strings.Builder
	for b.Len() < 2048+rng.IntN(2048) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

type benchPatient struct {
	ID   string `json:"id"`
	Code string `json:"identity_code"`
}

type opStats struct {
	lat    []time.Duration
	errors int
}

type benchClient struct {
	hc    *http.Client
	mu    sync.Mutex
	stats map[string]*opStats
	steps map[string]int64 // username -> the last TOTP time step used
}

// login signs user in with the password and, when the server asks for a
// second factor, a TOTP code of secret (the logins file's totp_secret). The
// server accepts each time step of an account once, so two sign-ins of one
// account (on two servers, say) in one 30-second step take codes of
// different steps, waiting for the next one when need be, and a refused
// code (a step another client used) is retried with the next.
func (c *benchClient) login(ctx context.Context, base, user, pw, secret string) (string, error) {
	var res struct {
		Token       string
		MFARequired bool   `json:"mfa_required"`
		MFAToken    string `json:"mfa_token"`
		MFAEnrol    bool   `json:"mfa_enrol"`
	}
	if !c.call(ctx, base, "POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw}, &res) {
		return "", errors.New("sign-in failed")
	}
	if !res.MFARequired {
		if res.Token == "" {
			return "", errors.New("sign-in failed")
		}
		return res.Token, nil
	}
	if secret == "" || res.MFAEnrol {
		return "", errors.New("the account signs in with a second factor, and the logins file has no totp_secret for it (made before TOTP? seed again)")
	}
	for range 3 {
		code, err := c.totpCode(ctx, user, secret)
		if err != nil {
			return "", err
		}
		var tok struct{ Token string }
		if c.call(ctx, base, "POST", "/api/v1/login/totp", "", map[string]string{"mfa_token": res.MFAToken, "code": code}, &tok) && tok.Token != "" {
			return tok.Token, nil
		}
	}
	return "", errors.New("sign-in failed at the second factor")
}

// totpCode returns a code of secret for a time step not used before by
// this client for user, waiting for the next step if the steps the server
// accepts now (one either side of the current one) are used.
func (c *benchClient) totpCode(ctx context.Context, user, secret string) (string, error) {
	for {
		cur := time.Now().Unix() / 30
		c.mu.Lock()
		if c.steps == nil {
			c.steps = map[string]int64{}
		}
		step := max(cur, c.steps[user]+1)
		ok := step <= cur+1
		if ok {
			c.steps[user] = step
		}
		c.mu.Unlock()
		if ok {
			code, err := totp.GenerateCode(secret, time.Unix(step*30, 0))
			if err != nil {
				return "", fmt.Errorf("the totp_secret of %s: %w", user, err)
			}
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Until(time.Unix((cur+1)*30, 0)) + 10*time.Millisecond):
		}
	}
}

// patients returns the signed-in therapist's patients in active care: the
// API answers with all of them at once (the list is not paged for
// therapists).
func (c *benchClient) patients(ctx context.Context, base, token string) ([]benchPatient, error) {
	var ps struct{ Patients []benchPatient }
	if !c.call(ctx, base, "GET", "/api/v1/patients", token, nil, &ps) {
		return nil, errors.New("listing patients failed")
	}
	return ps.Patients, nil
}

// call sends one request to the server at base and decodes a 2xx JSON
// answer into out.
func (c *benchClient) call(ctx context.Context, base, method, path, token string, body, out any) bool {
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		io.Copy(io.Discard, res.Body)
		return false
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out) == nil
	}
	io.Copy(io.Discard, res.Body)
	return true
}

// do times one operation; requests cut short by the end of the run are not
// counted.
func (c *benchClient) do(ctx context.Context, op, base, method, path, token string, body any, out ...any) bool {
	var dst any
	if len(out) > 0 {
		dst = out[0]
	}
	t0 := time.Now()
	ok := c.call(ctx, base, method, path, token, body, dst)
	d := time.Since(t0)
	if ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	s := c.stats[op]
	if s == nil {
		s = &opStats{}
		c.stats[op] = s
	}
	if ok {
		s.lat = append(s.lat, d)
	} else {
		s.errors++
	}
	c.mu.Unlock()
	return ok
}

type opResult struct {
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Errors    int     `json:"errors"`
	Count     int     `json:"count"`
	// ServerCPU is the servers' CPU time per request of this operation,
	// set only when it was the only operation of the run (--mix reads);
	// in a mixed run the CPU cannot be told apart by operation.
	ServerCPU float64 `json:"server_cpu_ms,omitempty"`
}

// benchResult is the report of a run (the --json output).
type benchResult struct {
	Operations map[string]opResult `json:"operations"`
	Seconds    float64             `json:"seconds"`
	Servers    []string            `json:"servers"`
	Mix        string              `json:"mix"`
	Spread     bool                `json:"spread"`
	WorkingSet workingSet          `json:"working_set"`
	// Requests is every request answered in the measured phase, failed
	// ones included (sign-ins before it are not).
	Requests int `json:"requests"`
	// ServerCPU is the CPU time of the --server-pid processes over the
	// measured phase; BenchCPU that of this process (the load generator).
	ServerCPU *cpuResult `json:"server_cpu,omitempty"`
	BenchCPU  *cpuResult `json:"bench_cpu,omitempty"`
}

// cpuResult is CPU time (user + system, all threads, garbage collection
// and background work such as checkpoints included) over the measured
// phase.
type cpuResult struct {
	PIDs         []int     `json:"pids,omitempty"`
	Seconds      float64   `json:"seconds"`                       // all processes together
	PerProcess   []float64 `json:"seconds_per_process,omitempty"` // in the order of PIDs
	MSPerRequest float64   `json:"ms_per_request"`
	// PerRequestOf says what a request is: "all operations, mixed" or the
	// one operation of the run.
	PerRequestOf string `json:"per_request_of"`
}

func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// result summarises the run. cpu0 and cpu1 are the samples of sampleCPU
// before and after it (the last entry this process), used when cpuOK.
func (c *benchClient) result(elapsed time.Duration, cpu0, cpu1 []procSample, cpuOK bool) benchResult {
	res := benchResult{Operations: map[string]opResult{}, Seconds: elapsed.Seconds()}
	for op, s := range c.stats {
		slices.Sort(s.lat)
		res.Operations[op] = opResult{
			PerSecond: float64(len(s.lat)) / elapsed.Seconds(), P50: quantile(s.lat, .50), P95: quantile(s.lat, .95),
			P99: quantile(s.lat, .99), Errors: s.errors, Count: len(s.lat),
		}
		res.Requests += len(s.lat) + s.errors
	}
	if !cpuOK || res.Requests == 0 {
		return res
	}
	of := "all operations, mixed"
	if len(res.Operations) == 1 {
		for op := range res.Operations {
			of = op
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(res.Requests) }
	n := len(cpu0) - 1
	self := cpu1[n].cpu - cpu0[n].cpu
	res.BenchCPU = &cpuResult{Seconds: self.Seconds(), MSPerRequest: per(self), PerRequestOf: of}
	if n == 0 {
		return res
	}
	var total time.Duration
	sc := &cpuResult{PerRequestOf: of}
	for k := range n {
		d := cpu1[k].cpu - cpu0[k].cpu
		total += d
		sc.PIDs = append(sc.PIDs, cpu0[k].pid)
		sc.PerProcess = append(sc.PerProcess, d.Seconds())
	}
	sc.Seconds, sc.MSPerRequest = total.Seconds(), per(total)
	res.ServerCPU = sc
	if len(res.Operations) == 1 {
		for op, r := range res.Operations {
			r.ServerCPU = sc.MSPerRequest
			res.Operations[op] = r
		}
	}
	return res
}

// write prints res as a table, or as JSON.
func (res benchResult) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	ops := make([]string, 0, len(res.Operations))
	for op := range res.Operations {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tper second\tp50 ms\tp95 ms\tp99 ms\terrors\t")
	for _, op := range ops {
		r := res.Operations[op]
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t\n", op, r.PerSecond, r.P50, r.P95, r.P99, r.Errors)
	}
	fmt.Fprintf(tw, "(%.1f s)\t\t\t\t\t\t\n", res.Seconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d requests; working set: %s; %d patients touched\n", res.Requests, res.WorkingSet, res.WorkingSet.PatientsTouched)
	if c := res.ServerCPU; c != nil {
		var each []string
		for k, pid := range c.PIDs {
			each = append(each, fmt.Sprintf("pid %d %.2f s", pid, c.PerProcess[k]))
		}
		fmt.Fprintf(w, "server CPU: %.3f ms per request (%s); %.2f s in all (%s)\n", c.MSPerRequest, c.PerRequestOf, c.Seconds, strings.Join(each, ", "))
	}
	if c := res.BenchCPU; c != nil {
		fmt.Fprintf(w, "load generator CPU: %.3f ms per request (%s); %.2f s in all\n", c.MSPerRequest, c.PerRequestOf, c.Seconds)
	}
	return nil
}

// procSample is a process's CPU time at one moment.
type procSample struct {
	pid     int
	cpu     time.Duration
	started uint64 // start time after boot, to tell a restarted process from the same one
}

// sampleCPU reads the CPU time of the processes pids and then of this one
// (the last sample).
func sampleCPU(pids []int) ([]procSample, error) {
	out := make([]procSample, 0, len(pids)+1)
	for _, pid := range append(slices.Clone(pids), os.Getpid()) {
		cpu, started, err := procCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", pid, err)
		}
		out = append(out, procSample{pid, cpu, started})
	}
	return out, nil
}

// sameProcesses checks that the samples a and b are of the same processes
// (none ended and was replaced by another of its id).
func sameProcesses(a, b []procSample) error {
	for k := range a {
		if a[k].started != b[k].started {
			return fmt.Errorf("process %d was restarted during the run", a[k].pid)
		}
	}
	return nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat (the kernel's
// USER_HZ): 100 on every architecture Go supports on Linux.
const userHZ = 100

// procCPU returns the CPU time (user + system, all threads; children not
// included) process pid has used and its start time, from /proc/PID/stat.
// Its resolution is 10 ms.
func procCPU(pid int) (cpu time.Duration, started uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(b)
}

// parseProcStat reads utime, stime and starttime (fields 14, 15 and 22)
// out of the contents of /proc/PID/stat.
func parseProcStat(b []byte) (cpu time.Duration, started uint64, err error) {
	// The second field is the command name in parentheses, which may
	// itself hold spaces and parentheses: the fields after it follow the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc stat: %d fields", len(f)+2)
	}
	var v [3]uint64
	for k, field := range []int{14, 15, 22} {
		if v[k], err = strconv.ParseUint(f[field-3], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc stat field %d: %w", field, err)
		}
	}
	return time.Duration(v[0]+v[1]) * (time.Second / userHZ), v[2], nil
}
