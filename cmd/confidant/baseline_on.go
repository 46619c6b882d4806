//go:build baseline

package main

// The INSECURE plain baseline of the benchmarks (issue 5, docs/BASELINE.md):
// only a binary built with -tags baseline has it, and only with
// --insecure-plain-baseline (seed, serve, demo). It runs the product with
// encryption and the access log switched off (internal/baseline): same
// HTTP, sessions, policy, SQL, schema and sizes of stored values, so that
// `confidant bench` measures the same workload and every overhead can be
// stated as a ratio. Guards:
//
//   - it opens only a data directory and database it created itself
//     (marked with plainMarkerFile and plainMarkerKey, baseline.go), or an
//     empty one when seeding; the normal product refuses both marks;
//   - it serves on loopback only and refuses witnesses and checkpoint
//     directories (there is no log to publish);
//   - it prints a banner whenever it opens anything.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/baseline"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

func plainBaselineFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("insecure-plain-baseline", false,
		"INSECURE, for benchmarks only: no encryption, no access log, loopback only, on a data directory of its own (docs/BASELINE.md)")
}

const plainBanner = `
##############################################################################
##  INSECURE PLAIN BASELINE: FOR BENCHMARKS ONLY, NEVER FOR REAL DATA       ##
##  No encryption at rest, no access log, no checkpoints.                   ##
##  Synthetic data on loopback only. See docs/BASELINE.md.                  ##
##############################################################################

`

const plainMarkerText = `INSECURE PLAIN BASELINE (confidant built with -tags baseline, docs/BASELINE.md).
The database in this directory is NOT encrypted and has NO access log.
Synthetic benchmark data only. Confidant refuses to open it; delete it when done.
`

// errNotPlain refuses data that the baseline did not create.
func errNotPlain(what string) error {
	return fmt.Errorf("REFUSING: %s was not created by the insecure plain baseline; "+
		"it opens only its own data (seed a new, empty data directory or database with --insecure-plain-baseline)", what)
}

// openPlainBaseline opens (or, when seeding, creates) the plain baseline's
// data: the database with a sealing store whose keyring does no
// cryptography and whose transactions record no access-log events.
func openPlainBaseline(ctx context.Context, c Config, w io.Writer, opt openOptions) (*app, error) {
	fmt.Fprint(w, plainBanner)
	if c.CheckpointDir != "" || len(c.Witnesses) > 0 {
		return nil, errors.New("the insecure plain baseline has no access log: unset checkpoint-dir and witnesses")
	}
	create := opt.createKEK // seed and demo may start an empty data directory
	what := "the database"
	if c.DatabaseURL == "" {
		what = "the data directory " + c.Data
		marker := filepath.Join(c.Data, plainMarkerFile)
		_, err := os.Stat(marker)
		switch {
		case err == nil:
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		case !create:
			return nil, errNotPlain(what)
		default:
			if _, err := os.Stat(sqlitePath(c)); !errors.Is(err, os.ErrNotExist) {
				return nil, errNotPlain(what) // a database without the mark
			}
			if err := os.MkdirAll(c.Data, 0o700); err != nil {
				return nil, fmt.Errorf("creating data directory: %w", err)
			}
			if err := os.WriteFile(marker, []byte(plainMarkerText), 0o600); err != nil {
				return nil, err
			}
		}
	}
	be, kind, err := openPlainBackend(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := checkPlainDB(ctx, be, create, what); err != nil {
		be.Close()
		return nil, err
	}
	return &app{backend: be, kind: kind, plain: true, store: seal.New(baseline.NoLog(be), baseline.Keyring{})}, nil
}

// openPlainBackend is openBackend without its refusal of the baseline's
// data directory.
func openPlainBackend(ctx context.Context, c Config) (backend, string, error) {
	if c.DatabaseURL != "" {
		db, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{NoMigrate: true})
		if err != nil {
			return nil, "", fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return db, "postgres", nil
	}
	db, err := sqlite.Open(ctx, sqlitePath(c), sqlite.Options{NoMigrate: true})
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite database %s: %w", sqlitePath(c), err)
	}
	return db, "sqlite", nil
}

// checkPlainDB accepts a database carrying the baseline's mark, or, when
// create is set, one that is empty (no schema yet, or no organisation, no
// keys and no patients), which it migrates and marks. Anything else is
// refused before it is migrated.
func checkPlainDB(ctx context.Context, be backend, create bool, what string) error {
	v, err := be.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	marked := false
	if v > 0 {
		if marked, err = hasPlainMarker(ctx, be); err != nil {
			return fmt.Errorf("%w (%v)", errNotPlain(what), err)
		}
		if !marked && !create {
			return errNotPlain(what)
		}
		if !marked {
			if empty, err := emptyDB(ctx, be); err != nil || !empty {
				return errNotPlain(what)
			}
		}
	} else if !create {
		return errNotPlain(what)
	}
	if err := be.Migrate(ctx, nil); err != nil {
		return err
	}
	if marked {
		return nil
	}
	return be.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.PutSystemKey(ctx, confidant.WrappedKey{Owner: plainMarkerKey, KEKID: plainMarkerKey,
			Wrapped: []byte(plainMarkerText), UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	})
}

// emptyDB reports whether a database holds no organisation, no blind-index
// key and no patient: nothing the product ever wrote.
func emptyDB(ctx context.Context, be backend) (bool, error) {
	empty := false
	err := be.View(ctx, func(tx confidant.SealedTx) error {
		if _, err := tx.Organisation(ctx); !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if _, err := tx.SystemKey(ctx, seal.IndexKeyName); !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		ps, err := tx.ListPatients(ctx, confidant.SealedPatientFilter{Limit: 1})
		empty = err == nil && len(ps) == 0
		return err
	})
	return empty, err
}

// plainServiceOptions attach an access log that drops every event and
// reads as empty.
func plainServiceOptions(log *slog.Logger) []service.Option {
	return []service.Option{service.WithLogger(log), service.WithAuditor(baseline.Discard{}), service.WithAuditReader(baseline.Discard{})}
}

// checkPlainListener refuses any address but loopback.
func checkPlainListener(ln net.Listener) error {
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("REFUSING: the insecure plain baseline listens on loopback only (127.0.0.1 or [::1]), not %s", ln.Addr())
}
