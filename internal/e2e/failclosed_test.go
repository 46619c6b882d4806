package e2e

import (
	"bytes"
	"database/sql"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/confidanthealth/confidant/internal/api"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
	_ "github.com/ncruces/go-sqlite3/driver"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFailClosed: when the access log cannot be written, a chart read
// answers 503 and neither the response nor the server's log holds any of
// the patient's data.
func TestFailClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "confidant.db")
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := testfix.New(t, testfix.Seal(t, db, testfix.Keyring(t)))
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := httpx.Logged(log, httpx.Secure(api.New(w.Service, api.Config{Logger: log})))
	c := &client{t: t, h: h}
	c.token = c.login(w, w.Therapist)
	c.call("POST", "/api/v1/patients/"+w.PatientA.ID+"/notes", map[string]string{"body": "secret-note-body-4711"}, nil)
	c.call("GET", "/api/v1/patients/"+w.PatientA.ID+"/chart", nil, nil) // works while the log works

	// The log's table goes away under the running server.
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`ALTER TABLE audit_events RENAME TO audit_events_gone`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/chart", "/notes", ""} {
		req := httptest.NewRequest("GET", "/api/v1/patients/"+w.PatientA.ID+path, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 503 || !strings.Contains(string(body), "audit_unavailable") {
			t.Errorf("GET %s with a broken log: %d %s", path, rec.Code, body)
		}
		for _, secret := range []string{w.PatientA.FamilyName, w.PatientA.IdentityCode, "secret-note-body-4711"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("GET %s returned patient data with a broken log", path)
			}
		}
	}
	for _, secret := range []string{w.PatientA.FamilyName, w.PatientA.IdentityCode, "secret-note-body-4711"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the server's log holds patient data")
		}
	}
	if !strings.Contains(logs.String(), "access log batch failed") && !strings.Contains(logs.String(), "audit_unavailable") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}
