// Package service is Confidant's service layer: every operation a user can
// perform, with authentication, authorization (internal/policy) and
// validation applied before the store is touched. Transports (internal/web,
// internal/api) call only this package; they never reach the store, so a
// handler cannot forget a check.
//
// Every method takes a context carrying the acting confidant.Actor (see
// confidant.WithActor) and fails closed with KindUnauthenticated without one.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Hasher hashes and verifies passwords (internal/password implements it).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	// DummyVerify spends as long as a real Verify, so that an unknown
	// username takes as long to refuse as a wrong password.
	DummyVerify(ctx context.Context, password string) error
}

// Config holds the service's tunables. The zero value is not valid; use
// DefaultConfig and adjust.
type Config struct {
	SessionIdle     time.Duration // a session unused this long ends
	SessionAbsolute time.Duration // a session ends this long after sign-in, used or not
	// Throttle slows down clients that fail to sign in (see
	// ThrottleConfig); it replaces the account lockout.
	Throttle      ThrottleConfig
	MaxAttachment int64 // bytes
	// AttachmentTypes is the allow-list of attachment content types, as
	// detected from the file's bytes (not as declared by the client).
	AttachmentTypes []string
	// Retention decides when patients may be erased.
	Retention Retention
	// RegistrationsPerHour bounds one account's patient registrations
	// (including refused identity codes) per hour: 1 to 999.
	RegistrationsPerHour int
	// InvitationTTL is how long an invitation to set a password stays
	// usable (once).
	InvitationTTL time.Duration
	// PublicURL is the server's base URL as invitees reach it, for the
	// links in invitations (no trailing slash), e.g. https://confidant.example.
	PublicURL string
	// BreakGlassTTL is how long a break-the-glass grant gives emergency
	// access (default 4 hours; at most 24).
	BreakGlassTTL time.Duration
	// IncidentScopeMargin widens the period of an incident's breach scope
	// opened from alerts on both sides (default 0; at most 30 days).
	IncidentScopeMargin time.Duration
}

// DefaultConfig returns conservative defaults for a clinical system.
func DefaultConfig() Config {
	return Config{
		SessionIdle:     30 * time.Minute,
		SessionAbsolute: 12 * time.Hour,
		Throttle:        DefaultThrottle,
		MaxAttachment:   10 << 20,
		AttachmentTypes: []string{"application/pdf", "image/png", "image/jpeg", "text/plain; charset=utf-8"},
		Retention:       DefaultRetention,

		RegistrationsPerHour: 10,
		InvitationTTL:        72 * time.Hour,
		PublicURL:            "http://127.0.0.1:8080",
		BreakGlassTTL:        4 * time.Hour,
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	switch {
	case c.SessionIdle <= 0 || c.SessionAbsolute <= 0 || c.SessionIdle > c.SessionAbsolute:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "session timeouts must be positive and idle <= absolute")
	case c.Throttle.validate() != nil:
		return c.Throttle.validate()
	case c.MaxAttachment <= 0 || len(c.AttachmentTypes) == 0:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "attachment limits must be set")
	case c.RegistrationsPerHour <= 0 || c.RegistrationsPerHour >= 1000:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "registrations per hour must be 1 to 999")
	case c.Retention.YearsAfterBirth < 0 || c.Retention.YearsAfterDeath < 0:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "retention periods must not be negative")
	case c.InvitationTTL <= 0:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "the invitation lifetime must be positive")
	case c.IncidentScopeMargin < 0 || c.IncidentScopeMargin > 30*24*time.Hour:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "the incident scope margin must be 0 to 30 days")
	case c.BreakGlassTTL < time.Minute || c.BreakGlassTTL > 24*time.Hour:
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "the break-the-glass duration must be 1 minute to 24 hours")
	}
	return nil
}

