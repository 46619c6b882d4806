package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/confidanthealth/confidant/internal/demo"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/progress"
)

// seedLoginsFile holds the sign-ins of a seeded data set, written when the
// staff are created. Synthetic data only.
const seedLoginsFile = "seed-logins.json"

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("seed", "seed --patients N --notes-per-patient M [--seed S] [--preset vastaamo] [--events-per-patient E] [--data DIR]", stderr)
	patients := flags.Int("patients", 0, "number of synthetic patients")
	notes := flags.Int("notes-per-patient", 0, "session notes per patient")
	events := flags.Int("events-per-patient", 0, "access-log events per patient (at least the writes and a chart read per note)")
	clinics := flags.Int("clinics", 0, "number of clinics (default 25)")
	staff := flags.Int("staff", 0, "number of staff accounts (default 400)")
	seed := flags.Uint64("seed", 1, "random seed of the synthetic data")
	preset := flags.String("preset", "", `"vastaamo": 25 clinics, 400 staff, 36000 patients, 28 notes and 278 events per patient (≈1M notes, ≈10M events)`)
	batch := flags.Int("batch", 0, "patients per transaction (default 20)")
	now := flags.String("now", "", "the generated history ends at this date (YYYY-MM-DD; default today; a resumed run must use the same)")
	config := configFlags(flags)
	plain := plainBaselineFlag(flags) // registered only with -tags baseline (baseline_on.go)
	if err := parse(flags, args); err != nil {
		return err
	}
	so := demo.SeedOptions{Seed: *seed, Clinics: *clinics, Staff: *staff, Patients: *patients,
		NotesPerPatient: *notes, EventsPerPatient: *events, BatchSize: *batch}
	switch *preset {
	case "":
		if *patients < 1 || *notes < 1 {
			fmt.Fprintln(stderr, "confidant seed: --patients and --notes-per-patient are required (or --preset vastaamo)")
			return errUsage
		}
	case "vastaamo":
		so.Clinics = or(so.Clinics, 25)
		so.Staff = or(so.Staff, 400)
		so.Patients = or(so.Patients, 36000)
		so.NotesPerPatient = or(so.NotesPerPatient, 28)
		so.EventsPerPatient = or(so.EventsPerPatient, 278)
	default:
		return fmt.Errorf("unknown --preset %q (known: vastaamo)", *preset)
	}
	if *now != "" {
		t, err := time.Parse(time.DateOnly, *now)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		so.Now = t
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	hasher, err := password.New(password.Config{})
	if err != nil {
		return err
	}
	so.Hasher = hasher
	s, err := demo.NewSeeder(so)
	if err != nil {
		return err
	}
	so = s.Options()
	a, err := openApp(ctx, cfg, stdout, openOptions{createKEK: true, plainBaseline: *plain, logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()

	done, _, err := s.Done(ctx, a.store)
	if err != nil {
		return err
	}
	if done >= so.Patients {
		fmt.Fprintf(stdout, "All %d patients of seed %d are already in the database.\n", so.Patients, so.Seed)
		return nil
	}
	if done > 0 {
		fmt.Fprintf(stdout, "Resuming after patient %d of %d.\n", done, so.Patients)
	}
	bar := progress.New(stderr, "seeding patients", int64(so.Patients))
	bar.Set(int64(done))
	start := time.Now()
	li, pr, err := s.Run(ctx, a.store, func(p demo.Progress) { bar.Set(int64(p.Patients)) })
	bar.Finish()
	if li.Therapist.Username != "" {
		if werr := writeJSON(filepath.Join(cfg.Data, seedLoginsFile), li); werr != nil && err == nil {
			err = werr
		}
	}
	el := time.Since(start)
	secs := max(el.Seconds(), 1e-9)
	n := pr.Patients - done
	fmt.Fprintf(stdout, "Seeded patients %d-%d of %d in %s: %.1f patients/s, %d notes (%.0f/s), %d access-log events (%.0f/s).\n",
		done+1, pr.Patients, so.Patients, el.Round(time.Millisecond), float64(n)/secs, pr.Notes, float64(pr.Notes)/secs, pr.Events, float64(pr.Events)/secs)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stdout, "Interrupted after patient %d; run the same command again to continue.\n", pr.Patients)
		return err
	}
	if err == nil && a.log != nil {
		// Sign the seeded log, so that the first server start checks the
		// tree from here rather than from the first event.
		if _, err = a.log.Checkpoint(ctx); err != nil {
			return fmt.Errorf("signing a checkpoint of the seeded access log: %w", err)
		}
	}
	return err
}

func or(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
