package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
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

	code, out, errOut := runCmd(t, "bench", "--url", base, "--logins", logins, "--users", "8", "--duration", "2s", "--json")
	if err := stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
	if code != 0 {
		t.Fatalf("bench: %d %s", code, errOut)
	}
	var res struct {
		Operations map[string]struct {
			PerSecond float64 `json:"per_second"`
			P50       float64 `json:"p50_ms"`
			P99       float64 `json:"p99_ms"`
			Errors    int     `json:"errors"`
			Count     int     `json:"count"`
		}
	}
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
	}
}

func TestBenchRefusesRemoteTargets(t *testing.T) {
	code, _, errOut := runCmd(t, "bench", "--url", "http://192.0.2.10:8080", "--logins", "x.json", "--duration", "1s")
	if code != 1 || !strings.Contains(errOut, "not a loopback address") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
