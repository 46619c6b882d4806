package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// TestAuditVerifyRecords: `audit verify --records` confirms the demo's
// records, then names a note deleted, a note reverted to an older version,
// a note whose sealed value was replaced by an older one and a diagnosis
// inserted by SQL, each with the log index that
// contradicts it, and exits non-zero.
func TestAuditVerifyRecords(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "20", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	run := func(args ...string) (int, string, string) {
		return runCmdWithin(t, 120*time.Second, append(args, "--data", data)...)
	}
	code, out, errOut := run("audit", "verify", "--records")
	if code != 0 || !strings.Contains(out, "The records match the access log") || !strings.Contains(out, " 0 unverifiable") {
		t.Fatalf("verify --records on the demo: %d\n%s\n%s", code, out, errOut)
	}
	cfg := resolve(t, "--data", data)
	raw, err := sql.Open("sqlite3", "file:"+sqlitePath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	lastWrite := func(id string) int64 {
		t.Helper()
		var idx int64
		if err := raw.QueryRow(`SELECT MAX(idx) FROM audit_events WHERE record_id = ? AND outcome = 'ok'
			AND action IN ('note.create','note.sign','note.amend','note.release','diagnosis.create')`, id).Scan(&idx); err != nil {
			t.Fatal(err)
		}
		return idx
	}
	var amended, deleted, diag string
	var versions int
	if err := raw.QueryRow(`SELECT note_id, MAX(version) FROM note_versions GROUP BY note_id HAVING MAX(version) >= 2 ORDER BY note_id LIMIT 1`).Scan(&amended, &versions); err != nil {
		t.Fatalf("no amended note in the demo: %v", err)
	}
	// A second amended note whose latest sealed value is replaced by its
	// older version's (same version number, older ciphertext).
	var replaced string
	var replacedVersions int
	if err := raw.QueryRow(`SELECT note_id, MAX(version) FROM note_versions WHERE note_id <> ? GROUP BY note_id HAVING MAX(version) >= 2 ORDER BY note_id LIMIT 1`, amended).Scan(&replaced, &replacedVersions); err != nil {
		t.Fatalf("no second amended note in the demo: %v", err)
	}
	if err := raw.QueryRow(`SELECT id FROM notes WHERE id NOT IN (?, ?) ORDER BY id LIMIT 1`, amended, replaced).Scan(&deleted); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT id FROM diagnoses ORDER BY id LIMIT 1`).Scan(&diag); err != nil {
		t.Fatal(err)
	}
	amendedAt, deletedAt, replacedAt := lastWrite(amended), lastWrite(deleted), lastWrite(replaced)
	inserted := confidant.NewID()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// Revert: the amendment goes, the older signed version is current.
		{`DELETE FROM note_versions WHERE note_id = ? AND version = ?`, []any{amended, versions}},
		// Put an older sealed value back.
		{`UPDATE note_versions SET data = (SELECT data FROM note_versions WHERE note_id = ? AND version = ?) WHERE note_id = ? AND version = ?`,
			[]any{replaced, replacedVersions - 1, replaced, replacedVersions}},
		// Delete a note altogether.
		{`DELETE FROM note_versions WHERE note_id = ?`, []any{deleted}},
		{`DELETE FROM notes WHERE id = ?`, []any{deleted}},
		// Insert a diagnosis the log never saw (a copy of another's row).
		{`INSERT INTO diagnoses (id, patient_id, status, recorded_by, recorded_at, data)
			SELECT ?, patient_id, status, recorded_by, recorded_at, data FROM diagnoses WHERE id = ?`, []any{inserted, diag}},
	} {
		if _, err := raw.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = run("audit", "verify", "--records")
	if code == 0 {
		t.Fatalf("verify --records after deleting, reverting and inserting records exited 0:\n%s", out)
	}
	for _, want := range []string{
		fmt.Sprintf("reverted note %s: the table holds version %d with another sealed value than log index %d wrote (version %d)", amended, versions-1, amendedAt, versions),
		fmt.Sprintf("missing note %s: MISSING from its table; log index %d wrote it", deleted, deletedAt),
		fmt.Sprintf("unlogged diagnosis %s: in its table", inserted),
		fmt.Sprintf("changed note %s: the table holds version %d with another sealed value than log index %d wrote (version %d)", replaced, replacedVersions, replacedAt, replacedVersions),
		"4 finding(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --records does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "do NOT match the access log") {
		t.Errorf("no error message: %s", errOut)
	}
}

// TestRecordsCheckSchedule: the server's schedule runs the check at start
// and hands the report to the service (where security officers read it),
// and again after the interval, seeing a record deleted meanwhile.
func TestRecordsCheckSchedule(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "3", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", data)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, err := openApp(ctx, cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, svc, err := newHandler(cfg, a, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { runRecordsChecks(ctx, a.log, svc, time.Second, nil, log); close(done) }()
	report := func(ok func(*confidant.RecordsReport) bool) *confidant.RecordsReport {
		t.Helper()
		for range 200 {
			if r := svc.LatestRecordsReport(); r != nil && ok(r) {
				return r
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no such report within 10s")
		return nil
	}
	first := report(func(r *confidant.RecordsReport) bool { return true })
	if !first.OK() || first.Verified == 0 || first.Verified != first.Stored {
		t.Fatalf("first report: %+v", first)
	}
	raw, err := sql.Open("sqlite3", "file:"+sqlitePath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var id string
	if err := raw.QueryRow(`SELECT id FROM measures ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM measures WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	next := report(func(r *confidant.RecordsReport) bool { return r.CheckedAt.After(first.CheckedAt) && !r.OK() })
	if len(next.Findings) != 1 || next.Findings[0].RecordID != id || next.Findings[0].Finding != confidant.FindingMissing {
		t.Fatalf("after deleting measure %s: %+v", id, next.Findings)
	}
	cancel()
	<-done
}
