package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/storetest"
)

// envDSN names the environment variable with the DSN of a PostgreSQL server
// the tests may create and drop schemas on.
const envDSN = "CONFIDANT_TEST_POSTGRES"

// testDSN returns the test database's DSN or skips the test, loudly: these
// tests are optional on a laptop but mandatory in CI, where (CI set in the
// environment) a missing DSN fails the test instead.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		const msg = "PostgreSQL store tests: set " + envDSN +
			"=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run them (mandatory in CI)"
		if os.Getenv("CI") != "" {
			t.Fatal("FAILING " + msg)
		}
		t.Skip("SKIPPING " + msg)
	}
	return dsn
}

// newSchema returns the name of a fresh schema that is dropped when the test
// ends, so tests can run in parallel and leave nothing behind. The schema
// itself is created by Migrate.
func newSchema(t testing.TB, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "confidant_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop test schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	return name
}

// openTest opens a store on a fresh schema. Cleanups run in reverse order,
// so the store is closed before its schema is dropped.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	dsn := testDSN(t)
	if opts.Schema == "" {
		opts.Schema = newSchema(t, dsn)
	}
	db, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) confidant.SealedStore { return openTest(t, Options{}) })
}

// TestLogConformance runs the access log's suite (confidant.LogTx).
func TestLogConformance(t *testing.T) {
	testDSN(t)
	storetest.RunLog(t, func(t *testing.T) confidant.SealedStore { return openTest(t, Options{}) })
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	ms := migrations()
	if len(ms) == 0 || LatestVersion() != len(ms) {
		t.Fatalf("LatestVersion() = %d with %d migrations", LatestVersion(), len(ms))
	}
	for i, m := range ms {
		if m.version != i+1 || m.name == "" || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d: version %d, name %q, %d bytes", i, m.version, m.name, len(m.sql))
		}
	}
	// Migrate holds back the migration that drops schema 1's tables by
	// name (and every one after it); it must exist.
	if !slices.ContainsFunc(ms, func(m migration) bool { return m.name == legacyDrop }) {
		t.Errorf("no migration is named %q", legacyDrop)
	}
}

func TestParseMigrationsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
	}{
		{"none", nil},
		{"gap", []string{"0001_init.sql", "0003_more.sql"}},
		{"not from one", []string{"0002_init.sql"}},
		{"bad name", []string{"0001_Init.sql"}},
		{"short number", []string{"1_init.sql"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			if _, err := parseMigrations(fsys); err == nil {
				t.Errorf("parseMigrations(%v) succeeded", tc.files)
			}
		})
	}
}

func TestOpenMigratesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)

	// NoMigrate leaves an empty schema alone.
	db := openTest(t, Options{Schema: schema, NoMigrate: true})
	if v, err := db.SchemaVersion(t.Context()); err != nil || v != 0 {
		t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0", v, err)
	}

	type step struct {
		applied, total int
		name           string
	}
	var steps []step
	if err := db.Migrate(t.Context(), func(applied, total int, name string) {
		steps = append(steps, step{applied, total, name})
	}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(steps) != LatestVersion() {
		t.Errorf("progress called %d times, want %d", len(steps), LatestVersion())
	}
	for i, s := range steps {
		if s.applied != i+1 || s.total != LatestVersion() || s.name != migrations()[i].name {
			t.Errorf("progress step %d = %+v", i, s)
		}
	}
	if v, err := db.SchemaVersion(t.Context()); err != nil || v != LatestVersion() {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want %d", v, err, LatestVersion())
	}

	// Again: nothing to do.
	called := false
	if err := db.Migrate(t.Context(), func(int, int, string) { called = true }); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if called {
		t.Errorf("second Migrate applied something")
	}
	// Opening (which migrates) again is fine too.
	openTest(t, Options{Schema: schema})

	var rows int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != LatestVersion() {
		t.Errorf("schema_migrations has %d rows, want %d", rows, LatestVersion())
	}
}

