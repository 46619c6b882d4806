package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/confidanthealth/confidant"
)

// Sign-in throttling: failed sign-ins per (client key, account). The client
// key is a keyed hash made by internal/seal; this store never sees a client
// address.

func (t *tx) LoginFailures(ctx context.Context, clientKey []byte, account string) (confidant.LoginFailures, error) {
	var f confidant.LoginFailures
	key := nonNil(clientKey)
	err := t.queryRow(ctx, `SELECT
		coalesce((SELECT failures FROM login_failures WHERE client_key = ?1 AND account = ?2), 0),
		(SELECT last_failure FROM login_failures WHERE client_key = ?1 AND account = ?2),
		coalesce((SELECT sum(failures) FROM login_failures WHERE client_key = ?1), 0),
		(SELECT max(last_failure) FROM login_failures WHERE client_key = ?1),
		coalesce((SELECT sum(failures) FROM login_failures WHERE account = ?2), 0)`, key, account).
		Scan(&f.Pair, tm(&f.PairLast), &f.Client, tm(&f.ClientLast), &f.Account)
	return f, dbErr("login failures", err)
}

func (t *tx) FailLogin(ctx context.Context, clientKey []byte, account string, at time.Time) error {
	_, err := t.exec(ctx, "fail login",
		`INSERT INTO login_failures (client_key, account, failures, last_failure) VALUES (?, ?, 1, ?)
		ON CONFLICT (client_key, account) DO UPDATE SET failures = failures + 1,
			last_failure = max(last_failure, excluded.last_failure)`,
		nonNil(clientKey), account, at.UnixMicro())
	return err
}

func (t *tx) ClearLoginFailures(ctx context.Context, clientKey []byte, account string) error {
	_, err := t.exec(ctx, "clear login failures",
		`DELETE FROM login_failures WHERE client_key = ? AND account = ?`, nonNil(clientKey), account)
	return err
}

func (t *tx) ClearAccountFailures(ctx context.Context, account string) error {
	_, err := t.exec(ctx, "clear account failures", `DELETE FROM login_failures WHERE account = ?`, account)
	return err
}

func (t *tx) ListLoginFailures(ctx context.Context, n int) ([]confidant.ThrottledAccount, error) {
	var out []confidant.ThrottledAccount
	err := t.list(ctx, "list login failures",
		`SELECT account, sum(failures), count(*), max(failures), max(last_failure)
		FROM login_failures GROUP BY account ORDER BY max(last_failure) DESC, account`+limitOffset,
		limit(n, 0),
		func(r *sql.Rows) error {
			var a confidant.ThrottledAccount
			err := r.Scan(&a.AccountID, &a.Failures, &a.Clients, &a.MaxFailures, tm(&a.LastFailure))
			out = append(out, a)
			return err
		})
	return out, err
}

func (t *tx) DeleteLoginFailures(ctx context.Context, before time.Time) (int, error) {
	n, err := t.exec(ctx, "delete login failures", `DELETE FROM login_failures WHERE last_failure < ?`, before.UnixMicro())
	return int(n), err
}
