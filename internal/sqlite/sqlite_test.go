package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/storetest"
	"github.com/google/go-cmp/cmp"
	_ "github.com/ncruces/go-sqlite3/driver"
)

// openTemp opens a new database in a temporary directory.
func openTemp(t testing.TB) *sqlite.DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "confidant.db"), sqlite.Options{})
}

func openAt(t testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) confidant.SealedStore { return openTemp(t) })
}

func TestLog(t *testing.T) {
	storetest.RunLog(t, func(t *testing.T) confidant.SealedStore { return openTemp(t) })
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Kallio", City: "Helsinki", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}

	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.CreateClinic(ctx, clinic) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Opening again migrates nothing and keeps the data.
	db = openAt(t, path, sqlite.Options{})
	if v, err := db.SchemaVersion(ctx); err != nil || v != sqlite.LatestVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, sqlite.LatestVersion())
	}
	calls := 0
	if err := db.Migrate(ctx, func(int, int, string) { calls++ }); err != nil {
		t.Errorf("Migrate on an up-to-date database: %v", err)
	}
	if calls != 0 {
		t.Errorf("Migrate on an up-to-date database applied %d migrations", calls)
	}
	var got confidant.Clinic
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		var err error
		got, err = tx.Clinic(ctx, clinic.ID)
		return err
	})
	if err != nil {
		t.Fatalf("Clinic after reopening: %v", err)
	}
	if d := cmp.Diff(clinic, got); d != "" {
		t.Errorf("Clinic after reopening (-want +got):\n%s", d)
	}
}

func TestNoMigrate(t *testing.T) {
	ctx := t.Context()
	db := openAt(t, filepath.Join(t.TempDir(), "confidant.db"), sqlite.Options{NoMigrate: true})
	if v, err := db.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}
	type step struct {
		Applied, Total int
		Name           string
	}
	var steps []step
	if err := db.Migrate(ctx, func(applied, total int, name string) {
		steps = append(steps, step{applied, total, name})
	}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	n := sqlite.LatestVersion()
	if len(steps) != n {
		t.Fatalf("progress called %d times, want %d", len(steps), n)
	}
	if want := (step{1, n, "0001_init"}); steps[0] != want {
		t.Errorf("first progress call = %+v, want %+v", steps[0], want)
	}
	if steps[n-1].Applied != n || steps[n-1].Total != n {
		t.Errorf("last progress call = %+v, want %d of %d", steps[n-1], n, n)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != n {
		t.Errorf("SchemaVersion after Migrate = %d, %v; want %d", v, err, n)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	db.Close()

	// A newer binary has applied a migration this one does not know.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		sqlite.LatestVersion()+1, "9999_from_the_future", time.Now().UnixMicro())
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	for _, opts := range []sqlite.Options{{}, {NoMigrate: true}} {
		db, err := sqlite.Open(ctx, path, opts)
		if err == nil {
			db.Close()
			t.Errorf("Open(%+v) of a database with a newer schema succeeded", opts)
			continue
		}
		if !errors.Is(err, sqlite.ErrSchemaTooNew) {
			t.Errorf("Open(%+v) = %v, want ErrSchemaTooNew", opts, err)
		}
	}
}

func TestFileMode(t *testing.T) {
	for _, opts := range []sqlite.Options{{}, {NoMigrate: true}} {
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "confidant.db")
		db := openAt(t, path, opts)
		if err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		// Write something so the WAL has content.
		err := db.Update(ctx, func(tx confidant.SealedTx) error {
			return tx.CreateClinic(ctx, confidant.Clinic{ID: confidant.NewID(), Name: "x", CreatedAt: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			if mode := fi.Mode().Perm(); mode&0o077 != 0 {
				t.Errorf("NoMigrate=%v: %s has mode %v, want no access for group and others", opts.NoMigrate, filepath.Base(p), mode)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts sqlite.Options
	}{
		{"empty path", "", sqlite.Options{}},
		{"memory", ":memory:", sqlite.Options{}},
		{"URI", "file:x.db?mode=memory", sqlite.Options{}},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "x.db"), sqlite.Options{}},
		{"negative readers", filepath.Join(dir, "x.db"), sqlite.Options{Readers: -1}},
		{"negative busy timeout", filepath.Join(dir, "x.db"), sqlite.Options{BusyTimeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(ctx, tc.path, tc.opts)
			if err == nil {
				db.Close()
				t.Errorf("Open succeeded, want an error")
			}
		})
	}
}

func TestUpdateHonoursContext(t *testing.T) {
	db := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := db.Update(ctx, func(confidant.SealedTx) error { called = true; return nil })
	if err == nil {
		t.Errorf("Update with a canceled context succeeded")
	}
	if called {
		t.Errorf("Update called fn with a canceled context")
	}
}

// TestErasureLeavesNoKey checks that an erased patient's wrapped key is
// gone from the database files at once, not only from the table: deleted
// content is overwritten (secure_delete) and the write-ahead log, which
// holds the older page, is checkpointed.
func TestErasureLeavesNoKey(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	db := openAt(t, path, sqlite.Options{})
	now := time.Now()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "x", CreatedAt: now}
	p := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, CreatedAt: now, Data: []byte("sealed")}
	wrapped := []byte("wrapped-keyset-" + confidant.NewID())
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p); err != nil {
			return err
		}
		return tx.PutPatientKey(ctx, confidant.WrappedKey{Owner: p.ID, KEKID: "kek", Wrapped: wrapped, UpdatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	contains := func() []string {
		var in []string
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if bytes.Contains(b, wrapped) {
				in = append(in, filepath.Base(f))
			}
		}
		return in
	}
	if len(contains()) == 0 {
		t.Fatalf("the wrapped key is not in the files before erasure: the test looks in the wrong place")
	}
	if err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.ErasePatient(ctx, p.ID, now) }); err != nil {
		t.Fatal(err)
	}
	if in := contains(); len(in) > 0 {
		t.Errorf("after ErasePatient the wrapped key is still in %v", in)
	}
}
