package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/policy"
)

// The incident register (docs/INCIDENTS.md, "The incident register"): GDPR
// Art. 33 (72 hours from awareness to the supervisory authority), Art. 34
// (letters to the patients), Art. 33(5) (documentation of every breach)
// and NIS2 Art. 23 (24-hour early warning). An incident is opened from
// alerts or by hand with a frozen breach scope; the data protection
// officer sets the time of awareness, which starts the clocks, and closes
// it. Nothing is deleted or rewritten: every change is an entry of the
// incident's append-only history and an event in the access log, in the
// same transaction.

// IncidentAlertSource is what the register needs of the detector's alert
// store (internal/service's alerts, wired at merge): alerts by id, and
// escalating them to an incident, both inside the caller's transaction.
type IncidentAlertSource interface {
	// IncidentAlerts returns the alerts with these ids (KindNotFound if
	// one does not exist).
	IncidentAlerts(ctx context.Context, tx confidant.Tx, ids []string) ([]confidant.Alert, error)
	// EscalateAlerts marks the alerts escalated to incidentID.
	EscalateAlerts(ctx context.Context, tx confidant.Tx, ids []string, incidentID string) error
}

// WithIncidentAlerts attaches the alert store. Without one, incidents can
// only be opened by hand.
func WithIncidentAlerts(src IncidentAlertSource) Option {
	return func(s *Service) { s.incAlerts = src }
}

// IncidentMail is a message for the durable outbox: a breach notification
// letter to a patient's e-mail address.
type IncidentMail struct {
	PatientID string
	To        string
	Subject   string
	Text      string
}

// IncidentOutbox enqueues m in the durable outbox inside tx (the delivery
// work's service.Enqueue, wired at merge), so a letter is mailed if and
// only if it is stored.
type IncidentOutbox func(ctx context.Context, tx confidant.Tx, m IncidentMail) error

// WithIncidentOutbox attaches the outbox. Without one, letters reach the
// patients' portal only, and the history says no e-mail was sent.
func WithIncidentOutbox(fn IncidentOutbox) Option { return func(s *Service) { s.incOutbox = fn } }

// checkpointer signs (if needed) and returns the access log's latest
// checkpoint (internal/audit.Log implements it).
type checkpointer interface {
	Checkpoint(ctx context.Context) (auditlog.Checkpoint, error)
}

// Limits.
const (
	maxIncidentTitle     = 200
	maxIncidentText      = 5000
	maxIncidentAlerts    = 100
	maxIncidentAccounts  = 20
	maxLettersPerCall    = 500
	maxIncidentList      = 200
	minCorrectionReason  = 10
	maxIncidentPhase     = 40
	maxApprox            = 1_000_000_000
	scopePage            = 1000
	incidentCodeNeverDel = "incidents_are_never_deleted"
)

var (
	errIncidentTitle = confidant.Errorf(confidant.KindInvalid, "invalid_title",
		"Give the incident a title of 1 to %d characters.", maxIncidentTitle)
	errIncidentText = confidant.Errorf(confidant.KindInvalid, "invalid_text",
		"Write 1 to %d characters.", maxIncidentText)
	errIncidentSource = confidant.Errorf(confidant.KindInvalid, "invalid_scope",
		"Open an incident from alerts, by hand with the accounts and the period (from before to), or both.")
	errIncidentClosed = confidant.Errorf(confidant.KindConflict, "incident_closed",
		"The incident is closed; its record can no longer change.")
	errAwarenessSet = confidant.Errorf(confidant.KindConflict, "awareness_already_set",
		"The time of awareness is already set; a correction needs a reason.")
	errAwarenessTime = confidant.Errorf(confidant.KindInvalid, "invalid_time",
		"Give the time of awareness (RFC 3339), not in the future.")
	errCorrectionReason = confidant.Errorf(confidant.KindInvalid, "reason_required",
		"A correction of the time of awareness needs a reason of %d to %d characters.", minCorrectionReason, maxIncidentText)
	errNotInScope = confidant.Errorf(confidant.KindInvalid, "not_in_scope",
		"Letters go only to patients in the incident's frozen scope.")
	errIncidentPhase = confidant.Errorf(confidant.KindInvalid, "invalid_phase",
		"Name the phase of letters (1 to %d characters).", maxIncidentPhase)
	errApprox = confidant.Errorf(confidant.KindInvalid, "invalid_number",
		"Approximate numbers are 0 or more (or left out).")
	errNoAlertSource = confidant.Errorf(confidant.KindUnavailable, "alerts_unavailable",
		"Alerts cannot be read here; open the incident by hand.")
	// ErrIncidentNeverDeleted refuses every deletion of an incident.
	ErrIncidentNeverDeleted = confidant.Errorf(confidant.KindPermission, incidentCodeNeverDel,
		"Incidents are never deleted: the register keeps every incident and its whole history (GDPR Art. 33(5)).")
)

