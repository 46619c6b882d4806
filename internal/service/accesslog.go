package service

import (
	"context"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/policy"
)

// AuditReader reads the access log (internal/audit.Log implements it).
type AuditReader interface {
	Query(ctx context.Context, f confidant.EventFilter) ([]confidant.StoredEvent, error)
	OpenFree(se confidant.StoredEvent) (purpose, client string, err error)
	Bundle(ctx context.Context, index uint64) (auditlog.Bundle, error)
	AccessedBy(ctx context.Context, actorID string, from, to time.Time) ([]confidant.PatientAccess, error)
}

// WithAuditReader attaches the access log's reader (patients' access
// history, security queries).
func WithAuditReader(r AuditReader) Option { return func(s *Service) { s.auditRead = r } }

// AccessEntry is an access-log entry as shown to a patient or a security
// officer: who, in which role and clinic, when, what and why. It never holds
// clinical content.
type AccessEntry struct {
	Index     uint64
	Time      time.Time
	ActorID   string
	ActorName string
	Role      confidant.Role
	ClinicID  string
	Action    string
	PatientID string
	RecordID  string
	Purpose   string
	Outcome   string
	Client    string // security officers only
	// SubjectName names the therapist of a care relationship's start or
	// end ("X was assigned as your therapist by Y"), when known.
	SubjectName string
}

// maxAuditPage bounds one page of access-log entries.
const maxAuditPage = 200

func (s *Service) entries(ctx context.Context, evs []confidant.StoredEvent, withClient bool) ([]AccessEntry, error) {
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.ActorID)
	}
	// The therapist of each care relationship started or ended: the
	// event names the relationship, which names the therapist.
	therapists := map[string]string{}
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		for _, e := range evs {
			if (e.Action == ActCareAssign || e.Action == ActCareEnd) && confidant.ValidID(e.RecordID) && e.PatientID != "" {
				c, err := tx.Care(ctx, e.RecordID)
				if confidant.IsKind(err, confidant.KindNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if c.PatientID == e.PatientID {
					therapists[e.RecordID] = c.TherapistID
					ids = append(ids, c.TherapistID)
				}
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	names, err := s.UserNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]AccessEntry, len(evs))
	for i, e := range evs {
		purpose, client, err := s.auditRead.OpenFree(e)
		if err != nil {
			return nil, err
		}
		out[i] = AccessEntry{
			Index: e.Index, Time: e.Time, ActorID: e.ActorID, ActorName: names[e.ActorID], Role: e.Role,
			ClinicID: e.ClinicID, Action: e.Action, PatientID: e.PatientID, RecordID: e.RecordID,
			Purpose: purpose, Outcome: e.Outcome,
		}
		if tid, ok := therapists[e.RecordID]; ok {
			out[i].SubjectName = names[tid]
		}
		if withClient {
			out[i].Client = client
		}
	}
	return out, nil
}

// MyAccessLog returns, newest first, every access to the acting patient's
// records: who, role, clinic, when, what and why. before pages backwards
// (0: from the newest).
func (s *Service) MyAccessLog(ctx context.Context, before uint64, limit int) ([]AccessEntry, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.Check(a, policy.ReadOwnAccessLog, policy.Facts{OwnPatient: a.PatientID != ""}); err != nil {
		return nil, err
	}
	if s.auditRead == nil {
		return nil, confidant.ErrNoAccessLog
	}
	if limit <= 0 || limit > maxAuditPage {
		limit = 50
	}
	evs, err := s.auditRead.Query(ctx, confidant.EventFilter{PatientID: a.PatientID, Before: before, Limit: limit})
	if err != nil {
		return nil, err
	}
	return s.entries(ctx, evs, false)
}

