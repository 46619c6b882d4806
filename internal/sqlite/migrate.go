package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"database/sql/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema change: migrations/NNNN_name.sql brings the schema
// from version NNNN-1 to NNNN.
type migration struct {
	version int
	name    string // file name without .sql, e.g. "0001_init"
	sql     string
}

// migrations are the known schema changes in order; the schema version this
// binary is written for is len(migrations).
var migrations = mustLoadMigrations(migrationFiles)

// mustLoadMigrations reads the migration files and checks that they are
// numbered 1, 2, 3... without gaps. A mistake there is a build error in
// spirit, so it panics (and TestMigrationFiles catches it).
func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for i, file := range names { // fs.Glob returns names sorted
		name := strings.TrimSuffix(path.Base(file), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("sqlite: migration %s: name must be NNNN_description.sql", file)
		}
		if v != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: want version %d (no gaps or duplicates)", file, i+1)
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// LatestVersion is the schema version this binary is written for.
func LatestVersion() int { return len(migrations) }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// SchemaVersion returns the version of the database's schema: the highest
// applied migration, or 0 for a new database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, db.reader)
	if err != nil {
		return 0, dbErr("schema version", err)
	}
	return v, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	err := q.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&exists)
	if err != nil || !exists {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// ErrSchemaTooNew is returned (wrapped) by Open and Migrate for a database
// whose schema was written by a newer version of Confidant.
var ErrSchemaTooNew = errors.New("sqlite: the database schema is newer than this program; upgrade Confidant")

func (db *DB) checkVersion(ctx context.Context) error {
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > LatestVersion() {
		return fmt.Errorf("%w (database: version %d, this program: up to %d)", ErrSchemaTooNew, v, LatestVersion())
	}
	return nil
}

// ErrLegacyPending is returned (wrapped) by Migrate, and by Open unless
// Options.NoMigrate is set, while plaintext patients of schema 1 are still
// waiting in the v1_ tables: Migrate has applied every migration up to the
// one that drops those tables, and stops there. The caller seals them
// (internal/seal reads them with LegacyPatients and LegacyRecords and
// removes each with DeleteLegacyPatient) and calls Migrate again.
var ErrLegacyPending = errors.New("sqlite: the database holds plaintext patient records from before encryption at rest; they must be encrypted before the last migration")

// dropsLegacy is the version of the migration that drops the v1_ tables.
const dropsLegacy = 3

// Migrate applies the pending migrations in order, each in its own
// transaction together with its row in schema_migrations, so an interrupted
// run leaves the schema at a known version and can simply be repeated.
// progress, if not nil, is called after each applied migration with the
// number applied so far, the number pending at the start, and the
// migration's name. Migrate is safe to run concurrently with another
// process doing the same: each step re-checks the version under the write
// lock.
//
// Migrate stops with an error wrapping ErrLegacyPending before the migration
// that drops the plaintext tables of schema 1 while they still hold
// patients.
func (db *DB) Migrate(ctx context.Context, progress func(applied, total int, name string)) error {
	return db.migrateTo(ctx, LatestVersion(), progress)
}

// migrateTo applies the pending migrations up to version target.
func (db *DB) migrateTo(ctx context.Context, target int, progress func(applied, total int, name string)) error {
	if _, err := db.writer.ExecContext(ctx, createMigrationsTable); err != nil {
		return dbErr("create schema_migrations", err)
	}
	start, err := schemaVersion(ctx, db.writer)
	if err != nil {
		return dbErr("schema version", err)
	}
	if start > LatestVersion() {
		return fmt.Errorf("%w (database: version %d, this program: up to %d)", ErrSchemaTooNew, start, LatestVersion())
	}
	target = min(target, LatestVersion())
	total := max(target-start, 0)
	applied := 0
	for _, m := range migrations[min(start, target):target] {
		did, err := db.apply(ctx, m)
		if err != nil {
			return err
		}
		if !did {
			continue
		}
		applied++
		if progress != nil {
			progress(applied, total, m.name)
		}
		if m.version == dropsLegacy {
			// The plaintext tables are gone; move the pages SQLite
			// overwrote (secure_delete) out of the write-ahead log too.
			db.ckpt.truncate()
		}
	}
	return nil
}

// apply runs one migration unless another process has applied it already.
//
// Foreign keys are switched off while it runs (they cannot be switched
// inside a transaction), as SQLite's procedure for schema changes requires:
// a migration may rename and rebuild tables that others refer to. The
// references are checked with foreign_key_check before commit instead.
func (db *DB) apply(ctx context.Context, m migration) (applied bool, err error) {
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return false, dbErr("migrate: connect", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return false, dbErr("migrate: foreign keys off", err)
	}
	defer func() {
		// Use a fresh context: the connection goes back to the pool and
		// must have foreign keys on whatever happened to ctx.
		if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); ferr != nil {
			// A connection without foreign keys must not be reused.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = dbErr("migrate: foreign keys on", ferr)
			}
		}
	}()

	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		return false, dbErr("migrate: begin", err)
	}
	defer tx.Rollback()
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, dbErr("migrate: schema version", err)
	}
	if v >= m.version {
		return false, nil
	}
	if v != m.version-1 {
		return false, fmt.Errorf("sqlite: migrate %s: database is at version %d", m.name, v)
	}
	if m.version == dropsLegacy {
		n, err := legacyPending(ctx, tx)
		if err != nil {
			return false, dbErr("migrate: legacy patients", err)
		}
		if n > 0 {
			return false, fmt.Errorf("%w (%d patients; migration %s not applied)", ErrLegacyPending, n, m.name)
		}
	}
	// No arguments: the driver runs the whole script.
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return false, dbErr("migrate: record version", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: commit: %w", m.name, err)
	}
	return true, nil
}

// foreignKeyCheck fails if any reference is broken, which a migration that
// rebuilds tables can do without an error while foreign keys are off.
//
// One kind of dangling reference is expected: between migrations 2 and 3,
// a row that refers to a patient (care) whose plaintext row still waits in
// v1_patients for the sealing upgrade. Those are accepted; migration 3 is
// applied only when v1_patients is empty, and is checked without them.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	type violation struct {
		table, parent string
		rowid         sql.NullInt64
		fkid          int
	}
	var vs []violation
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v violation
		if err := rows.Scan(&v.table, &v.rowid, &v.parent, &v.fkid); err != nil {
			rows.Close()
			return err
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, v := range vs {
		ok, err := waitsForUpgrade(ctx, tx, v.table, v.parent, v.rowid, v.fkid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("broken reference from table %s to table %s", v.table, v.parent)
		}
	}
	return nil
}

// waitsForUpgrade reports whether the broken reference fkid of row rowid of
// table points at a patient still in v1_patients.
func waitsForUpgrade(ctx context.Context, tx *sql.Tx, table, parent string, rowid sql.NullInt64, fkid int) (bool, error) {
	if parent != "patients" || !rowid.Valid {
		return false, nil
	}
	var exists bool
	err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'v1_patients')`).Scan(&exists)
	if err != nil || !exists {
		return false, err
	}
	// The column of the reference. Table and column names come from the
	// schema, not from input; they are quoted as identifiers.
	var column string
	var n int
	err = tx.QueryRowContext(ctx,
		`SELECT min("from"), count(*) FROM pragma_foreign_key_list(?) WHERE id = ?`, table, fkid).Scan(&column, &n)
	if err != nil || n != 1 {
		return false, err
	}
	err = tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM v1_patients WHERE id = (SELECT `+quoteIdent(column)+` FROM `+quoteIdent(table)+` WHERE rowid = ?))`,
		rowid.Int64).Scan(&exists)
	return exists, err
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