// cleanText validates free text of 1..max characters.
func cleanText(s string, max int, bad error) (string, error) {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", bad
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n == 0 || n > max {
		return "", bad
	}
	return s, nil
}

// optText validates optional free text of up to max characters.
func optText(s string, max int) (string, error) {
	if s == "" {
		return "", nil
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || utf8.RuneCountInString(s) > max {
		return "", errIncidentText
	}
	return strings.TrimSpace(s), nil
}

// ScopeInput is a scope asked for by hand: accounts and a period.
type ScopeInput struct {
	AccountIDs []string
	From, To   time.Time
}

// IncidentInput opens an incident: a title, and alerts or a scope by hand.
type IncidentInput struct {
	Title    string
	AlertIDs []string
	Scope    ScopeInput
}

// CheckIncidentInput validates an opening request before anything is read
// (also used by the decoders' fuzz tests).
func CheckIncidentInput(in IncidentInput) (IncidentInput, error) {
	var err error
	if in.Title, err = cleanText(in.Title, maxIncidentTitle, errIncidentTitle); err != nil {
		return in, err
	}
	if len(in.AlertIDs) > maxIncidentAlerts {
		return in, errIncidentSource
	}
	in.AlertIDs = uniqueIDs(in.AlertIDs)
	for _, id := range in.AlertIDs {
		if !confidant.ValidID(id) {
			return in, confidant.Errorf(confidant.KindInvalid, "invalid_id", "Alerts are named by their ids.")
		}
	}
	// From alerts, by hand, or both: alerts that name no account (an
	// integrity alert) with the scope given by hand.
	if len(in.AlertIDs) == 0 || handScope(in.Scope) {
		if in.Scope, err = checkScopeInput(in.Scope); err != nil {
			return in, err
		}
	}
	return in, nil
}

// handScope reports whether any part of a scope was given by hand.
func handScope(sc ScopeInput) bool {
	return len(sc.AccountIDs) > 0 || !sc.From.IsZero() || !sc.To.IsZero()
}

func checkScopeInput(sc ScopeInput) (ScopeInput, error) {
	sc.AccountIDs = uniqueIDs(sc.AccountIDs)
	if len(sc.AccountIDs) == 0 || len(sc.AccountIDs) > maxIncidentAccounts || sc.From.IsZero() || sc.To.IsZero() || !sc.From.Before(sc.To) {
		return sc, errIncidentSource
	}
	for _, id := range sc.AccountIDs {
		if !confidant.ValidID(id) {
			return sc, confidant.Errorf(confidant.KindInvalid, "invalid_id", "Accounts are named by their ids.")
		}
	}
	sc.From, sc.To = sc.From.UTC().Truncate(time.Microsecond), sc.To.UTC().Truncate(time.Microsecond)
	return sc, nil
}

func uniqueIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// recordKind names the kind of record an access-log action concerns, for
// the scope's record kinds ("" for none: sign-ins and the like).
func recordKind(action string) string {
	switch {
	case strings.HasPrefix(action, "process_note"):
		return "process_notes"
	case strings.HasPrefix(action, "note"):
		return "notes"
	case strings.HasPrefix(action, "chart."):
		return "chart"
	case strings.HasPrefix(action, "diagnosis"):
		return "diagnoses"
	case strings.HasPrefix(action, "plan."):
		return "treatment_plans"
	case strings.HasPrefix(action, "measure"):
		return "measures"
	case strings.HasPrefix(action, "attachment"):
		return "attachments"
	case strings.HasPrefix(action, "patient"), strings.HasPrefix(action, "patients."):
		return "demographics"
	case strings.HasPrefix(action, "portal."):
		return "released_notes"
	case strings.HasPrefix(action, "care."):
		return "care_relationships"
	}
	return "other"
}

// computeScope freezes a breach scope: it takes the access log's signed
// checkpoint first and then reads, for each account, its events in
// [from, to) at indexes below the checkpoint's size, so the scope is
// exactly what that checkpoint covers. Only accesses that succeeded count.
func (s *Service) computeScope(ctx context.Context, version int, sc ScopeInput) (confidant.IncidentScope, error) {
	if s.auditRead == nil {
		return confidant.IncidentScope{}, confidant.ErrNoAccessLog
	}
	cpr, ok := s.auditRead.(checkpointer)
	if !ok {
		return confidant.IncidentScope{}, confidant.ErrNoAccessLog
	}
	cp, err := cpr.Checkpoint(ctx)
	if err != nil {
		return confidant.IncidentScope{}, err
	}
	out := confidant.IncidentScope{
		Version: version, AccountIDs: sc.AccountIDs, From: sc.From, To: sc.To, ComputedAt: s.clock(),
		Checkpoint: confidant.IncidentCheckpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Root[:], Note: string(cp.Note)},
	}
	patients, kinds := map[string]bool{}, map[string]bool{}
	for _, acct := range sc.AccountIDs {
		before := cp.Size
		for before > 0 {
			evs, err := s.auditRead.Query(ctx, confidant.EventFilter{ActorID: acct, From: sc.From, To: sc.To, Before: before, Limit: scopePage})
			if err != nil {
				return confidant.IncidentScope{}, err
			}
			for _, e := range evs {
				if e.PatientID == "" || e.Outcome != confidant.OutcomeOK || e.Index >= cp.Size {
					continue
				}
				out.Events++
				patients[e.PatientID] = true
				kinds[recordKind(e.Action)] = true
			}
			if len(evs) < scopePage {
				break
			}
			before = evs[len(evs)-1].Index
		}
	}
	out.PatientIDs = slices.Sorted(mapKeys(patients))
	out.RecordKinds = slices.Sorted(mapKeys(kinds))
	return out, nil
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// incidentTx runs fn on the stored incident id in a write transaction,
// refusing changes to a closed incident; fn returns the changed incident
// and its history entry, written with the access-log event ev.
func (s *Service) incidentTx(ctx context.Context, id, action string, fn func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error)) (confidant.Incident, error) {
	var out confidant.Incident
	err := s.update(ctx, func(tx confidant.Tx) error {
		i, err := tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		if i.Status == confidant.IncidentClosed {
			return errIncidentClosed
		}
		ev, purpose, err := fn(tx, &i)
		if err != nil {
			return err
		}
		if err := tx.UpdateIncident(ctx, i, ev); err != nil {
			return err
		}
		i.Seq++
		out = i
		aev := s.event(ctx, action, "", id, confidant.OutcomeOK)
		aev.Purpose = purpose
		return tx.Audit(aev)
	})
	return out, s.wrote(ctx, action, "", id, err)
}

