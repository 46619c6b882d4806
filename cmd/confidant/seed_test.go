package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/jackc/pgx/v5"
)

func TestSeedCommand(t *testing.T) {
	data := t.TempDir()
	args := []string{"seed", "--data", data, "--patients", "12", "--notes-per-patient", "3",
		"--events-per-patient", "30", "--seed", "5", "--now", "2026-03-01", "--batch", "4", "--staff", "12", "--clinics", "3"}
	code, out, errOut := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("seed: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Seeded patients 1-12 of 12") || !strings.Contains(out, "36 notes") {
		t.Errorf("output: %s", out)
	}
	if _, err := os.Stat(filepath.Join(data, seedLoginsFile)); err != nil {
		t.Error(err)
	}
	// Rerunning finds everything done; a larger --patients continues.
	if code, out, _ := runCmd(t, args...); code != 0 || !strings.Contains(out, "already in the database") {
		t.Errorf("rerun: %d %s", code, out)
	}
	args[4] = "16"
	if code, out, errOut := runCmd(t, args...); code != 0 || !strings.Contains(out, "Resuming after patient 12 of 16") {
		t.Errorf("extend: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "audit", "verify", "--data", data); code != 0 {
		t.Errorf("audit verify after seed: %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "seed", "--data", t.TempDir()); code != 2 {
		t.Errorf("seed without sizes: exit %d, want 2", code)
	}
}

// Seeding PostgreSQL (a database of its own, dropped afterwards) into a data
// directory that does not exist yet: the sign-ins file is written there, and
// the access log verifies.
func TestSeedPostgres(t *testing.T) {
	dsn := testfix.PostgresDSN(t, "PostgreSQL seed test")
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "confidant_seed_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	data := filepath.Join(t.TempDir(), "not-yet")
	args := []string{"seed", "--data", data, "--database-url", u.String(), "--patients", "6", "--notes-per-patient", "2",
		"--seed", "3", "--now", "2026-03-01", "--staff", "8", "--clinics", "2"}
	if code, out, errOut := runCmd(t, args...); code != 0 || !strings.Contains(out, "Seeded patients 1-6 of 6") {
		t.Fatalf("seed: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, seedLoginsFile)); err != nil {
		t.Error(err)
	}
	if code, _, errOut := runCmd(t, "audit", "verify", "--data", data, "--database-url", u.String()); code != 0 {
		t.Errorf("audit verify after seed: %d %s", code, errOut)
	}
}
