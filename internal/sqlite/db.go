// Package sqlite implements confidant.SealedStore on SQLite, using the
// pure-Go (WebAssembly, no cgo) driver github.com/ncruces/go-sqlite3. It
// never sees clinical content or identifying patient data in the clear:
// those arrive sealed by internal/seal, as opaque BLOBs and blind indexes.
//
// A DB holds one writer connection, on which every Update runs as a
// BEGIN IMMEDIATE transaction, so writers are serialised inside the process
// and take the write lock up front instead of failing half-way with
// SQLITE_BUSY; and a small pool of read-only (query_only) connections for
// View, which in WAL mode read a consistent snapshot without blocking the
// writer.
//
// The schema is versioned by the SQL files in migrations/, applied in order
// by Migrate and recorded in the schema_migrations table. A database written
// before encryption at rest (schema 1) is upgraded in place: see
// ErrLegacyPending and DB.LegacyPatients.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// NoMigrate makes Open leave pending migrations alone; the caller then
	// runs Migrate itself (for example to report progress). A database whose
	// schema is newer than this binary is refused either way.
	NoMigrate bool
	// Readers is the number of read-only connections used by View; 0 means
	// DefaultReaders.
	Readers int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process before failing; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// RelaxedSync trades durability for write speed: synchronous=NORMAL
	// instead of FULL, so a power loss (not a program crash) may lose the
	// last committed transactions. For tests and throwaway databases.
	RelaxedSync bool
}

