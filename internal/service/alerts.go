package service

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Alerts (docs/INCIDENTS.md, "Alerts and their lifecycle"): the detector
// that watches the access log raises them (RaiseAlerts, in its own
// transaction); security officers and the data protection officer read
// them and acknowledge, dismiss (with a reason) or reopen them; the
// incident register escalates them (EscalateAlerts). Every change is an
// event in the access log, in the change's transaction, whose record is
// the alert's id. An alert a database writer changed is shown as
// tampered, never hidden, and cannot be changed further.

// DetectorActor is the actor id of the events of raised alerts: the
// detector is a system caller, not an account ("~" starts no id).
const DetectorActor = "~detector"

// Limits of alert listings and of a dismissal's reason.
const (
	DefaultAlertLimit = 100
	MaxAlertLimit     = 1000
	minDismissReason  = 10
	maxDismissReason  = 1000
)

var (
	errAlertReason = confidant.Errorf(confidant.KindInvalid, "invalid_reason",
		"Write why the alert is dismissed: %d to %d characters.", minDismissReason, maxDismissReason)
	errAlertState = confidant.Errorf(confidant.KindConflict, "alert_state",
		"The alert's status does not allow this (it was changed meanwhile?).")
	errReopenOwn = confidant.Errorf(confidant.KindPermission, "own_dismissal",
		"A dismissal is reviewed by someone else: you dismissed this alert.")
	errAlertLimit = confidant.Errorf(confidant.KindInvalid, "invalid_limit",
		"The limit is 1 to %d.", MaxAlertLimit)
	errAlertStatus = confidant.Errorf(confidant.KindInvalid, "invalid_status",
		"The status is new, acknowledged, dismissed or escalated.")
	errAlertCursor = confidant.Errorf(confidant.KindInvalid, "invalid_before",
		"The cursor (before) is the id of an alert.")
	errAlertInput = confidant.Errorf(confidant.KindInvalid, "invalid_alert",
		"An alert needs a rule, a known severity and a key.")
	errIncidentID = confidant.Errorf(confidant.KindInvalid, "invalid_incident",
		"An escalation needs the id of the incident.")
)

// systemEvent is an event of the system itself (no account).
func (s *Service) systemEvent(action, clinicID, recordID, purpose string) confidant.AuditEvent {
	return confidant.AuditEvent{Time: s.clock(), ActorID: DetectorActor, ClinicID: clinicID, Action: action,
		RecordID: recordID, Purpose: purpose, Outcome: confidant.OutcomeOK}
}

// RaiseAlerts stores the detector's alerts in tx, the detector's own
// transaction, and returns those stored: each gets an id, the creation
// time and the status new; one whose Key is stored already is skipped
// (raising is idempotent). Each alert stored is an access-log event
// (alert.raised, the alert's id as its record, no patient), in tx. It is
// a system call: no actor is needed or consulted.
func (s *Service) RaiseAlerts(ctx context.Context, tx confidant.Tx, alerts []confidant.Alert) ([]confidant.Alert, error) {
	var out []confidant.Alert
	now := s.clock()
	for _, in := range alerts {
		if in.Rule == "" || in.Key == "" || !in.Severity.Valid() {
			return nil, errAlertInput
		}
		a := in
		a.ID, a.CreatedAt, a.Status = confidant.NewID(), now, confidant.AlertNew
		a.DecidedBy, a.DecidedAt, a.Reason, a.IncidentID, a.Tampered = "", time.Time{}, "", "", false
		a.PatientIDs = append([]string{}, in.PatientIDs...)
		ok, err := tx.CreateAlert(ctx, a)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := tx.Audit(s.systemEvent(ActAlertRaised, a.ClinicID, a.ID, "rule "+a.Rule+", severity "+string(a.Severity))); err != nil {
			return nil, err
		}
		// Its deliveries to every recipient commit with it (the outbox).
		if err := s.Enqueue(ctx, tx, s.AlertNotification(a)); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// RaiseAlertsNow is RaiseAlerts in a transaction of its own.
func (s *Service) RaiseAlertsNow(ctx context.Context, alerts []confidant.Alert) ([]confidant.Alert, error) {
	var out []confidant.Alert
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		out, err = s.RaiseAlerts(ctx, tx, alerts)
		return err
	})
	return out, err
}

// AlertQuery selects alerts for ListAlerts: Since (created at or after),
// Status, Rule, Before (the id of the last alert of the previous page)
// and Limit (0: DefaultAlertLimit; at most MaxAlertLimit).
type AlertQuery = confidant.AlertFilter

