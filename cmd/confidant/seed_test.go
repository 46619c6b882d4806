package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