// Defaults for Options.
const (
	DefaultReaders     = 4
	DefaultBusyTimeout = 5 * time.Second
)

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	if o.Readers < 0 || o.Readers > 64 {
		return fmt.Errorf("sqlite: Readers must be between 0 and 64, not %d", o.Readers)
	}
	if o.BusyTimeout < 0 {
		return errors.New("sqlite: BusyTimeout must not be negative")
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Readers == 0 {
		o.Readers = DefaultReaders
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	return o
}

// DB is a confidant.SealedStore backed by one SQLite database file.
type DB struct {
	writer      *sql.DB // exactly one connection: Update and Migrate
	reader      *sql.DB // query_only connections: View
	writerStmts *stmtCache
	readerStmts *stmtCache
	ckpt        *checkpointer
	// addressIndex is set once patients.address_index is known to exist
	// (addressColumn).
	addressIndex atomic.Bool
}

var _ confidant.SealedStore = (*DB)(nil)

// Open opens the database at path, creating it (with file mode 0600) if it
// does not exist, and unless opts.NoMigrate is set applies pending
// migrations. It refuses a database whose schema version is newer than this
// binary knows, and (unless opts.NoMigrate is set) one that still holds
// plaintext records of schema 1, with an error wrapping ErrLegacyPending: open
// it with NoMigrate, seal them and call Migrate.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, errors.New("sqlite: path must name a database file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, err
	}

	db := &DB{}
	ckpt, err := startCheckpointer(abs, opts)
	if err != nil {
		return nil, err
	}
	db.ckpt = ckpt
	db.writer, err = driver.Open(abs, func(c *sqlite3.Conn) error {
		if err := c.Exec(connPragmas(opts, false)); err != nil {
			return err
		}
		c.WALHook(ckpt.hook)
		return nil
	})
	if err != nil {
		ckpt.close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)
	// The first query connects, which runs connPragmas.
	var mode string
	if err := db.writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", filepath.Base(abs), err)
	}
	if mode != "wal" {
		// SQLite keeps the old mode when it cannot use WAL (for example on
		// some network file systems); the reader pool relies on WAL.
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal mode is %q, want WAL (is it on a local file system?)", filepath.Base(abs), mode)
	}

	db.reader, err = driver.Open(abs, func(c *sqlite3.Conn) error {
		return c.Exec(connPragmas(opts, true))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.reader.SetMaxOpenConns(opts.Readers)
	db.reader.SetMaxIdleConns(opts.Readers)
	db.writerStmts, db.readerStmts = newStmtCache(db.writer), newStmtCache(db.reader)

	if err := db.checkVersion(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.NoMigrate {
		if err := db.Migrate(ctx, nil); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := createPrivate(abs); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createPrivate creates the database file with mode 0600 if it does not
// exist, and gives the -wal and -shm files SQLite keeps next to it the mode
// of the database file. SQLite's C library copies the mode itself; the
// WebAssembly build's file system layer creates them with 0666 minus the
// umask, which would let other local users read the write-ahead log.
//
// Open calls it twice: before opening, so the files of an existing database
// are private before anything is written to them, and after migrating,
// because SQLite deletes and recreates the write-ahead log of a database
// that was still empty.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	mode := fi.Mode().Perm()
	for _, p := range []string{path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, mode)
		if err != nil {
			return fmt.Errorf("sqlite: create %s: %w", filepath.Base(p), err)
		}
		err = f.Chmod(mode) // it may have existed with another mode
		f.Close()
		if err != nil {
			return fmt.Errorf("sqlite: set mode of %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// connPragmas returns the statements run on every new connection.
//
// Durability: WAL with synchronous=FULL by default, so the WAL is fsynced
// at every commit and a transaction that Update reported as committed
// survives a power loss or kernel crash. With synchronous=NORMAL
// (Options.RelaxedSync) the WAL is fsynced only at checkpoints: nothing is
// lost when the program crashes and the database is never corrupted, but a
// power loss may roll back the last transactions, e.g. a note a therapist
// has just signed. On the development machine (ext4 on a virtual disk) a
// small write transaction took about 1.2 ms with FULL and 0.15 ms with
// NORMAL (BenchmarkUpdate); writes here are paced by people typing, so the
// stronger guarantee is the default.
func connPragmas(opts Options, readOnly bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PRAGMA busy_timeout = %d;", opts.BusyTimeout.Milliseconds())
	b.WriteString("PRAGMA foreign_keys = ON;")
	// Temporary files (statement and savepoint journals, sorts) stay in
	// memory. A statement journal holds the old content of every page a
	// multi-row statement or a savepoint changes, so on disk it cost an
	// extra write of each page an access-log batch touched (about a third
	// of BenchmarkAppendEvents), and it would leave copies of pages (a
	// wrapped key about to be erased) in deleted temporary files, out of
	// secure_delete's reach.
	b.WriteString("PRAGMA temp_store = MEMORY;")
	if readOnly {
		b.WriteString("PRAGMA query_only = ON;")
	} else {
		// journal_mode is persistent; only the writer sets it.
		b.WriteString("PRAGMA journal_mode = WAL;")
		// Deleted content is overwritten with zeros instead of left in free
		// pages: an erased patient's wrapped key, and the plaintext of
		// schema 1 once sealed, must not be recoverable from the file.
		b.WriteString("PRAGMA secure_delete = ON;")
	}
	if opts.RelaxedSync {
		b.WriteString("PRAGMA synchronous = NORMAL;")
	} else {
		b.WriteString("PRAGMA synchronous = FULL;")
	}
	return b.String()
}

// Close closes all connections. The writer is closed last, which
// checkpoints the WAL into the database file.
func (db *DB) Close() error {
	var errs []error
	if db.writerStmts != nil {
		db.writerStmts.close()
		db.readerStmts.close()
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Update runs fn in a read-write transaction on the writer connection.
// Transactions are serialised: Update waits for the previous one to finish
// (or for ctx to end), so fn must not call Update itself; it would wait for
// itself forever. If fn returns an error, that error is returned
// unchanged and the transaction is rolled back; if fn panics, the
// transaction is rolled back and the panic continues.
func (db *DB) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return db.runWriter(ctx, func(t *tx) error { return fn(t) })
}

// runWriter runs fn in a read-write transaction; see Update.
func (db *DB) runWriter(ctx context.Context, fn func(*tx) error) error {
	return run(ctx, db.writer, db.writerStmts, &db.addressIndex, nil, db.ckpt.truncate, fn)
}

// View runs fn in a read-only transaction with a consistent snapshot. Any
// write inside fn fails.
func (db *DB) View(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return run(ctx, db.reader, db.readerStmts, &db.addressIndex, &sql.TxOptions{ReadOnly: true}, nil, func(t *tx) error { return fn(t) })
}

// run runs fn in a transaction of pool. After a committed transaction that
// overwrote deleted content (t.shred), it calls shredded to truncate the
// write-ahead log.
func run(ctx context.Context, pool *sql.DB, cache *stmtCache, addr *atomic.Bool, opts *sql.TxOptions, shredded func(), fn func(*tx) error) error {
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return dbErr("begin transaction", err)
	}
	t := &tx{tx: stx, cache: cache, addr: addr}
	done := false
	defer func() {
		if !done {
			// fn panicked: keep nothing. The panic continues after the
			// rollback.
			stx.Rollback()
		}
	}()
	err = fn(t)
	if err == nil {
		err = t.broken
	}
	if err != nil {
		done = true
		stx.Rollback()
		t.learn(ctx)
		return err
	}
	done = true // Commit rolls back itself if it fails
	if err := stx.Commit(); err != nil {
		return commitErr(err)
	}
	if t.shred && shredded != nil {
		shredded()
	}
	t.learn(ctx)
	return nil
}

// Errors. Messages name the kind of record, never a value.

func notFound(what string) error {
	return confidant.Errorf(confidant.KindNotFound, "not_found", "The %s was not found.", what)
}

func conflict(code, format string, args ...any) error {
	return confidant.Errorf(confidant.KindConflict, code, format, args...)
}

// dbErr classifies an error from the database. sql.ErrNoRows must be
// handled by the caller, which knows what was looked for. A full disk
// (SQLITE_FULL) and I/O errors (SQLITE_IOERR_*) are KindUnavailable with
// code "database_unavailable", as the PostgreSQL store reports a full disk
// or a lost connection; lock contention (SQLITE_BUSY, SQLITE_LOCKED) is
// KindUnavailable with code "database_busy".
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	cause := fmt.Errorf("sqlite: %s: %w", op, err)
	var code sqlite3.ExtendedErrorCode // set from *sqlite3.Error and bare codes alike
	if !errors.As(err, &code) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return confidant.Wrap(cause, confidant.KindUnavailable, "canceled", "The request was canceled or took too long.")
		}
		return confidant.Wrap(cause, confidant.KindInternal, "internal", "Database error.")
	}
	switch code {
	case sqlite3.CONSTRAINT_UNIQUE, sqlite3.CONSTRAINT_PRIMARYKEY:
		return confidant.Wrap(cause, confidant.KindConflict, "already_exists", "A record with the same identity already exists.")
	case sqlite3.CONSTRAINT_FOREIGNKEY:
		return confidant.Wrap(cause, confidant.KindNotFound, "not_found", "A record this refers to was not found.")
	case sqlite3.CONSTRAINT_NOTNULL, sqlite3.CONSTRAINT_CHECK:
		return confidant.Wrap(cause, confidant.KindInvalid, "invalid_record", "The record is incomplete or has a value out of range.")
	}
	switch code.Code() {
	case sqlite3.BUSY, sqlite3.LOCKED:
		return confidant.Wrap(cause, confidant.KindUnavailable, "database_busy", "The database is busy; please try again.")
	case sqlite3.INTERRUPT:
		return confidant.Wrap(cause, confidant.KindUnavailable, "canceled", "The request was canceled or took too long.")
	case sqlite3.FULL, sqlite3.IOERR:
		return confidant.Wrap(cause, confidant.KindUnavailable, "database_unavailable", "The database is not available. Please try again later.")
	}
	return confidant.Wrap(cause, confidant.KindInternal, "internal", "Database error.")
}

// commitErr classifies an error of COMMIT. An I/O error there leaves the
// outcome unknown: in WAL mode the commit frame may be in the log although
// its sync failed, and a later recovery would then replay it. Other errors
// (a full disk, a deferred constraint) mean nothing was committed.
func commitErr(err error) error {
	if errors.Is(err, sqlite3.IOERR) {
		return confidant.ErrOutcomeUnknown(fmt.Errorf("sqlite: commit: %w", err))
	}
	return dbErr("commit", err)
}

// isUnique reports whether err is a violation of a UNIQUE index (not of a
// primary key).
func isUnique(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE)
}
