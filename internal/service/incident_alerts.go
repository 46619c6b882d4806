package service

import (
	"context"
	"time"

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

// StoredDigestSource is the board digest's source over this service's
// alert store and incident register (a system reader: counts, ids and
// clocks only).
func StoredDigestSource(s *Service) DigestSource { return storedDigest{s} }

type storedDigest struct{ s *Service }

// AlertCounts counts the alerts raised in [from, to) by rule.
func (d storedDigest) AlertCounts(ctx context.Context, from, to time.Time) (map[string]int, error) {
	var out map[string]int
	err := d.s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		out, err = tx.CountAlerts(ctx, from, to)
		return err
	})
	return out, err
}

// OpenIncidents lists the open incidents with the clock that runs for
// each: "awareness" (not yet set), "early_warning" (NIS2, 24 h),
// "regulator" (GDPR, 72 h; "regulator overdue" once passed).
func (d storedDigest) OpenIncidents(ctx context.Context) ([]DigestIncident, error) {
	cs, err := d.s.openIncidentClocks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DigestIncident, 0, len(cs))
	for _, c := range cs {
		clock := c.What
		if c.Overdue {
			clock += " overdue"
		}
		out = append(out, DigestIncident{ID: c.ID, Clock: clock, OpenedAt: c.OpenedAt, Deadline: c.Deadline})
	}
	return out, nil
}

// mailLetter queues a patient's breach notification letter for their
// e-mail address in the outbox, inside the letter's own transaction (the
// incident register's IncidentOutbox).
func (s *Service) mailLetter(ctx context.Context, tx confidant.Tx, m IncidentMail) error {
	n := Notification{Key: "letter:" + confidant.NewID(), Subject: m.Subject, Text: m.Text, Severity: "letter"}
	return s.enqueueTo(ctx, tx, n, []destination{{key: "patient:" + m.PatientID, channel: confidant.RecipientEmail, to: m.To}})
}
