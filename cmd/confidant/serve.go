package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/api"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/logserve"
	"github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/web"
	"github.com/confidanthealth/confidant/internal/witness"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	config := configFlags(fs)
	plain := plainBaselineFlag(fs) // registered only with -tags baseline (baseline_on.go)
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile of the server to this file until it stops (for docs/BENCHMARKS.md; holds no data, only code locations)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	log := newServerLogger(ctx, stderr, cfg.LogLevel)
	a, err := openApp(ctx, cfg, stderr, openOptions{plainBaseline: *plain, logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	return serve(ctx, cfg, a, ln, log, func(url string) {
		fmt.Fprintf(stdout, "Confidant is running at %s (Ctrl-C to stop)\n", url)
	})
}

// newHandler wires the service to the web app and the JSON API.
func newHandler(cfg Config, a *app, log *slog.Logger, mailer mail.Sender) (http.Handler, *service.Service, error) {
	hasher, err := password.New(password.Config{})
	if err != nil {
		return nil, nil, err
	}
	opts := []service.Option{service.WithLogger(log), service.WithAuditor(a.log), service.WithAuditReader(a.log)}
	if mailer != nil {
		opts = append(opts, service.WithMailer(mailer))
	}
	if cfg.WebhookAllowLocal {
		opts = append(opts, service.WithLocalWebhooks())
	}
	if !a.plain {
		// The board digest, signed with the access log's checkpoint key,
		// from the stored alerts and the incident register.
		opts = append(opts, service.WithStoredBoardDigest(cfg.BoardDigestEvery, a.log))
	}
	if a.plain { // INSECURE plain baseline (baseline_on.go): no access log
		opts = plainServiceOptions(log)
	}
	svc, err := service.New(a.store, hasher, cfg.serviceConfig(), opts...)
	if err != nil {
		return nil, nil, err
	}
	secure := cfg.SecureCookies || cfg.TLSCert != ""
	wcfg := web.Config{Logger: log, SecureCookies: secure}
	if cfg.OIDCIssuer != "" {
		secret, err := readSecretFile(cfg.OIDCSecretFile)
		if err != nil {
			return nil, nil, err
		}
		wcfg.SSO = web.SSOConfig{
			Name: cfg.OIDCName, Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: secret,
			RedirectURL: cfg.serviceConfig().PublicURL + "/sso/callback",
		}
	}
	webh, err := web.New(svc, wcfg)
	if err != nil {
		return nil, nil, err
	}
	mux := httpx.NewServeMux()
	mux.Handle("/api/v1/", api.New(svc, api.Config{Logger: log}))
	if !a.plain { // the INSECURE plain baseline has no access log to serve
		mux.Handle("/log/", logserve.New(a.log, logserve.WithLogger(log), logserve.WithAuditors(securityOfficer(svc))))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/", webh)
	return httpx.Logged(log, httpx.Secure(mux)), svc, nil
}

// serve runs the HTTP server on ln until ctx is done, then shuts down
// gracefully. ready is called with the base URL once it accepts requests.
func serve(ctx context.Context, cfg Config, a *app, ln net.Listener, log *slog.Logger, ready func(url string)) error {
	if a.plain { // INSECURE plain baseline (baseline_on.go): loopback only
		if err := checkPlainListener(ln); err != nil {
			ln.Close()
			return err
		}
	}
	mailer, delivered, err := openMailer(cfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("mail: %w", err)
	}
	h, svc, err := newHandler(cfg, a, log, mailer)
	if err != nil {
		ln.Close()
		return err
	}
	// The detector is made first, so that a failed check below is raised
	// as a critical alert before the server refuses to serve.
	det, err := newDetector(cfg, a, svc, log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("detector: %w", err)
	}
	in := &integrity{d: det, log: log}
	if err := checkRollback(ctx, cfg, a); err != nil {
		in.report(ctx, "rollback", "The access log does not match the checkpoint published outside the database: the database was restored from an older copy or altered. The server refused to start.")
		deliverBeforeRefusing(ctx, svc, log)
		ln.Close()
		return err
	}
	if err := checkStoredTree(ctx, a); err != nil {
		in.report(ctx, "tile_mismatch", "The access log's stored tree does not check against its events and its last signed checkpoint "+faultText(err)+". The server refused to start.")
		deliverBeforeRefusing(ctx, svc, log)
		ln.Close()
		return err
	}
	witnesses := witnessClients(cfg)
	if err := checkWitnesses(ctx, a, witnesses, log); err != nil {
		in.report(ctx, "witness", "A witness has seen a different or a larger access log than this database holds (a rollback or a fork). The server refused to start.")
		deliverBeforeRefusing(ctx, svc, log)
		ln.Close()
		return err
	}
	if delivered {
		log.Info("mail is delivered", slog.String("through", mailer.Describe()))
	} else {
		log.Warn("mail is NOT being delivered: no --smtp-url is set, so messages (invitations, notices) are written to the outbox folder for the operator; set --smtp-url to deliver them",
			slog.String("outbox", mailer.Describe()))
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // attachment uploads
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go sweepSessions(ctx, svc, log)
	if !a.plain { // the INSECURE plain baseline has no access log to checkpoint
		go a.log.RunCheckpointer(ctx, cfg.CheckpointEvery, publishers(publishCheckpoint(cfg, log), witnessPublisher(ctx, a, witnesses, in, log)))
		go runRecordsChecks(ctx, a.log, svc, cfg.RecordsCheckEvery, in, log)
		go runVerify(ctx, a.log, cfg.VerifyEvery, in, log)
	}
	if det != nil {
		go det.Run(ctx)
		log.Info("the detector watches the access log", slog.Duration("every", cfg.DetectEvery))
	} else {
		log.Warn("the detector is off (--detect-every 0): nothing watches the access log for breaches")
	}
	// The outbox's delivery worker (and the board digest's schedule),
	// awaited at shutdown.
	outboxCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOutbox()
	outboxDone := make(chan struct{})
	if a.plain {
		close(outboxDone)
	} else {
		go func() { defer close(outboxDone); svc.RunOutbox(outboxCtx, cfg.OutboxEvery) }()
	}
	errc := make(chan error, 1)
	scheme := "http"
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	ready(fmt.Sprintf("%s://%s", scheme, ln.Addr()))
	log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("tls", cfg.TLSCert != ""))
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	// The delivery worker stops; a row it was sending stays leased and is
	// sent again, with the same id, once the lease ends (after a restart
	// or by another server).
	stopOutbox()
	select {
	case <-outboxDone:
	case <-sctx.Done():
		log.Warn("shutting down with an outbox delivery unfinished")
	}
	// Notifications still being sent (break-the-glass) are let finish,
	// within the same bound.
	mailed := make(chan struct{})
	go func() { svc.WaitMail(); close(mailed) }()
	select {
	case <-mailed:
	case <-sctx.Done():
		log.Warn("shutting down with notifications unsent")
	}
	return err
}

// deliverBeforeRefusing delivers the due outbox rows once (the integrity
// alert just raised among them) before the server refuses to start: a
// server that refuses to serve a rolled-back database must still tell the
// recipients why, not leave the alert queued until a start that may never
// come. Failures stay queued (the outbox retries them at the next start).
func deliverBeforeRefusing(ctx context.Context, svc *service.Service, log *slog.Logger) {
	if svc == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if delivered, failed, err := svc.DeliverDue(dctx); err != nil || failed > 0 {
		code := ""
		if err != nil {
			code = confidant.CodeOf(err)
		}
		log.Warn("alerts not all delivered before refusing to serve; they stay queued", slog.Int("delivered", delivered), slog.Int("failed", failed), slog.String("code", code))
	}
}

// sweepSessions deletes expired sessions and stale sign-in failure counts
// every few minutes.
func sweepSessions(ctx context.Context, svc *service.Service, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := svc.SweepSessions(ctx); err != nil {
				log.Warn("session sweep failed", slog.String("err", err.Error()))
			} else if n > 0 {
				log.Debug("expired sessions deleted", slog.Int("count", n))
			}
			if n, err := svc.SweepWebAuthnCeremonies(ctx); err != nil {
				log.Warn("passkey ceremony sweep failed", slog.String("err", err.Error()))
			} else if n > 0 {
				log.Debug("expired passkey ceremonies deleted", slog.Int("count", n))
			}
			if n, err := svc.SweepLoginFailures(ctx); err != nil {
				log.Warn("sign-in throttle sweep failed", slog.String("err", err.Error()))
			} else if n > 0 {
				log.Debug("stale sign-in failure counts deleted", slog.Int("count", n))
			}
		}
	}
}

