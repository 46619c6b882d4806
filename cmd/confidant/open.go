package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// store is what the commands need of a database beyond confidant.Store.
type store interface {
	confidant.Store
	Migrate(ctx context.Context, progress func(applied, total int, name string)) error
	SchemaVersion(ctx context.Context) (int, error)
}

// sqlitePath is the database file inside the data directory.
func sqlitePath(c Config) string { return filepath.Join(c.Data, "confidant.db") }

// openStore opens the configured database without migrating it.
func openStore(ctx context.Context, c Config) (store, string, error) {
	if c.DatabaseURL != "" {
		db, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{NoMigrate: true})
		if err != nil {
			return nil, "", fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return db, "postgres", nil
	}
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating data directory: %w", err)
	}
	db, err := sqlite.Open(ctx, sqlitePath(c), sqlite.Options{NoMigrate: true})
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite database %s: %w", sqlitePath(c), err)
	}
	return db, "sqlite", nil
}

// openMigrated opens the database and applies pending migrations, reporting
// each on w.
func openMigrated(ctx context.Context, c Config, w io.Writer) (store, error) {
	st, kind, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	err = st.Migrate(ctx, func(applied, total int, name string) {
		fmt.Fprintf(w, "migration %d/%d applied: %s\n", applied, total, name)
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating %s database: %w", kind, err)
	}
	return st, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// countOrganisations returns 1 when the database has been initialised.
func countOrganisations(ctx context.Context, st store) (int, error) {
	err := st.View(ctx, func(tx confidant.Tx) error {
		_, err := tx.Organisation(ctx)
		return err
	})
	if confidant.IsKind(err, confidant.KindNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}