// checkAlertQuery validates and completes q.
func checkAlertQuery(q AlertQuery) (AlertQuery, error) {
	switch {
	case q.Limit < 0 || q.Limit > MaxAlertLimit:
		return q, errAlertLimit
	case q.Status != "" && !q.Status.Valid():
		return q, errAlertStatus
	case q.Before != "" && !confidant.ValidID(q.Before):
		return q, errAlertCursor
	case len(q.Rule) > 100:
		return q, confidant.Errorf(confidant.KindInvalid, "invalid_rule", "The rule is a rule's name.")
	}
	if q.Limit == 0 {
		q.Limit = DefaultAlertLimit
	}
	if !q.Since.IsZero() {
		q.Since = q.Since.UTC()
	}
	return q, nil
}

// MayListAlerts reports whether the actor of ctx may list alerts (a
// refusal is recorded), for transports that check parameters after the
// role.
func (s *Service) MayListAlerts(ctx context.Context) error {
	_, err := need(ctx, policy.ListAlerts)
	return s.wrote(ctx, ActAlertsList, "", "", err)
}

// ListAlerts returns alerts, newest first, to security officers and the
// data protection officer; the listing is an event (alerts.list). A
// tampered alert is listed with Tampered set.
func (s *Service) ListAlerts(ctx context.Context, q AlertQuery) ([]confidant.Alert, error) {
	if _, err := need(ctx, policy.ListAlerts); err != nil {
		return nil, s.wrote(ctx, ActAlertsList, "", "", err)
	}
	q, err := checkAlertQuery(q)
	if err != nil {
		return nil, err
	}
	var as []confidant.Alert
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		as, err = tx.ListAlerts(ctx, q)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.event(ctx, ActAlertsList, "", "", confidant.OutcomeOK)); err != nil {
		return nil, err
	}
	return as, nil
}

// Alert returns one alert (an event, alert.read).
func (s *Service) Alert(ctx context.Context, id string) (confidant.Alert, error) {
	if _, err := need(ctx, policy.ListAlerts); err != nil {
		return confidant.Alert{}, s.wrote(ctx, ActAlertRead, "", id, err)
	}
	if err := checkID(id); err != nil {
		return confidant.Alert{}, err
	}
	var a confidant.Alert
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		a, err = tx.Alert(ctx, id)
		return err
	})
	if err := s.done(ctx, ActAlertRead, "", id, sameNotFound(err)); err != nil {
		return confidant.Alert{}, err
	}
	return a, nil
}

// changeAlert applies a status change to alert id in its own transaction:
// check decides, from the alert as stored, whether the change is allowed
// and what it is; the event (action, purpose) is written with it.
func (s *Service) changeAlert(ctx context.Context, id, action string, check func(a confidant.Actor, cur confidant.Alert) (confidant.AlertChange, string, error)) (confidant.Alert, error) {
	a, err := need(ctx, policy.ManageAlerts)
	if err != nil {
		return confidant.Alert{}, s.wrote(ctx, action, "", id, err)
	}
	if err := checkID(id); err != nil {
		return confidant.Alert{}, err
	}
	var out confidant.Alert
	err = s.update(ctx, func(tx confidant.Tx) error {
		cur, err := tx.Alert(ctx, id)
		if err != nil {
			return sameNotFound(err)
		}
		if cur.Tampered {
			return errTampered
		}
		ch, purpose, err := check(a, cur)
		if err != nil {
			return err
		}
		if err := tx.SetAlertStatus(ctx, id, cur.Status, ch); err != nil {
			return err
		}
		cur.Status, cur.DecidedBy, cur.DecidedAt, cur.Reason, cur.IncidentID = ch.Status, ch.DecidedBy, ch.DecidedAt, ch.Reason, ch.IncidentID
		out = cur
		ev := s.event(ctx, action, "", id, confidant.OutcomeOK)
		ev.Purpose = purpose
		return tx.Audit(ev)
	})
	if err := s.wrote(ctx, action, "", id, err); err != nil {
		return confidant.Alert{}, err
	}
	return out, nil
}

var errTampered = confidant.Errorf(confidant.KindConflict, "alert_tampered",
	"This alert failed its integrity check: it was changed outside the application and cannot be changed further; report it.")

