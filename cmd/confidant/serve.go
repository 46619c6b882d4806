package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/api"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/web"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	a, err := openApp(ctx, cfg, stderr, openOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	return serve(ctx, cfg, a.store, ln, log, func(url string) {
		fmt.Fprintf(stdout, "Confidant is running at %s (Ctrl-C to stop)\n", url)
	})
}

// newHandler wires the service to the web app and the JSON API.
func newHandler(cfg Config, st confidant.Store, log *slog.Logger) (http.Handler, *service.Service, error) {
	hasher, err := password.New(password.Config{})
	if err != nil {
		return nil, nil, err
	}
	svc, err := service.New(st, hasher, cfg.serviceConfig(), service.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	secure := cfg.SecureCookies || cfg.TLSCert != ""
	webh, err := web.New(svc, web.Config{Logger: log, SecureCookies: secure})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api.New(svc, api.Config{Logger: log}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/", webh)
	return httpx.Logged(log, httpx.Secure(mux)), svc, nil
}

// serve runs the HTTP server on ln until ctx is done, then shuts down
// gracefully. ready is called with the base URL once it accepts requests.
func serve(ctx context.Context, cfg Config, st confidant.Store, ln net.Listener, log *slog.Logger, ready func(url string)) error {
	h, svc, err := newHandler(cfg, st, log)
	if err != nil {
		ln.Close()
		return err
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
	return srv.Shutdown(sctx)
}

// sweepSessions deletes expired sessions every few minutes.
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
		}
	}
}
