package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/mail/mailtest"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/confidanthealth/confidant/internal/witness"
)

// The end-to-end proof of docs/INCIDENTS.md ("Proof: attack scenarios"):
// attacks replayed through the HTTP API of a real server over a seeded
// demo data set, each found by the detector, stored as an alert and
// delivered to every recipient (security officers, the DPO, the board
// contact by SMTP, a webhook with a verified signature).

// scenAlert is an alert as GET /api/v1/alerts answers it.
type scenAlert struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`
	Severity    string    `json:"severity"`
	ActorID     string    `json:"actor_id"`
	PatientIDs  []string  `json:"patient_ids"`
	Explanation string    `json:"explanation"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	CreatedAt   time.Time `json:"created_at"`
}

type scenPatient struct {
	ID           string `json:"id"`
	ClinicID     string `json:"clinic_id"`
	GivenName    string `json:"given_name"`
	FamilyName   string `json:"family_name"`
	IdentityCode string `json:"identity_code"`
	Address      string `json:"address"`
}

type scenUser struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"`
	ClinicIDs   []string `json:"clinic_ids"`
}

// call sends a JSON request with the bearer token and decodes a JSON answer
// into out (when not nil); it returns the status and the raw body.
func call(t *testing.T, base, token, method, path string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode, rb
}

func mustCall(t *testing.T, want int, base, token, method, path string, body, out any) {
	t.Helper()
	if code, rb := call(t, base, token, method, path, body, out); code != want {
		t.Fatalf("%s %s: %d, want %d: %.300s", method, path, code, want, rb)
	}
}

// scenRecipients are the recipients of the scenarios' alerts.
type scenRecipients struct {
	smtp    *mailtest.Server
	emails  []string // every address that must get each alert
	secret  string
	mu      sync.Mutex
	hooks   []map[string]any // verified webhook bodies
	badSigs int
}

func newScenRecipients(t *testing.T) *scenRecipients {
	r := &scenRecipients{smtp: mailtest.Start(t, "ops", "relay-password"), secret: "webhook-secret-0123456789"}
	return r
}

