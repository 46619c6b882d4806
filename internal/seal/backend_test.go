package seal_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// The barrier, search, rotation and record tests run on every backend: the
// sealing is done above the SealedStore, so the same proofs must hold
// whatever stores the sealed rows. SQLite always runs; PostgreSQL runs when
// CONFIDANT_TEST_POSTGRES names a server the tests may create and drop
// schemas on (and must in CI).

const (
	sqliteKind   = "sqlite"
	postgresKind = "postgres"
)

// envDSN names the environment variable with the DSN of the PostgreSQL
// server to test on.
const envDSN = "CONFIDANT_TEST_POSTGRES"

// A backend makes fresh, empty databases of one kind.
type backend struct {
	name  string
	newDB func(t testing.TB) *testDB
}

var backends = []backend{
	{sqliteKind, func(t testing.TB) *testDB {
		t.Helper()
		return &testDB{kind: sqliteKind, path: filepath.Join(t.TempDir(), "confidant.db")}
	}},
	{postgresKind, func(t testing.TB) *testDB {
		t.Helper()
		dsn := testDSN(t)
		return &testDB{kind: postgresKind, dsn: dsn, schema: newSchema(t, dsn)}
	}},
}

// forEachBackend runs fn as a subtest on every backend. The PostgreSQL
// subtest skips, loudly, unless CONFIDANT_TEST_POSTGRES is set; in CI it
// fails instead.
func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// testDB is a database of one backend: a SQLite file or a PostgreSQL
// schema (dropped when the test that made it ends).
type testDB struct {
	kind   string
	path   string // SQLite: the database file
	dsn    string // PostgreSQL: the server
	schema string // PostgreSQL: the schema that holds the database
}

// open opens a backend store on d (creating or migrating the database as
// needed), closed when t ends.
func (d *testDB) open(t testing.TB) confidant.SealedStore {
	t.Helper()
	var (
		db  confidant.SealedStore
		err error
	)
	switch d.kind {
	case sqliteKind:
		db, err = sqlite.Open(context.Background(), d.path, sqlite.Options{})
	case postgresKind:
		db, err = postgres.Open(context.Background(), d.dsn, postgres.Options{Schema: d.schema})
	default:
		t.Fatalf("unknown backend %q", d.kind)
	}
	if err != nil {
		t.Fatalf("open %s database: %v", d.kind, err)
	}
	// Registered after the schema's drop, so it runs before it.
	t.Cleanup(func() { db.Close() })
	return db
}

// testDSN returns the DSN of the PostgreSQL server or skips the test.
func testDSN(t testing.TB) string {
	t.Helper()
	return testfix.PostgresDSN(t, "the PostgreSQL run of the seal barrier, search, rotation and record tests")
}

// newSchema returns a fresh schema dropped when the test ends.
func newSchema(t testing.TB, dsn string) string {
	t.Helper()
	return testfix.PostgresSchema(t, dsn, "seal_test_")
}

// pgDump returns a plain-text pg_dump of the PostgreSQL database d.
func pgDump(t testing.TB, d *testDB) []byte {
	t.Helper()
	if d.kind != postgresKind {
		t.Fatalf("pg_dump of a %s database", d.kind)
	}
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatalf("pg_dump not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--dbname", d.dsn, "--schema", d.schema, "--no-owner", "--no-privileges")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump of %s: %v\n%s", d.schema, err, stderr.Bytes())
	}
	return out
}