func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	const servers = 4
	var wg sync.WaitGroup
	errs := make([]error, servers)
	for i := range servers {
		wg.Go(func() {
			db, err := Open(t.Context(), dsn, Options{Schema: schema})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d: Open: %v", i, err)
		}
	}
	db := openTest(t, Options{Schema: schema, NoMigrate: true})
	var rows, distinct int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != LatestVersion() || distinct != LatestVersion() {
		t.Errorf("schema_migrations has %d rows (%d versions), want %d", rows, distinct, LatestVersion())
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	db := openTest(t, Options{Schema: schema})
	future := LatestVersion() + 1
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')`, future); err != nil {
		t.Fatal(err)
	}

	for _, opts := range []Options{{Schema: schema}, {Schema: schema, NoMigrate: true}} {
		db2, err := Open(t.Context(), dsn, opts)
		if err == nil {
			db2.Close()
			t.Errorf("Open(%+v) of a newer schema succeeded", opts)
			continue
		}
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("Open(%+v) = %v, want ErrSchemaTooNew", opts, err)
		}
	}
	if err := db.Migrate(t.Context(), nil); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestRefusesForeignMigration(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	db := openTest(t, Options{Schema: schema})
	if _, err := db.pool.Exec(t.Context(), `UPDATE schema_migrations SET name = 'something_else' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context(), nil); err == nil {
		t.Errorf("Migrate accepted a schema migrated by a different build")
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Schema: "Bad"}, {Schema: "x; DROP TABLE users"}, {Schema: `a"b`}, {MaxConns: -1}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: Validate succeeded", o)
		}
	}
	for _, o := range []Options{{}, {Schema: "confidant"}, {Schema: "_t1", MaxConns: 8}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: Validate: %v", o, err)
		}
	}
}

