//go:build !baseline

package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"

	"github.com/confidanthealth/confidant/internal/service"
)

// The normal binary has no insecure plain baseline: the flag is not
// registered (so --insecure-plain-baseline is an unknown flag), nothing
// here opens a store without encryption or access log, and
// internal/baseline is not linked in. See baseline_on.go.

var errNoPlainBaseline = errors.New("this binary has no plain baseline (build it with -tags baseline)")

func plainBaselineFlag(*flag.FlagSet) *bool { return new(bool) }

func openPlainBaseline(context.Context, Config, io.Writer, openOptions) (*app, error) {
	return nil, errNoPlainBaseline
}

// plainServiceOptions attaches no access log, so every audited operation
// fails closed (unreachable: no app here is plain).
func plainServiceOptions(*slog.Logger) []service.Option { return nil }

func checkPlainListener(net.Listener) error { return errNoPlainBaseline }
