package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate [flags]", stderr)
	status := fs.Bool("status", false, "only print the schema version")
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	be, kind, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	before, err := be.SchemaVersion(ctx)
	be.Close()
	if err != nil {
		return err
	}
	if *status {
		fmt.Fprintf(stdout, "%s schema version %d\n", kind, before)
		return nil
	}
	a, err := openApp(ctx, cfg, stdout, openOptions{logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	after, err := a.backend.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if after == before {
		fmt.Fprintf(stdout, "%s schema is up to date (version %d)\n", kind, after)
	} else {
		fmt.Fprintf(stdout, "%s schema migrated from version %d to %d\n", kind, before, after)
	}
	return nil
}
