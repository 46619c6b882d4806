package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Auditor appends events to the access log and returns once they are
// committed (internal/audit.Log implements it).
type Auditor interface {
	Record(ctx context.Context, evs ...confidant.AuditEvent) error
}

// WithAuditor attaches the access log. Without one, every operation that
// must be recorded fails with confidant.ErrNoAccessLog: no audit, no answer.
func WithAuditor(a Auditor) Option { return func(s *Service) { s.audit = a } }

// Actions recorded in the access log. They are part of the log's content
// and of what patients and inspectors read: never rename one.
const (
	ActLoginOK         = "login.ok"
	ActLoginFailed     = "login.failed"
	ActLogout          = "logout"
	ActPassword        = "account.password"
	ActTOTPEnrol       = "account.totp.enrol"   // a TOTP secret handed out for enrolment
	ActTOTPConfirm     = "account.totp.confirm" // its first valid code confirmed it
	ActPatientsList    = "patients.list"
	ActPatientsSearch  = "patients.search" // before ActSearchByName and ActSearchByCode, with the query sealed in the purpose; no longer recorded
	ActSearchByName    = "patients.search.name"
	ActSearchByCode    = "patients.search.identity_code"
	ActPatientsClinic  = "patients.list_clinic"
	ActPatientCreate   = "patient.create"
	ActPatientRead     = "patient.read"
	ActPatientErase    = "patient.erase"
	ActChartRead       = "chart.read"
	ActNotesRead       = "notes.read"
	ActNoteRead        = "note.read"
	ActNoteCreate      = "note.create"
	ActNoteEdit        = "note.edit"
	ActNoteSign        = "note.sign"
	ActNoteAmend       = "note.amend"
	ActNoteRelease     = "note.release"
	ActProcessCreate   = "process_note.create"
	ActProcessRead     = "process_notes.read"
	ActDiagnosisCreate = "diagnosis.create"
	ActDiagnosisStatus = "diagnosis.status"
	ActPlanCreate      = "plan.create"
	ActMeasureCreate   = "measure.create"
	ActAttachCreate    = "attachment.create"
	ActAttachRead      = "attachment.download"
	ActPortalRead      = "portal.read"
	ActClinicCreate    = "clinic.create"
	ActClinicUpdate    = "clinic.update"
	ActAccountCreate   = "account.create"
	ActAccountUpdate   = "account.update"
	ActAccountDisable  = "account.disable"
	ActAccountEnable   = "account.enable"
	ActCareAssign      = "care.assign"
	ActCareEnd         = "care.end"
	// ActFactForged: a row of authorization facts (RecordID; its table is
	// the Purpose) failed its integrity check and was treated as absent
	// (docs/SECURITY.md, "Authorization facts").
	ActFactForged    = "integrity.fact_forged"
	ActAuditQuery    = "audit.query"
	ActAuditScope    = "audit.scope"
	ActDashboard     = "audit.dashboard"        // a security officer or the DPO looked at the dashboard
	ActKeyUnwrap     = "key.unwrap"             // recorded by internal/audit (confidant.ActionKeyUnwrap)
	ActThrottleList  = "account.throttle.list"  // a security officer listed throttled accounts
	ActThrottleClear = "account.throttle.clear" // a security officer cleared an account's failed sign-ins
	// ActIdentityCodeTaken is a refused registration of an identity code
	// that a patient has already, recorded on that patient's history.
	ActIdentityCodeTaken = "patient.identity_code_taken"

	// Invitations and approvals (invitations.go).
	ActInvitationSend   = "account.invitation.send"   // an invitation was made (mailed or handed over)
	ActInvitationAccept = "account.invitation.accept" // ok: the invitee set their password; denied: an expired, used or revoked invitation was tried
	ActAccountApprove   = "account.approve"           // a security officer approved a therapist account
	ActAccountReset     = "account.reset"             // a security officer cleared an account's password and second factor

	// Break-the-glass (breakglass.go).
	ActBreakGlass       = "patient.break_glass" // a therapist took emergency access to a patient; the purpose holds the category and reason
	ActBreakGlassList   = "break_glass.list"    // a security officer read the grants (one event per patient listed)
	ActBreakGlassReview = "break_glass.review"  // a security officer reviewed a grant; the purpose holds the outcome
	// ActSearchEmergency is a therapist's search, by identity code, for a
	// patient of their clinics outside their care (to take emergency
	// access); recorded on the history of each patient found.
	ActSearchEmergency = "patients.search.emergency"
	// Passkeys and recovery codes (webauthn.go, recovery.go).
	ActWebAuthnBegin    = "account.webauthn.begin"    // a passkey ceremony began (purpose: its kind)
	ActWebAuthnRegister = "account.webauthn.register" // ok: a passkey was added; denied: the browser's answer was refused
	ActWebAuthnRemove   = "account.webauthn.remove"   // a passkey was removed
	ActWebAuthnStepUp   = "account.webauthn.step_up"  // a passkey step-up was finished (refusals: account.step_up.failed)
	ActRecoveryGenerate = "account.recovery.generate" // new recovery codes were made (the old ones no longer work)
	ActRecoveryUse      = "account.recovery.use"      // ok: a code was used (purpose: sign-in or step-up); denied: a wrong code at sign-in

	// ActRecordsReport: a security officer read the latest records check
	// (recordsreport.go).
	ActRecordsReport = "audit.records_report"

	// Alerts (alerts.go): no patient; the record is the alert.
	ActAlertRaised       = "alert.raised"       // the detector raised an alert (purpose: rule and severity)
	ActAlertsList        = "alerts.list"        // a security officer or the DPO listed alerts
	ActAlertRead         = "alert.read"         // … read one alert
	ActAlertAcknowledged = "alert.acknowledged" // an alert was acknowledged
	ActAlertDismissed    = "alert.dismissed"    // an alert was dismissed (purpose: the reason, sealed)
	ActAlertReopened     = "alert.reopened"     // a dismissal was reviewed and the alert is new again
	ActAlertEscalated    = "alert.escalated"    // an alert was escalated to an incident (purpose: the incident)
	// Honeytokens (honeytokens.go): never the decoy patient.
	ActHoneytokenCreate = "honeytoken.created" // a security officer made a decoy (record: the honeytoken's own id)
	ActHoneytokenList   = "honeytoken.list"    // a security officer or the DPO listed the decoys
)

