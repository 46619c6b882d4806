package postgres

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// prefixRange returns bounds such that, in bytewise (COLLATE "C") order,
// lo <= s < hi holds exactly for the strings s that start with prefix. hi is
// "" when there is no upper bound (prefix consists of U+10FFFF only). ok is
// false when no stored text can start with prefix (it contains NUL or
// invalid UTF-8). Comparing ranges instead of LIKE avoids escaping
// metacharacters and lets a btree index serve the query with bound
// parameters.
//
// For UTF-8, bytewise order is code point order, so incrementing the last
// code point of the prefix gives the smallest string above every extension
// of it.
func prefixRange(prefix string) (lo, hi string, ok bool) {
	if strings.ContainsRune(prefix, 0) || !utf8.ValidString(prefix) {
		return "", "", false
	}
	rs := []rune(prefix)
	for len(rs) > 0 {
		last := rs[len(rs)-1]
		if last == utf8.MaxRune {
			rs = rs[:len(rs)-1]
			continue
		}
		last++
		if last >= 0xD800 && last <= 0xDFFF { // surrogates are not valid in UTF-8
			last = 0xE000
		}
		rs[len(rs)-1] = last
		return prefix, string(rs), true
	}
	return prefix, "", true
}

// collect returns the rows mapped by fn; nil when there are none.
func collect[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	return pgx.AppendRows([]T(nil), rows, fn)
}
