package postgres

import (
	"context"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/jackc/pgx/v5"
)

// Sign-in throttling: failed sign-ins per (client key, account). The client
// key is a keyed hash made by internal/seal; this store never sees a client
// address.

func (t *tx) LoginFailures(ctx context.Context, clientKey []byte, account string) (confidant.LoginFailures, error) {
	var f confidant.LoginFailures
	if clientKey == nil {
		clientKey = []byte{}
	}
	err := t.tx.QueryRow(t.c(ctx), `SELECT
		coalesce((SELECT failures FROM login_failures WHERE client_key = $1 AND account = $2), 0),
		(SELECT last_failure FROM login_failures WHERE client_key = $1 AND account = $2),
		coalesce((SELECT sum(failures) FROM login_failures WHERE client_key = $1), 0)::bigint,
		(SELECT max(last_failure) FROM login_failures WHERE client_key = $1),
		coalesce((SELECT sum(failures) FROM login_failures WHERE account = $2), 0)::bigint`, clientKey, account).
		Scan(&f.Pair, tm(&f.PairLast), &f.Client, tm(&f.ClientLast), &f.Account)
	return f, mapErr(err, "login failures", "")
}

func (t *tx) FailLogin(ctx context.Context, clientKey []byte, account string, at time.Time) error {
	if clientKey == nil {
		clientKey = []byte{}
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO login_failures (client_key, account, failures, last_failure) VALUES ($1, $2, 1, $3)
		ON CONFLICT (client_key, account) DO UPDATE SET failures = login_failures.failures + 1,
			last_failure = greatest(login_failures.last_failure, excluded.last_failure)`,
		clientKey, account, at.UTC())
	return mapErr(err, "fail login", "")
}

func (t *tx) ClearLoginFailures(ctx context.Context, clientKey []byte, account string) error {
	if clientKey == nil {
		clientKey = []byte{}
	}
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM login_failures WHERE client_key = $1 AND account = $2`, clientKey, account)
	return mapErr(err, "clear login failures", "")
}

func (t *tx) ClearAccountFailures(ctx context.Context, account string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM login_failures WHERE account = $1`, account)
	return mapErr(err, "clear account failures", "")
}

func (t *tx) ListLoginFailures(ctx context.Context, limit int) ([]confidant.ThrottledAccount, error) {
	if limit < 0 {
		return nil, invalid("invalid_limit", "The limit must not be negative.")
	}
	var q query
	sql := `SELECT account, sum(failures)::bigint, count(*)::bigint, max(failures), max(last_failure)
		FROM login_failures GROUP BY account ORDER BY max(last_failure) DESC, account` + q.limitSQL(limit, 0)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	out, err := collect(rows, func(r pgx.CollectableRow) (confidant.ThrottledAccount, error) {
		var a confidant.ThrottledAccount
		err := r.Scan(&a.AccountID, &a.Failures, &a.Clients, &a.MaxFailures, tm(&a.LastFailure))
		return a, err
	})
	return out, mapErr(err, "list login failures", "")
}

func (t *tx) DeleteLoginFailures(ctx context.Context, before time.Time) (int, error) {
	tag, err := t.tx.Exec(t.c(ctx), `DELETE FROM login_failures WHERE last_failure < $1`, before.UTC())
	if err != nil {
		return 0, mapErr(err, "delete login failures", "")
	}
	return int(tag.RowsAffected()), nil
}
