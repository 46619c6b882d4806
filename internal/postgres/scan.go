package postgres

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ts prepares a time for a nullable timestamptz column: the zero time is
// NULL, anything else is stored in UTC (PostgreSQL keeps microseconds).
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// nullBytes prepares a byte slice for a nullable bytea column: empty is
// NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullText prepares a string for a nullable text column: "" is NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// timeDest scans a nullable timestamptz: NULL is the zero time, anything
// else is returned in UTC.
type timeDest struct{ p *time.Time }

func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*d.p = time.Time{}
		return nil
	}
	*d.p = v.Time.UTC()
	return nil
}

// tm returns a scan destination for a nullable timestamptz column.
func tm(p *time.Time) timeDest { return timeDest{p} }

// textDest scans a nullable text column: NULL is "".
type textDest struct{ p *string }

func (d textDest) ScanText(v pgtype.Text) error {
	*d.p = v.String // "" when not valid
	return nil
}

// txt returns a scan destination for a nullable text column.
func txt(p *string) textDest { return textDest{p} }

// query builds a statement whose parts are constant SQL and whose values are
// always bound as parameters ($1, $2, ...), never spliced into the text.
type query struct {
	conds []string
	args  []any
}

// arg binds v and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where adds a condition (constant SQL with placeholders from arg).
func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

// whereSQL returns " WHERE c1 AND c2 ..." or "".
func (q *query) whereSQL() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// limitSQL returns " LIMIT $n OFFSET $m" for limit > 0 and offset > 0.
func (q *query) limitSQL(limit, offset int) string {
	s := ""
	if limit > 0 {
		s += " LIMIT " + q.arg(limit)
	}
	if offset > 0 {
		s += " OFFSET " + q.arg(offset)
	}
	return s
}

// collect returns the rows mapped by fn; nil when there are none.
func collect[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	return pgx.AppendRows([]T(nil), rows, fn)
}