// needIncident checks act and the id.
func needIncident(ctx context.Context, act policy.Action, id string) (confidant.Actor, error) {
	a, err := need(ctx, act)
	if err != nil {
		return a, err
	}
	return a, checkID(id)
}

// OpenIncident opens an incident from alerts (escalating them) or by hand
// with a scope, freezing the breach scope at the access log's checkpoint.
func (s *Service) OpenIncident(ctx context.Context, in IncidentInput) (confidant.Incident, error) {
	a, err := need(ctx, policy.OpenIncident)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentOpen, "", "", err)
	}
	if in, err = CheckIncidentInput(in); err != nil {
		return confidant.Incident{}, err
	}
	var alerts []confidant.Alert
	sc := in.Scope
	if len(in.AlertIDs) > 0 {
		if s.incAlerts == nil {
			return confidant.Incident{}, errNoAlertSource
		}
		if err := s.store.View(ctx, func(tx confidant.Tx) error {
			alerts, err = s.incAlerts.IncidentAlerts(ctx, tx, in.AlertIDs)
			return err
		}); err != nil {
			return confidant.Incident{}, err
		}
		if !handScope(sc) {
			if sc, err = s.alertScope(alerts, s.clock()); err != nil {
				return confidant.Incident{}, err
			}
		}
	}
	scope, err := s.computeScope(ctx, 1, sc)
	if err != nil {
		return confidant.Incident{}, err
	}
	id, now := confidant.NewID(), s.clock()
	inc := confidant.Incident{
		ID: id, Status: confidant.IncidentOpen, OpenedBy: a.UserID, OpenedAt: now, Title: in.Title, AlertIDs: in.AlertIDs,
		Scope: scope,
		Notification: confidant.IncidentNotification{
			SubjectsApprox: len(scope.PatientIDs), RecordsApprox: scope.Events,
			SubjectCategories: "patients", RecordCategories: strings.Join(scope.RecordKinds, ", "),
		},
	}
	for _, al := range alerts {
		if inc.FirstAlertAt.IsZero() || al.CreatedAt.Before(inc.FirstAlertAt) {
			inc.FirstAlertAt = al.CreatedAt.UTC().Truncate(time.Microsecond)
		}
	}
	err = s.update(ctx, func(tx confidant.Tx) error {
		if len(in.AlertIDs) > 0 {
			again, err := s.incAlerts.IncidentAlerts(ctx, tx, in.AlertIDs)
			if err != nil {
				return err
			}
			for _, al := range again {
				if al.Status == confidant.AlertEscalated {
					return confidant.Errorf(confidant.KindConflict, "alert_escalated", "An alert has already been escalated to an incident.")
				}
			}
			if err := s.incAlerts.EscalateAlerts(ctx, tx, in.AlertIDs, id); err != nil {
				return err
			}
		}
		sc := scope
		if err := tx.CreateIncident(ctx, inc, confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventOpened,
			Text: in.Title, Scope: &sc}); err != nil {
			return err
		}
		ev := s.event(ctx, ActIncidentOpen, "", id, confidant.OutcomeOK)
		ev.Purpose = fmt.Sprintf("incident opened: %d alerts, %d patients in scope at log size %d", len(in.AlertIDs), len(scope.PatientIDs), scope.Checkpoint.Size)
		return tx.Audit(ev)
	})
	if err := s.wrote(ctx, ActIncidentOpen, "", "", err); err != nil {
		return confidant.Incident{}, err
	}
	inc.Seq = 1
	return inc, nil
}

