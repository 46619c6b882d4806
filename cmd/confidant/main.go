// Command confidant is the Confidant server and its operator tools.
//
// Usage:
//
//	confidant <command> [flags]
//
// Commands: init, serve, demo, migrate, user, keys, patient, audit,
// witness, version. Run
// "confidant <command> --help" for the flags of each. Configuration comes
// from flags, then environment variables (CONFIDANT_*), then a JSON file
// (--config, default DATA/confidant.json), then defaults, in that order of
// precedence.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	confidant "github.com/confidanthealth/confidant"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"init", "create a data directory, database and the first accounts", runInit},
	{"serve", "run the server", runServe},
	{"demo", "seed synthetic data into a fresh data directory and serve it", runDemo},
	{"seed", "write a large deterministic synthetic data set (resumable), e.g. --preset vastaamo", runSeed},
	{"migrate", "apply pending database migrations", runMigrate},
	{"user", "manage accounts (create, list, disable, enable, set-password)", runUser},
	{"keys", "key management: status, rotate-kek, retire-kek, rotate-patient, verify", runKeys},
	{"patient", "erase (crypto-shred) a patient after the retention period", runPatient},
	{"audit", "the access log: verify, checkpoint, check-proof, verify-digest", runAudit},
	{"recipients", "list the recipients of alerts (read-only)", runRecipients},
	{"bench", "drive a running server as many simulated users and report latency", runBench},
	{"mail", "check the mail configuration: mail test --to ADDR sends a test message", runMail},
	{"witness", "run a witness that cosigns the access log's checkpoints (serve, key)", runWitness},
	{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
		fmt.Fprintln(out, "confidant", version)
		return nil
	}},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "confidant %s: %s\n", c.name, describe(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "confidant: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errUsage marks a usage error already reported by the flag package.
var errUsage = errors.New("usage")

// describe renders an error for the operator: the user-safe message for
// domain errors, the full chain otherwise (operator errors hold no patient
// data: paths, addresses and driver messages).
func describe(err error) string {
	var e *confidant.Error
	if errors.As(err, &e) && e.Kind != confidant.KindInternal {
		// Keep the context the commands added ("opening the key-encryption
		// key: ...") and show the user-safe message instead of the code.
		full, inner := err.Error(), e.Error()
		if strings.HasSuffix(full, inner) {
			return full[:len(full)-len(inner)] + e.Message
		}
		return e.Message
	}
	return err.Error()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Confidant: confidential psychotherapy records.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: confidant <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "confidant <command> --help" for a command's flags.`)
}
