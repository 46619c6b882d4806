package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
)

const patientUsage = `patient erase --patient ID [--deceased YYYY-MM-DD] [flags]

Crypto-shreds a patient: deletes the patient's wrapped keyset, so their
records can never be decrypted again (in backups too, once the KEK keys of
those backups are retired). Refused until the retention period has passed:
12 years after death (--deceased), or retention-years (default 120) after
birth.`

func runPatient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "erase" {
		fmt.Fprintln(stderr, "Usage: confidant "+patientUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	fs := newFlagSet("patient erase", patientUsage, stderr)
	id := fs.String("patient", "", "patient id")
	deceased := fs.String("deceased", "", "date of death, if known (YYYY-MM-DD)")
	config := configFlags(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	var death time.Time
	if *deceased != "" {
		if death, err = time.Parse(time.DateOnly, *deceased); err != nil {
			return errors.New("--deceased must be a date like 2020-05-31")
		}
	}
	a, err := openApp(ctx, cfg, stderr, openOptions{logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	hasher, err := password.New(password.Config{})
	if err != nil {
		return err
	}
	svc, err := service.New(a.store, hasher, cfg.serviceConfig(), service.WithLogger(newLogger(stderr, cfg.LogLevel)),
		service.WithAuditor(a.log))
	if err != nil {
		return err
	}
	if err := svc.OperatorErasePatient(ctx, *id, death); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Patient %s erased: their keyset is deleted and their records can no longer be decrypted.\n", *id)
	return nil
}