// alertScope is the scope of alerts: their accounts from the start of the
// earliest alert's events until now, when the incident is opened (an
// alert covers the events up to the moment its rule fired, e.g. the 41st
// patient of an hour; what the account did after it belongs to the breach
// too), widened by Config.IncidentScopeMargin before.
func (s *Service) alertScope(alerts []confidant.Alert, now time.Time) (ScopeInput, error) {
	var sc ScopeInput
	for _, al := range alerts {
		if al.ActorID != "" && !slices.Contains(sc.AccountIDs, al.ActorID) {
			sc.AccountIDs = append(sc.AccountIDs, al.ActorID)
		}
		if !al.From.IsZero() && (sc.From.IsZero() || al.From.Before(sc.From)) {
			sc.From = al.From
		}
		if al.To.After(sc.To) {
			sc.To = al.To
		}
	}
	if len(sc.AccountIDs) == 0 || sc.From.IsZero() || sc.To.IsZero() {
		return sc, confidant.Errorf(confidant.KindInvalid, "alerts_without_scope",
			"These alerts name no account or period: give the scope's accounts and period with them.")
	}
	m := s.cfg.IncidentScopeMargin
	if now.After(sc.To) {
		sc.To = now
	}
	// To bounds the events inclusively; the query's end is exclusive.
	sc.From, sc.To = sc.From.Add(-m), sc.To.Add(m+time.Microsecond)
	return checkScopeInput(sc)
}

// IncidentDetails is an incident with its history and its letters (without
// their text).
type IncidentDetails struct {
	Incident confidant.Incident
	History  []confidant.IncidentEvent
	Letters  []confidant.IncidentLetter
}

// Incident returns an incident with its history; the read is recorded.
func (s *Service) Incident(ctx context.Context, id string) (IncidentDetails, error) {
	if _, err := needIncident(ctx, policy.ReadIncident, id); err != nil {
		return IncidentDetails{}, s.wrote(ctx, ActIncidentRead, "", id, err)
	}
	var d IncidentDetails
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		if d.Incident, err = tx.Incident(ctx, id); err != nil {
			return err
		}
		if d.History, err = tx.IncidentHistory(ctx, id); err != nil {
			return err
		}
		d.Letters, err = tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{IncidentID: id, MetaOnly: true})
		return err
	})
	if err := s.done(ctx, ActIncidentRead, "", id, sameNotFound(err)); err != nil {
		return IncidentDetails{}, err
	}
	return d, nil
}

// ListIncidents returns incidents, newest first: status "open", "closed" or
// "" for all. The listing is recorded.
func (s *Service) ListIncidents(ctx context.Context, status string) ([]confidant.Incident, error) {
	if _, err := need(ctx, policy.ReadIncident); err != nil {
		return nil, s.wrote(ctx, ActIncidentList, "", "", err)
	}
	st := confidant.IncidentStatus(status)
	if st != "" && st != confidant.IncidentOpen && st != confidant.IncidentClosed {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_status", "The status is open or closed.")
	}
	var is []confidant.Incident
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		is, err = tx.ListIncidents(ctx, confidant.IncidentFilter{Status: st, Limit: maxIncidentList})
		return err
	})
	if err := s.done(ctx, ActIncidentList, "", "", err); err != nil {
		return nil, err
	}
	return is, nil
}

// IncidentClock is an open incident's nearest deadline, for the banner of
// security officers and the data protection officer.
type IncidentClock struct {
	ID, Title string
	What      string    // "regulator" (GDPR 72 h) or "early_warning" (NIS2 24 h) or "awareness" (not yet set)
	Deadline  time.Time // zero while awareness is not set
	Overdue   bool
	OpenedAt  time.Time
}

