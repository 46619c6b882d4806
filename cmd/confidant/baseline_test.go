package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// The product refuses to open data written by the insecure plain baseline
// (docs/BASELINE.md), in every build: a data directory carrying the marker
// file, or a database carrying the marker row.
func TestProductRefusesPlainBaselineData(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, plainMarkerFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openApp(t.Context(), resolve(t, "--data", dir), io.Discard, openOptions{createKEK: true}); !errors.Is(err, errPlainData) {
		t.Fatalf("marked data directory: %v", err)
	}
	for _, args := range [][]string{
		{"serve", "--data", dir, "--addr", "127.0.0.1:0"},
		{"seed", "--data", dir, "--patients", "2", "--notes-per-patient", "1"},
		{"migrate", "--data", dir},
		{"user", "list", "--data", dir},
	} {
		if code, _, errOut := runCmd(t, args...); code != 1 || !strings.Contains(errOut, "REFUSING: this data was written by the INSECURE PLAIN BASELINE") {
			t.Errorf("%s: exit %d, %s", args[0], code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "confidant.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a database was created in the marked directory: %v", err)
	}

	// The mark in the database alone is enough (PostgreSQL has no
	// directory to mark).
	dir = t.TempDir()
	cfg := resolve(t, "--data", dir)
	a, err := openApp(t.Context(), cfg, io.Discard, openOptions{createKEK: true})
	if err != nil {
		t.Fatal(err)
	}
	err = a.backend.Update(t.Context(), func(tx confidant.SealedTx) error {
		return tx.PutSystemKey(t.Context(), confidant.WrappedKey{Owner: plainMarkerKey, KEKID: plainMarkerKey, Wrapped: []byte("x"), UpdatedAt: time.Now()})
	})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openApp(t.Context(), cfg, io.Discard, openOptions{}); !errors.Is(err, errPlainData) {
		t.Fatalf("marked database: %v", err)
	}
}