// AccessProof returns the proof bundle of one entry of the acting patient's
// access log: the entry, its opening, an inclusion proof and a signed
// checkpoint, checkable without trusting the server.
func (s *Service) AccessProof(ctx context.Context, index uint64) (auditlog.Bundle, error) {
	a, err := actor(ctx)
	if err != nil {
		return auditlog.Bundle{}, err
	}
	if err := policy.Check(a, policy.ReadOwnAccessLog, policy.Facts{OwnPatient: a.PatientID != ""}); err != nil {
		return auditlog.Bundle{}, err
	}
	if s.auditRead == nil {
		return auditlog.Bundle{}, confidant.ErrNoAccessLog
	}
	evs, err := s.auditRead.Query(ctx, confidant.EventFilter{PatientID: a.PatientID, Before: index + 1, Limit: 1})
	if err != nil {
		return auditlog.Bundle{}, err
	}
	if len(evs) != 1 || evs[0].Index != index {
		return auditlog.Bundle{}, confidant.ErrNotFound
	}
	return s.auditRead.Bundle(ctx, index)
}

// AuditQuery is a security officer's query of the access log.
type AuditQuery struct {
	PatientID, ActorID, Action string
	From, To                   time.Time
	Before                     uint64
	Limit                      int
}

// MayQueryAudit refuses, and records the refusal as action, an actor who
// may not query the access log. Handlers call it before they read a query's
// parameters, so that a refused caller's probe is recorded whatever it sent.
func (s *Service) MayQueryAudit(ctx context.Context, action string) error {
	if _, err := need(ctx, policy.QueryAudit); err != nil {
		return s.wrote(ctx, action, "", "", err)
	}
	return nil
}

// AuditEvents answers a security officer's query of the access log: ids and
// metadata (and the sealed purpose and client address), never clinical
// content. The query itself is recorded.
func (s *Service) AuditEvents(ctx context.Context, q AuditQuery) ([]AccessEntry, error) {
	if _, err := need(ctx, policy.QueryAudit); err != nil {
		return nil, s.wrote(ctx, ActAuditQuery, "", "", err)
	}
	if s.auditRead == nil {
		return nil, confidant.ErrNoAccessLog
	}
	for _, id := range []string{q.PatientID, q.ActorID} {
		if id != "" && !confidant.ValidID(id) {
			return nil, confidant.Errorf(confidant.KindInvalid, "invalid_id", "Patient and actor must be ids.")
		}
	}
	if len(q.Action) > 64 {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_action", "Unknown action.")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_range", "The start of the period must be before its end.")
	}
	if q.Limit <= 0 || q.Limit > maxAuditPage {
		q.Limit = 100
	}
	ev := s.event(ctx, ActAuditQuery, q.PatientID, "", confidant.OutcomeOK)
	ev.Purpose = "query: actor=" + q.ActorID + " action=" + q.Action + " from=" + q.From.Format(time.RFC3339) + " to=" + q.To.Format(time.RFC3339)
	if err := s.record(ctx, ev); err != nil {
		return nil, err
	}
	evs, err := s.auditRead.Query(ctx, confidant.EventFilter{
		PatientID: q.PatientID, ActorID: q.ActorID, Action: q.Action, From: q.From, To: q.To, Before: q.Before, Limit: q.Limit,
	})
	if err != nil {
		return nil, err
	}
	return s.entries(ctx, evs, true)
}

// BreachScope answers a security officer's question after a compromise of
// an account: which patients did this account access in this period, how
// often, when first and last, and how many attempts were refused. It reads
// only ids and metadata, and is recorded as one event.
func (s *Service) BreachScope(ctx context.Context, actorID string, from, to time.Time) ([]confidant.PatientAccess, error) {
	if _, err := need(ctx, policy.QueryAudit); err != nil {
		return nil, s.wrote(ctx, ActAuditScope, "", "", err)
	}
	if s.auditRead == nil {
		return nil, confidant.ErrNoAccessLog
	}
	if !confidant.ValidID(actorID) {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_id", "The account must be an id.")
	}
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_range", "Give the start and the end of the period, the start first.")
	}
	ev := s.event(ctx, ActAuditScope, "", "", confidant.OutcomeOK)
	ev.Purpose = "breach scope: actor=" + actorID + " from=" + from.UTC().Format(time.RFC3339) + " to=" + to.UTC().Format(time.RFC3339)
	if err := s.record(ctx, ev); err != nil {
		return nil, err
	}
	return s.auditRead.AccessedBy(ctx, actorID, from, to)
}
