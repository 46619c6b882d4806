package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	_ "github.com/ncruces/go-sqlite3/driver"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAuditCommands: checkpoints are published, verify passes and checks
// external checkpoints, a patient's proof checks offline, and a restored
// older copy of the database is refused at start (rollback).
func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cps := filepath.Join(dir, "board")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "20", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", data, "--checkpoint-dir", cps)
	record := func(n int) {
		t.Helper()
		a, err := openApp(context.Background(), cfg, io.Discard, openOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for i := range n {
			if err := a.log.Record(context.Background(), confidant.AuditEvent{
				Time: time.Now(), ActorID: "someone", Role: confidant.RoleTherapist, Action: "chart.read",
				PatientID: confidant.NewID(), Outcome: confidant.OutcomeOK, Purpose: "test " + string(rune('a'+i%26)),
				SessionID: "sess-cmd-test", Client: "192.0.2.55",
			}); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := a.log.Checkpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		publishCheckpoint(cfg, newLogger(io.Discard, cfg.LogLevel))(cp)
	}
	record(10)
	db := sqlitePath(cfg)
	copyFile(t, db, filepath.Join(dir, "old.db"))
	record(10)

	run := func(args ...string) (int, string, string) {
		return runCmd(t, append(args, "--data", data)...)
	}
	code, out, errOut := run("audit", "verify", "--checkpoint", filepath.Join(cps, "latest.checkpoint"))
	if code != 0 || !strings.Contains(out, "The access log is intact") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	code, out, errOut = run("audit", "checkpoint")
	if code != 0 || !strings.Contains(out, "confidant/access-log") || !strings.Contains(errOut, "Verifier key") {
		t.Fatalf("checkpoint: %s %s", out, errOut)
	}
	vkey := strings.TrimSpace(errOut[strings.LastIndex(errOut, ":\n")+2:])

	// A proof bundle checks offline with the public key alone, and a
	// tampered one does not.
	a, err := openApp(context.Background(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size, _, err := a.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.log.Bundle(context.Background(), size-1) // one recorded above
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	bj, _ := json.Marshal(b)
	bundle := filepath.Join(dir, "bundle.json")
	os.WriteFile(bundle, bj, 0o600)
	code, out, errOut = runCmd(t, "audit", "check-proof", "--key", vkey, bundle)
	if code != 0 || !strings.Contains(out, "The proof checks") || !strings.Contains(out, `"version": 2`) {
		t.Fatalf("check-proof: %d %s %s", code, out, errOut)
	}
	// The bundle, and what checking it shows, hold neither the staff
	// member's client address nor the session id (event version 2).
	for _, s := range []string{"192.0.2.55", "sess-cmd-test"} {
		if strings.Contains(out, s) || strings.Contains(string(bj), s) || strings.Contains(string(b.Event), s) {
			t.Errorf("the proof bundle reveals %q", s)
		}
	}
	var m map[string]any
	json.Unmarshal(bj, &m)
	m["index"] = m["index"].(float64) - 1
	bad, _ := json.Marshal(m)
	os.WriteFile(bundle, bad, 0o600)
	if code, _, errOut := runCmd(t, "audit", "check-proof", "--key", vkey, bundle); code != 1 || !strings.Contains(errOut, "does NOT check") {
		t.Fatalf("tampered bundle: %d %s", code, errOut)
	}

	// Restore the older copy: the board's checkpoint exposes the rollback.
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(db + s)
	}
	copyFile(t, filepath.Join(dir, "old.db"), db)
	// Under a deadline: if the refusal broke, serve would serve, and the
	// test would hang until go test's timeout instead of failing.
	code, _, errOut = runCmdWithin(t, 20*time.Second, "serve", "--addr", "127.0.0.1:0", "--checkpoint-dir", cps, "--data", data)
	if code != 1 || !strings.Contains(errOut, "REFUSING TO SERVE") || !strings.Contains(errOut, "rollback") {
		t.Fatalf("serve after rollback: %d %s", code, errOut)
	}
	code, _, errOut = run("audit", "verify", "--checkpoint", filepath.Join(cps, "latest.checkpoint"))
	if code != 1 || !strings.Contains(errOut, "NOT intact") {
		t.Fatalf("verify after rollback: %d %s", code, errOut)
	}
}

// TestRebuildTilesCommand: with hash tiles and an entry bundle deleted from
// the database, serve refuses to start (naming rebuild-tiles), verify names
// the damage, rebuild-tiles recomputes them from the leaves, and then
// verify passes and serve starts.
func TestRebuildTilesCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "20", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg := resolve(t, "--data", data)
	a, err := openApp(context.Background(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		if err := a.log.Record(context.Background(), confidant.AuditEvent{
			Time: time.Now(), ActorID: "someone", Role: confidant.RoleTherapist, Action: "chart.read",
			PatientID: confidant.NewID(), Outcome: confidant.OutcomeOK, Purpose: fmt.Sprint("test ", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.log.Checkpoint(context.Background())
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+sqlitePath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// The full level-0 tile 0 (an old one, which only verify reads), the
	// partial level-1 tile at the log's end (which every append and
	// checkpoint reads) and an entry bundle.
	res, err := raw.Exec(`DELETE FROM audit_tiles WHERE (level = 0 AND idx = 0) OR level = 1`)
	if err == nil {
		_, err = raw.Exec(`DELETE FROM audit_entries WHERE idx = 1`)
	}
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n < 2 {
		t.Fatalf("deleted %d of the tiles 0/0 and 1/0", n)
	}
	run := func(args ...string) (int, string, string) {
		return runCmdWithin(t, 60*time.Second, append(args, "--data", data)...)
	}
	code, _, errOut := run("serve", "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "REFUSING TO SERVE") || !strings.Contains(errOut, "rebuild-tiles") {
		t.Fatalf("serve with damaged tiles: %d %s", code, errOut)
	}
	code, _, errOut = run("audit", "verify")
	if code != 1 || !strings.Contains(errOut, "first bad index 0: tile") || !strings.Contains(errOut, "audit rebuild-tiles") {
		t.Fatalf("verify with damaged tiles: %d %s", code, errOut)
	}
	code, out, errOut := run("audit", "rebuild-tiles")
	if code != 0 || !strings.Contains(out, "Rebuilt the access log's tiles") {
		t.Fatalf("rebuild-tiles: %d %s %s", code, out, errOut)
	}
	code, out, errOut = run("audit", "verify")
	if code != 0 || !strings.Contains(out, "The access log is intact") {
		t.Fatalf("verify after rebuild-tiles: %d %s %s", code, out, errOut)
	}
	// serve now starts; the deadline ends it, gracefully.
	code, _, errOut = runCmdWithin(t, 3*time.Second, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if code != 0 || strings.Contains(errOut, "REFUSING") {
		t.Fatalf("serve after rebuild-tiles: %d %s", code, errOut)
	}
	// Without --smtp-url, serve says at start that mail is not delivered.
	if !strings.Contains(errOut, "mail is NOT being delivered") || !strings.Contains(errOut, filepath.Join(data, "outbox")) {
		t.Errorf("serve without SMTP does not warn that mail is not delivered: %s", errOut)
	}
}