// TestErrors checks the mapping of database errors: codes by constraint,
// no values in error text, and internal errors for what is left.
func TestErrors(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "C"}
	p := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, Data: []byte("Secret sealed"), IdentityIndex: []byte("SecretIndex")}
	u := confidant.User{ID: confidant.NewID(), Username: "secret.user", DisplayName: "Secret Name", Role: confidant.RoleTherapist}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p); err != nil {
			return err
		}
		return tx.CreateUser(ctx, u)
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   func(tx confidant.SealedTx) error
		kind confidant.Kind
		code string
	}{
		{"username taken", func(tx confidant.SealedTx) error {
			v := u
			v.ID = confidant.NewID()
			return tx.CreateUser(ctx, v)
		}, confidant.KindConflict, "username_taken"},
		{"duplicate id", func(tx confidant.SealedTx) error { return tx.CreateClinic(ctx, clinic) }, confidant.KindConflict, "conflict"},
		{"duplicate patient id", func(tx confidant.SealedTx) error { return tx.CreatePatient(ctx, p) }, confidant.KindConflict, "conflict"},
		{"second organisation", func(tx confidant.SealedTx) error {
			if err := tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: "A"}); err != nil {
				return err
			}
			return tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: "B"})
		}, confidant.KindConflict, "conflict"},
		{"unknown clinic", func(tx confidant.SealedTx) error {
			q := p
			q.ID, q.ClinicID = confidant.NewID(), confidant.NewID()
			return tx.CreatePatient(ctx, q)
		}, confidant.KindNotFound, "not_found"},
		{"unknown patient", func(tx confidant.SealedTx) error {
			return tx.CreateDiagnosis(ctx, confidant.SealedDiagnosis{ID: confidant.NewID(), PatientID: confidant.NewID(), Data: []byte("Secret")})
		}, confidant.KindNotFound, "not_found"},
		{"NUL in text", func(tx confidant.SealedTx) error {
			v := u
			v.ID, v.Username, v.DisplayName = confidant.NewID(), "other", "Secret\x00Name"
			return tx.CreateUser(ctx, v)
		}, confidant.KindInvalid, "invalid_text"},
		{"chunks without attachment", func(tx confidant.SealedTx) error {
			return tx.PutAttachmentChunk(ctx, confidant.NewID(), 0, []byte("Secret"))
		}, confidant.KindInternal, "internal"},
		{"missing chunk", func(tx confidant.SealedTx) error {
			a := confidant.SealedAttachment{ID: confidant.NewID(), PatientID: p.ID, Data: []byte("Secret.pdf"), Size: 6, Chunks: 2}
			if err := tx.PutAttachmentChunk(ctx, a.ID, 0, []byte("Secret")); err != nil {
				return err
			}
			return tx.CreateAttachment(ctx, a)
		}, confidant.KindInvalid, "attachment_incomplete"},
		{"chunk numbers with a gap", func(tx confidant.SealedTx) error {
			a := confidant.SealedAttachment{ID: confidant.NewID(), PatientID: p.ID, Size: 12, Chunks: 2}
			for _, i := range []int{0, 2} {
				if err := tx.PutAttachmentChunk(ctx, a.ID, i, []byte("Secret")); err != nil {
					return err
				}
			}
			return tx.CreateAttachment(ctx, a)
		}, confidant.KindInvalid, "attachment_incomplete"},
		{"chunk put twice", func(tx confidant.SealedTx) error {
			id := confidant.NewID()
			if err := tx.PutAttachmentChunk(ctx, id, 0, []byte("Secret")); err != nil {
				return err
			}
			return tx.PutAttachmentChunk(ctx, id, 0, []byte("Secret"))
		}, confidant.KindConflict, "conflict"},
		{"chunk too large", func(tx confidant.SealedTx) error {
			return tx.PutAttachmentChunk(ctx, confidant.NewID(), 0, make([]byte, maxSealedChunk+1))
		}, confidant.KindTooLarge, "chunk_too_large"},
		{"note without versions", func(tx confidant.SealedTx) error {
			return tx.CreateNote(ctx, confidant.SealedNote{ID: confidant.NewID(), PatientID: p.ID})
		}, confidant.KindInvalid, "invalid_note"},
		{"note with an earlier draft", func(tx confidant.SealedTx) error {
			return tx.CreateNote(ctx, confidant.SealedNote{ID: confidant.NewID(), PatientID: p.ID, Versions: []confidant.SealedNoteVersion{
				{Version: 1, Status: confidant.NoteDraft, Data: []byte("Secret")}, {Version: 2, Status: confidant.NoteSigned, Data: []byte("Secret")}}})
		}, confidant.KindInvalid, "invalid_note"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(ctx, tc.op)
			if confidant.KindOf(err) != tc.kind || confidant.CodeOf(err) != tc.code {
				t.Fatalf("got %v (kind %v, code %q), want kind %v, code %q", err, confidant.KindOf(err), confidant.CodeOf(err), tc.kind, tc.code)
			}
			for _, secret := range []string{"Secret", "secret.user", "Name", hex.EncodeToString(p.IdentityIndex)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains data %q", err, secret)
				}
			}
		})
	}
}

// TestUpdateDoesNotRetryFn checks that fn runs once even when it fails with
// a serialization failure.
func TestUpdateDoesNotRetryFn(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	calls := 0
	err := db.Update(t.Context(), func(confidant.SealedTx) error {
		calls++
		return mapErr(&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, "test", "")
	})
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if confidant.KindOf(err) != confidant.KindUnavailable {
		t.Errorf("Update = %v, want KindUnavailable", err)
	}
}

// TestViewSnapshot checks that View sees one snapshot: a commit that lands
// between two reads in the same View is not visible to the second.
func TestViewSnapshot(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	err := db.View(ctx, func(tx confidant.SealedTx) error {
		before, err := tx.ListClinics(ctx)
		if err != nil {
			return err
		}
		if err := db.Update(ctx, func(tx confidant.SealedTx) error {
			return tx.CreateClinic(ctx, confidant.Clinic{ID: confidant.NewID(), Name: "New"})
		}); err != nil {
			return err
		}
		after, err := tx.ListClinics(ctx)
		if err != nil {
			return err
		}
		if len(after) != len(before) {
			t.Errorf("View saw a commit made during it: %d clinics, then %d", len(before), len(after))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnavailable checks that a database that cannot be reached gives
// KindUnavailable, not a bare internal error.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	db.Close()
	err := db.View(t.Context(), func(confidant.SealedTx) error { return nil })
	if confidant.KindOf(err) != confidant.KindUnavailable {
		t.Errorf("View on a closed store = %v, want KindUnavailable", err)
	}
}
