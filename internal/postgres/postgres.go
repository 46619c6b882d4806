// Package postgres implements confidant.SealedStore on PostgreSQL with pgx
// and pgxpool.
//
// The store never sees clinical content or identifying patient data in the
// clear: internal/seal hands it ciphertext (the Data fields of the Sealed*
// rows, stored as bytea) and blind indexes (bytea, matched exactly), and
// makes a confidant.Store of it. Ids, clinics, authors, record types,
// statuses, times and sizes are stored in the clear (docs/SECURITY.md's
// documented leakage) so that lists can be filtered and ordered in SQL.
//
// The schema is created and upgraded by versioned SQL migrations embedded in
// the binary (migrations/NNNN_name.sql). Open applies pending migrations
// unless Options.NoMigrate is set, and refuses a database whose schema is
// newer than the binary knows.
//
// Upgrading from schema 1 (plaintext) keeps the old records under v1_ table
// names until internal/seal has sealed them: see LegacyPatients and
// ErrLegacyPending. A program that drives that upgrade opens with
// NoMigrate, calls Migrate, and on ErrLegacyPending seals the legacy
// records and calls Migrate again.
//
// Transactions:
//
//   - Update runs in a READ COMMITTED read-write transaction. Methods that
//     check state before changing it (signing a note, ending a care
//     relationship, ...) lock the rows they depend on (SELECT ... FOR UPDATE)
//     or change them with a conditional UPDATE, so they are correct without
//     SERIALIZABLE. Update never retries once fn has been called: fn may have
//     side effects outside the database. Only starting the transaction is
//     retried, and only when pgconn reports that nothing reached the server.
//     A serialization failure or deadlock that reaches the caller, and a
//     transaction that cannot be started at all, is a *confidant.Error of
//     KindUnavailable: the caller may try again. A COMMIT whose answer was
//     lost (the connection broke after it was sent) is
//     confidant.ErrOutcomeUnknown: the change may or may not be saved, and
//     the caller must look before trying again.
//   - View runs in a READ ONLY REPEATABLE READ transaction: every statement
//     in fn sees the same snapshot.
//
// Errors are *confidant.Error: KindNotFound for unknown ids, KindConflict for
// unique violations and broken state rules, KindUnavailable with code
// "database_unavailable" when the database cannot be reached or used (a
// broken connection, a shutdown, insufficient resources), KindInternal
// otherwise. Server error messages and details can quote values (a blind
// index or a username, say), so they never reach an error string; only
// SQLSTATE, constraint, table and column names do.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confidanthealth/confidant"
)

// Options configures Open. The zero value is valid.
type Options struct {
	// Schema, when set, is the only schema on the search_path of every
	// connection; Migrate creates it if needed. Tests use a fresh schema
	// each to run in isolation. It must match [a-z_][a-z0-9_]{0,62}.
	Schema string
	// NoMigrate makes Open leave pending migrations alone (for example, so
	// that `confidant migrate` can apply them with progress output). Open
	// still refuses a schema newer than the binary.
	NoMigrate bool
	// MaxConns caps the pool size; 0 keeps the pgxpool default (the larger
	// of 4 and the number of CPUs) or pool_max_conns from the DSN.
	MaxConns int32
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	if o.Schema != "" && !schemaName.MatchString(o.Schema) {
		return errors.New("postgres: schema name must match [a-z_][a-z0-9_]{0,62}")
	}
	if o.MaxConns < 0 {
		return errors.New("postgres: MaxConns must not be negative")
	}
	return nil
}

// DB is a confidant.SealedStore on a PostgreSQL connection pool. It is safe for
// concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	// addressIndex is set once patients.address_index is known to exist
	// (addressColumn).
	addressIndex atomic.Bool
}

var _ confidant.SealedStore = (*DB)(nil)

// ErrSchemaTooNew is returned (wrapped) by Open and Migrate when the database
// has migrations applied that this binary does not know: it was upgraded by
// a newer version of Confidant, and running an older one against it could
// corrupt data.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this binary")

// Open connects to the database at dsn (a PostgreSQL URL or keyword/value
// string, as accepted by pgxpool.ParseConfig), checks the schema version and,
// unless opts.NoMigrate is set, applies pending migrations (an error
// wrapping ErrLegacyPending means that a schema-1 database has records to be
// sealed: open it with NoMigrate to upgrade it). The caller must Close the
// DB.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse connection string: %w", err)
	}
	if opts.Schema != "" {
		// A startup parameter, not SQL; the name is validated above.
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	db := &DB{pool: pool, schema: opts.Schema}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := db.checkVersion(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if !opts.NoMigrate {
		if err := db.Migrate(ctx, nil); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return db, nil
}

// Close closes all connections of the pool. It waits for connections in use
// to be returned.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Update runs fn in a read-write transaction and commits if fn returns nil.
// If fn returns an error or panics, the transaction is rolled back (and the
// panic continues). The Tx must not be used after fn returns or from more
// than one goroutine at a time.
func (db *DB) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return db.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}, fn)
}

