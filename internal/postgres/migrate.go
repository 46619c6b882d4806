package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	version int    // from the file name, 1, 2, ...
	name    string // from the file name, e.g. "init"
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// parseMigrations reads migrations from fsys (files migrations/NNNN_name.sql)
// and checks that their versions are 1, 2, ... without gaps.
func parseMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names { // fs.Glob returns names in lexical order
		m := migrationName.FindStringSubmatch(path.Base(n))
		if m == nil {
			return nil, fmt.Errorf("postgres: migration file %s: name must look like 0001_name.sql", n)
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("postgres: migration file %s: expected version %d", n, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("postgres: no migrations")
	}
	return ms, nil
}

// migrations returns the embedded migrations. A malformed set is a build
// mistake, caught by the package tests.
var migrations = sync.OnceValue(func() []migration {
	ms, err := parseMigrations(migrationFiles)
	if err != nil {
		panic(err)
	}
	return ms
})

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int { return len(migrations()) }

// Advisory lock keys. The second key is derived from the schema, so tests in
// separate schemas do not wait for each other.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtext('confidant.migrate'), hashtext(coalesce(nullif($1, ''), current_schema(), '')))`

// lockSharedSQL takes the same lock shared: migrations wait for its holders
// (see legacyTx) and the other way round.
const lockSharedSQL = `SELECT pg_advisory_xact_lock_shared(hashtext('confidant.migrate'), hashtext(coalesce(nullif($1, ''), current_schema(), '')))`

// SchemaVersion returns the highest migration version applied to the
// database, or 0 if none is.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", redact(err))
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", redact(err))
	}
	return v, nil
}

// checkVersion refuses a schema newer than the binary.
func (db *DB) checkVersion(ctx context.Context) error {
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > LatestVersion() {
		return fmt.Errorf("%w: the database is at version %d, this binary knows versions up to %d; upgrade Confidant", ErrSchemaTooNew, v, LatestVersion())
	}
	return nil
}

// Migrate applies pending migrations in order, each in its own transaction
// that holds a transaction-level advisory lock, so that servers starting at
// the same time apply each migration once. progress, if not nil, is called
// after each migration this call applied, with the number applied so far and
// the number that were pending when Migrate started. Migrate refuses a schema
// newer than the binary (ErrSchemaTooNew) and a schema whose applied
// migrations have other names than the embedded ones.
//
// The last step of the upgrade from schema 1, 0003_drop_legacy, drops the
// plaintext tables of schema 1. While any of their patients remain to be
// sealed (LegacyPending > 0), Migrate applies everything before it and
// returns an error wrapping ErrLegacyPending; run the upgrade (internal/seal)
// and call Migrate again, which applies it and everything after it.
func (db *DB) Migrate(ctx context.Context, progress func(applied, total int, name string)) error {
	return db.migrateTo(ctx, LatestVersion(), progress)
}

// ErrLegacyPending is returned (wrapped) by Migrate, and by Open unless
// Options.NoMigrate is set, while plaintext records of schema version 1
// remain to be sealed: see LegacyPatients. Everything up to the migration
// that would drop them has been applied, so the database is usable as a
// SealedStore; the legacy patients are just not in it yet. Migrations after
// that one wait with it: the access log's tables (0004_audit_log) exist only
// once the upgrade is done.
var ErrLegacyPending = errors.New("postgres: records of schema version 1 remain to be sealed")

// legacyDrop names the migration that drops the v1_ tables.
const legacyDrop = "drop_legacy"

// migrateTo applies pending migrations up to version target (tests build
// old schemas with it).
func (db *DB) migrateTo(ctx context.Context, target int, progress func(applied, total int, name string)) error {
	if err := db.inLockedTx(ctx, db.bootstrap); err != nil {
		return fmt.Errorf("postgres: prepare migrations: %w", redact(err))
	}
	applied, err := db.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	ms := migrations()
	if target < len(ms) {
		ms = ms[:target]
	}
	total := 0
	for _, m := range ms {
		if _, ok := applied[m.version]; !ok {
			total++
		}
	}
	done := 0
	for _, m := range ms {
		ran := false
		err := db.inLockedTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			// Re-check under the lock: another server may have won.
			applied, err := appliedIn(ctx, tx)
			if err != nil {
				return err
			}
			if err := checkApplied(applied); err != nil {
				return err
			}
			if _, ok := applied[m.version]; ok {
				return nil
			}
			if m.name == legacyDrop {
				n, err := legacyPending(ctx, tx)
				if err != nil {
					return err
				}
				if n > 0 {
					return fmt.Errorf("postgres: migration %04d_%s: %w: %d patients; run the upgrade, then migrate again", m.version, m.name, ErrLegacyPending, n)
				}
			}
			// Exec without arguments uses the simple protocol, which runs
			// a multi-statement script.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("postgres: apply migration %04d_%s: %w", m.version, m.name, redact(err))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`, m.version, m.name); err != nil {
				return fmt.Errorf("postgres: record migration %04d_%s: %w", m.version, m.name, redact(err))
			}
			ran = true
			return nil
		})
		if err != nil {
			return err
		}
		if ran {
			done++
			if progress != nil {
				progress(done, total, m.name)
			}
		}
	}
	return nil
}

// bootstrap creates the schema (if configured) and the migrations table.
func (db *DB) bootstrap(ctx context.Context, tx pgx.Tx) error {
	if db.schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{db.schema}.Sanitize()); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
	return err
}

// inLockedTx runs fn in a transaction that first takes the migration lock.
func (db *DB) inLockedTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, db.schema); err != nil {
			return fmt.Errorf("postgres: take migration lock: %w", redact(err))
		}
		return fn(ctx, tx)
	})
}

func (db *DB) appliedMigrations(ctx context.Context) (map[int]string, error) {
	var applied map[int]string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		applied, err = appliedIn(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return applied, checkApplied(applied)
}

func appliedIn(ctx context.Context, tx pgx.Tx) (map[int]string, error) {
	rows, err := tx.Query(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("postgres: read applied migrations: %w", redact(err))
	}
	applied := map[int]string{}
	var v int
	var name string
	_, err = pgx.ForEachRow(rows, []any{&v, &name}, func() error {
		applied[v] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read applied migrations: %w", redact(err))
	}
	return applied, nil
}

// checkApplied compares applied migrations with the embedded ones.
func checkApplied(applied map[int]string) error {
	ms := migrations()
	for v, name := range applied {
		if v > len(ms) {
			return fmt.Errorf("%w: the database has migration %d, this binary knows versions up to %d; upgrade Confidant", ErrSchemaTooNew, v, len(ms))
		}
		if v < 1 || ms[v-1].name != name {
			return fmt.Errorf("postgres: applied migration %d (%s) is not this binary's: the database was migrated by a different build", v, name)
		}
	}
	return nil
}