// event builds an event for the actor of ctx (or the zero actor).
func (s *Service) event(ctx context.Context, action, patientID, recordID, outcome string) confidant.AuditEvent {
	a, _ := confidant.ActorFrom(ctx)
	if !confidant.ValidID(patientID) {
		patientID = "" // garbage from a request is not worth recording as an id
	}
	if !confidant.ValidID(recordID) {
		recordID = ""
	}
	ev := confidant.AuditEvent{
		Time: s.clock(), ActorID: a.UserID, Role: a.Role, Action: action, PatientID: patientID,
		RecordID: recordID, Outcome: outcome, SessionID: a.SessionID, Client: a.Client,
	}
	if len(a.ClinicIDs) > 0 {
		ev.ClinicID = a.ClinicIDs[0]
	}
	if ev.Client == "" {
		ev.Client = confidant.ClientFrom(ctx)
	}
	if g, ok := emergencyFor(ctx, ev.PatientID); ok {
		ev.Purpose = EmergencyPurpose + g.ID
	}
	return ev
}

// record commits events to the log.
func (s *Service) record(ctx context.Context, evs ...confidant.AuditEvent) error {
	if s.audit == nil {
		return confidant.ErrNoAccessLog
	}
	return s.audit.Record(ctx, evs...)
}

// refused reports whether err is a refusal that the access log records.
func refused(err error) bool {
	switch confidant.KindOf(err) {
	case confidant.KindNotFound, confidant.KindPermission:
		return true
	}
	return false
}

// done records the outcome of a read before its data may be returned: on
// success an "ok" event, which must commit or the read fails; on a refusal a
// "denied" event. Other errors are returned as they are.
func (s *Service) done(ctx context.Context, action, patientID, recordID string, err error) error {
	switch {
	case err == nil:
		return s.record(ctx, s.event(ctx, action, patientID, recordID, confidant.OutcomeOK))
	case refused(err):
		if rerr := s.record(ctx, s.event(ctx, action, patientID, recordID, confidant.OutcomeDenied)); rerr != nil {
			return rerr
		}
	}
	return err
}

// wrote records a refused write (successful writes record their event inside
// their transaction with tx.Audit).
func (s *Service) wrote(ctx context.Context, action, patientID, recordID string, err error) error {
	if err != nil && refused(err) {
		if rerr := s.record(ctx, s.event(ctx, action, patientID, recordID, confidant.OutcomeDenied)); rerr != nil {
			return rerr
		}
	}
	return err
}

// update runs fn in a write transaction. Every function the service passes
// may run twice (confidant.Rerunnable): first outside the access log's
// sequencer on a snapshot, then, only if what it read has changed by the
// time its writes are applied, inside it. So each one answers through
// variables it assigns and has no effect outside the transaction.
func (s *Service) update(ctx context.Context, fn func(confidant.Tx) error) error {
	return s.store.Update(confidant.Rerunnable(ctx), fn)
}

// audit records a successful write inside its transaction.
func (s *Service) auditTx(ctx context.Context, tx confidant.Tx, action, patientID, recordID string) error {
	return tx.Audit(s.event(ctx, action, patientID, recordID, confidant.OutcomeOK))
}

// ForgedFacts records, for seal.Store.OnForgedFact, an ActFactForged
// event (table as the purpose, row id as the record) for each
// authorization fact that failed its MAC. The hook is called inside a
// transaction, so the event is recorded from a goroutine; Wait waits for
// those still being recorded (before the access log closes at shutdown).
type ForgedFacts struct {
	a   Auditor
	log *slog.Logger
	now func() time.Time
	wg  sync.WaitGroup
}

// NewForgedFacts returns a reporter recording into a, logging a failure to
// record on log (nil: slog.Default()) with ids only.
func NewForgedFacts(a Auditor, log *slog.Logger) *ForgedFacts {
	if log == nil {
		log = slog.Default()
	}
	return &ForgedFacts{a: a, log: log, now: time.Now}
}

// Report is the hook for seal.Store.OnForgedFact.
func (f *ForgedFacts) Report(table, id string) {
	ev := confidant.AuditEvent{Time: f.now().UTC(), Action: ActFactForged, RecordID: id,
		Purpose: table, Outcome: confidant.OutcomeDenied}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.a.Record(ctx, ev); err != nil {
			f.log.Error("could not record a forged authorization fact in the access log", "table", table, "id", id, "error", err)
		}
	}()
}

// Wait waits for the events being recorded.
func (f *ForgedFacts) Wait() { f.wg.Wait() }

// ForgedFactReporter returns the hook of a new ForgedFacts on a with the
// default logger (tests; servers keep the ForgedFacts to Wait on it).
func ForgedFactReporter(a Auditor) func(table, id string) { return NewForgedFacts(a, nil).Report }
