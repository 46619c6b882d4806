package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confidanthealth/confidant"
)

// tx implements confidant.SealedTx on one database/sql transaction.
type tx struct {
	tx     *sql.Tx
	cache  *stmtCache // nil: no statement cache
	missed []string   // queries run unprepared, for learn
	// shred asks for a checkpoint after commit: the transaction deleted
	// key material, and the write-ahead log still holds the pages it was on.
	shred bool
	// depth is the number of open savepoints (Savepoint).
	depth int
	// broken, if set, is why the transaction must not commit: a savepoint
	// could not be rolled back, so what it should have undone may remain.
	broken error
	// addr is the database's knowledge that patients.address_index exists
	// (nil: assume it does; see addressColumn).
	addr *atomic.Bool
}

// stmt returns the cached prepared statement for query, bound to the
// transaction, or nil (the miss is noted).
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	if s := t.cache.lookup(query); s != nil {
		return t.tx.StmtContext(ctx, s)
	}
	t.missed = append(t.missed, query)
	return nil
}

// learn prepares the queries this transaction ran unprepared; it must be
// called after the transaction has ended (see stmtCache).
func (t *tx) learn(ctx context.Context) {
	if t.cache != nil && len(t.missed) > 0 && ctx.Err() == nil {
		t.cache.prepare(ctx, t.missed)
	}
}

func (t *tx) execContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *tx) queryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

var _ confidant.SealedTx = (*tx)(nil)

// exec runs a statement and returns the number of rows it changed.
func (t *tx) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := t.execContext(ctx, query, args...)
	if err != nil {
		return 0, dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr(op, err)
	}
	return n, nil
}

// execOne runs a statement that must change exactly one row of a record of
// kind what; it returns NotFound if it changed none.
func (t *tx) execOne(ctx context.Context, what, op, query string, args ...any) error {
	n, err := t.exec(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

// get scans a single row into dest; no row is NotFound for a record of kind
// what.
func (t *tx) get(ctx context.Context, what, op, query string, args []any, dest ...any) error {
	err := t.queryRow(ctx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what)
	}
	return dbErr(op, err)
}

// list runs query and calls scan for each row.
func (t *tx) list(ctx context.Context, op, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := t.queryContext(ctx, query, args...)
	if err != nil {
		return dbErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return dbErr(op, err)
		}
	}
	return dbErr(op, rows.Err())
}

// Times are INTEGER unix microseconds in UTC; the zero time is NULL.

// micros converts t for storage: finer precision is truncated.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeScanner scans a time column into *t.
type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want INTEGER", src)
	}
	return nil
}

// tm returns a scan destination for a time column.
func tm(t *time.Time) timeScanner { return timeScanner{t} }

// nonNil returns b, or an empty slice for nil (nil would be stored as NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// filter collects the conditions of a WHERE clause. Conditions are constant
// SQL written in this package; every value goes in args.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

// where returns " WHERE c1 AND c2 ..." or "".
func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// and returns " AND c1 AND c2 ..." or "", for queries with a fixed WHERE.
func (f *filter) and() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(f.conds, " AND ")
}

// LIMIT clauses with their values bound. A bare "LIMIT ?" lets SQLite plan
// with the bound value, and it then recompiles the statement every time a
// value is bound, which defeats the statement cache; "? + 0" is an
// expression, evaluated when the statement runs.
const (
	limitOne    = " LIMIT ? + 0"          // argument: limitArg
	limitOffset = " LIMIT ? + 0 OFFSET ?" // arguments: limit
)

// limit returns the arguments of limitOffset: n <= 0 means no limit (which
// SQLite spells -1).
func limit(n, offset int) []any {
	return []any{limitArg(n), max(offset, 0)}
}

// limitArg returns the argument of limitOne.
func limitArg(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// index converts a blind index for storage: an empty one is NULL, which
// no lookup matches.
func index(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
