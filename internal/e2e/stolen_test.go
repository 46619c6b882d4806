package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/api"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// secrets are the values a thief must not find: names, identity codes,
// contact details and clinical text, each unique to this run.
type secrets struct{ values []string }

func (s *secrets) add(v string) string { s.values = append(s.values, v); return v }

// marker returns a unique, recognisable string.
func (s *secrets) marker(kind string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return s.add(fmt.Sprintf("%s-%x", kind, b))
}

// randomCode returns a valid identity code with a random birth date.
func randomCode(t *testing.T) string {
	t.Helper()
	days, _ := rand.Int(rand.Reader, big.NewInt(365*60))
	ind, _ := rand.Int(rand.Reader, big.NewInt(98))
	c, err := confidant.MakeIdentityCode(time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days.Int64())), 900+int(ind.Int64())+2)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// forms returns the byte patterns under which v could appear: as is, lower
// and upper hex, and base64 (standard and URL alphabets) at each of the
// three alignments, keeping only the characters that do not depend on the
// neighbouring bytes.
func forms(v string) [][]byte {
	out := [][]byte{[]byte(v), []byte(strings.ToLower(v)), []byte(hex.EncodeToString([]byte(v))), []byte(strings.ToUpper(hex.EncodeToString([]byte(v))))}
	for shift := range 3 {
		src := append(bytes.Repeat([]byte{0}, shift), v...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := enc.EncodeToString(src)
			s = strings.TrimRight(s, "=")
			if len(s) > 8 {
				out = append(out, []byte(s[4:len(s)-4]))
			}
		}
	}
	return out
}

// scan reports every secret found in data, naming the form.
func scan(data []byte, s *secrets) []string {
	var found []string
	for _, v := range s.values {
		for i, f := range forms(v) {
			if len(f) >= 6 && bytes.Contains(data, f) {
				found = append(found, fmt.Sprintf("%q (form %d)", v, i))
			}
		}
	}
	return found
}

// client drives the JSON API in-process.
type client struct {
	t     *testing.T
	h     http.Handler
	token string
}

// upload is a file sent as the request body, its name in a
// Content-Disposition header (never in the URL).
type upload struct {
	name string
	data []byte
}