// IncidentClocks returns the clocks of the open incidents, nearest deadline
// first (those without awareness last). No patient data: no event.
func (s *Service) IncidentClocks(ctx context.Context) ([]IncidentClock, error) {
	if _, err := need(ctx, policy.ReadIncident); err != nil {
		return nil, err
	}
	return s.openIncidentClocks(ctx)
}

// openIncidentClocks is IncidentClocks without an actor, for the board
// digest (a system call: titles stay in the service, the digest takes ids
// and clocks only).
func (s *Service) openIncidentClocks(ctx context.Context) ([]IncidentClock, error) {
	var is []confidant.Incident
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		is, err = tx.ListIncidents(ctx, confidant.IncidentFilter{Status: confidant.IncidentOpen, Limit: maxIncidentList})
		return err
	}); err != nil {
		return nil, err
	}
	now := s.clock()
	out := make([]IncidentClock, 0, len(is))
	for _, i := range is {
		c := IncidentClock{ID: i.ID, Title: i.Title, What: "awareness", OpenedAt: i.OpenedAt}
		if !i.AwarenessAt.IsZero() {
			c.What, c.Deadline = "regulator", i.RegulatorDeadline()
			if ew := i.EarlyWarningDeadline(); now.Before(ew) {
				c.What, c.Deadline = "early_warning", ew
			}
			c.Overdue = !now.Before(i.RegulatorDeadline())
			if c.Overdue {
				c.What, c.Deadline = "regulator", i.RegulatorDeadline()
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b IncidentClock) int {
		switch {
		case a.Deadline.IsZero() && b.Deadline.IsZero():
			return 0
		case a.Deadline.IsZero():
			return 1
		case b.Deadline.IsZero():
			return -1
		}
		return a.Deadline.Compare(b.Deadline)
	})
	return out, nil
}

// Now is the service's clock (the incident pages show time left).
func (s *Service) Now() time.Time { return s.clock() }

// SetIncidentAwareness records when the controller became aware of the
// breach (the data protection officer only): once, and corrected only with
// a reason that stays in the history.
func (s *Service) SetIncidentAwareness(ctx context.Context, id string, at time.Time, reason string) (confidant.Incident, error) {
	a, err := needIncident(ctx, policy.SetIncidentAwareness, id)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentAwareness, "", id, err)
	}
	now := s.clock()
	at = at.UTC().Truncate(time.Microsecond)
	if at.IsZero() || at.After(now) || at.Year() < 2000 {
		return confidant.Incident{}, errAwarenessTime
	}
	if reason != "" {
		if reason, err = cleanText(reason, maxIncidentText, errCorrectionReason); err != nil {
			return confidant.Incident{}, err
		}
		if utf8.RuneCountInString(reason) < minCorrectionReason {
			return confidant.Incident{}, errCorrectionReason
		}
	}
	return s.incidentTx(ctx, id, ActIncidentAwareness, func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error) {
		kind := confidant.IncidentEventAwareness
		if !i.AwarenessAt.IsZero() {
			if reason == "" {
				return confidant.IncidentEvent{}, "", errAwarenessSet
			}
			kind = confidant.IncidentEventAwarenessFix
		}
		prev := i.AwarenessAt
		i.AwarenessAt, i.AwarenessSetBy = at, a.UserID
		text := reason
		if !prev.IsZero() {
			text = "previously " + prev.Format(time.RFC3339) + ": " + reason
		}
		return confidant.IncidentEvent{At: now, By: a.UserID, Kind: kind, Time: at, Text: text},
			"awareness " + at.Format(time.RFC3339), nil
	})
}

// AddIncidentDecision records a decision with who and when.
func (s *Service) AddIncidentDecision(ctx context.Context, id, text string) (confidant.Incident, error) {
	a, err := needIncident(ctx, policy.UpdateIncident, id)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentDecision, "", id, err)
	}
	if text, err = cleanText(text, maxIncidentText, errIncidentText); err != nil {
		return confidant.Incident{}, err
	}
	now := s.clock()
	return s.incidentTx(ctx, id, ActIncidentDecision, func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error) {
		return confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventDecision, Text: text}, "decision recorded", nil
	})
}

// CheckNotification validates the Art. 33(3) fields.
func CheckNotification(n confidant.IncidentNotification) (confidant.IncidentNotification, error) {
	var err error
	for _, f := range []*string{&n.Nature, &n.SubjectCategories, &n.RecordCategories, &n.DPOContact, &n.Consequences, &n.Measures} {
		if *f, err = optText(*f, maxIncidentText); err != nil {
			return n, err
		}
	}
	if n.SubjectsApprox < 0 || n.SubjectsApprox > maxApprox || n.RecordsApprox < 0 || n.RecordsApprox > maxApprox {
		return n, errApprox
	}
	return n, nil
}