// webhook is the receiver: it verifies each request's signature on its own
// (HMAC-SHA256 over "<t>.<body>") and keeps the bodies that verify.
func (r *scenRecipients) webhook(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ts, sig string
		for _, part := range strings.Split(req.Header.Get("Confidant-Signature"), ",") {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sig = v
			}
		}
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		got, err := hex.DecodeString(sig)
		sec, terr := strconv.ParseInt(ts, 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil || terr != nil || !hmac.Equal(got, mac.Sum(nil)) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			r.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		r.hooks = append(r.hooks, m)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// delivered waits until the alert reached every e-mail address through the
// SMTP server and the webhook, with no patient name in any of them.
func (r *scenRecipients) delivered(t *testing.T, a scenAlert, names []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := r.missing(a, names, t)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert %s (%s) not delivered to %v", a.ID, a.Rule, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *scenRecipients) missing(a scenAlert, names []string, t *testing.T) []string {
	t.Helper()
	got := map[string]bool{}
	for _, m := range r.smtp.Messages() {
		// Undo quoted-printable soft line breaks before looking for the link.
		text := strings.ReplaceAll(strings.ReplaceAll(string(m.Data), "=\r\n", ""), "=3D", "=")
		if !strings.Contains(text, "/alerts/"+a.ID) {
			continue
		}
		for _, n := range names {
			if strings.Contains(text, n) {
				t.Fatalf("the mail of alert %s names a patient", a.ID)
			}
		}
		for _, to := range m.To {
			got[to] = true
		}
	}
	var miss []string
	for _, e := range r.emails {
		if !got[e] {
			miss = append(miss, e)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	hooked := false
	for _, h := range r.hooks {
		if h["type"] == "alert" && h["id"] == a.ID {
			hooked = true
			if h["rule"] != a.Rule || h["severity"] != a.Severity {
				t.Fatalf("webhook of alert %s: %v", a.ID, h)
			}
			b, _ := json.Marshal(h)
			for _, n := range names {
				if strings.Contains(string(b), n) {
					t.Fatalf("the webhook of alert %s names a patient", a.ID)
				}
			}
		}
	}
	if !hooked {
		miss = append(miss, "webhook")
	}
	return miss
}

// hooked reports whether the webhook received a verified alert of this
// rule and severity.
func (r *scenRecipients) hooked(rule, severity string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hooks {
		if h["type"] == "alert" && h["rule"] == rule && h["severity"] == severity {
			return true
		}
	}
	return false
}

// smtpFlags are the serve flags delivering through r's SMTP server.
func (r *scenRecipients) smtpFlags(t *testing.T) []string {
	pw := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pw, []byte("relay-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--smtp-url", "smtp://ops@" + r.smtp.Addr + "?from=confidant@clinic.example&tls=none",
		"--smtp-password-file", pw, "--public-url", "http://confidant.clinic.example", "--outbox-every", "100ms",
		"--webhook-allow-local=true"}
}

// setStaffEmails gives the demo's security officers and DPO e-mail
// addresses (the demo has none, and no API sets a staff member's e-mail:
// the operator's SQL, on the stopped server's database; users.email is not
// an authorization fact) and returns them.
func setStaffEmails(t *testing.T, dir string) []string {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE users SET email = replace(username, '.', '-') || '@clinic.example' WHERE role IN ('security', 'dpo')`); err != nil {
		t.Fatal(err)
	}
	rows, err := raw.Query(`SELECT email FROM users WHERE role IN ('security', 'dpo') ORDER BY email`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		rows.Scan(&e)
		out = append(out, e)
	}
	if len(out) < 3 {
		t.Fatalf("the demo has %d security officers and DPOs, want 3", len(out))
	}
	return out
}

// addRecipients configures the board contact (e-mail) and a webhook with
// the two-person flow: one proposes, another approves with a second-factor
// code.
func addRecipients(t *testing.T, base string, li demo.Logins, r *scenRecipients, hookURL string) {
	t.Helper()
	sec := apiLogin(t, base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	dpo := apiLogin(t, base, li.DPO.Username, li.DPO.Password, li.DPO.TOTPSecret)
	var board, hook struct{ ID, Status string }
	mustCall(t, 201, base, dpo, "POST", "/api/v1/recipients", map[string]string{"kind": "email", "label": "board", "address": "board@example.org"}, &board)
	mustCall(t, 201, base, sec, "POST", "/api/v1/recipients", map[string]string{"kind": "webhook", "label": "other", "url": hookURL, "secret": r.secret}, &hook)
	if code, _ := call(t, base, dpo, "POST", "/api/v1/recipients/changes/"+board.ID+"/approve", map[string]string{"code": testfix.Code(t, li.DPO.TOTPSecret)}, nil); code != 403 {
		t.Fatalf("the proposer approved their own change: %d", code)
	}
	mustCall(t, 200, base, sec, "POST", "/api/v1/recipients/changes/"+board.ID+"/approve", map[string]string{"code": testfix.Code(t, li.Security.TOTPSecret)}, &board)
	mustCall(t, 200, base, dpo, "POST", "/api/v1/recipients/changes/"+hook.ID+"/approve", map[string]string{"code": testfix.Code(t, li.DPO.TOTPSecret)}, &hook)
	if board.Status != "active" || hook.Status != "active" {
		t.Fatalf("recipients %s, %s", board.Status, hook.Status)
	}
	r.emails = append(r.emails, "board@example.org")
}

// alerts lists the alerts created at or after since.
func alerts(t *testing.T, base, token string, since time.Time) []scenAlert {
	t.Helper()
	var as struct{ Alerts []scenAlert }
	mustCall(t, 200, base, token, "GET", "/api/v1/alerts?limit=1000&since="+since.UTC().Format(time.RFC3339Nano), nil, &as)
	return as.Alerts
}

// waitAlert polls GET /api/v1/alerts until an alert matching ok appears.
func waitAlert(t *testing.T, base, token string, since time.Time, what string, ok func(scenAlert) bool) scenAlert {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, a := range alerts(t, base, token, since) {
			if ok(a) {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert %s: %+v", what, alerts(t, base, token, since))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noNames fails if the explanation names any of the patients.
func noNames(t *testing.T, a scenAlert, names []string) {
	t.Helper()
	for _, n := range names {
		if n != "" && strings.Contains(a.Explanation, n) {
			t.Errorf("alert %s (%s) names a patient in its explanation", a.ID, a.Rule)
		}
	}
}

// detectorCaughtUp waits until the detector's stored position is the end of
// the access log (read from the running server's SQLite file).
func detectorCaughtUp(t *testing.T, dir string) int64 {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var next, size int64
		raw.QueryRow(`SELECT coalesce(max(next_index), -1) FROM detector_state`).Scan(&next)
		raw.QueryRow(`SELECT coalesce(max(idx), -1) + 1 FROM audit_events`).Scan(&size)
		if next >= size && size > 0 {
			return size
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detector is at %d of %d events", next, size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScenarios replays, over a demo data set of 1,000 patients, a normal
// synthetic history and then four attacks through the API of a real
// server; each attack's alert is found with the right rule and severity,
// names no patient, is delivered to every recipient, and the stolen
// account's alert opens an incident with a frozen scope of exactly the
// charts it read.
func TestScenarios(t *testing.T) {
	dir, li := newDemo(t, 1000)
	rc := newScenRecipients(t)
	rc.emails = setStaffEmails(t, dir)
	hook := rc.webhook(t)
	cfg := resolve(t, append([]string{"--data", dir, "--log-level", "error", "--detect-every", "100ms"}, rc.smtpFlags(t)...)...)

	// Phase A: the seeded history goes through the detector (a normal
	// synthetic day, and months of them), and the organisation sets up
	// what the attacks need.
	base, stop := startServer(t, cfg, openOptions{})
	addRecipients(t, base, li, rc, hook.URL)
	sec := apiLogin(t, base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	mgr := apiLogin(t, base, li.Manager.Username, li.Manager.Password, li.Manager.TOTPSecret)
	var staff struct{ Staff []scenUser }
	mustCall(t, 200, base, sec, "GET", "/api/v1/staff", nil, &staff)
	users := map[string]scenUser{}
	for _, u := range staff.Staff {
		users[u.Username] = u
	}
	manager, thief, relative := users[li.Manager.Username], users[li.Therapists[1]], users[li.Therapists[2]]
	if manager.ID == "" || thief.ID == "" || relative.ID == "" {
		t.Fatal("the demo's manager or therapists are not listed")
	}
	var decoys struct {
		Honeytokens []struct {
			ID string `json:"id"`
		}
	}
	mustCall(t, 200, base, sec, "GET", "/api/v1/honeytokens", nil, &decoys)
	decoy := map[string]bool{}
	for _, h := range decoys.Honeytokens {
		decoy[h.ID] = true
	}
	// The manager's clinics' patients (the decoys left out).
	var patients []scenPatient
	names := []string{}
	for _, c := range manager.ClinicIDs {
		for off := 0; ; {
			var page struct {
				Patients   []scenPatient `json:"patients"`
				NextOffset int           `json:"next_offset"`
			}
			mustCall(t, 200, base, mgr, "GET", "/api/v1/patients?clinic="+c+"&limit=500&offset="+strconv.Itoa(off), nil, &page)
			for _, p := range page.Patients {
				names = append(names, p.GivenName+" "+p.FamilyName, p.FamilyName)
				if !decoy[p.ID] {
					patients = append(patients, p)
				}
			}
			if page.NextOffset == 0 {
				break
			}
			off = page.NextOffset
		}
	}
	if len(patients) < 304 {
		t.Fatalf("the manager's clinics have %d patients, want more than 303", len(patients))
	}
	// The stolen account: a therapist of the manager's clinics given care
	// of 300 of them (as a manager can: the care relationships are real).
	mustCall(t, 200, base, mgr, "PUT", "/api/v1/staff/"+thief.ID, map[string]any{"display_name": thief.DisplayName, "clinic_ids": manager.ClinicIDs, "disabled": false}, nil)
	var kin scenPatient
	for _, p := range patients {
		if slices.Contains(relative.ClinicIDs, p.ClinicID) {
			kin = p
			break
		}
	}
	if kin.ID == "" {
		t.Fatal("no patient in the relative's clinic")
	}
	// One more patient in their care (own) is the therapist's own work,
	// read before the theft.
	stolen := map[string]bool{}
	var own string
	for _, p := range patients {
		if own != "" {
			break
		}
		if p.ID == kin.ID {
			continue
		}
		if code, rb := call(t, base, mgr, "POST", "/api/v1/care", map[string]string{"patient_id": p.ID, "therapist_id": thief.ID}, nil); code != 201 && code != 409 {
			t.Fatalf("care: %d %s", code, rb)
		}
		if len(stolen) == 300 {
			own = p.ID
		} else {
			stolen[p.ID] = true
		}
	}
	// The relative: a therapist of the same clinic as one patient, renamed
	// (a marriage) to that patient's family name, given care of them.
	given := strings.Fields(relative.DisplayName)[0]
	mustCall(t, 200, base, mgr, "PUT", "/api/v1/staff/"+relative.ID, map[string]any{"display_name": given + " " + kin.FamilyName, "clinic_ids": relative.ClinicIDs, "disabled": false}, nil)
	if code, rb := call(t, base, mgr, "POST", "/api/v1/care", map[string]string{"patient_id": kin.ID, "therapist_id": relative.ID}, nil); code != 201 && code != 409 {
		t.Fatalf("care: %d %s", code, rb)
	}
	// A security officer places a new decoy in the manager's first clinic.
	var ht struct {
		ID         string `json:"id"`
		FamilyName string `json:"family_name"`
		GivenName  string `json:"given_name"`
	}
	mustCall(t, 201, base, sec, "POST", "/api/v1/honeytokens", map[string]string{"clinic_id": manager.ClinicIDs[0]}, &ht)
	names = append(names, ht.GivenName+" "+ht.FamilyName)
	// The housemate: a patient of the manager's clinics outside the above,
	// in the care of the demo's first therapist (given a clinic of the
	// manager's), who will turn out to live with them.
	home := users[li.Therapist.Username]
	var housemate scenPatient
	for _, p := range patients {
		if !stolen[p.ID] && p.ID != kin.ID && p.ID != own {
			mustCall(t, 200, base, mgr, "GET", "/api/v1/patients/"+p.ID, nil, &housemate)
			break
		}
	}
	if housemate.Address == "" {
		t.Fatal("no patient with an address is left for the housemate")
	}
	mustCall(t, 200, base, mgr, "PUT", "/api/v1/staff/"+home.ID, map[string]any{"display_name": home.DisplayName, "clinic_ids": []string{housemate.ClinicID}, "disabled": false}, nil)
	if code, rb := call(t, base, mgr, "POST", "/api/v1/care", map[string]string{"patient_id": housemate.ID, "therapist_id": home.ID}, nil); code != 201 && code != 409 {
		t.Fatalf("care: %d %s", code, rb)
	}
	names = append(names, housemate.GivenName+" "+housemate.FamilyName, housemate.Address)
	events := detectorCaughtUp(t, dir)
	phaseB := time.Now()

	// The normal history: no high or critical alert.
	counts := map[string]int{}
	for _, a := range alerts(t, base, sec, time.Time{}) {
		counts[a.Rule+"/"+a.Severity]++
		if a.Severity == "high" || a.Severity == "critical" {
			t.Errorf("the demo's normal history raised %s %s: %s", a.Severity, a.Rule, a.Explanation)
		}
	}
	t.Logf("the demo's history (%d events) raised: %v", events, counts)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A patient of the manager's clinics, neither read by the stolen
	// account nor the relative's, is also a member of staff: the operator
	// creates their account with their identity code (only its blind index
	// is stored).
	var mate scenPatient
	for _, p := range slices.Backward(patients) {
		if !stolen[p.ID] && p.ID != kin.ID && p.ID != housemate.ID && p.ID != own {
			mate = p
			break
		}
	}
	if code, _, errOut := runCmd(t, "user", "create", "--data", dir, "--log-level", "error", "--username", "colleague", "--name", "Colleague Staff",
		"--role", "therapist", "--clinic", mate.ClinicID, "--identity-code", mate.IdentityCode); code != 0 {
		t.Fatalf("user create --identity-code: %d %s", code, errOut)
	}
	// The demo's first therapist lives with one of their patients (not one
	// of the above): the operator gives the account that home address.
	if code, _, errOut := runCmd(t, "user", "set-close", "--data", dir, "--log-level", "error", "--address", housemate.Address, li.Therapist.Username); code != 0 {
		t.Fatalf("user set-close --address: %d %s", code, errOut)
	}

	// Phase B: the attacks, on a server started again (the detector's
	// caches of account names are rebuilt at start).
	base, _ = startServer(t, cfg, openOptions{})
	sec = apiLogin(t, base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	mgr = apiLogin(t, base, li.Manager.Username, li.Manager.Password, li.Manager.TOTPSecret)

	// The attack stays within one clock hour (the volume alerts' windows):
	// a start in an hour's last minute waits for the next.
	if next := time.Now().Truncate(time.Hour).Add(time.Hour); time.Until(next) < time.Minute {
		time.Sleep(time.Until(next) + time.Second)
	}
	// The therapist opens a chart of their own, as on any day (well before
	// the attack's start: the periods below are widened by a millisecond).
	mustCall(t, 200, base, apiLogin(t, base, thief.Username, li.Therapist.Password, li.Therapist.TOTPSecret), "GET", "/api/v1/patients/"+own+"/chart", nil, nil)
	time.Sleep(20 * time.Millisecond)

	// 1. A stolen therapist account reads 300 charts in an hour.
	start := time.Now().UTC()
	tok := apiLogin(t, base, thief.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	ids := make(chan string)
	var wg sync.WaitGroup
	var failed sync.Map
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				req, _ := http.NewRequest("GET", base+"/api/v1/patients/"+id+"/chart", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 200 {
					failed.Store(id, true)
				}
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		}()
	}
	for id := range stolen {
		ids <- id
	}
	close(ids)
	wg.Wait()
	failed.Range(func(k, _ any) bool { t.Errorf("chart %v not read", k); return true })
	read := time.Now().UTC()

	// 2. The manager looks up a colleague's record (the patient who is
	// also staff).
	mustCall(t, 200, base, mgr, "GET", "/api/v1/patients/"+mate.ID, nil, nil)

	// 2b. A therapist opens the chart of a patient living at their address.
	ttok := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	mustCall(t, 200, base, ttok, "GET", "/api/v1/patients/"+housemate.ID+"/chart", nil, nil)

	// 3. A relative with the same family name opens the patient's chart.
	rtok := apiLogin(t, base, relative.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	mustCall(t, 200, base, rtok, "GET", "/api/v1/patients/"+kin.ID+"/chart", nil, nil)

	// 4. The manager finds the decoy by name in the clinic and opens it.
	var found struct{ Patients []scenPatient }
	mustCall(t, 200, base, mgr, "POST", "/api/v1/patients/search", map[string]any{"clinic": manager.ClinicIDs[0], "name": ht.FamilyName}, &found)
	if !slices.ContainsFunc(found.Patients, func(p scenPatient) bool { return p.ID == ht.ID }) {
		t.Fatal("the decoy is not found by the clinic's search")
	}
	mustCall(t, 200, base, mgr, "GET", "/api/v1/patients/"+ht.ID, nil, nil)

	vol := waitAlert(t, base, sec, phaseB, "volume_hour of the stolen account", func(a scenAlert) bool {
		return a.Rule == "volume_hour" && a.ActorID == thief.ID
	})
	if vol.Severity != "medium" || len(vol.PatientIDs) != 41 {
		t.Errorf("volume_hour: %s, %d patients", vol.Severity, len(vol.PatientIDs))
	}
	kinA := waitAlert(t, base, sec, phaseB, "staff_close of the relative", func(a scenAlert) bool {
		return a.Rule == "staff_close" && a.ActorID == relative.ID && slices.Equal(a.PatientIDs, []string{kin.ID})
	})
	if kinA.Severity != "high" || !strings.Contains(kinA.Explanation, "same as the account holder's") {
		t.Errorf("staff_close: %s %q", kinA.Severity, kinA.Explanation)
	}
	mateA := waitAlert(t, base, sec, phaseB, "staff_close of the colleague", func(a scenAlert) bool {
		return a.Rule == "staff_close" && a.ActorID == manager.ID && slices.Equal(a.PatientIDs, []string{mate.ID})
	})
	if mateA.Severity != "high" || !strings.Contains(mateA.Explanation, "colleague's record") {
		t.Errorf("staff_close of a colleague: %s %q", mateA.Severity, mateA.Explanation)
	}
	homeA := waitAlert(t, base, sec, phaseB, "staff_close of the housemate", func(a scenAlert) bool {
		return a.Rule == "staff_close" && a.ActorID == home.ID && slices.Equal(a.PatientIDs, []string{housemate.ID})
	})
	if homeA.Severity != "high" || !strings.Contains(homeA.Explanation, "lives at the account holder's address") {
		t.Errorf("staff_close of a housemate: %s %q", homeA.Severity, homeA.Explanation)
	}
	honey := waitAlert(t, base, sec, phaseB, "honeytoken", func(a scenAlert) bool {
		return a.Rule == "honeytoken" && a.ActorID == manager.ID && slices.Contains(a.PatientIDs, ht.ID)
	})
	if honey.Severity != "critical" {
		t.Errorf("honeytoken: %s", honey.Severity)
	}
	for _, a := range []scenAlert{vol, mateA, homeA, kinA, honey} {
		noNames(t, a, names)
		rc.delivered(t, a, names)
	}
	rc.mu.Lock()
	if rc.badSigs != 0 {
		t.Errorf("%d webhook requests with a bad signature", rc.badSigs)
	}
	rc.mu.Unlock()
	attack := map[string]int{}
	// The stolen account's volume_hour alerts: one, or two when the attack
	// crossed the turn of a clock hour (the detector has followed the log
	// past the attack: the honeytoken's alert, raised after it, is there).
	var hourly []string
	from := vol.From
	for _, a := range alerts(t, base, sec, phaseB) {
		attack[a.Rule+"/"+a.Severity]++
		if a.Rule == "volume_hour" && a.ActorID == thief.ID {
			hourly = append(hourly, a.ID)
			if a.From.Before(from) {
				from = a.From
			}
		}
	}
	t.Logf("the attacks raised: %v", attack)

	// The incident: opened from the alerts by a security officer.
	var inc scenIncident
	mustCall(t, 201, base, sec, "POST", "/api/v1/incidents", map[string]any{"title": "Stolen therapist account", "alert_ids": hourly}, &inc)
	// Its frozen scope: every patient the account read from the start of
	// the alert's period until the incident was opened: the 300 charts of
	// the attack (the alert itself names the first 41, up to its crossing
	// of the limit), and whatever the account read before the attack in
	// the same clock hour (its own patient's chart and, in working hours,
	// the seeded day's traffic, which runs up to now), as the breach-scope
	// query answers for that period.
	want := maps.Clone(stolen)
	if from.Before(start) {
		var before struct {
			Patients []struct {
				PatientID string `json:"patient_id"`
			} `json:"patients"`
		}
		q := url.Values{"actor": {thief.ID}, "from": {from.Format(time.RFC3339Nano)}, "to": {start.Add(-time.Millisecond).Format(time.RFC3339Nano)}}
		mustCall(t, 200, base, sec, "GET", "/api/v1/audit/scope?"+q.Encode(), nil, &before)
		for _, p := range before.Patients {
			want[p.PatientID] = true
		}
		t.Logf("the stolen account read %d patients in the alert's hour before the attack", len(before.Patients))
	}
	all := slices.Sorted(maps.Keys(want))
	if got := slices.Sorted(slices.Values(inc.Scope.PatientIDs)); !slices.Equal(got, all) {
		t.Errorf("scope from the alert: %d patients, want the %d read", len(got), len(all))
	}
	for _, id := range vol.PatientIDs {
		if !slices.Contains(inc.Scope.PatientIDs, id) {
			t.Errorf("the scope lacks a patient the alert names")
		}
	}
	if inc.Scope.Checkpoint.Size == 0 || inc.Scope.Checkpoint.Root == "" || !strings.Contains(inc.Scope.Checkpoint.Note, "\n\n") {
		t.Errorf("scope without a signed checkpoint: %+v", inc.Scope.Checkpoint)
	}
	// A security officer rescopes to the attack's exact period: the same
	// 300, as the scope's second version.
	mustCall(t, 200, base, sec, "POST", "/api/v1/incidents/"+inc.ID+"/rescope", map[string]any{"account_ids": []string{thief.ID},
		"from": start.Add(-time.Millisecond).Format(time.RFC3339Nano), "to": read.Add(time.Second).Format(time.RFC3339Nano)}, nil)
	dpo := apiLogin(t, base, li.DPO.Username, li.DPO.Password, li.DPO.TOTPSecret)
	aware := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	if code, _ := call(t, base, sec, "POST", "/api/v1/incidents/"+inc.ID+"/awareness", map[string]string{"at": aware.Format(time.RFC3339)}, nil); code != 403 {
		t.Errorf("a security officer set awareness: %d", code)
	}
	mustCall(t, 200, base, dpo, "POST", "/api/v1/incidents/"+inc.ID+"/awareness", map[string]string{"at": aware.Format(time.RFC3339)}, nil)
	mustCall(t, 200, base, dpo, "GET", "/api/v1/incidents/"+inc.ID, nil, &inc)
	if inc.RegulatorDeadline == nil || !inc.RegulatorDeadline.Equal(aware.Add(72*time.Hour)) {
		t.Errorf("regulator deadline %v, want %v", inc.RegulatorDeadline, aware.Add(72*time.Hour))
	}
	got := slices.Sorted(slices.Values(inc.Scope.PatientIDs))
	if inc.Scope.Version != 2 || !slices.Equal(got, slices.Sorted(func(y func(string) bool) {
		for id := range stolen {
			if !y(id) {
				return
			}
		}
	})) {
		t.Errorf("rescoped scope: version %d, %d patients, want the 300 read", inc.Scope.Version, len(got))
	}
	if inc.Scope.Checkpoint.Size == 0 {
		t.Error("rescope without a checkpoint")
	}
	if code, rb := call(t, base, sec, "DELETE", "/api/v1/incidents/"+inc.ID, nil, nil); code != 403 || !strings.Contains(string(rb), "incidents_are_never_deleted") {
		t.Errorf("DELETE incident: %d %s", code, rb)
	}
	// The other attacks' incidents: each scope is exactly the patients
	// the alerts' accounts read from the first alert until the opening
	// (the manager: the colleague, then the decoy).
	for _, c := range []struct {
		title  string
		alerts []string
		want   []string
	}{
		{"A colleague's record and a decoy", []string{mateA.ID, honey.ID}, []string{mate.ID, ht.ID}},
		{"A relative's record", []string{kinA.ID}, []string{kin.ID}},
		{"A housemate's record", []string{homeA.ID}, []string{housemate.ID}},
	} {
		incidentAware(t, base, sec, dpo, map[string]any{"title": c.title, "alert_ids": c.alerts}, aware, c.want)
	}
}

// TestScenarioRollback: the database is restored from an older copy; the
// server refuses to start against the checkpoint published outside it, and
// the critical integrity alert is stored and delivered, to the security
// officers, the DPO, the board contact and the webhook, before it refuses.
func TestScenarioRollback(t *testing.T) {
	dir, li := newDemo(t, 10)
	rc := newScenRecipients(t)
	rc.emails = setStaffEmails(t, dir)
	hook := rc.webhook(t)
	cps := filepath.Join(t.TempDir(), "board")
	args := append([]string{"--data", dir, "--log-level", "error", "--detect-every", "100ms", "--checkpoint-dir", cps, "--checkpoint-every", "100ms"}, rc.smtpFlags(t)...)
	cfg := resolve(t, args...)
	base, stop := startServer(t, cfg, openOptions{})
	addRecipients(t, base, li, rc, hook.URL)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "confidant.db")
	old := t.TempDir()
	copyDB(t, db, filepath.Join(old, "confidant.db"))
	base, stop = startServer(t, cfg, openOptions{})
	lost := time.Now() // the accesses from here on are lost with the rollback
	tok := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	for _, p := range apiPatients(t, base, tok) {
		mustCall(t, 200, base, tok, "GET", "/api/v1/patients/"+p+"/chart", nil, nil)
	}
	time.Sleep(500 * time.Millisecond) // a checkpoint of the new events is published
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(db + s)
	}
	copyDB(t, filepath.Join(old, "confidant.db"), db)
	before := len(rc.smtp.Messages())
	code, _, errOut := runCmd(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	if code != 1 || !strings.Contains(errOut, "REFUSING TO SERVE") {
		t.Fatalf("serve after the rollback: %d %.300s", code, errOut)
	}
	got := map[string]bool{}
	for _, m := range rc.smtp.Messages()[before:] {
		if strings.Contains(string(m.Data), "integrity") {
			for _, to := range m.To {
				got[to] = true
			}
		}
	}
	for _, e := range rc.emails {
		if !got[e] {
			t.Errorf("the rollback's alert was not mailed to %s before the server refused", e)
		}
	}
	if !rc.hooked("integrity", "critical") {
		t.Error("the rollback's alert did not reach the webhook before the server refused")
	}
	rc.mu.Lock()
	if rc.badSigs != 0 {
		t.Errorf("%d webhook requests with a bad signature", rc.badSigs)
	}
	rc.mu.Unlock()

	// The operator decides the older copy is the one to go on with (as
	// after losing a disk; docs/OPERATIONS.md) and starts the server with
	// a new checkpoint directory; the stored rollback alert is opened as
	// an incident with the scope given by hand: the therapist over the
	// lost period. Its frozen scope is empty: the lost accesses are in no
	// log this database holds (they are known from the published
	// checkpoint, the witnesses and the delivered alert).
	cfg = resolve(t, append([]string{"--data", dir, "--log-level", "error", "--detect-every", "100ms", "--checkpoint-dir", t.TempDir()}, rc.smtpFlags(t)...)...)
	base, _ = startServer(t, cfg, openOptions{})
	sec := apiLogin(t, base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	var rb scenAlert
	for _, a := range alerts(t, base, sec, time.Time{}) {
		if a.Rule == "integrity" && a.Severity == "critical" && strings.Contains(a.Explanation, "older copy") {
			rb = a
		}
	}
	if rb.ID == "" {
		t.Fatal("the rollback's alert is not stored in the database the server refused")
	}
	dpo := apiLogin(t, base, li.DPO.Username, li.DPO.Password, li.DPO.TOTPSecret)
	incidentAware(t, base, sec, dpo, map[string]any{"title": "The database was restored from an older copy", "alert_ids": []string{rb.ID},
		"account_ids": []string{staffID(t, base, sec, li.Therapist.Username)}, "from": lost.UTC().Format(time.RFC3339Nano), "to": time.Now().UTC().Format(time.RFC3339Nano)},
		time.Now().UTC().Truncate(time.Second), nil)
}

// TestScenarioWitness: a witness that disagrees. Someone runs a copy of
// the database (a fork) and gets its own checkpoint to the witness first;
// the server's next checkpoint is refused by the witness, and the server
// raises a critical integrity alert, delivered to every recipient, while
// it goes on serving.
func TestScenarioWitness(t *testing.T) {
	dir, li := newDemo(t, 10)
	rc := newScenRecipients(t)
	rc.emails = setStaffEmails(t, dir)
	hook := rc.webhook(t)
	mail := rc.smtpFlags(t)
	base, stop := startServer(t, resolve(t, append([]string{"--data", dir, "--log-level", "error"}, mail...)...), openOptions{})
	addRecipients(t, base, li, rc, hook.URL)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The fork: a copy of the data directory, with events of its own.
	fork := t.TempDir()
	copyTree(t, dir, fork)
	copyTree(t, dir+"-keys", fork+"-keys") // the key-encryption key beside it
	forkCfg := resolve(t, "--data", fork, "--log-level", "error")
	fa, err := openApp(t.Context(), forkCfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	recordEvents(t, fa, 3)
	fcp, err := fa.log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: t.TempDir(), LogOrigin: forkCfg.LogOrigin, LogKey: fa.log.VerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	ws := httptest.NewServer(w)
	defer ws.Close()

	// The server starts (the witness takes its log as it is), and the
	// fork's checkpoint reaches the witness before the server's next one.
	cfg := resolve(t, append([]string{"--data", dir, "--log-level", "error", "--detect-every", "100ms", "--witnesses", ws.URL, "--checkpoint-every", "2s"}, mail...)...)
	base, _ = startServer(t, cfg, openOptions{})
	since := time.Now()
	if _, err := witness.NewClient(ws.URL, nil).Add(t.Context(), fcp, func(ctx context.Context, old uint64) ([][]byte, error) {
		return fa.log.ConsistencyProof(ctx, old, fcp.Size)
	}); err != nil {
		t.Fatalf("the witness refused the fork's checkpoint (the server's went first?): %v", err)
	}
	// The server goes on: its next checkpoint disagrees with the witness.
	tok := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	for _, p := range apiPatients(t, base, tok) {
		mustCall(t, 200, base, tok, "GET", "/api/v1/patients/"+p+"/chart", nil, nil)
	}
	sec := apiLogin(t, base, li.Security.Username, li.Security.Password, li.Security.TOTPSecret)
	a := waitAlert(t, base, sec, since, "integrity alert of the witness", func(a scenAlert) bool {
		return a.Rule == "integrity" && strings.Contains(a.Explanation, "witness refused")
	})
	if a.Severity != "critical" {
		t.Errorf("witness alert: %s", a.Severity)
	}
	rc.delivered(t, a, nil)
	if w.Size() != fcp.Size {
		t.Errorf("the witness moved from the fork's size %d to %d", fcp.Size, w.Size())
	}
	// Still serving.
	mustCall(t, 200, base, tok, "GET", "/api/v1/patients", nil, nil)
	// An incident from the alert: it names no account, so the security
	// officer gives the scope by hand (the therapist active since the
	// server started; what the fork read is in the fork's log, not this
	// one): exactly the charts read, frozen at a signed checkpoint, and the
	// clocks run from the DPO's awareness.
	if code, rb := call(t, base, sec, "POST", "/api/v1/incidents", map[string]any{"title": "A witness disagrees", "alert_ids": []string{a.ID}}, nil); code != 400 || !strings.Contains(string(rb), "alerts_without_scope") {
		t.Errorf("an incident from the witness alert alone: %d %s", code, rb)
	}
	dpo := apiLogin(t, base, li.DPO.Username, li.DPO.Password, li.DPO.TOTPSecret)
	incidentAware(t, base, sec, dpo, map[string]any{"title": "A witness disagrees: a fork of the database", "alert_ids": []string{a.ID},
		"account_ids": []string{staffID(t, base, sec, li.Therapist.Username)}, "from": since.Add(-time.Second).UTC().Format(time.RFC3339Nano), "to": time.Now().UTC().Format(time.RFC3339Nano)},
		time.Now().UTC().Truncate(time.Second), apiPatients(t, base, tok))
}

// scenIncident is an incident as GET /api/v1/incidents/{id} shows it.
type scenIncident struct {
	ID                string     `json:"id"`
	RegulatorDeadline *time.Time `json:"regulator_deadline"`
	Scope             struct {
		Version    int      `json:"version"`
		PatientIDs []string `json:"patient_ids"`
		Checkpoint struct {
			Size uint64 `json:"size"`
			Root string `json:"root"`
			Note string `json:"note"`
		} `json:"checkpoint"`
	} `json:"scope"`
	History []struct {
		Kind string `json:"kind"`
	} `json:"history"`
}

// incidentAware opens an incident (as sec, with body), sets its awareness
// as the DPO and checks the 72-hour deadline and a frozen scope at a
// checkpoint of exactly the patients want.
func incidentAware(t *testing.T, base, sec, dpo string, body map[string]any, aware time.Time, want []string) scenIncident {
	t.Helper()
	var inc scenIncident
	mustCall(t, 201, base, sec, "POST", "/api/v1/incidents", body, &inc)
	mustCall(t, 200, base, dpo, "POST", "/api/v1/incidents/"+inc.ID+"/awareness", map[string]string{"at": aware.Format(time.RFC3339)}, nil)
	mustCall(t, 200, base, dpo, "GET", "/api/v1/incidents/"+inc.ID, nil, &inc)
	if inc.RegulatorDeadline == nil || !inc.RegulatorDeadline.Equal(aware.Add(72*time.Hour)) {
		t.Errorf("%s: regulator deadline %v, want %v", body["title"], inc.RegulatorDeadline, aware.Add(72*time.Hour))
	}
	got := slices.Sorted(slices.Values(inc.Scope.PatientIDs))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) || inc.Scope.Checkpoint.Size == 0 {
		t.Errorf("%s: scope of %d patients at checkpoint %d, want the %d read", body["title"], len(got), inc.Scope.Checkpoint.Size, len(want))
	}
	return inc
}

// staffID is the id of the staff account with this username.
func staffID(t *testing.T, base, tok, username string) string {
	t.Helper()
	var staff struct{ Staff []scenUser }
	mustCall(t, 200, base, tok, "GET", "/api/v1/staff", nil, &staff)
	for _, u := range staff.Staff {
		if u.Username == username {
			return u.ID
		}
	}
	t.Fatalf("no staff account %s", username)
	return ""
}

// copyDB copies a stopped SQLite database with its write-ahead log, if any.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	copyFile(t, from, to)
	if _, err := os.Stat(from + "-wal"); err == nil {
		copyFile(t, from+"-wal", to+"-wal")
	}
}

// copyTree copies the regular files under from (a stopped server's data
// directory) to to, but not SQLite's shared-memory index.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		case d.Type().IsRegular() && !strings.HasSuffix(p, "-shm"):
			copyFile(t, p, filepath.Join(to, rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
