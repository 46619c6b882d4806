package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// resolve parses configuration flags as a command would.
func resolve(t *testing.T, args ...string) Config {
	t.Helper()
	fs := newFlagSet("x", "", io.Discard)
	r := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := r()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKEKFailuresRefuseToStart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	pw := filepath.Join(dir, "pass")
	os.WriteFile(pw, []byte("pp-right-7f3a9c\n"), 0o600)
	if code, out, errOut := runCmd(t, "init", "--data", data, "--kek-passphrase-file", pw, "--org", "Oy", "--clinic", "Oulu"); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	kek := filepath.Join(dir, "data-keys", "kek.json")
	if fi, err := os.Stat(kek); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file: %v %v", fi, err)
	}
	ok := resolve(t, "--data", data, "--kek-passphrase-file", pw)
	a, err := openApp(t.Context(), ok, io.Discard, openOptions{})
	if err != nil {
		t.Fatalf("the right passphrase does not open: %v", err)
	}
	a.Close()

	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("pp-other-18be2d\n"), 0o600)
	other := filepath.Join(dir, "other-keys", "kek.json")
	if err := keys.CreateFile(other, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong passphrase", []string{"--kek-passphrase-file", wrong}, "passphrase"},
		{"no passphrase", nil, "passphrase"},
		{"missing key file", []string{"--kek-file", filepath.Join(dir, "nowhere", "kek.json")}, "key-encryption key"},
		{"another KEK", []string{"--kek-file", other}, "wrong key-encryption key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("serve: exit %d, %q (want %q)", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "pp-right") || strings.Contains(errOut, "pp-other") {
				t.Error("a passphrase reached the output")
			}
		})
	}
}