// SetIncidentNotification replaces the Art. 33(3) fields; the history
// keeps every version.
func (s *Service) SetIncidentNotification(ctx context.Context, id string, n confidant.IncidentNotification) (confidant.Incident, error) {
	a, err := needIncident(ctx, policy.UpdateIncident, id)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentNotification, "", id, err)
	}
	if n, err = CheckNotification(n); err != nil {
		return confidant.Incident{}, err
	}
	now := s.clock()
	n.UpdatedBy, n.UpdatedAt = a.UserID, now
	return s.incidentTx(ctx, id, ActIncidentNotification, func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error) {
		i.Notification = n
		nn := n
		return confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventNotification, Notification: &nn},
			"notification fields updated", nil
	})
}

// RescopeIncident computes a new frozen scope (the accounts and period
// given, or those of the current scope) and keeps it as the next version;
// the earlier versions stay in the history.
func (s *Service) RescopeIncident(ctx context.Context, id string, sc ScopeInput) (confidant.Incident, error) {
	a, err := needIncident(ctx, policy.UpdateIncident, id)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentRescope, "", id, err)
	}
	var cur confidant.Incident
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		cur, err = tx.Incident(ctx, id)
		return err
	}); err != nil {
		return confidant.Incident{}, sameNotFound(err)
	}
	if len(sc.AccountIDs) == 0 && sc.From.IsZero() && sc.To.IsZero() {
		sc = ScopeInput{AccountIDs: cur.Scope.AccountIDs, From: cur.Scope.From, To: cur.Scope.To}
	}
	if sc, err = checkScopeInput(sc); err != nil {
		return confidant.Incident{}, err
	}
	scope, err := s.computeScope(ctx, cur.Scope.Version+1, sc)
	if err != nil {
		return confidant.Incident{}, err
	}
	now := s.clock()
	return s.incidentTx(ctx, id, ActIncidentRescope, func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error) {
		if i.Scope.Version != cur.Scope.Version {
			return confidant.IncidentEvent{}, "", confidant.Errorf(confidant.KindConflict, "incident_changed", "The incident was changed meanwhile; reload it and try again.")
		}
		i.Scope = scope
		sc := scope
		return confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventRescoped, Scope: &sc},
			fmt.Sprintf("scope version %d: %d patients at log size %d", scope.Version, len(scope.PatientIDs), scope.Checkpoint.Size), nil
	})
}

// CloseIncident closes an incident with a conclusion (the data protection
// officer only). A closed incident no longer changes.
func (s *Service) CloseIncident(ctx context.Context, id, conclusion string) (confidant.Incident, error) {
	a, err := needIncident(ctx, policy.CloseIncident, id)
	if err != nil {
		return confidant.Incident{}, s.wrote(ctx, ActIncidentClose, "", id, err)
	}
	if conclusion, err = cleanText(conclusion, maxIncidentText, errIncidentText); err != nil {
		return confidant.Incident{}, err
	}
	now := s.clock()
	return s.incidentTx(ctx, id, ActIncidentClose, func(tx confidant.Tx, i *confidant.Incident) (confidant.IncidentEvent, string, error) {
		i.Status, i.ClosedAt, i.ClosedBy, i.Conclusion = confidant.IncidentClosed, now, a.UserID, conclusion
		return confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventClosed, Text: conclusion}, "incident closed", nil
	})
}

// DeleteIncident is always refused, and the attempt recorded: incidents
// are never deleted.
func (s *Service) DeleteIncident(ctx context.Context, id string) error {
	if _, err := actor(ctx); err != nil {
		return err
	}
	return s.wrote(ctx, ActIncidentDelete, "", id, ErrIncidentNeverDeleted)
}

// LettersResult says what a phase of letters did.
type LettersResult struct {
	Phase     string
	Sent      []string // patients who got a letter (in the portal)
	Mailed    int      // of them, also by e-mail
	Skipped   int      // erased patients (no key, no letter)
	Remaining int      // patients in scope not yet notified after this call
}

// CheckPhase validates a phase name.
func CheckPhase(phase string) (string, error) {
	return cleanText(phase, maxIncidentPhase, errIncidentPhase)
}

