package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	confidant "github.com/confidanthealth/confidant"
)

// The insecure plain baseline of the benchmarks (issue 5, docs/BASELINE.md)
// exists only in a binary built with the build tag "baseline"
// (baseline_on.go; baseline_off.go has the stubs of the normal binary). It
// marks everything it writes twice, so that the two never mix:
//
//   - a file plainMarkerFile in the data directory (SQLite), and
//   - a row plainMarkerKey in the database's system_keys (any database).
//
// The normal product refuses a data directory or database carrying either
// mark (checkNotPlain, below, in every binary); the baseline refuses one that
// lacks them unless it is empty (baseline_on.go).
const (
	plainMarkerFile = "INSECURE-PLAIN-BASELINE"
	plainMarkerKey  = "insecure-plain-baseline"
)

// errPlainData is the normal product's refusal of baseline data.
var errPlainData = errors.New("REFUSING: this data was written by the INSECURE PLAIN BASELINE of the benchmarks " +
	"(no encryption, no access log; docs/BASELINE.md); it is not a Confidant database and must not be served. " +
	"Use it only with a binary built with -tags baseline and --insecure-plain-baseline, or delete it")

// checkNotPlainDir refuses a data directory marked by the baseline, before
// its database is opened.
func checkNotPlainDir(c Config) error {
	if c.DatabaseURL != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.Data, plainMarkerFile)); err == nil {
		return fmt.Errorf("%s: %w", c.Data, errPlainData)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkNotPlainDB refuses a database marked by the baseline.
func checkNotPlainDB(ctx context.Context, st confidant.SealedStore) error {
	marked, err := hasPlainMarker(ctx, st)
	if err != nil {
		return err
	}
	if marked {
		return errPlainData
	}
	return nil
}

// hasPlainMarker reports whether the database carries the baseline's mark.
func hasPlainMarker(ctx context.Context, st confidant.SealedStore) (bool, error) {
	var marked bool
	err := st.View(ctx, func(tx confidant.SealedTx) error {
		_, err := tx.SystemKey(ctx, plainMarkerKey)
		if confidant.IsKind(err, confidant.KindNotFound) {
			return nil
		}
		marked = err == nil
		return err
	})
	return marked, err
}
