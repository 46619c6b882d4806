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
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// runBench drives a running server over HTTP as many simulated users and
// reports throughput and latency per operation. It is bounded in time and in
// requests and refuses targets other than loopback unless told otherwise.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench --url URL --logins FILE [--users N] [--duration D] [--mix realistic] [--json]", stderr)
	target := fs.String("url", "http://127.0.0.1:8080", "server to drive")
	logins := fs.String("logins", "", "sign-ins JSON: DATA/seed-logins.json (confidant seed) or the file of confidant demo --logins FILE (required)")
	users := fs.Int("users", 50, "concurrent simulated users")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	mix := fs.String("mix", "realistic", "operation mix: realistic (therapists, patients, security officers) or reads")
	asJSON := fs.Bool("json", false, "print results as JSON")
	maxReq := fs.Int("max-requests", 1_000_000, "stop after this many requests in all")
	remote := fs.Bool("allow-remote", false, "allow a target that is not on this machine's loopback interface")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *logins == "" {
		fs.Usage()
		return errUsage
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("--url must be an http(s) URL")
	}
	if !*remote && !isLoopback(u.Hostname()) {
		return fmt.Errorf("refusing to drive %s: not a loopback address (use --allow-remote for a server you run)", u.Hostname())
	}
	if *users < 1 || *users > 10_000 || *duration <= 0 || *duration > 24*time.Hour || *maxReq < 1 {
		return errors.New("--users must be 1..10000, --duration positive and at most 24h, --max-requests positive")
	}
	if *mix != "realistic" && *mix != "reads" {
		return errors.New("--mix must be realistic or reads")
	}
	var li struct {
		Therapist, Patient, Security struct{ Username, Password string }
	}
	b, err := os.ReadFile(*logins)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &li); err != nil {
		return fmt.Errorf("%s is not a logins file: %w", *logins, err)
	}
	bc := &benchClient{base: strings.TrimRight(u.String(), "/"), hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *users}}, stats: map[string]*opStats{}}
	ther, err := bc.login(ctx, li.Therapist.Username, li.Therapist.Password)
	if err != nil {
		return fmt.Errorf("therapist sign-in: %w", err)
	}
	pats, err := bc.patients(ctx, ther)
	if err != nil || len(pats) == 0 {
		return fmt.Errorf("the therapist has no patients to work with (%v)", err)
	}
	var pat, sec string
	if *mix == "realistic" {
		if pat, err = bc.login(ctx, li.Patient.Username, li.Patient.Password); err != nil {
			return fmt.Errorf("patient sign-in: %w", err)
		}
		if sec, err = bc.login(ctx, li.Security.Username, li.Security.Password); err != nil {
			return fmt.Errorf("security officer sign-in: %w", err)
		}
	}
	fmt.Fprintf(stderr, "driving %s with %d users for %s (%s mix)\n", bc.base, *users, *duration, *mix)
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
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for rctx.Err() == nil && take() {
				p := pats[rng.IntN(len(pats))]
				r := rng.IntN(100)
				switch {
				case *mix == "reads" || r < 55:
					bc.do(rctx, "chart_open", "GET", "/api/v1/patients/"+p.ID+"/chart", ther, nil)
				case r < 70:
					var n struct {
						ID string `json:"id"`
					}
					body := map[string]string{"template": "soap", "body": benchNote(rng)}
					if bc.do(rctx, "note_save", "POST", "/api/v1/patients/"+p.ID+"/notes", ther, body, &n) && n.ID != "" {
						bc.do(rctx, "note_sign", "POST", "/api/v1/notes/"+n.ID+"/sign", ther, nil)
					}
				case r < 80:
					bc.do(rctx, "search", "GET", "/api/v1/patients?q="+url.QueryEscape(p.Code), ther, nil)
				case r < 88:
					bc.do(rctx, "patient_record", "GET", "/api/v1/me/record", pat, nil)
				case r < 95:
					bc.do(rctx, "patient_access_log", "GET", "/api/v1/me/access-log?limit=50", pat, nil)
				default:
					bc.do(rctx, "audit_query", "GET", "/api/v1/audit/events?patient="+p.ID+"&limit=50", sec, nil)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return bc.report(stdout, elapsed, *asJSON)
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
	base  string
	hc    *http.Client
	mu    sync.Mutex
	stats map[string]*opStats
}

func (c *benchClient) login(ctx context.Context, user, pw string) (string, error) {
	var tok struct{ Token string }
	if !c.call(ctx, "POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw}, &tok) || tok.Token == "" {
		return "", errors.New("sign-in failed")
	}
	return tok.Token, nil
}

func (c *benchClient) patients(ctx context.Context, token string) ([]benchPatient, error) {
	var ps struct{ Patients []benchPatient }
	if !c.call(ctx, "GET", "/api/v1/patients", token, nil, &ps) {
		return nil, errors.New("listing patients failed")
	}
	return ps.Patients, nil
}

// call sends one request and decodes a 2xx JSON answer into out.
func (c *benchClient) call(ctx context.Context, method, path, token string, body, out any) bool {
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
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
func (c *benchClient) do(ctx context.Context, op, method, path, token string, body any, out ...any) bool {
	var dst any
	if len(out) > 0 {
		dst = out[0]
	}
	t0 := time.Now()
	ok := c.call(ctx, method, path, token, body, dst)
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
}

func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

func (c *benchClient) report(w io.Writer, elapsed time.Duration, asJSON bool) error {
	res := map[string]opResult{}
	for op, s := range c.stats {
		slices.Sort(s.lat)
		res[op] = opResult{
			PerSecond: float64(len(s.lat)) / elapsed.Seconds(), P50: quantile(s.lat, .50), P95: quantile(s.lat, .95),
			P99: quantile(s.lat, .99), Errors: s.errors, Count: len(s.lat),
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"operations": res, "seconds": elapsed.Seconds()})
	}
	ops := make([]string, 0, len(res))
	for op := range res {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tper second\tp50 ms\tp95 ms\tp99 ms\terrors\t")
	for _, op := range ops {
		r := res[op]
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t\n", op, r.PerSecond, r.P50, r.P95, r.P99, r.Errors)
	}
	fmt.Fprintf(tw, "(%.1f s)\t\t\t\t\t\t\n", elapsed.Seconds())
	return tw.Flush()
}
