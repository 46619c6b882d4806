package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/demo"
	_ "github.com/confidanthealth/confidant/internal/sqlite" // the sqlite3 driver
)

// TestForgedFactsAfterRestart is the acceptance check of the
// authorization facts (docs/SECURITY.md): a database writer edits the
// SQLite database of a stopped demo server (a care row for a therapist
// with no care, a manager's role changed to security), starts it again,
// and the forged facts give no access.
func TestForgedFactsAfterRestart(t *testing.T) {
	dir, li := newDemo(t, 30)
	fs := newFlagSet("serve", "", io.Discard)
	resolve := configFlags(fs)
	fs.Parse([]string{"--data", dir, "--log-level", "error"})
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	get := func(base, token, path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	base, stop := startServer(t, cfg, openOptions{})
	therapist := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	manager := apiLogin(t, base, li.Manager.Username, li.Manager.Password, li.Manager.TOTPSecret)
	if code := get(base, manager, "/api/v1/audit/events"); code != http.StatusForbidden {
		t.Fatalf("manager's access-log query before the forgery: %d, want 403", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// The attacker's SQL, against the stopped server's database.
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	var therapistID, patientID, clinicID string
	if err := raw.QueryRow(`SELECT id FROM users WHERE username = ?`, li.Therapist.Username).Scan(&therapistID); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT p.id, p.clinic_id FROM patients p
		WHERE p.id NOT IN (SELECT patient_id FROM care WHERE therapist_id = ?) LIMIT 1`, therapistID).Scan(&patientID, &clinicID); err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().Add(-time.Hour).UnixMicro()
	if _, err := raw.Exec(`INSERT INTO care (id, patient_id, therapist_id, clinic_id, from_at, created_by, created_at, ended_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, '')`, confidant.NewID(), patientID, therapistID, clinicID, hourAgo, therapistID, hourAgo); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE users SET role = 'security' WHERE username = ?`, li.Manager.Username); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	base, _ = startServer(t, cfg, openOptions{})
	if code := get(base, therapist, "/api/v1/patients/"+patientID+"/chart"); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("chart through a forged care row: %d, want 404 or 403", code)
	}
	if code := get(base, manager, "/api/v1/audit/events"); code == http.StatusOK {
		t.Errorf("access-log query of the manager made security by SQL: %d", code)
	}
	if code := get(base, therapist, "/api/v1/patients"); code != http.StatusOK {
		t.Errorf("therapist's own patients after the forgery: %d, want 200", code)
	}
}

// TestFactsBackfillOnUpgrade: a database from before the fact MACs (the
// columns dropped and the migration unrecorded, as before the upgrade)
// gets its MACs once, when the server that applies the migration starts,
// and its accounts and care relationships work as before.
func TestFactsBackfillOnUpgrade(t *testing.T) {
	dir, li := newDemo(t, 20)
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	addressIndexes := func() map[string]string {
		t.Helper()
		rows, err := raw.Query(`SELECT id, address_index FROM patients`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var id string
			var ix []byte
			if err := rows.Scan(&id, &ix); err != nil {
				t.Fatal(err)
			}
			m[id] = string(ix)
		}
		return m
	}
	written := addressIndexes() // as the demo wrote its patients
	for _, q := range []string{
		`ALTER TABLE users DROP COLUMN fact_mac`,
		`ALTER TABLE care DROP COLUMN fact_mac`,
		`ALTER TABLE break_glass DROP COLUMN fact_mac`,
		// The migrations from 0011_fact_mac on run again, as on the
		// upgrade: what the later ones create must be undone here too
		// (0012_dpo_role rebuilds users and needs nothing undone).
		`DROP TABLE alerts`,         // 0013_alerts
		`DROP TABLE honeytokens`,    // 0013_alerts
		`DROP TABLE detector_state`, // 0014_detector
		// 0016_incidents:
		`DROP TRIGGER incident_letters_no_delete`,
		`DROP TRIGGER incident_history_no_update`,
		`DROP TRIGGER incident_history_no_delete`,
		`DROP TRIGGER incidents_no_delete`,
		`DROP TABLE incident_letters`,
		`DROP TABLE incident_history`,
		`DROP TABLE incidents`,
		`DROP TABLE recipients`, // 0015_delivery
		`DROP TABLE outbox`,
		// 0017_address_index (users.address_index goes with 0012's
		// rebuild of users, as identity_index does):
		`ALTER TABLE patients DROP COLUMN address_index`,
		`DROP TABLE address_index_pending`,
		`DELETE FROM schema_migrations WHERE version >= 11`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	fs := newFlagSet("serve", "", io.Discard)
	resolve := configFlags(fs)
	fs.Parse([]string{"--data", dir, "--log-level", "error"})
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startServer(t, cfg, openOptions{})
	// The patients written before the address index got theirs on the
	// start that applied the migration: the same as when written.
	backfilled := addressIndexes()
	raw.Close()
	nonEmpty := 0
	for id, ix := range written {
		if backfilled[id] != ix {
			t.Errorf("patient %s: address index %x after the upgrade, %x as written", id, backfilled[id], ix)
		}
		if ix != "" {
			nonEmpty++
		}
	}
	if nonEmpty == 0 || len(backfilled) != len(written) {
		t.Errorf("%d of %d patients had an address index as written; %d after", nonEmpty, len(written), len(backfilled))
	}
	token := apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
	req, _ := http.NewRequest("GET", base+"/api/v1/patients", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pats struct{ Patients []struct{ ID string } }
	err = json.NewDecoder(resp.Body).Decode(&pats)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(pats.Patients) == 0 {
		t.Fatalf("therapist's patients after the upgrade: %d %v, %d patients", resp.StatusCode, err, len(pats.Patients))
	}
	req, _ = http.NewRequest("GET", base+"/api/v1/patients/"+pats.Patients[0].ID+"/chart", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("chart in care after the upgrade: %d, want 200", resp.StatusCode)
	}
}

// newDemo runs `confidant demo --no-serve` with n patients in a new data
// directory and returns it with the demo's sign-ins.
func newDemo(t *testing.T, n int) (string, demo.Logins) {
	t.Helper()
	dir := t.TempDir()
	logins := filepath.Join(dir, "logins.json")
	if code, out, errOut := runCmd(t, "demo", "--data", dir, "--patients", strconv.Itoa(n), "--logins", logins, "--no-serve"); code != 0 {
		t.Fatalf("demo: %d %s %s", code, out, errOut)
	}
	return dir, readLogins(t, logins)
}
