package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confidanthealth/confidant"
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
		{"deadline", fmt.Errorf("timeout: %w", context.DeadlineExceeded), confidant.KindUnavailable, "database_unavailable"},
		{"connection failure", &pgconn.PgError{Code: "08006", Message: "connection failure"}, confidant.KindUnavailable, "database_unavailable"},
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"crash shutdown", &pgconn.PgError{Code: "57P02", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
		{"cannot connect now", &pgconn.PgError{Code: "57P03", Severity: "FATAL"}, confidant.KindUnavailable, "database_unavailable"},
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
