//go:build baseline

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// seedArgs seeds a small deterministic data set into data.
func seedArgs(data string, extra ...string) []string {
	return append([]string{"seed", "--data", data, "--patients", "12", "--notes-per-patient", "3",
		"--events-per-patient", "20", "--seed", "7", "--now", "2026-03-01", "--batch", "5", "--staff", "12", "--clinics", "3"}, extra...)
}

// sealedPatients returns the stored (sealed) patient rows of a data
// directory, read without keys.
func sealedPatients(t *testing.T, data string) (map[string]confidant.SealedPatient, uint64) {
	t.Helper()
	be, _, err := openPlainBackend(t.Context(), resolve(t, "--data", data))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	out := map[string]confidant.SealedPatient{}
	var size uint64
	err = be.View(t.Context(), func(tx confidant.SealedTx) error {
		ps, err := tx.ListPatients(t.Context(), confidant.SealedPatientFilter{})
		for _, p := range ps {
			out[p.ID] = p
		}
		if err != nil {
			return err
		}
		size, err = tx.LogSize(t.Context())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, size
}

// The baseline seeds the same data as the product (same ids, same sizes of
// stored values, same sign-in names), in plain text and without an access
// log, and marks it.
func TestPlainBaselineSeed(t *testing.T) {
	plain, secure := t.TempDir(), t.TempDir()
	code, out, errOut := runCmd(t, seedArgs(plain, "--insecure-plain-baseline")...)
	if code != 0 || !strings.Contains(out, "INSECURE PLAIN BASELINE") || !strings.Contains(out, "Seeded patients 1-12 of 12") {
		t.Fatalf("plain seed: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, seedArgs(secure)...); code != 0 || strings.Contains(out, "INSECURE") {
		t.Fatalf("secure seed: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(plain, plainMarkerFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(secure, plainMarkerFile)); err == nil {
		t.Fatal("the product's data directory carries the baseline's mark")
	}
	pp, plainLog := sealedPatients(t, plain)
	sp, secureLog := sealedPatients(t, secure)
	if len(pp) != 12 || len(sp) != 12 {
		t.Fatalf("%d and %d patients", len(pp), len(sp))
	}
	for id, s := range sp {
		p, ok := pp[id]
		if !ok {
			t.Fatalf("patient %s of the product's seed is not in the baseline's", id)
		}
		if len(p.Data) != len(s.Data) || len(p.IdentityIndex) != len(s.IdentityIndex) || len(p.SurnameIndex) != len(s.SurnameIndex) {
			t.Errorf("patient %s: stored sizes differ: %d/%d bytes", id, len(p.Data), len(s.Data))
		}
		if !bytes.Contains(p.Data, []byte(`"c":"`)) || bytes.Contains(s.Data, []byte(`"c":"`)) {
			t.Errorf("patient %s: expected plain text in the baseline only", id)
		}
	}
	if plainLog != 0 || secureLog == 0 {
		t.Errorf("access-log sizes: baseline %d, product %d", plainLog, secureLog)
	}
	var lp, ls demo2
	readJSON(t, filepath.Join(plain, seedLoginsFile), &lp)
	readJSON(t, filepath.Join(secure, seedLoginsFile), &ls)
	if lp.Therapist.Username == "" || lp.Therapist.Username != ls.Therapist.Username || lp.Patient.Username != ls.Patient.Username ||
		lp.Security.Username != ls.Security.Username {
		t.Errorf("sign-ins differ: %+v vs %+v", lp, ls)
	}
	// Resuming works as in the product.
	if code, out, _ := runCmd(t, seedArgs(plain, "--insecure-plain-baseline")...); code != 0 || !strings.Contains(out, "already in the database") {
		t.Errorf("rerun: %d %s", code, out)
	}

	// Neither opens the other's data.
	if _, err := openApp(t.Context(), resolve(t, "--data", plain), io.Discard, openOptions{}); !errors.Is(err, errPlainData) {
		t.Errorf("product on the baseline's data: %v", err)
	}
	os.Rename(filepath.Join(plain, plainMarkerFile), filepath.Join(plain, "moved"))
	if _, err := openApp(t.Context(), resolve(t, "--data", plain), io.Discard, openOptions{createKEK: true}); !errors.Is(err, errPlainData) {
		t.Errorf("product on the baseline's database without the marker file: %v", err)
	}
	for _, create := range []bool{false, true} {
		if _, err := openApp(t.Context(), resolve(t, "--data", plain), io.Discard, openOptions{plainBaseline: true, createKEK: create}); err == nil ||
			!strings.Contains(err.Error(), "was not created by the insecure plain baseline") {
			t.Errorf("baseline (create %v) on its database without the marker file: %v", create, err)
		}
	}
	os.Rename(filepath.Join(plain, "moved"), filepath.Join(plain, plainMarkerFile))
	for _, args := range [][]string{
		seedArgs(secure, "--insecure-plain-baseline"),
		{"serve", "--insecure-plain-baseline", "--data", secure, "--addr", "127.0.0.1:0"},
		{"serve", "--insecure-plain-baseline", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, // nothing seeded
	} {
		if code, _, errOut := runCmd(t, args...); code != 1 || !strings.Contains(errOut, "was not created by the insecure plain baseline") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	// A marker file does not make the product's database the baseline's.
	os.WriteFile(filepath.Join(secure, plainMarkerFile), []byte("x"), 0o600)
	if _, err := openApp(t.Context(), resolve(t, "--data", secure), io.Discard, openOptions{plainBaseline: true, createKEK: true}); err == nil ||
		!strings.Contains(err.Error(), "was not created by the insecure plain baseline") {
		t.Errorf("baseline on the product's database with a marker file: %v", err)
	}
	os.Remove(filepath.Join(secure, plainMarkerFile))
	if _, err := openApp(t.Context(), resolve(t, "--data", plain, "--checkpoint-dir", t.TempDir()), io.Discard, openOptions{plainBaseline: true}); err == nil {
		t.Error("baseline with a checkpoint directory")
	}
}

type demo2 struct {
	Therapist, Patient, Security struct {
		Username, Password string
		TOTPSecret         string `json:"totp_secret"`
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// The baseline serves on loopback only, and the bench workload runs
// against it without errors, with empty access histories.
func TestPlainBaselineServe(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := runCmd(t, seedArgs(data, "--insecure-plain-baseline")...); code != 0 {
		t.Fatalf("seed: %s %s", out, errOut)
	}
	code, _, errOut := runCmd(t, "serve", "--insecure-plain-baseline", "--data", data, "--addr", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, "INSECURE PLAIN BASELINE") || !strings.Contains(errOut, "listens on loopback only") {
		t.Fatalf("serve on 0.0.0.0: exit %d, %s", code, errOut)
	}
	cfg := resolve(t, "--data", data, "--log-level", "error")
	base, stop := startServer(t, cfg, openOptions{plainBaseline: true})
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	var li demo2
	readJSON(t, filepath.Join(data, seedLoginsFile), &li)
	login := func(user, pw, secret string) string {
		t.Helper()
		tok, _ := testfix.APISignIn(t, nil, base, user, pw, secret)
		return tok
	}
	get := func(tok, path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	ther := login(li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	var pats struct{ Patients []struct{ ID string } }
	get(ther, "/api/v1/patients", &pats)
	if len(pats.Patients) == 0 {
		t.Fatal("the therapist has no patients")
	}
	var chart map[string]any
	get(ther, "/api/v1/patients/"+pats.Patients[0].ID+"/chart", &chart)
	pat := login(li.Patient.Username, li.Patient.Password, "")
	var hist map[string]json.RawMessage
	get(pat, "/api/v1/me/access-log?limit=50", &hist)
	for k, v := range hist {
		if s := string(v); s != "[]" && s != "null" && k != "next_before" {
			t.Errorf("access history %s: %s", k, s)
		}
	}

	logins := filepath.Join(t.TempDir(), "logins.json")
	b, _ := json.Marshal(li)
	os.WriteFile(logins, b, 0o600)
	code, out, errOut := runCmd(t, "bench", "--url", base, "--logins", logins, "--users", "4", "--duration", "2s", "--json")
	if code != 0 {
		t.Fatalf("bench: %d %s", code, errOut)
	}
	var res struct {
		Operations map[string]struct{ Errors, Count int }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	for op, r := range res.Operations {
		if r.Errors > 0 {
			t.Errorf("%s: %d errors", op, r.Errors)
		}
	}
	if res.Operations["chart_open"].Count == 0 {
		t.Errorf("no chart opened: %s", out)
	}
}

// demo --fresh with the baseline deletes only the baseline's own data: over
// the product's data it refuses and leaves the database in place.
func TestPlainBaselineDemoFreshKeepsProductData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "5", "--no-serve"); code != 0 {
		t.Fatalf("demo: %s", errOut)
	}
	code, _, errOut := runCmd(t, "demo", "--insecure-plain-baseline", "--fresh", "--data", data, "--patients", "5", "--no-serve")
	if code == 0 || !strings.Contains(errOut, "refuses to delete") {
		t.Fatalf("plain demo --fresh over the product's data: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "confidant.db")); err != nil {
		t.Fatalf("the product's database is gone: %v", err)
	}
	// Its own data it may renew.
	plain := filepath.Join(t.TempDir(), "plain")
	for range 2 {
		if code, _, errOut := runCmd(t, "demo", "--insecure-plain-baseline", "--fresh", "--data", plain, "--patients", "5", "--no-serve"); code != 0 {
			t.Fatalf("plain demo --fresh over its own data: %s", errOut)
		}
	}
}
