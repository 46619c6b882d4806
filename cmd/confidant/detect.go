package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/detect"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
)

// The detector's wiring (docs/INCIDENTS.md, "Detection rules").
//
// alertSink stores the detector's alerts through the service
// (RaiseAlertsNow: each Alert.Key once, each stored alert an alert.raised
// event in the same transaction, and its deliveries queued with it).
func alertSink(svc *service.Service, _ *slog.Logger) detect.Sink {
	return func(ctx context.Context, alerts []confidant.Alert) error {
		_, err := svc.RaiseAlertsNow(ctx, alerts)
		return err
	}
}

// honeytokens lists the decoy patients for the detector.
func honeytokens(svc *service.Service) detect.Honeytokens { return svc.HoneytokenIDs }

// newDetector returns the detector of serve, or nil when --detect-every is
// 0 or the INSECURE plain baseline runs (no access log).
func newDetector(cfg Config, a *app, svc *service.Service, log *slog.Logger) (*detect.Detector, error) {
	if cfg.DetectEvery == 0 || a.plain || a.log == nil {
		return nil, nil
	}
	return detect.New(a.log, a.store, detect.Config{
		Every:       cfg.DetectEvery,
		Rules:       detect.Rules{VolumeHour: cfg.DetectVolumeHour, VolumeDay: cfg.DetectVolumeDay, Hours: cfg.DetectHours},
		Sink:        alertSink(svc, log),
		Honeytokens: honeytokens(svc),
		Surname:     func(family string) ([]byte, error) { return seal.SurnameIndex(a.keys, family) },
		Logger:      log,
	})
}

// integrity reports failed integrity checks: always to the server's log,
// and as a critical alert through the detector when it runs.
type integrity struct {
	d   *detect.Detector
	log *slog.Logger
}

func (i *integrity) report(ctx context.Context, kind, explanation string) {
	if i == nil {
		return
	}
	i.log.Error("INTEGRITY CHECK FAILED", slog.String("kind", kind), slog.String("what", explanation))
	if i.d == nil {
		return
	}
	// The alert must not be lost with a request's context that ends.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := i.d.RaiseIntegrity(rctx, kind, explanation); err != nil {
		i.log.Error("the integrity alert could not be raised", slog.String("kind", kind), slog.String("err", err.Error()))
	}
}

// faultText describes a failed check of the log without its data.
func faultText(err error) string {
	var f *auditlog.Fault
	if errors.As(err, &f) {
		return fmt.Sprintf("at event %d (%s: %s)", f.Index, f.Kind, f.Detail)
	}
	return confidant.CodeOf(err)
}

// runVerify verifies the whole access log at start and then every `every`
// until ctx is done; a failed verification is an integrity alert, an error
// of another kind (the database unreachable) is logged and tried again at
// the next run.
func runVerify(ctx context.Context, l *audit.Log, every time.Duration, in *integrity, log *slog.Logger) {
	if every <= 0 {
		return
	}
	for {
		start := time.Now()
		err := l.Verify(ctx, nil, nil)
		var f *auditlog.Fault
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &f):
			in.report(ctx, "verify", "The access log failed its verification "+faultText(err)+
				": its events, tree or checkpoints were altered. Run `confidant audit verify` for the details.")
		case err != nil:
			log.Warn("the access log could not be verified; trying again later", slog.String("err", err.Error()))
		default:
			log.Info("the access log verifies", slog.Duration("took", time.Since(start)))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
