package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/faultproxy"
)

// retryable is an error that pgconn.SafeToRetry recognises: nothing was sent.
type retryable struct{ err error }

func (e retryable) Error() string     { return "nothing sent: " + e.err.Error() }
func (e retryable) Unwrap() error     { return e.err }
func (e retryable) SafeToRetry() bool { return true }

// TestMapErrConnection checks that failures of the connection or of the
// server as a whole are KindUnavailable, and that statement errors are not.
func TestMapErrConnection(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name string
		err  error
		kind confidant.Kind
		code string
	}{
		{"EOF", fmt.Errorf("receive message failed: %w", io.EOF), confidant.KindUnavailable, "database_unavailable"},
		{"unexpected EOF", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), confidant.KindUnavailable, "database_unavailable"},
		{"connection reset", fmt.Errorf("write failed: %w", reset), confidant.KindUnavailable, "database_unavailable"},
		{"use of closed connection", net.ErrClosed, confidant.KindUnavailable, "database_unavailable"},
		{"conn closed", retryable{pgconn.ErrConnClosed}, confidant.KindUnavailable, "database_unavailable"},
		{"network timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, confidant.KindUnavailable, "database_unavailable"},
		{"the caller's deadline", fmt.Errorf("timeout: %w", context.DeadlineExceeded), confidant.KindUnavailable, "canceled"},
		{"connection failure", &pgconn.PgError{Code: "08006", Message: "connection failure"}, confidant.KindUnavailable, "database_unavailable"},
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"crash shutdown", &pgconn.PgError{Code: "57P02", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"cannot connect now", &pgconn.PgError{Code: "57P03", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"database dropped", &pgconn.PgError{Code: "57P04", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"disk full", &pgconn.PgError{Code: "53100"}, confidant.KindUnavailable, "database_unavailable"},
		{"too many connections", &pgconn.PgError{Code: "53300", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"canceled", fmt.Errorf("receive: %w", context.Canceled), confidant.KindUnavailable, "canceled"},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, confidant.KindUnavailable, "canceled"},
		{"syntax error", &pgconn.PgError{Code: "42601"}, confidant.KindInternal, "internal"},
		{"other", errors.New("something else"), confidant.KindInternal, "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mapErr(tc.err, "test", "")
			if confidant.KindOf(got) != tc.kind || confidant.CodeOf(got) != tc.code {
				t.Errorf("mapErr(%v) = %v (kind %v, code %q), want kind %v, code %q",
					tc.err, got, confidant.KindOf(got), confidant.CodeOf(got), tc.kind, tc.code)
			}
		})
	}
}

// TestCommitErr checks the classification of COMMIT's errors: definite
// failures are mapped as usual, a lost answer is outcome_unknown.
func TestCommitErr(t *testing.T) {
	t.Parallel()
	const secret = "Secret value"
	tests := []struct {
		name string
		err  error
		code string // "" for nil
	}{
		{"committed", nil, ""},
		{"deferred foreign key", &pgconn.PgError{Severity: "ERROR", Code: "23503", ConstraintName: "patient_keys_patient_fkey", Detail: secret}, "not_found"},
		{"serialization failure", &pgconn.PgError{Severity: "ERROR", Code: "40001"}, "try_again"},
		{"disk full at commit", &pgconn.PgError{Severity: "ERROR", Code: "53100"}, "database_unavailable"},
		{"failed transaction rolled back", pgx.ErrTxCommitRollback, "internal"},
		// pgconn reports "conn closed" as safe to retry when the answer
		// to COMMIT was lost (TestCommitAnswerLost).
		{"conn closed", retryable{pgconn.ErrConnClosed}, confidant.CodeOutcomeUnknown},
		{"administrator shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, confidant.CodeOutcomeUnknown},
		{"crash of another backend", &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P02"}, confidant.CodeOutcomeUnknown},
		{"panic", &pgconn.PgError{Severity: "PANIK", SeverityUnlocalized: "PANIC", Code: "XX000", Message: secret}, confidant.CodeOutcomeUnknown},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, confidant.CodeOutcomeUnknown},
		{"unexpected EOF", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), confidant.CodeOutcomeUnknown},
		{"deadline while waiting", fmt.Errorf("timeout: %w", context.DeadlineExceeded), confidant.CodeOutcomeUnknown},
		{"canceled while waiting", context.Canceled, confidant.CodeOutcomeUnknown},
		{"unknown", errors.New("something else"), confidant.CodeOutcomeUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := commitErr(tc.err)
			if tc.code == "" {
				if got != nil {
					t.Fatalf("commitErr(nil) = %v", got)
				}
				return
			}
			if confidant.CodeOf(got) != tc.code {
				t.Fatalf("commitErr(%v) = %v, want code %q", tc.err, got, tc.code)
			}
			if tc.code == confidant.CodeOutcomeUnknown {
				if confidant.KindOf(got) != confidant.KindUnavailable || confidant.MessageOf(got) != confidant.MessageOf(confidant.ErrOutcomeUnknown(nil)) {
					t.Errorf("commitErr(%v) = %v (kind %v), want ErrOutcomeUnknown", tc.err, got, confidant.KindOf(got))
				}
			}
			if !errors.Is(got, tc.err) && !strings.Contains(got.Error(), "SQLSTATE") {
				t.Errorf("commitErr(%v) = %v lost its cause", tc.err, got)
			}
			if strings.Contains(got.Error(), secret) {
				t.Errorf("commitErr(%v) = %q contains data", tc.err, got)
			}
		})
	}
}

