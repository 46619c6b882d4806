package service

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
)

// storedAlerts is the incident register's alert source over this
// service's own alert store (the default; WithIncidentAlerts replaces it
// in tests).
type storedAlerts struct{ s *Service }

// IncidentAlerts returns the alerts with these ids; an unknown id is
// KindNotFound, a tampered alert a conflict (an incident is not opened on
// an alert whose record cannot be trusted).
func (a storedAlerts) IncidentAlerts(ctx context.Context, tx confidant.Tx, ids []string) ([]confidant.Alert, error) {
	out := make([]confidant.Alert, 0, len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
		al, err := tx.Alert(ctx, id)
		if err != nil {
			return nil, sameNotFound(err)
		}
		if al.Tampered {
			return nil, errTampered
		}
		out = append(out, al)
	}
	return out, nil
}

// EscalateAlerts marks the alerts escalated to the incident (each an
// alert.escalated event).
func (a storedAlerts) EscalateAlerts(ctx context.Context, tx confidant.Tx, ids []string, incidentID string) error {
	_, err := a.s.EscalateAlerts(ctx, tx, ids, incidentID)
	return err
}
