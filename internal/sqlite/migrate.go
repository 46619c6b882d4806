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

// Migrate applies the pending migrations in order, each in its own
// transaction together with its row in schema_migrations, so an interrupted
// run leaves the schema at a known version and can simply be repeated.
// progress, if not nil, is called after each applied migration with the
// number applied so far, the number pending at the start, and the
// migration's name. Migrate is safe to run concurrently with another
// process doing the same: each step re-checks the version under the write
// lock.
func (db *DB) Migrate(ctx context.Context, progress func(applied, total int, name string)) error {
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
	total := LatestVersion() - start
	applied := 0
	for _, m := range migrations[start:] {
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
	}
	return nil
}

// apply runs one migration unless another process has applied it already.
func (db *DB) apply(ctx context.Context, m migration) (bool, error) {
	tx, err := db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
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

// foreignKeyCheck fails if any reference is broken. Migrations that rebuild
// tables can break references without an error, because foreign keys cannot
// be switched off inside a transaction; this catches that before commit.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("broken reference from table %s to table %s", table, parent)
	}
	return rows.Err()
}