// TestCommitAnswerLost runs an Update through a proxy that forwards COMMIT
// to the server and then drops the connection instead of passing the answer
// on: Update must say that the outcome is unknown, and the change is in fact
// saved.
func TestCommitAnswerLost(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	db, err := Open(t.Context(), viaProxy(t, dsn, p.Addr()), Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open through the proxy: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()

	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Saved"}
	dropped := p.DropNextCommitReply()
	err = db.Update(ctx, func(tx confidant.SealedTx) error { return tx.CreateClinic(ctx, clinic) })
	if confidant.CodeOf(err) != confidant.CodeOutcomeUnknown || confidant.KindOf(err) != confidant.KindUnavailable {
		t.Fatalf("Update whose COMMIT answer was lost = %v (kind %v), want %s", err, confidant.KindOf(err), confidant.CodeOutcomeUnknown)
	}
	select {
	case <-dropped: // closed once the proxy has closed both sides
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not drop a COMMIT's answer")
	}
	if n := p.DroppedCommits(); n != 1 {
		t.Fatalf("proxy dropped %d COMMIT answers, want 1", n)
	}
	// The pool drops the broken connection; the next transaction works and
	// finds the clinic that was committed.
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		_, err := tx.Clinic(ctx, clinic.ID)
		return err
	})
	if err != nil {
		t.Errorf("the clinic whose COMMIT answer was lost: %v; want it saved", err)
	}
}

// TestCommitNotSent checks that a transaction whose context ends before
// COMMIT is rolled back and reported as cancelled, not as outcome_unknown.
func TestCommitNotSent(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Not saved"}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		err := tx.CreateClinic(ctx, clinic)
		cancel()
		return err
	})
	if confidant.CodeOf(err) != "canceled" {
		t.Fatalf("Update with a context ended before COMMIT = %v, want code canceled", err)
	}
	err = db.View(t.Context(), func(tx confidant.SealedTx) error {
		_, err := tx.Clinic(t.Context(), clinic.ID)
		return err
	})
	if !confidant.IsKind(err, confidant.KindNotFound) {
		t.Errorf("clinic of a cancelled Update: %v, want not found", err)
	}
}

// viaProxy returns dsn with host and port replaced by addr's, and TLS off
// (the proxy reads the protocol).
func viaProxy(t *testing.T, dsn, addr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("host", host)
		q.Set("port", port)
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " host=" + host + " port=" + port + " sslmode=disable"
}

// TestCanceledIsNotUnavailable: a transaction whose caller has gone away
// before it began is "canceled", not "the database is not available" (a
// client hanging up must not read as an outage in the server's log).
func TestCanceledIsNotUnavailable(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, run := range map[string]func(context.Context, func(confidant.SealedTx) error) error{"View": db.View, "Update": db.Update} {
		err := run(ctx, func(confidant.SealedTx) error { return nil })
		if confidant.CodeOf(err) != "canceled" {
			t.Errorf("%s with a canceled context = %v, want code canceled", name, err)
		}
	}
}