// Service implements every user-facing operation.
type Service struct {
	store     confidant.Store
	hasher    Hasher
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	audit     Auditor
	auditRead AuditReader
	mailer    Mailer
	mailing   sync.WaitGroup // notifications being sent (breakglass.go)
	// The incident register's links to alerts and the outbox (incidents.go).
	incAlerts IncidentAlertSource
	incOutbox IncidentOutbox

	// The WebAuthn relying party (webauthn.go), built once from cfg, and
	// the limit on discoverable sign-ins begun per client (beginlimit.go).
	waOnce sync.Once
	wa     *webauthn.WebAuthn
	waErr  error
	begins *beginLimit

	// records is the latest records check (recordsreport.go).
	records atomic.Pointer[confidant.RecordsReport]

	// Delivery (delivery.go, digest.go): this process's lease owner in
	// the outbox, the webhook client, the board digest's period, source
	// and signer.
	worker     string
	httpClient *http.Client
	// localWebhooks lets webhooks reach non-public addresses.
	localWebhooks bool
	digestEvery   time.Duration
	digestSrc     DigestSource
	digestSign    DigestSigner
	digestMu      sync.Mutex
	digestLast    time.Time // the period this process queued last
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New returns a Service over store.
func New(store confidant.Store, hasher Hasher, cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{store: store, hasher: hasher, cfg: cfg, log: slog.Default(), now: time.Now, worker: confidant.NewID(), begins: newBeginLimit()}
	s.incAlerts = storedAlerts{s} // the incident register opens incidents from this service's alerts
	s.incOutbox = s.mailLetter    // and mails its letters through the outbox
	for _, o := range opts {
		o(s)
	}
	if s.httpClient == nil {
		// One client for every webhook post: its transport keeps the
		// connections to receivers for reuse.
		s.httpClient = newWebhookClient(s.localWebhooks)
	}
	return s, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// actor returns the actor of ctx, or an error that fails closed.
func actor(ctx context.Context) (confidant.Actor, error) { return confidant.ActorFrom(ctx) }

// need checks that the actor of ctx may perform act without target facts
// (list and create operations).
func need(ctx context.Context, act policy.Action) (confidant.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, err
	}
	return a, policy.Check(a, act, actorFacts(a))
}

// actorFacts are the facts about the actor itself: whether a therapist's
// account was approved (read from the account at each request by
// Authenticate).
func actorFacts(a confidant.Actor) policy.Facts {
	return policy.Facts{Approved: a.Role == confidant.RoleTherapist && !a.AwaitingApproval}
}

// checkID rejects strings that cannot be ids, as NotFound.
func checkID(id string) error {
	if !confidant.ValidID(id) {
		return confidant.ErrNotFound
	}
	return nil
}

// patientFacts gathers the policy facts about a patient for actor a.
func (s *Service) patientFacts(ctx context.Context, tx confidant.Tx, a confidant.Actor, p confidant.Patient) (policy.Facts, error) {
	f := actorFacts(a)
	switch a.Role {
	case confidant.RoleTherapist:
		now := s.clock()
		ok, err := tx.HasActiveCare(ctx, a.UserID, p.ID, now)
		if err != nil {
			return f, err
		}
		f.ActiveCare = ok
		f.InClinic = a.InClinic(p.ClinicID)
		var g confidant.ActiveGrant
		if !ok && f.InClinic {
			// Without care, an active break-the-glass grant (one
			// indexed query); accesses under it are marked as such.
			if g, err = tx.ActiveBreakGlass(ctx, a.UserID, p.ID, now); err != nil {
				return f, err
			}
			f.Emergency = g.ID != ""
		}
		// Noted (or cleared, when a rerun of the transaction finds none)
		// for the call's events.
		noteEmergency(ctx, p.ID, g)
	case confidant.RolePatient:
		f.OwnPatient = a.PatientID != "" && a.PatientID == p.ID
	case confidant.RoleManager:
		f.InClinic = a.InClinic(p.ClinicID)
	}
	return f, nil
}

// authorizePatient loads patient id and checks act on it in tx. Unknown ids
// and refusals that must not reveal existence both return NotFound.
func (s *Service) authorizePatient(ctx context.Context, tx confidant.Tx, id string, act policy.Action) (confidant.Actor, confidant.Patient, error) {
	a, p, _, err := s.authorize(ctx, tx, id, act)
	return a, p, err
}

// authorize is authorizePatient that also returns the facts it decided on.
func (s *Service) authorize(ctx context.Context, tx confidant.Tx, id string, act policy.Action) (confidant.Actor, confidant.Patient, policy.Facts, error) {
	var f policy.Facts
	a, err := actor(ctx)
	if err != nil {
		return a, confidant.Patient{}, f, err
	}
	if err := checkID(id); err != nil {
		return a, confidant.Patient{}, f, err
	}
	// Refuse by role first, so that a role that can never do this learns
	// nothing about whether the patient exists.
	if !roleMayEver(a.Role, act) {
		return a, confidant.Patient{}, f, confidant.ErrPermission
	}
	p, err := tx.Patient(ctx, id)
	if confidant.IsKind(err, confidant.KindNotFound) {
		// The same answer as for a patient who is not the actor's.
		return a, confidant.Patient{}, f, confidant.ErrNotFound
	}
	if err != nil {
		return a, confidant.Patient{}, f, err
	}
	if f, err = s.patientFacts(ctx, tx, a, p); err != nil {
		return a, confidant.Patient{}, f, err
	}
	if err := policy.Check(a, act, f); err != nil {
		return a, confidant.Patient{}, f, err
	}
	// Only an actor who may see the patient learns of an erasure.
	if p.Erased() {
		return a, confidant.Patient{}, f, errErased
	}
	return a, p, f, nil
}

// sameNotFound turns the store's not-found of a record (whose message names
// the kind of record) into the answer for a record the actor may not see,
// so that a record that does not exist and one of another patient cannot
// be told apart.
func sameNotFound(err error) error {
	if confidant.IsKind(err, confidant.KindNotFound) {
		return confidant.ErrNotFound
	}
	return err
}

// roleMayEver reports whether some combination of facts allows role to act.
func roleMayEver(r confidant.Role, act policy.Action) bool {
	all := policy.Facts{ActiveCare: true, Author: true, OwnPatient: true, InClinic: true, Released: true, Approved: true, Emergency: true}
	return policy.Can(confidant.Actor{UserID: "-", Role: r}, act, all)
}

// errErased answers every request for a crypto-shredded patient.
var errErased = confidant.Errorf(confidant.KindNotFound, "patient_erased", "This patient's records have been erased.")
