package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// The WAL is checkpointed in the background (not inside a commit): after
// many commits the checkpointer has run, and every commit is still there
// after a reopen.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{RelaxedSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range n {
		c := confidant.Clinic{ID: confidant.NewID(), Name: fmt.Sprintf("Clinic %d %0500d", i, i), City: "Turku", CreatedAt: now}
		if err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.CreateClinic(ctx, c) }); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for sqlite.BackgroundCheckpoints(db) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sqlite.BackgroundCheckpoints(db); got == 0 {
		t.Fatal("no background checkpoint ran after 3000 commits")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path, sqlite.Options{})
	var clinics []confidant.Clinic
	if err := db.View(ctx, func(tx confidant.SealedTx) error {
		var err error
		clinics, err = tx.ListClinics(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(clinics) != n {
		t.Fatalf("%d clinics after reopen, want %d", len(clinics), n)
	}
}