func (c *client) call(method, path string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	ctype := "application/json"
	var disposition string
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/octet-stream"
	case upload:
		r, ctype = bytes.NewReader(b.data), "application/octet-stream"
		disposition = mime.FormatMediaType("attachment", map[string]string{"filename": b.name})
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if disposition != "" {
		req.Header.Set("Content-Disposition", disposition)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return rec.Code
}

// login signs u in through the API, with the second factor.
func (c *client) login(w *testfix.World, u confidant.User) string {
	c.t.Helper()
	var mfa struct {
		MFAToken string `json:"mfa_token"`
	}
	c.call("POST", "/api/v1/login", map[string]string{"username": u.Username, "password": testfix.Password}, &mfa)
	var login struct{ Token string }
	c.call("POST", "/api/v1/login/totp", map[string]string{"mfa_token": mfa.MFAToken, "code": testfix.Code(c.t, w.TOTPSecret(u))}, &login)
	if login.Token == "" {
		c.t.Fatalf("sign in %s: no token", u.Username)
	}
	return login.Token
}

// populate writes, through the API, patients and records full of secrets,
// and checks that the API gives them back (so they were stored, not lost).
func populate(t *testing.T, w *testfix.World, h http.Handler, s *secrets) {
	c := &client{t: t, h: h}
	c.token = c.login(w, w.Therapist)
	// The staff's TOTP secrets, raw and in base32, are sealed too.
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.Security} {
		raw, err := testfix.FromB32(w.TOTPSecret(u))
		if err != nil {
			t.Fatal(err)
		}
		s.add(w.TOTPSecret(u))
		s.add(string(raw))
	}
	for _, p := range []confidant.Patient{w.PatientA, w.PatientB, w.PatientC} {
		s.add(p.FamilyName)
		s.add(p.IdentityCode)
	}
	// Failed sign-ins from one client address, one with a username no
	// account has (a mistyped password, perhaps): throttling counts them
	// under keyed hashes, never the address or the username in the clear.
	addr := s.add("203.0.113.171")
	for _, name := range []string{"therapist", s.marker("typo")} {
		b, _ := json.Marshal(map[string]string{"username": name, "password": s.marker("wrongpw")})
		req := httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = addr + ":4444"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d %s", rec.Code, rec.Body)
		}
	}
	for i := range 5 {
		var p struct{ ID string }
		c.call("POST", "/api/v1/patients", map[string]string{
			"given_name":    s.marker("Given"),
			"family_name":   s.marker("Family"),
			"identity_code": s.add(randomCode(t)),
			"phone":         s.add(fmt.Sprintf("+358 40 %07d", 1000000+i*7919)),
			"email":         s.marker("mail") + "@example.invalid",
			"address":       s.marker("Street") + " 5 B 12",
		}, &p)
		var n struct{ ID string }
		c.call("POST", "/api/v1/patients/"+p.ID+"/notes", map[string]string{"template": "soap", "body": "Subjective: " + s.marker("note")}, &n)
		c.call("POST", "/api/v1/notes/"+n.ID+"/sign", nil, nil)
		c.call("POST", "/api/v1/notes/"+n.ID+"/amend", map[string]string{"body": s.marker("amended"), "reason": s.marker("reason")}, nil)
		c.call("POST", "/api/v1/notes/"+n.ID+"/release", nil, nil)
		c.call("POST", "/api/v1/patients/"+p.ID+"/process-notes", map[string]string{"body": s.marker("process")}, nil)
		c.call("POST", "/api/v1/patients/"+p.ID+"/diagnoses", map[string]string{"code": "F41.1", "note": s.marker("diagnosis")}, nil)
		c.call("POST", "/api/v1/patients/"+p.ID+"/plans", map[string]string{"goals": s.marker("goals"), "interventions": s.marker("interventions")}, nil)
		c.call("POST", "/api/v1/patients/"+p.ID+"/measures", map[string]any{"instrument": "phq9", "answers": []int{1, 2, 3, 0, 1, 2, 3, 0, 1}}, nil)
		c.call("POST", "/api/v1/patients/"+p.ID+"/attachments", upload{s.marker("file") + ".txt", []byte("attachment text " + s.marker("attachment"))}, nil)
		// The API returns the secrets: they were stored and decrypt.
		var chart map[string]any
		c.call("GET", "/api/v1/patients/"+p.ID+"/chart", nil, &chart)
		body, _ := json.Marshal(chart)
		for _, v := range s.values[len(s.values)-15 : len(s.values)-1] { // all but the attachment's content
			if !bytes.Contains(body, []byte(v)) {
				t.Fatalf("the chart does not return a stored value")
			}
		}
	}

	// Break-the-glass: the reason and the reviewer's comment are sealed
	// (in the grant under the patient's key, in the events' purposes
	// under the audit key).
	bg := &client{t: t, h: h}
	bg.token = bg.login(w, w.OtherTherapist)
	reason := s.marker("breakglass") + " crisis call"
	bg.call("POST", "/api/v1/patients/"+w.PatientC.ID+"/break-glass", map[string]string{
		"category": "risk_to_life", "reason": reason, "code": testfix.Code(t, w.TOTPSecret(w.OtherTherapist)),
	}, nil)
	sec := &client{t: t, h: h}
	sec.token = sec.login(w, w.Security)
	var list struct {
		Grants []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"grants"`
	}
	sec.call("GET", "/api/v1/break-glass", nil, &list)
	if len(list.Grants) != 1 || list.Grants[0].Reason != reason {
		t.Fatalf("the review queue does not return the stored reason")
	}
	comment := s.marker("reviewcomment")
	sec.call("POST", "/api/v1/break-glass/"+list.Grants[0].ID+"/review", map[string]string{"outcome": "not_justified", "comment": comment}, nil)
}

func newHandler(w *testfix.World) http.Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return httpx.Secure(api.New(w.Service, api.Config{Logger: log}))
}

// readDir returns every byte of every file under dir.
func readDir(t *testing.T, dir string) ([]byte, []string) {
	t.Helper()
	var all []byte
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		all = append(all, b...)
		names = append(names, d.Name())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, names
}

// TestStolenSQLiteDatabase: a copy of the data directory (database, WAL,
// shared memory, anything else there), taken while the server runs and
// after it stops, holds none of the patients' names, identity codes, contact
// details or clinical text, in plain text, hex or base64.
func TestStolenSQLiteDatabase(t *testing.T) {
	dataDir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dataDir, "confidant.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := testfix.Seal(t, db, testfix.Keyring(t)) // the KEK lives in another directory
	w := testfix.New(t, st)
	s := &secrets{}
	populate(t, w, newHandler(w), s)

	data, names := readDir(t, dataDir)
	if !contains(names, "confidant.db-wal") {
		t.Fatalf("expected a WAL file while the database is open, found %v", names)
	}
	if found := scan(data, s); len(found) > 0 {
		t.Errorf("the running data directory (%v) reveals %d secrets: %v", names, len(found), found)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, names = readDir(t, dataDir)
	if found := scan(data, s); len(found) > 0 {
		t.Errorf("the closed data directory (%v) reveals %d secrets: %v", names, len(found), found)
	}
	// Control: the scanner does find what is stored in the clear (staff
	// display names are not patient data and are not encrypted).
	if found := scan(data, &secrets{values: []string{"therapistb"}}); len(found) == 0 {
		t.Error("control failed: the scanner did not find a value stored in the clear")
	}
	t.Logf("scanned %d bytes in %v for %d secrets", len(data), names, len(s.values))
}

// TestStolenPostgresDump: a pg_dump of the schema holds no patient secret.
func TestStolenPostgresDump(t *testing.T) {
	dsn := testfix.PostgresDSN(t, "the stolen PostgreSQL dump test")
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatalf("pg_dump not found: %v", err)
	}
	schema := testfix.PostgresSchema(t, dsn, "stolen_")
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := testfix.Seal(t, db, testfix.Keyring(t))
	w := testfix.New(t, st)
	s := &secrets{}
	populate(t, w, newHandler(w), s)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dump, err := exec.CommandContext(ctx, pgDump, "--dbname", dsn, "--schema", schema, "--no-owner").Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(dump, []byte("patient_keys")) {
		t.Fatalf("the dump does not look like our schema (%d bytes)", len(dump))
	}
	if found := scan(dump, s); len(found) > 0 {
		t.Errorf("the dump reveals %d secrets: %v", len(found), found)
	}
	if found := scan(dump, &secrets{values: []string{"therapistb"}}); len(found) == 0 {
		t.Error("control failed: the scanner did not find a value stored in the clear")
	}
	t.Logf("scanned a %d-byte dump for %d secrets", len(dump), len(s.values))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
