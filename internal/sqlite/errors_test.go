package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/confidanthealth/confidant"
)

// TestErrKinds checks the classification of SQLite's result codes: a full
// disk, I/O errors and lock contention are KindUnavailable (503), and an
// I/O error at COMMIT leaves the outcome unknown.
func TestErrKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		kind   confidant.Kind
		code   string
		commit string // code from commitErr
	}{
		{"disk full", sqlite3.FULL, confidant.KindUnavailable, "database_unavailable", "database_unavailable"},
		{"I/O error", sqlite3.IOERR, confidant.KindUnavailable, "database_unavailable", confidant.CodeOutcomeUnknown},
		{"write failed", fmt.Errorf("exec: %w", sqlite3.IOERR_WRITE), confidant.KindUnavailable, "database_unavailable", confidant.CodeOutcomeUnknown},
		{"fsync failed", sqlite3.IOERR_FSYNC, confidant.KindUnavailable, "database_unavailable", confidant.CodeOutcomeUnknown},
		{"busy", sqlite3.BUSY, confidant.KindUnavailable, "database_busy", "database_busy"},
		{"busy timeout", sqlite3.BUSY_TIMEOUT, confidant.KindUnavailable, "database_busy", "database_busy"},
		{"locked", sqlite3.LOCKED, confidant.KindUnavailable, "database_busy", "database_busy"},
		{"interrupted", sqlite3.INTERRUPT, confidant.KindUnavailable, "canceled", "canceled"},
		{"canceled", context.Canceled, confidant.KindUnavailable, "canceled", "canceled"},
		{"foreign key", sqlite3.CONSTRAINT_FOREIGNKEY, confidant.KindNotFound, "not_found", "not_found"},
		{"corrupt", sqlite3.CORRUPT, confidant.KindInternal, "internal", "internal"},
		{"other", errors.New("something else"), confidant.KindInternal, "internal", "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dbErr("test", tc.err)
			if confidant.KindOf(got) != tc.kind || confidant.CodeOf(got) != tc.code {
				t.Errorf("dbErr(%v) = %v (kind %v), want kind %v, code %q", tc.err, got, confidant.KindOf(got), tc.kind, tc.code)
			}
			if got := commitErr(tc.err); confidant.CodeOf(got) != tc.commit {
				t.Errorf("commitErr(%v) = %v, want code %q", tc.err, got, tc.commit)
			}
		})
	}
}

// TestDiskFull fills the database up to a page limit: the write that does
// not fit is refused as unavailable, and the database is usable after.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var pages int
	if err := db.writer.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer has exactly one connection, so the limit holds for Update.
	if _, err := db.writer.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.PutAttachmentChunk(ctx, confidant.NewID(), 0, make([]byte, 256<<10))
	})
	if confidant.KindOf(err) != confidant.KindUnavailable || confidant.CodeOf(err) != "database_unavailable" {
		t.Fatalf("Update on a full database = %v (kind %v), want database_unavailable", err, confidant.KindOf(err))
	}
	if !errors.Is(err, sqlite3.FULL) {
		t.Errorf("Update on a full database = %v, want it to wrap SQLITE_FULL", err)
	}
	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.CreateClinic(ctx, confidant.Clinic{ID: confidant.NewID(), Name: "Small", CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		t.Errorf("a small Update after the full one: %v", err)
	}
}
