package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/progress"
)

// demoLoginsFile keeps the demo sign-ins inside the data directory so that a
// restarted demo prints the same ones. Synthetic data only.
const demoLoginsFile = "demo-logins.json"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("demo", "demo [--addr ADDR] [--data DIR] [--logins FILE] [--patients N] [--seed S] [--fresh]", stderr)
	logins := flags.String("logins", "", "also write the demo sign-ins as JSON to this file")
	patients := flags.Int("patients", 3000, "number of synthetic patients")
	seed := flags.Uint64("seed", 1, "random seed of the synthetic data")
	fresh := flags.Bool("fresh", false, "delete the demo database in the data directory first")
	noServe := flags.Bool("no-serve", false, "seed and exit without serving")
	config := configFlags(flags)
	plain := plainBaselineFlag(flags) // registered only with -tags baseline (baseline_on.go)
	if err := parse(flags, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return errors.New("the demo runs on the embedded SQLite database; unset database-url")
	}
	if *patients < 1 || *patients > 1_000_000 {
		return errors.New("--patients must be between 1 and 1000000")
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	loginsPath := filepath.Join(cfg.Data, demoLoginsFile)
	if *fresh && *plain {
		// The baseline deletes only its own data, never the product's.
		if _, err := os.Stat(sqlitePath(cfg)); err == nil {
			if _, err := os.Stat(filepath.Join(cfg.Data, plainMarkerFile)); err != nil {
				return fmt.Errorf("%s holds data not written by the plain baseline: --fresh with --insecure-plain-baseline refuses to delete it", cfg.Data)
			}
		}
	}
	if *fresh {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(sqlitePath(cfg) + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		os.Remove(loginsPath)
	}
	log := newServerLogger(ctx, stderr, cfg.LogLevel)
	a, err := openApp(ctx, cfg, stdout, openOptions{createKEK: true, plainBaseline: *plain, logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	st := a.store

	var li demo.Logins
	if b, err := os.ReadFile(loginsPath); err == nil {
		if err := json.Unmarshal(b, &li); err != nil {
			return fmt.Errorf("%s is damaged; run with --fresh: %w", loginsPath, err)
		}
		fmt.Fprintf(stdout, "Using the existing demo data in %s (run with --fresh to start over).\n", cfg.Data)
	} else {
		if n, err := countOrganisations(ctx, a.backend); err != nil {
			return err
		} else if n > 0 {
			return fmt.Errorf("%s holds a database that is not a demo; choose another --data or use --fresh", cfg.Data)
		}
		hasher, err := password.New(password.Config{})
		if err != nil {
			return err
		}
		bar := progress.New(stderr, "seeding", int64(*patients))
		start := time.Now()
		li, err = demo.Generate(ctx, st, demo.Options{Seed: *seed, Patients: *patients, Hasher: hasher}, func(done, total int) {
			bar.Set(int64(done))
		})
		if err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		bar.Finish()
		fmt.Fprintf(stdout, "Seeded %d synthetic patients in %s.\n", *patients, time.Since(start).Round(time.Millisecond))
		if err := writeJSON(loginsPath, li); err != nil {
			return err
		}
	}
	if *logins != "" {
		if err := writeJSON(*logins, li); err != nil {
			return err
		}
	}
	if *noServe {
		printLogins(stdout, "", li)
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	return serve(ctx, cfg, a, ln, log, func(url string) { printLogins(stdout, url, li) })
}

func printLogins(w io.Writer, url string, li demo.Logins) {
	if url != "" {
		fmt.Fprintf(w, "\nConfidant demo is running at %s (Ctrl-C to stop)\n", url)
	}
	fmt.Fprintln(w, "\nDemo sign-ins (synthetic data only):")
	for _, c := range []struct {
		role string
		cred demo.Credential
	}{{"therapist", li.Therapist}, {"patient", li.Patient}, {"manager", li.Manager}, {"security", li.Security}, {"dpo", li.DPO}} {
		fmt.Fprintf(w, "  %-10s username %-12s password %s", c.role, c.cred.Username, c.cred.Password)
		if c.cred.TOTPSecret != "" {
			fmt.Fprintf(w, "  TOTP secret %s", c.cred.TOTPSecret)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "  Staff sign in with a code from the TOTP secret: add it to an authenticator app, or run")
	fmt.Fprintln(w, "  oathtool --totp -b SECRET (SHA-1, 6 digits, 30 s; each code is accepted once).")
	fmt.Fprintln(w)
}

// writeJSON writes v to path with mode 0600.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// With PostgreSQL the data directory may not exist yet.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