// publishCheckpoint returns the function that hands each new checkpoint to
// outside parties: for now a directory (checkpoint-dir), written atomically
// as <size>.checkpoint and latest.checkpoint.
func publishCheckpoint(cfg Config, log *slog.Logger) func(auditlog.Checkpoint) {
	if cfg.CheckpointDir == "" {
		return nil
	}
	return func(cp auditlog.Checkpoint) {
		if err := os.MkdirAll(cfg.CheckpointDir, 0o755); err != nil {
			log.Error("publishing checkpoint", slog.String("err", err.Error()))
			return
		}
		for _, name := range []string{fmt.Sprintf("%020d.checkpoint", cp.Size), "latest.checkpoint"} {
			tmp := filepath.Join(cfg.CheckpointDir, "."+name+".tmp")
			if err := os.WriteFile(tmp, cp.Note, 0o644); err != nil {
				log.Error("publishing checkpoint", slog.String("err", err.Error()))
				return
			}
			if err := os.Rename(tmp, filepath.Join(cfg.CheckpointDir, name)); err != nil {
				log.Error("publishing checkpoint", slog.String("err", err.Error()))
				return
			}
		}
	}
}

// publishers returns a function calling each non-nil publisher in turn.
func publishers(ps ...func(auditlog.Checkpoint)) func(auditlog.Checkpoint) {
	return func(cp auditlog.Checkpoint) {
		for _, p := range ps {
			if p != nil {
				p(cp)
			}
		}
	}
}

