package testfix

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the environment variable with the DSN of the PostgreSQL
// server that tests use.
const EnvPostgres = "CONFIDANT_TEST_POSTGRES"

// PostgresDSN returns the test server's DSN or skips the test, loudly:
// PostgreSQL tests are optional on a laptop and mandatory in CI, where (CI
// set in the environment) a missing DSN fails the test instead. what names
// the tests in the message.
func PostgresDSN(t testing.TB, what string) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		msg := what + ": set " + EnvPostgres + "=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run them (mandatory in CI)"
		if os.Getenv("CI") != "" {
			t.Fatal("FAILING " + msg)
		}
		t.Skip("SKIPPING " + msg)
	}
	return dsn
}

// PostgresSchema returns the name of a fresh schema (prefix plus random
// hex) that is dropped when the test ends, so tests leave nothing behind.
// The schema itself is created by postgres.Open (or by restoring a dump).
func PostgresSchema(t testing.TB, dsn, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return name
}
