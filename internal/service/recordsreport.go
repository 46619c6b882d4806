package service

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// The records check (docs/AUDIT.md, "Records"): the server runs it on a
// schedule (`confidant serve --records-check-every`) and hands each report
// to SetRecordsReport; security officers read the latest.

// SetRecordsReport keeps r as the latest records check.
func (s *Service) SetRecordsReport(r *confidant.RecordsReport) { s.records.Store(r) }

// RecordsReport returns the latest records check, nil before the first
// (security officers; an access-log event). It holds ids and counts only.
func (s *Service) RecordsReport(ctx context.Context) (*confidant.RecordsReport, error) {
	_, err := need(ctx, policy.QueryAudit)
	if err := s.done(ctx, ActRecordsReport, "", "", err); err != nil {
		return nil, err
	}
	return s.records.Load(), nil
}

// LatestRecordsReport returns the latest records check without
// authorization or event: for the server itself and tests, never for a
// request.
func (s *Service) LatestRecordsReport() *confidant.RecordsReport { return s.records.Load() }