// SendIncidentLetters sends the Art. 34 letters of one phase to the given
// patients of the frozen scope (nil: every patient in scope not yet
// notified, at most 500 per call): each is sealed under the patient's key
// for their portal, mailed through the outbox when the patient has an
// address, and recorded on the patient's access history; the phase is an
// entry of the incident's history.
func (s *Service) SendIncidentLetters(ctx context.Context, id, phase string, patientIDs []string) (LettersResult, error) {
	a, err := needIncident(ctx, policy.SendIncidentLetters, id)
	if err != nil {
		return LettersResult{}, s.wrote(ctx, ActIncidentLetters, "", id, err)
	}
	if phase, err = CheckPhase(phase); err != nil {
		return LettersResult{}, err
	}
	if len(patientIDs) > maxLettersPerCall {
		return LettersResult{}, confidant.Errorf(confidant.KindInvalid, "too_many", "At most %d patients per call.", maxLettersPerCall)
	}
	explicit := patientIDs != nil
	patientIDs = uniqueIDs(patientIDs)
	now := s.clock()
	var res LettersResult
	err = s.update(ctx, func(tx confidant.Tx) error {
		res = LettersResult{Phase: phase}
		i, err := tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		if i.Status == confidant.IncidentClosed {
			return errIncidentClosed
		}
		sent, err := tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{IncidentID: id, MetaOnly: true})
		if err != nil {
			return err
		}
		notified := map[string]bool{}
		for _, l := range sent {
			notified[l.PatientID] = true
		}
		targets := patientIDs
		if !explicit {
			targets = nil
			for _, p := range i.Scope.PatientIDs {
				if !notified[p] && len(targets) < maxLettersPerCall {
					targets = append(targets, p)
				}
			}
		}
		for _, p := range targets {
			if !slices.Contains(i.Scope.PatientIDs, p) {
				return errNotInScope
			}
		}
		org, err := tx.Organisation(ctx)
		if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		contact := i.Notification.DPOContact
		if contact == "" {
			contact = org.Name
		}
		// Every read first, then the writes (a function whose reads follow
		// its writes cannot be staged; internal/audit).
		var letters []confidant.IncidentLetter
		emails := map[string]string{}
		for _, pid := range targets {
			p, err := tx.Patient(ctx, pid)
			if confidant.IsKind(err, confidant.KindNotFound) || err == nil && p.Erased() {
				res.Skipped++
				continue
			}
			if err != nil {
				return err
			}
			l := confidant.IncidentLetter{ID: confidant.NewID(), IncidentID: id, PatientID: pid, Phase: phase, CreatedAt: now,
				CreatedBy: a.UserID, Texts: LetterTexts(i, org.Name, contact)}
			if p.Email != "" && s.incOutbox != nil {
				l.Mailed = true
				emails[pid] = p.Email
				res.Mailed++
			}
			letters = append(letters, l)
			notified[pid] = true
			res.Sent = append(res.Sent, pid)
		}
		for _, p := range i.Scope.PatientIDs {
			if !notified[p] {
				res.Remaining++
			}
		}
		text := fmt.Sprintf("%d letters sent (%d by e-mail), %d erased patients skipped", len(res.Sent), res.Mailed, res.Skipped)
		if s.incOutbox == nil {
			text += "; e-mail delivery is not configured, letters reached the portal only"
		}
		// Queuing e-mail reads the outbox's keyset: open it before the
		// first write (no read may follow a write in a staged function).
		if len(emails) > 0 {
			if w, ok := tx.(interface{ WarmOutbox(context.Context) error }); ok {
				if err := w.WarmOutbox(ctx); err != nil {
					return err
				}
			}
		}
		if err := tx.UpdateIncident(ctx, i, confidant.IncidentEvent{At: now, By: a.UserID, Kind: confidant.IncidentEventLetters,
			Phase: phase, PatientIDs: res.Sent, Count: len(res.Sent), Text: text}); err != nil {
			return err
		}
		var evs []confidant.AuditEvent
		for _, l := range letters {
			if err := tx.CreateIncidentLetter(ctx, l); err != nil {
				return err
			}
			if l.Mailed {
				if err := s.incOutbox(ctx, tx, IncidentMail{PatientID: l.PatientID, To: emails[l.PatientID], Subject: letterMailSubject, Text: letterMailText(l)}); err != nil {
					return err
				}
			}
			ev := s.event(ctx, ActIncidentLetter, l.PatientID, l.ID, confidant.OutcomeOK)
			ev.Purpose = "breach notification letter (GDPR Art. 34), phase " + phase
			if l.Mailed {
				ev.Purpose += ", also by e-mail"
			}
			evs = append(evs, ev)
		}
		ev := s.event(ctx, ActIncidentLetters, "", id, confidant.OutcomeOK)
		ev.Purpose = "phase " + phase + ": " + text
		for _, e := range append(evs, ev) {
			if err := tx.Audit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.wrote(ctx, ActIncidentLetters, "", id, err); err != nil {
		return LettersResult{}, err
	}
	return res, nil
}

// MyLetters returns the breach notification letters addressed to the
// acting patient, oldest first; the read is on their access history.
func (s *Service) MyLetters(ctx context.Context) ([]confidant.IncidentLetter, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.Check(a, policy.ReadOwnLetters, policy.Facts{OwnPatient: a.PatientID != ""}); err != nil {
		return nil, s.wrote(ctx, ActLettersRead, "", "", err)
	}
	var ls []confidant.IncidentLetter
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		ls, err = tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{PatientID: a.PatientID})
		return err
	})
	if err := s.done(ctx, ActLettersRead, a.PatientID, "", err); err != nil {
		return nil, err
	}
	for n := range ls {
		ls[n].CreatedBy = "" // staff ids are not the patient's business here
	}
	return ls, nil
}