// View runs fn in a read-only transaction on one consistent snapshot
// (REPEATABLE READ). Writes inside fn fail.
func (db *DB) View(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return db.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// beginAttempts is how often run tries to start a transaction. Retrying is
// safe only because fn has not been called yet and pgconn reported that
// nothing was sent (a stale pooled connection, for example).
const beginAttempts = 3

func (db *DB) run(ctx context.Context, opts pgx.TxOptions, fn func(confidant.SealedTx) error) (err error) {
	var ptx pgx.Tx
	for attempt := 1; ; attempt++ {
		ptx, err = db.pool.BeginTx(ctx, opts)
		if err == nil {
			break
		}
		if cerr := ctx.Err(); cerr != nil {
			return mapErr(cerr, "begin transaction", "") // the caller went away: canceled
		}
		if attempt == beginAttempts || !pgconn.SafeToRetry(err) {
			// Nothing ran: the database is unreachable, overloaded or
			// shutting down, so the caller may retry.
			return unavailable("begin transaction", err)
		}
	}
	done := false
	defer func() {
		if done {
			return
		}
		// fn returned an error or panicked: roll back even when ctx is
		// already cancelled, then let the panic continue.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = ptx.Rollback(rctx)
	}()
	if err := fn(&tx{tx: ptx, write: opts.AccessMode == pgx.ReadWrite, addr: &db.addressIndex}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// COMMIT would not be sent; the deferred rollback ends the
		// transaction, so nothing was saved.
		return mapErr(err, "commit", "")
	}
	done = true
	err = ptx.Commit(ctx)
	if opts.AccessMode == pgx.ReadOnly && err != nil {
		// A read-only transaction changed nothing: its outcome is never
		// in doubt (a client that hung up is canceled, not unknown).
		return mapErr(err, "commit", "")
	}
	return commitErr(err)
}

// commitErr maps the error of COMMIT. The outcome is known when the server
// answered with an ordinary error (a deferred constraint, a serialization
// failure: nothing was committed) and when pgx reports that the transaction
// had already failed and COMMIT rolled it back (pgx.ErrTxCommitRollback);
// those errors are mapped as usual. Otherwise COMMIT may have reached the
// server and its answer was lost: the connection broke, was reset or timed
// out, or the server ended the session with a FATAL or PANIC error (an
// administrator or crash shutdown can strike after the commit record is
// durable, while the backend waits for synchronous replication). Then
// whether the transaction committed is unknown, and the error is
// confidant.ErrOutcomeUnknown.
//
// pgconn.SafeToRetry cannot tell the cases apart here: when the answer to
// COMMIT is lost, pgconn (v5.12) closes the connection and then reports
// "conn closed", which claims that nothing was sent (TestCommitAnswerLost).
// The one way COMMIT is known not to be sent, a context that has already
// ended, is checked by run before calling Commit.
func commitErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !sessionEnded(pe) || errors.Is(err, pgx.ErrTxCommitRollback) {
		return mapErr(err, "commit", "")
	}
	return confidant.ErrOutcomeUnknown(fmt.Errorf("postgres: commit: %w", redact(err)))
}

// sessionEnded reports whether pe ended the server session (severity FATAL
// or PANIC) instead of failing only the statement.
func sessionEnded(pe *pgconn.PgError) bool {
	sev := pe.SeverityUnlocalized
	if sev == "" {
		sev = pe.Severity
	}
	return sev == "FATAL" || sev == "PANIC"
}

// tx implements confidant.SealedTx on a pgx.Tx.
type tx struct {
	tx         pgx.Tx
	savepoints int  // savepoints begun, to name the next one (Savepoint)
	write      bool // a read-write transaction (Update)
	// addr is the database's knowledge that patients.address_index exists
	// (nil: assume it does; see addressColumn).
	addr *atomic.Bool
}

// c returns the context for a statement of t: in a read-write transaction,
// ctx without its cancellation. A write transaction may be shared by many
// requests (the access log's sequencer runs a batch of them in one
// transaction, each in a savepoint), and pgx closes the connection when a
// statement's context ends, which would fail every request of the batch
// because one client went away. The sequencer checks each request's
// context before running it; a statement, once started, runs to its end.
func (t *tx) c(ctx context.Context) context.Context {
	if t.write {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

var _ confidant.SealedTx = (*tx)(nil)
