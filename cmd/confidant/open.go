package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/logx"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/progress"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// backend is what the commands need of a database beyond
// confidant.SealedStore.
type backend interface {
	confidant.SealedStore
	Migrate(ctx context.Context, progress func(applied, total int, name string)) error
	SchemaVersion(ctx context.Context) (int, error)
}

// sqlitePath is the database file inside the data directory.
func sqlitePath(c Config) string { return filepath.Join(c.Data, "confidant.db") }

// openBackend opens the configured database without migrating it.
func openBackend(ctx context.Context, c Config) (backend, string, error) {
	if err := checkNotPlainDir(c); err != nil { // never open the plain baseline's data (baseline.go)
		return nil, "", err
	}
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

// keysConfig derives the keyring configuration, reading secrets from files.
func keysConfig(c Config) (keys.Config, error) {
	kc := keys.Config{Provider: c.KEKProvider, File: c.KEKFile}
	if c.KEKPassphraseFile != "" {
		pw, err := readSecretFile(c.KEKPassphraseFile)
		if err != nil {
			return kc, err
		}
		kc.Passphrase = []byte(pw)
	}
	if c.KEKProvider == "pkcs11" {
		pin, err := readSecretFile(c.PKCS11PINFile)
		if err != nil {
			return kc, err
		}
		kc.PKCS11 = keys.PKCS11Config{Module: c.PKCS11Module, TokenLabel: c.PKCS11Token, PIN: pin, KeyLabel: c.PKCS11KeyLabel}
	}
	return kc, nil
}

// readSecretFile reads a secret (first line) from a file; the error names
// the file, never its content.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file %s: %w", path, err)
	}
	s := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

// app is an opened installation: the database, the keys and the sealing
// store over them.
type app struct {
	backend backend
	kind    string
	keys    *keys.Keyring
	log     *audit.Log
	store   *seal.Store
	forged  *service.ForgedFacts // records forged authorization facts; Close waits for it
	// factsAdded: this run applied the migration adding fact MACs.
	factsAdded bool
	plain      bool // the INSECURE plain baseline (build tag baseline, baseline_on.go): no keys, no access log
}

func (a *app) Close() error {
	if a.forged != nil {
		a.forged.Wait() // reports of forged facts reach the log before it closes
	}
	if a.log != nil {
		a.log.Close()
	}
	err := a.backend.Close()
	if a.keys != nil {
		a.keys.Close()
	}
	return err
}

// openOptions tune openApp.
type openOptions struct {
	createKEK bool // create the file KEK if it does not exist (init, demo)
	// logger receives the access log's own errors (a batch that could not
	// be written, a checkpoint that could not be signed); nil means
	// warnings and errors to os.Stderr. Servers pass their log, one-shot
	// commands a warn-level logger on their stderr.
	logger *slog.Logger
	// plainBaseline opens the INSECURE plain baseline of the benchmarks
	// instead (only in a binary built with -tags baseline; baseline_on.go).
	plainBaseline bool
}

// openApp opens the database and the keys, applies pending migrations
// (encrypting a database written before encryption at rest, with progress on
// w), and checks that the keys open the database: a wrong KEK, a missing key
// file, a wrong passphrase or an unavailable HSM stop here, before anything
// is served or written.
func openApp(ctx context.Context, c Config, w io.Writer, opt openOptions) (*app, error) {
	if opt.plainBaseline { // INSECURE plain baseline: build tag baseline only (baseline_on.go)
		return openPlainBaseline(ctx, c, w, opt)
	}
	if err := checkNotPlainDir(c); err != nil { // before creating a KEK beside it (baseline.go)
		return nil, err
	}
	kc, err := keysConfig(c)
	if err != nil {
		return nil, err
	}
	if opt.logger == nil {
		opt.logger = warnLogger(os.Stderr)
	}
	if opt.createKEK && kc.Provider == "pkcs11" {
		err := keys.CreatePKCS11Key(kc.PKCS11)
		switch {
		case err == nil:
			fmt.Fprintf(w, "Created the key-encryption key %q in the HSM (it cannot be extracted).\n", kc.PKCS11.KeyLabel)
		case !confidant.IsKind(err, confidant.KindConflict):
			return nil, fmt.Errorf("creating the key-encryption key in the HSM: %w", err)
		}
	}
	if opt.createKEK && kc.Provider == "file" {
		if _, err := os.Stat(kc.File); errors.Is(err, os.ErrNotExist) {
			if err := keys.CreateFile(kc.File, kc.Passphrase); err != nil {
				return nil, fmt.Errorf("creating the key-encryption key: %w", err)
			}
			fmt.Fprintf(w, "Created the key-encryption key %s (keep it, and back it up, apart from the database).\n", kc.File)
		}
	}
	kr, err := keys.Open(kc)
	if err != nil {
		return nil, fmt.Errorf("opening the key-encryption key: %w", err)
	}
	be, kind, err := openBackend(ctx, c)
	if err != nil {
		kr.Close()
		return nil, err
	}
	a := &app{backend: be, kind: kind, keys: kr}
	if err := a.migrate(ctx, w); err != nil {
		a.Close()
		return nil, err
	}
	if err := checkNotPlainDB(ctx, be); err != nil { // never open the plain baseline's data (baseline.go)
		a.Close()
		return nil, err
	}
	if err := seal.Prepare(ctx, be, kr); err != nil {
		a.Close()
		return nil, fmt.Errorf("the keys do not open this database (wrong key-encryption key?): %w", err)
	}
	if a.factsAdded { // once: the migration adding the fact MACs was applied just now
		nu, nc, err := seal.BackfillFacts(ctx, be, kr)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("authenticating authorization facts: %w", err)
		}
		fmt.Fprintf(w, "Authenticated the authorization facts of %d accounts and %d care relationships as the database holds them now.\n", nu, nc)
	}
	// Once after the migration that added the address index (it listed
	// the patients then), resumed if interrupted; then one empty query.
	if n, err := seal.BackfillAddressIndexes(ctx, be, kr); err != nil {
		a.Close()
		return nil, fmt.Errorf("computing the address index of existing patients (run again to resume): %w", err)
	} else if n > 0 {
		fmt.Fprintf(w, "Computed the address index of %d patients written before it existed.\n", n)
	}
	if a.log, err = audit.Open(ctx, be, kr, audit.Config{Origin: c.LogOrigin, Logger: opt.logger}); err != nil {
		a.Close()
		return nil, fmt.Errorf("opening the access log: %w", err)
	}
	kr.OnUnwrap(a.log.KeyUse) // every unwrap of a keyset by the KEK is an access-log event
	a.store = seal.New(a.log, kr)
	a.forged = service.NewForgedFacts(a.log, opt.logger)
	a.store.OnForgedFact(a.forged.Report)
	return a, nil
}