// RegulatorReport is the notification to the supervisory authority (GDPR
// Art. 33(3)) and the NIS2 early warning's facts: numbers and categories,
// never a patient id.
type RegulatorReport struct {
	IncidentID           string
	Title                string
	Controller           string
	DPOContact           string
	Status               confidant.IncidentStatus
	OpenedAt             time.Time
	FirstAlertAt         time.Time
	AwarenessAt          time.Time
	EarlyWarningDeadline time.Time
	RegulatorDeadline    time.Time
	ClosedAt             time.Time
	GeneratedAt          time.Time
	Late                 bool // generated after the 72-hour deadline
	Nature               string
	SubjectCategories    string
	SubjectsApprox       int
	RecordCategories     string
	RecordsApprox        int
	Consequences         string
	Measures             string
	PatientsInScope      int
	RecordKinds          []string
	ScopeFrom, ScopeTo   time.Time
	CheckpointSize       uint64
	CheckpointRoot       string // hex
	Decisions            []RegulatorDecision
	LettersSent          int
	Conclusion           string
}

// RegulatorDecision is a decision as the report lists it.
type RegulatorDecision struct {
	At   time.Time
	By   string // the account's display name
	Text string
}

// RegulatorNotification builds the notification to the supervisory
// authority from the register; producing it is recorded.
func (s *Service) RegulatorNotification(ctx context.Context, id string) (RegulatorReport, error) {
	if _, err := needIncident(ctx, policy.ReadIncident, id); err != nil {
		return RegulatorReport{}, s.wrote(ctx, ActIncidentReport, "", id, err)
	}
	var r RegulatorReport
	var hist []confidant.IncidentEvent
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		i, err := tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		if hist, err = tx.IncidentHistory(ctx, id); err != nil {
			return err
		}
		org, err := tx.Organisation(ctx)
		if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		ls, err := tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{IncidentID: id, MetaOnly: true})
		if err != nil {
			return err
		}
		n := i.Notification
		r = RegulatorReport{
			IncidentID: i.ID, Title: i.Title, Controller: org.Name, DPOContact: n.DPOContact, Status: i.Status,
			OpenedAt: i.OpenedAt, FirstAlertAt: i.FirstAlertAt, AwarenessAt: i.AwarenessAt,
			EarlyWarningDeadline: i.EarlyWarningDeadline(), RegulatorDeadline: i.RegulatorDeadline(), ClosedAt: i.ClosedAt,
			GeneratedAt: s.clock(), Nature: n.Nature, SubjectCategories: n.SubjectCategories, SubjectsApprox: n.SubjectsApprox,
			RecordCategories: n.RecordCategories, RecordsApprox: n.RecordsApprox, Consequences: n.Consequences, Measures: n.Measures,
			PatientsInScope: len(i.Scope.PatientIDs), RecordKinds: i.Scope.RecordKinds, ScopeFrom: i.Scope.From, ScopeTo: i.Scope.To,
			CheckpointSize: i.Scope.Checkpoint.Size, CheckpointRoot: hex.EncodeToString(i.Scope.Checkpoint.Root),
			LettersSent: len(ls), Conclusion: i.Conclusion,
		}
		r.Late = !r.RegulatorDeadline.IsZero() && r.GeneratedAt.After(r.RegulatorDeadline)
		return nil
	})
	if err := s.done(ctx, ActIncidentReport, "", id, sameNotFound(err)); err != nil {
		return RegulatorReport{}, err
	}
	var ids []string
	for _, e := range hist {
		ids = append(ids, e.By)
	}
	names, err := s.UserNames(ctx, ids)
	if err != nil {
		return RegulatorReport{}, err
	}
	for _, e := range hist {
		if e.Kind == confidant.IncidentEventDecision {
			r.Decisions = append(r.Decisions, RegulatorDecision{At: e.At, By: names[e.By], Text: e.Text})
		}
	}
	return r, nil
}