// witnessPublisher returns the function that submits each new checkpoint to
// the witnesses (failures are logged; requests never fail because of them).
func witnessPublisher(ctx context.Context, a *app, cs []*witness.Client, in *integrity, log *slog.Logger) func(auditlog.Checkpoint) {
	if len(cs) == 0 {
		return nil
	}
	return func(cp auditlog.Checkpoint) {
		if err := submitToWitnesses(ctx, a, cs, cp, log); err != nil {
			in.report(ctx, "witness", fmt.Sprintf("A witness refused the access log's checkpoint at size %d: it has seen a different or a larger log (a rollback or a fork).", cp.Size))
		}
	}
}

// checkRollback refuses to serve a database whose access log is older than,
// or inconsistent with, the last checkpoint published outside it (in
// checkpoint-dir): a restored old copy of the database would hide accesses.
func checkRollback(ctx context.Context, cfg Config, a *app) error {
	if cfg.CheckpointDir == "" {
		return nil
	}
	text, err := os.ReadFile(filepath.Join(cfg.CheckpointDir, "latest.checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the published checkpoint: %w", err)
	}
	cp, err := a.log.ParseOwn(text)
	if err != nil {
		return fmt.Errorf("the published checkpoint in %s does not verify with this log's key: %w", cfg.CheckpointDir, err)
	}
	if err := a.log.CheckExternal(ctx, cp); err != nil {
		return fmt.Errorf("REFUSING TO SERVE: the access log does not match the checkpoint published at size %d "+
			"(a restored older copy of the database, or tampering); investigate before serving: %w", cp.Size, err)
	}
	return nil
}

// checkStoredTree refuses to serve a log whose stored tree does not check
// against its stored events and latest signed checkpoint (Log.CheckStored):
// a server must not record accesses into a tree it cannot sign.
func checkStoredTree(ctx context.Context, a *app) error {
	if a.plain || a.log == nil {
		return nil
	}
	if err := a.log.CheckStored(ctx); err != nil {
		var f *auditlog.Fault
		if errors.As(err, &f) {
			return fmt.Errorf("REFUSING TO SERVE: the access log's stored tree does not check at index %d (%s: %s); "+
				"run `confidant audit verify`, and `confidant audit rebuild-tiles` if only the tiles are damaged: %w", f.Index, f.Kind, f.Detail, err)
		}
		return fmt.Errorf("checking the access log's stored tree: %w", err)
	}
	return nil
}

// securityOfficer authorizes a request bearing the API token of a security
// officer's session (for the access log's entry bundles).
func securityOfficer(svc *service.Service) func(*http.Request) bool {
	return func(r *http.Request) bool {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return false
		}
		a, err := svc.Authenticate(r.Context(), strings.TrimSpace(tok), service.SessionAPI, httpx.ClientAddr(r))
		return err == nil && a.Role == confidant.RoleSecurity
	}
}

// runRecordsChecks runs the records check (docs/AUDIT.md, "Records") at
// start and then every `every` until ctx is done, and hands each report to
// the service, where security officers read it. It logs counts only.
func runRecordsChecks(ctx context.Context, l *audit.Log, svc *service.Service, every time.Duration, in *integrity, log *slog.Logger) {
	if every <= 0 {
		return
	}
	for {
		rep, err := l.VerifyRecords(ctx, nil)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("the records check failed", slog.String("err", err.Error()))
		case !rep.OK():
			svc.SetRecordsReport(rep)
			in.report(ctx, "records", fmt.Sprintf("The records check found %d findings: stored records contradict the access log's record writes (changed, replaced or removed outside Confidant). "+
				"Security officers see the records report; `confidant audit verify --records` gives the details.", len(rep.Findings)))
			log.Error("the records do NOT match the access log: see the records report (security officers) or run `confidant audit verify --records`",
				slog.Int("findings", len(rep.Findings)), slog.Int("records", rep.Stored))
		default:
			svc.SetRecordsReport(rep)
			log.Info("the records match the access log", slog.Int("records", rep.Stored), slog.Int("verified", rep.Verified),
				slog.Int("unverifiable", rep.Unverifiable), slog.Duration("took", rep.Elapsed))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