// migrate applies pending migrations. A database written before encryption
// at rest is encrypted in place between migrations, with progress, and each
// patient is verified before its plaintext rows are deleted.
func (a *app) migrate(ctx context.Context, w io.Writer) error {
	report := func(applied, total int, name string) {
		fmt.Fprintf(w, "migration %d/%d applied: %s\n", applied, total, name)
		if strings.Contains(name, "fact_mac") {
			a.factsAdded = true
		}
	}
	err := a.backend.Migrate(ctx, report)
	if !errors.Is(err, sqlite.ErrLegacyPending) && !errors.Is(err, postgres.ErrLegacyPending) {
		if err != nil {
			return fmt.Errorf("migrating %s database: %w", a.kind, err)
		}
		return nil
	}
	legacy, ok := legacyOf(a.backend)
	if !ok {
		return err
	}
	if err := seal.Prepare(ctx, a.backend, a.keys); err != nil {
		return err
	}
	st := seal.New(a.backend, a.keys)
	pending, perr := legacy.LegacyPending(ctx)
	if perr != nil {
		return perr
	}
	fmt.Fprintf(w, "This database holds %d patients in plain text from before encryption at rest; encrypting them now.\n", pending)
	bar := progress.New(w, "encrypting", int64(pending))
	n, err := seal.Upgrade(ctx, legacy, st, func(done, total int) { bar.Set(int64(done)) })
	bar.Finish()
	if err != nil {
		return fmt.Errorf("encrypting plaintext records (%d done; run again to resume): %w", n, err)
	}
	fmt.Fprintf(w, "Encrypted and verified %d patients.\n", n)
	if err := a.backend.Migrate(ctx, report); err != nil {
		return fmt.Errorf("migrating %s database: %w", a.kind, err)
	}
	return nil
}

// legacyOf adapts a store's reader of schema-1 plaintext rows.
func legacyOf(b backend) (seal.Legacy, bool) {
	switch db := b.(type) {
	case *sqlite.DB:
		return sqliteLegacy{db}, true
	case *postgres.DB:
		return postgresLegacy{db}, true
	}
	return nil, false
}

type sqliteLegacy struct{ *sqlite.DB }

func (l sqliteLegacy) LegacyRecords(ctx context.Context, id string) (seal.LegacyRecords, error) {
	r, err := l.DB.LegacyRecords(ctx, id)
	return seal.LegacyRecords(r), err
}

type postgresLegacy struct{ *postgres.DB }

func (l postgresLegacy) LegacyRecords(ctx context.Context, id string) (seal.LegacyRecords, error) {
	r, err := l.DB.LegacyRecords(ctx, id)
	return seal.LegacyRecords(r), err
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// warnLogger returns the log of a one-shot command: warnings and errors,
// such as the access log's own, on w (stderr).
func warnLogger(w io.Writer) *slog.Logger { return newLogger(w, slog.LevelWarn) }

// newServerLogger returns the log of a server (serve, demo): as newLogger,
// but repeated warnings and errors are rate-limited (logx.Limiter), so that
// an outage in which every request fails alike writes a few lines and a
// count instead of one line per request. The limiter reports its counts
// until ctx is done.
func newServerLogger(ctx context.Context, w io.Writer, level slog.Level) *slog.Logger {
	l := logx.NewLimiter(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}),
		logx.Options{Burst: 5, Interval: 10 * time.Second, Level: slog.LevelWarn})
	go l.Run(ctx)
	return slog.New(l)
}

// countOrganisations returns 1 when the database has been initialised.
func countOrganisations(ctx context.Context, st confidant.SealedStore) (int, error) {
	err := st.View(ctx, func(tx confidant.SealedTx) error {
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