// AcknowledgeAlert marks a new alert acknowledged: someone is looking
// into it.
func (s *Service) AcknowledgeAlert(ctx context.Context, id string) (confidant.Alert, error) {
	now := s.clock()
	return s.changeAlert(ctx, id, ActAlertAcknowledged, func(a confidant.Actor, cur confidant.Alert) (confidant.AlertChange, string, error) {
		if cur.Status != confidant.AlertNew {
			return confidant.AlertChange{}, "", errAlertState
		}
		return confidant.AlertChange{Status: confidant.AlertAcknowledged, DecidedBy: a.UserID, DecidedAt: now}, "acknowledged", nil
	})
}

// checkDismissReason validates and trims a dismissal's reason.
func checkDismissReason(reason string) (string, error) {
	if !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return "", errAlertReason
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < minDismissReason || n > maxDismissReason {
		return "", errAlertReason
	}
	return reason, nil
}

// DismissAlert dismisses a new or acknowledged alert with a reason (10 to
// 1000 characters, sealed with the alert and in the event's purpose).
// Dismissals are reviewable: listed by status dismissed with who, when
// and why, and reopened by someone else (ReopenAlert).
func (s *Service) DismissAlert(ctx context.Context, id, reason string) (confidant.Alert, error) {
	if _, err := need(ctx, policy.ManageAlerts); err != nil {
		return confidant.Alert{}, s.wrote(ctx, ActAlertDismissed, "", id, err)
	}
	reason, err := checkDismissReason(reason)
	if err != nil {
		return confidant.Alert{}, err
	}
	now := s.clock()
	return s.changeAlert(ctx, id, ActAlertDismissed, func(a confidant.Actor, cur confidant.Alert) (confidant.AlertChange, string, error) {
		if cur.Status != confidant.AlertNew && cur.Status != confidant.AlertAcknowledged {
			return confidant.AlertChange{}, "", errAlertState
		}
		return confidant.AlertChange{Status: confidant.AlertDismissed, DecidedBy: a.UserID, DecidedAt: now, Reason: reason},
			"dismissed: " + reason, nil
	})
}

// ReopenAlert reviews a dismissal and finds it wrong: the alert is new
// again. Only someone other than the person who dismissed it may.
func (s *Service) ReopenAlert(ctx context.Context, id string) (confidant.Alert, error) {
	now := s.clock()
	return s.changeAlert(ctx, id, ActAlertReopened, func(a confidant.Actor, cur confidant.Alert) (confidant.AlertChange, string, error) {
		if cur.Status != confidant.AlertDismissed {
			return confidant.AlertChange{}, "", errAlertState
		}
		if cur.DecidedBy == a.UserID {
			return confidant.AlertChange{}, "", errReopenOwn
		}
		return confidant.AlertChange{Status: confidant.AlertNew, DecidedBy: a.UserID, DecidedAt: now}, "reopened", nil
	})
}

// EscalateAlerts marks alerts escalated to incident incidentID, in tx (the
// incident register's transaction), for the actor of ctx (who must be
// allowed to manage alerts). Each must be new or acknowledged, else the
// whole call fails with KindConflict "alert_state" (a tampered one:
// "alert_tampered"); each change is an event (alert.escalated).
func (s *Service) EscalateAlerts(ctx context.Context, tx confidant.Tx, ids []string, incidentID string) ([]confidant.Alert, error) {
	a, err := need(ctx, policy.ManageAlerts)
	if err != nil {
		return nil, err
	}
	if !confidant.ValidID(incidentID) {
		return nil, errIncidentID
	}
	now := s.clock()
	out := make([]confidant.Alert, 0, len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
		cur, err := tx.Alert(ctx, id)
		if err != nil {
			return nil, sameNotFound(err)
		}
		if cur.Tampered {
			return nil, errTampered
		}
		if cur.Status != confidant.AlertNew && cur.Status != confidant.AlertAcknowledged {
			return nil, errAlertState
		}
		ch := confidant.AlertChange{Status: confidant.AlertEscalated, DecidedBy: a.UserID, DecidedAt: now, IncidentID: incidentID}
		if err := tx.SetAlertStatus(ctx, id, cur.Status, ch); err != nil {
			return nil, err
		}
		cur.Status, cur.DecidedBy, cur.DecidedAt, cur.Reason, cur.IncidentID = ch.Status, ch.DecidedBy, ch.DecidedAt, "", incidentID
		ev := s.event(ctx, ActAlertEscalated, "", id, confidant.OutcomeOK)
		ev.Purpose = "escalated to incident " + incidentID
		if err := tx.Audit(ev); err != nil {
			return nil, err
		}
		out = append(out, cur)
	}
	return out, nil
}