// TestKeysUnavailableAnswers503: when the keys become unavailable while the
// server runs (an HSM going away; here the keyring is closed), reads and
// writes of patient data answer 503 with no plaintext, and nothing is
// written.
func TestKeysUnavailableAnswers503(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "40", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", data)
	a, err := openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h, _, err := newHandler(cfg, a, newLogger(io.Discard, cfg.LogLevel), nil)
	if err != nil {
		t.Fatal(err)
	}
	var li struct {
		Therapist struct {
			Username, Password string
			TOTPSecret         string `json:"totp_secret"`
		}
	}
	b, _ := os.ReadFile(filepath.Join(data, demoLoginsFile))
	json.Unmarshal(b, &li)
	do := func(method, path, token string, body any) *httptest.ResponseRecorder {
		var r io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			r = bytes.NewReader(j)
		}
		req := httptest.NewRequest(method, path, r)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var mfa struct {
		MFAToken string `json:"mfa_token"`
	}
	json.Unmarshal(do("POST", "/api/v1/login", "", map[string]string{"username": li.Therapist.Username, "password": li.Therapist.Password}).Body.Bytes(), &mfa)
	var tok struct{ Token string }
	json.Unmarshal(do("POST", "/api/v1/login/totp", "", map[string]string{"mfa_token": mfa.MFAToken, "code": testfix.Code(t, li.Therapist.TOTPSecret)}).Body.Bytes(), &tok)
	var ps struct {
		Patients []struct {
			ID         string `json:"id"`
			FamilyName string `json:"family_name"`
		}
	}
	json.Unmarshal(do("GET", "/api/v1/patients", tok.Token, nil).Body.Bytes(), &ps)
	if len(ps.Patients) == 0 || ps.Patients[0].FamilyName == "" {
		t.Fatalf("no patients: %+v", ps)
	}
	p := ps.Patients[0]
	before := do("GET", "/api/v1/patients/"+p.ID+"/notes", tok.Token, nil)
	if before.Code != 200 {
		t.Fatalf("notes: %d", before.Code)
	}

	a.keys.Close() // the keys go away
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/patients/" + p.ID + "/chart"},
		{"GET", "/api/v1/patients/" + p.ID + "/notes"},
		{"POST", "/api/v1/patients/" + p.ID + "/notes"},
	} {
		rec := do(r.method, r.path, tok.Token, map[string]string{"body": "written while the keys are away"})
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"keyring_closed"`) {
			t.Errorf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), p.FamilyName) {
			t.Errorf("%s %s returned plaintext", r.method, r.path)
		}
	}
	// Nothing was written: with the keys back, the notes are as before.
	a2, err := openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	var notes []confidant.Note
	if err := a2.store.View(t.Context(), func(tx confidant.Tx) error {
		var err error
		notes, err = tx.ListNotes(t.Context(), p.ID, confidant.NoteFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var want struct{ Notes []json.RawMessage }
	json.Unmarshal(before.Body.Bytes(), &want)
	if len(notes) != len(want.Notes) {
		t.Errorf("notes after the outage: %d, before: %d", len(notes), len(want.Notes))
	}
}

// TestKeyCommands runs the key life cycle from the command line with the
// file provider: KEK rotation and retirement, patient key rotation,
// verification and erasure under the retention rule.
func TestKeyCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "40", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCmd(t, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	// The demo's 40 patients and its decoys (honeytokens), which are
	// patients like any other.
	patients := fmt.Sprint(40 + demo.DemoHoneytokens)
	if out := run("keys", "rotate-kek"); !strings.Contains(out, "Re-wrapped "+patients+" patient keysets") {
		t.Errorf("rotate-kek: %s", out)
	}
	if out := run("keys", "status"); !strings.Contains(out, "patient keysets: "+patients+", wrapped by an older KEK key: 0") {
		t.Errorf("status: %s", out)
	}
	if out := run("keys", "retire-kek"); !strings.Contains(out, "Retired 1 KEK keys") {
		t.Errorf("retire-kek: %s", out)
	}
	if out := run("keys", "verify"); !strings.Contains(out, "of "+patients+" patients decrypt and verify") {
		t.Errorf("verify: %s", out)
	}

	cfg := resolve(t, "--data", data)
	a, err := openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p confidant.Patient
	a.store.View(t.Context(), func(tx confidant.Tx) error {
		ps, err := tx.ListPatients(t.Context(), confidant.PatientFilter{Limit: 1})
		if err == nil && len(ps) == 1 {
			p = ps[0]
		}
		return err
	})
	a.Close()
	if p.ID == "" {
		t.Fatal("no patient")
	}
	if out := run("keys", "rotate-patient", "--patient", p.ID); !strings.Contains(out, "Rotated the key of patient") {
		t.Errorf("rotate-patient: %s", out)
	}
	run("keys", "verify")
	// The re-sealed records are pinned again (reseal events), so the
	// records check finds them as the log says.
	if out := run("audit", "verify", "--records"); !strings.Contains(out, "The records match the access log") {
		t.Errorf("audit verify --records after rotate-patient: %s", out)
	}

	// Each key operation is in the access log.
	a2, err := openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reseals, err := a2.log.Query(t.Context(), confidant.EventFilter{PatientID: p.ID, Limit: 1000})
	n := 0
	for _, e := range reseals {
		if strings.HasSuffix(e.Action, ".reseal") && e.RecordID != "" && e.Role == "operator" {
			n++
		}
	}
	if err != nil || n == 0 {
		t.Errorf("no reseal events for patient %s after rotate-patient: %v", p.ID, err)
	}
	for _, action := range []string{"key.rotate_kek", "key.retire_kek", "key.rotate_patient"} {
		evs, err := a2.log.Query(t.Context(), confidant.EventFilter{Action: action, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].Role != "operator" {
			t.Errorf("%s in the access log: %v %+v", action, err, evs)
		}
	}
	a2.Close()

	// Erasure waits for the retention period (120 years after birth by
	// default); with a shorter rule configured it proceeds.
	code, _, errOut := runCmd(t, "patient", "erase", "--patient", p.ID, "--data", data)
	if code != 1 || !strings.Contains(errOut, "retention period has not passed") {
		t.Fatalf("erase within retention: %d %s", code, errOut)
	}
	if out := run("patient", "erase", "--patient", p.ID, "--retention-years", "0"); !strings.Contains(out, "erased") {
		t.Errorf("erase: %s", out)
	}
	a, err = openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.store.View(t.Context(), func(tx confidant.Tx) error {
		got, err := tx.Patient(t.Context(), p.ID)
		if err != nil {
			return err
		}
		if !got.Erased() || got.FamilyName != "" {
			t.Errorf("after erasure: %+v", got)
		}
		if _, err := tx.ListNotes(t.Context(), p.ID, confidant.NoteFilter{}); confidant.CodeOf(err) != "patient_erased" {
			t.Errorf("notes of an erased patient: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
