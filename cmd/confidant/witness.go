package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/witness"
)

const witnessUsage = `witness serve --witness-data DIR --witness-addr ADDR --log-origin ORIGIN (--log-key VKEY | --log-key-file FILE)
       confidant witness key --witness-data DIR`

// runWitness runs a C2SP tlog-witness for the access log: a separate
// process, with its own key and state in its own directory, normally on
// another machine run by someone else than the server's operator.
func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: confidant "+witnessUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("witness "+sub, witnessUsage, stderr)
	dir := fs.String("witness-data", "./confidant-witness", "the witness's directory: its private key and state (env CONFIDANT_WITNESS_DATA)")
	name := fs.String("witness-name", "confidant-witness", "the witness's key name, used when its key is generated")
	addr := fs.String("witness-addr", "127.0.0.1:8090", "listen address (env CONFIDANT_WITNESS_ADDR)")
	origin := fs.String("log-origin", "confidant/access-log", "the origin of the log to witness")
	key := fs.String("log-key", "", "the log's verifier key (printed by confidant audit checkpoint)")
	keyFile := fs.String("log-key-file", "", "file holding the log's verifier key")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v, ok := os.LookupEnv("CONFIDANT_WITNESS_DATA"); ok && !set["witness-data"] {
		*dir = v
	}
	if v, ok := os.LookupEnv("CONFIDANT_WITNESS_ADDR"); ok && !set["witness-addr"] {
		*addr = v
	}
	switch sub {
	case "key":
		_, vkey, created, err := witness.LoadKey(*dir, *name)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stderr, "Generated a new witness key in %s.\n", *dir)
		}
		fmt.Fprintln(stdout, vkey)
		return nil
	case "serve":
	default:
		fmt.Fprintf(stderr, "confidant witness: unknown subcommand %q\nUsage: confidant %s\n", sub, witnessUsage)
		return errUsage
	}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("reading the log key: %w", err)
		}
		*key = strings.TrimSpace(string(b))
	}
	if *key == "" {
		return errors.New("witness serve needs the log's verifier key: --log-key or --log-key-file")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := newLogger(stderr, level)
	if _, err := auditlog.NewVerifier(*key); err != nil {
		return err
	}
	_, vkey, created, err := witness.LoadKey(*dir, *name)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "Generated a new witness key in %s. Its verifier key (publish it; give it to whoever checks cosignatures):\n%s\n", *dir, vkey)
	}
	w, err := witness.New(witness.Config{Dir: *dir, Name: *name, LogOrigin: *origin, LogKey: *key, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Witness %s for %s at size %d, listening on http://%s/add-checkpoint\n", vkey, *origin, w.Size(), ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// witnessClients returns a client per configured witness.
func witnessClients(cfg Config) []*witness.Client {
	var cs []*witness.Client
	for _, u := range cfg.Witnesses {
		cs = append(cs, witness.NewClient(u, nil))
	}
	return cs
}

// submitToWitnesses submits cp to every witness with a consistency proof
// from the size it holds, logging failures; it returns the first rollback
// or inconsistency a witness reports, and logs (but does not return) other
// failures (a witness down).
func submitToWitnesses(ctx context.Context, a *app, cs []*witness.Client, cp auditlog.Checkpoint, log *slog.Logger) error {
	proof := func(ctx context.Context, old uint64) ([][]byte, error) {
		return a.log.ConsistencyProof(ctx, old, cp.Size)
	}
	var first error
	for _, c := range cs {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.Add(wctx, cp, proof)
		cancel()
		var rb *witness.RollbackError
		switch {
		case err == nil:
			log.Debug("checkpoint cosigned", slog.String("witness", c.URL()), slog.Uint64("size", cp.Size))
		case errors.As(err, &rb), errors.Is(err, witness.ErrInconsistent):
			log.Error("A WITNESS REFUSED THE ACCESS LOG (rollback or fork)", slog.String("witness", c.URL()), slog.String("err", err.Error()))
			if first == nil {
				first = err
			}
		default:
			log.Warn("submitting a checkpoint to a witness failed", slog.String("witness", c.URL()), slog.String("err", err.Error()))
		}
	}
	return first
}

// checkWitnesses submits the current checkpoint to every witness before the
// server starts, and refuses to serve if one has cosigned a larger log
// (the database is an older copy) or a log inconsistent with this one.
func checkWitnesses(ctx context.Context, a *app, cs []*witness.Client, log *slog.Logger) error {
	if len(cs) == 0 {
		return nil
	}
	cp, err := a.log.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("signing a checkpoint for the witnesses: %w", err)
	}
	if err := submitToWitnesses(ctx, a, cs, cp, log); err != nil {
		return fmt.Errorf("REFUSING TO SERVE: a witness has seen a different access log than this database holds at size %d "+
			"(a restored older copy of the database, or tampering: rollback); investigate before serving: %w", cp.Size, err)
	}
	return nil
}
