package confidant

import (
	"context"
	"time"
)

// Store is the persistence layer as the service sees it: plaintext records.
// It is implemented by internal/seal, which encrypts every clinical and
// identifying field under the patient's key before it reaches a database
// (a SealedStore: internal/sqlite or internal/postgres, which both pass the
// conformance suite internal/storetest) and decrypts on the way back.
//
// The store holds data; it does not decide who may see it. Policy is applied
// by the service layer (internal/service) before any call that returns
// records, and queries that list records for an actor (such as
// Tx.ListPatientsForTherapist) are scoped by that actor inside the SQL.
type Store interface {
	// Update runs fn in one read-write transaction. If fn returns an error
	// or panics, nothing it wrote is kept. Transactions may be retried by the
	// implementation only before fn has been called, unless ctx is marked
	// Rerunnable.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in one read-only transaction with a consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// Tx is the set of operations available inside a transaction. Methods return
// an *Error with KindNotFound for unknown ids and KindConflict for broken
// uniqueness or state rules (e.g. signing a signed note). Times are stored
// with microsecond precision in UTC.
type Tx interface {
	// Audit records an event in the access log in this transaction: it is
	// committed with the transaction's writes or not at all. It fails with
	// ErrNoAccessLog (and the transaction must then fail) when the store has
	// no access log.
	Audit(ev AuditEvent) error

	// Organisation and clinics.
	Organisation(ctx context.Context) (Organisation, error) // KindNotFound before init
	CreateOrganisation(ctx context.Context, o Organisation) error
	CreateClinic(ctx context.Context, c Clinic) error
	UpdateClinic(ctx context.Context, c Clinic) error
	Clinic(ctx context.Context, id string) (Clinic, error)
	ListClinics(ctx context.Context) ([]Clinic, error)

	// Accounts.
	CreateUser(ctx context.Context, u User) error // KindConflict if the username is taken
	UpdateUser(ctx context.Context, u User) error // display name, role, clinics, disabled
	// SetStaffClose replaces the account's identity and address indexes,
	// each from its clear value when given (u.IdentityCode, u.Address),
	// else as u carries it (u.IdentityIndex, u.AddressIndex; nil: none).
	// The clear values are never stored.
	SetStaffClose(ctx context.Context, u User) error
	User(ctx context.Context, id string) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	SetPassword(ctx context.Context, userID, hash string) error
	// RecordLogin stores the outcome of a sign-in attempt: on success it resets
	// the failure count, on failure it increments it and sets lockedUntil.
	// (Legacy: the service records successes only; throttling uses
	// FailLogin.)
	RecordLogin(ctx context.Context, userID string, ok bool, lockedUntil time.Time) error

	// Invitations (hold no patient data; only the token's SHA-256).
	CreateInvitation(ctx context.Context, inv Invitation) error
	// Invitation returns the invitation with this token hash; KindNotFound
	// for none.
	Invitation(ctx context.Context, tokenHash []byte) (Invitation, error)
	// UseInvitation marks it used at `at`, in one conditional update:
	// KindConflict "invitation_used" unless it is unused and at is before
	// its ExpiresAt, so that one token sets one password, once.
	UseInvitation(ctx context.Context, tokenHash []byte, at time.Time) error
	// RevokeInvitations marks every unused invitation of a user used.
	RevokeInvitations(ctx context.Context, userID string, at time.Time) error
	// ApproveUser records the approval of an account awaiting it, in one
	// conditional update: KindConflict "already_approved" unless the
	// account awaits approval; KindNotFound for no such account.
	ApproveUser(ctx context.Context, userID, by string, at time.Time) error

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	SessionByTokenHash(ctx context.Context, hash []byte) (Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	// Sessions metadata and notices of sign-ins (docs/SECURITY.md,
	// "Sessions and notices").
	// ListUserSessions returns the user's sessions of the given kinds
	// (all kinds when none), newest first.
	ListUserSessions(ctx context.Context, userID string, kinds ...string) ([]Session, error)
	// KnownClient reports whether userID signed in before from the client
	// with this key (a digest of its address and agent), and whether from
	// any client at all.
	KnownClient(ctx context.Context, userID string, key []byte) (known, anyClient bool, err error)
	// PutClient records a sign-in of userID from the client key at `at`.
	PutClient(ctx context.Context, userID string, key []byte, at time.Time) error
	// Single sign-on identities (issuer and subject of an OpenID Connect
	// provider) linked to accounts. LinkIdentity is KindConflict when the
	// identity is linked already; IdentityUser is KindNotFound for an
	// unlinked one.
	LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error
	IdentityUser(ctx context.Context, issuer, subject string) (string, error)
	DeleteUserIdentities(ctx context.Context, userID string) error
	CreateNotice(ctx context.Context, n Notice) error
	// ListNotices returns the user's notices, newest first, at most limit.
	ListNotices(ctx context.Context, userID string, limit int) ([]Notice, error)
	// LatestNotice returns the time of the user's newest notice of kind,
	// zero when none.
	LatestNotice(ctx context.Context, userID, kind string) (time.Time, error)
	// ReadNotices marks the user's unread notices read at `at`.
	ReadNotices(ctx context.Context, userID string, at time.Time) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// FailSession counts a wrong second-factor code against a session and
	// deletes it at max (see SealedTx.FailSession).
	FailSession(ctx context.Context, id string, max int) error
	SessionFailures(ctx context.Context, id string) (int, error)

	// TOTP second factors (see SealedTx for the conditional updates).
	// TOTP returns the user's TOTP state with its secrets decrypted;
	// KindNotFound when the user never started an enrolment.
	TOTP(ctx context.Context, userID string) (TOTP, error)
	// SetTOTPPending seals and stores a secret awaiting confirmation.
	SetTOTPPending(ctx context.Context, userID string, secret []byte, at time.Time) error
	// ConfirmTOTP confirms the pending secret (see SealedTx.ConfirmTOTP).
	ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error
	// UseTOTPStep accepts a time step once (see SealedTx.UseTOTPStep).
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's TOTP enrolment (a forced reset); no
	// error when there is none.
	DeleteTOTP(ctx context.Context, userID string) error

	// WebAuthn passkeys and recovery codes (see SealedTx for the
	// conditional updates). WebAuthnCredentials returns the user's
	// credentials with their sealed part opened, oldest first;
	// CreateWebAuthnCredential seals and stores one.
	WebAuthnCredentials(ctx context.Context, userID string) ([]WebAuthnCredential, error)
	CreateWebAuthnCredential(ctx context.Context, c WebAuthnCredential) error
	WebAuthnTx

	// Recipients of alerts and the outbox (delivery.go).
	DeliveryTx

	// Sign-in throttling: failed sign-ins counted per (client, account).
	// client is the client's address as the service received it;
	// internal/seal replaces it by a keyed hash (a blind index) before it
	// reaches the database, which never holds client addresses. account is
	// a user id, or, for a username no account has, "?" followed by that
	// username (which internal/seal likewise replaces by a keyed hash).
	//
	// LoginFailures returns the counts for one attempt (zero when none).
	LoginFailures(ctx context.Context, client, account string) (LoginFailures, error)
	// FailLogin counts one failed sign-in of client on account at `at`.
	FailLogin(ctx context.Context, client, account string, at time.Time) error
	// ClearLoginFailures forgets the failures of client on account (a
	// successful sign-in); other clients' failures stay.
	ClearLoginFailures(ctx context.Context, client, account string) error
	// ClearAccountFailures forgets every client's failures on account
	// (a security officer clearing a throttled account).
	ClearAccountFailures(ctx context.Context, account string) error
	// ListLoginFailures sums up the failures of every account that has
	// some, the most recent last failure first, at most limit (0: all).
	// Accounts of unknown usernames are listed under their keyed hash,
	// which is not a valid id.
	ListLoginFailures(ctx context.Context, limit int) ([]ThrottledAccount, error)
	// DeleteLoginFailures deletes the counts whose last failure is before
	// `before` and returns how many there were.
	DeleteLoginFailures(ctx context.Context, before time.Time) (int, error)

	// Patients.
	CreatePatient(ctx context.Context, p Patient) error // KindConflict on a duplicate identity code
	UpdatePatient(ctx context.Context, p Patient) error
	// Patient returns a patient. An erased patient is returned with only ID,
	// ClinicID, CreatedAt and ErasedAt set.
	Patient(ctx context.Context, id string) (Patient, error)
	// ListPatients returns non-erased patients matching f, in registration
	// order (CreatedAt, then ID).
	ListPatients(ctx context.Context, f PatientFilter) ([]Patient, error)
	// ListPatientsForTherapist returns the non-erased patients with a care
	// relationship to therapistID active at `at`, matching f, ordered by
	// family name then given name.
	ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f PatientFilter) ([]Patient, error)
	// ErasePatient crypto-shreds a patient (see SealedTx.ErasePatient).
	ErasePatient(ctx context.Context, id string, at time.Time) error

	// Care relationships.
	CreateCare(ctx context.Context, c CareRelationship) error
	// EndCare sets To (and EndedBy) on an open relationship; KindConflict if
	// it has already ended.
	EndCare(ctx context.Context, id string, to time.Time, by string) error
	Care(ctx context.Context, id string) (CareRelationship, error)
	ListCare(ctx context.Context, f CareFilter) ([]CareRelationship, error)
	// HasActiveCare reports whether therapistID has a care relationship with
	// patientID active at `at`.
	HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error)

	// Break-the-glass grants (emergency access without care). The reason
	// and the review comment are sealed under the patient's key.
	CreateBreakGlass(ctx context.Context, g BreakGlass) error
	// BreakGlass returns a grant; KindNotFound for none.
	BreakGlass(ctx context.Context, id string) (BreakGlass, error)
	// ActiveBreakGlass returns the grant of therapistID for patientID
	// active at `at` that expires last (ID "" for none), without its
	// reason: one indexed query, made at each chart access without care.
	ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (ActiveGrant, error)
	// ListBreakGlass returns grants matching f, newest first. The reason of
	// an erased patient's grant can no longer be read and is empty.
	ListBreakGlass(ctx context.Context, f BreakGlassFilter) ([]BreakGlass, error)
	// CountBreakGlass counts the grants matching f (Limit ignored).
	CountBreakGlass(ctx context.Context, f BreakGlassFilter) (int, error)
	// ReviewBreakGlass records the review of an open grant, in one
	// conditional update: KindConflict "already_reviewed" unless it is
	// open; KindNotFound for no such grant.
	ReviewBreakGlass(ctx context.Context, id string, status BreakGlassStatus, by string, at time.Time, comment string) error

	// Alerts of the detector (docs/INCIDENTS.md). The patients, the
	// explanation and a dismissal's reason are sealed under the alerts
	// keyset, bound to the alert's id; the row carries a fact MAC. A row
	// that fails either check is returned with Tampered set (and
	// reported), never hidden.
	//
	// CreateAlert stores a, unless an alert with the same Key exists:
	// then it stores nothing and reports false.
	CreateAlert(ctx context.Context, a Alert) (bool, error)
	// Alert returns an alert; KindNotFound for none.
	Alert(ctx context.Context, id string) (Alert, error)
	// ListAlerts returns the alerts matching f, newest first.
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// SetAlertStatus changes the status of alert id, in one conditional
	// update: KindConflict "alert_status_changed" unless its status is
	// from; KindConflict "alert_tampered" if the row failed its integrity
	// check (a change must not launder it); KindNotFound for none.
	SetAlertStatus(ctx context.Context, id string, from AlertStatus, c AlertChange) error
	// CountAlerts counts the alerts created in [since, until) by rule.
	CountAlerts(ctx context.Context, since, until time.Time) (map[string]int, error)

	// Honeytokens (decoy patients). CreateHoneytoken stores which patient
	// is a decoy (a keyed tag and the sealed id); KindConflict
	// "honeytoken_exists" if it is one already. ListHoneytokens returns
	// them, newest first, tampered rows marked. IsHoneytoken is one
	// indexed lookup of the patient's tag (an unauthenticated row is
	// reported and counts as none).
	CreateHoneytoken(ctx context.Context, h Honeytoken) error
	ListHoneytokens(ctx context.Context) ([]Honeytoken, error)
	IsHoneytoken(ctx context.Context, patientID string) (bool, error)
	// The incident register (docs/INCIDENTS.md). Incidents are never
	// deleted and their history is append only: there is no method to
	// remove either. CreateIncident stores a new incident with its first
	// history entry (seq 1); UpdateIncident replaces the incident's
	// changing fields and appends ev to its history, in one step, only if
	// the stored incident still has i.Seq entries (KindConflict
	// "incident_changed" otherwise); i.Seq and ev.Seq become i.Seq+1.
	// Reading an incident or its history checks the MACs: a row a database
	// writer changed is an integrity error, never silently shown.
	CreateIncident(ctx context.Context, i Incident, ev IncidentEvent) error
	UpdateIncident(ctx context.Context, i Incident, ev IncidentEvent) error
	// Incident returns an incident; KindNotFound for none.
	Incident(ctx context.Context, id string) (Incident, error)
	ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error)
	// IncidentHistory returns an incident's history, oldest first.
	IncidentHistory(ctx context.Context, id string) ([]IncidentEvent, error)
	// Breach notification letters to patients, sealed under the patient's
	// key (an erased patient's letters are listed without their text).
	CreateIncidentLetter(ctx context.Context, l IncidentLetter) error
	IncidentLetters(ctx context.Context, f IncidentLetterFilter) ([]IncidentLetter, error)

	// Session notes. CreateNote stores a note with exactly one version.
	CreateNote(ctx context.Context, n Note) error
	Note(ctx context.Context, id string) (Note, error) // with all versions
	// ListNotes returns a patient's notes, newest session first, with all
	// versions. ReleasedOnly restricts to notes released to the patient.
	ListNotes(ctx context.Context, patientID string, f NoteFilter) ([]Note, error)
	// UpdateDraft replaces body and template of the current version, which
	// must be a draft (else KindConflict).
	UpdateDraft(ctx context.Context, noteID string, version int, template NoteTemplate, body string, at time.Time) error
	// SignNote signs the current version, which must be the given draft
	// version (else KindConflict).
	SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error
	// AddNoteVersion appends v, whose Version must be len(versions)+1 (else
	// KindConflict); the current version must be signed (else KindConflict).
	AddNoteVersion(ctx context.Context, noteID string, v NoteVersion) error
	// ReleaseNote marks the note as released; KindConflict if already released.
	ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error

	// Private process notes. Only the author's are ever returned.
	CreateProcessNote(ctx context.Context, n ProcessNote) error
	ListProcessNotes(ctx context.Context, patientID, authorID string) ([]ProcessNote, error)

	// Diagnoses.
	CreateDiagnosis(ctx context.Context, d Diagnosis) error
	SetDiagnosisStatus(ctx context.Context, id string, s DiagnosisStatus) error
	Diagnosis(ctx context.Context, id string) (Diagnosis, error)
	ListDiagnoses(ctx context.Context, patientID string) ([]Diagnosis, error) // newest first

	// Treatment plans (each save is a new version).
	CreatePlan(ctx context.Context, p TreatmentPlan) error
	ListPlans(ctx context.Context, patientID string) ([]TreatmentPlan, error) // newest first

	// Outcome measures.
	CreateMeasure(ctx context.Context, m Measure) error
	ListMeasures(ctx context.Context, patientID string) ([]Measure, error) // oldest first (for trends)

	// Attachments. Chunks are numbered from 0; CreateAttachment stores the
	// metadata after all chunks were put in the same transaction.
	// The patient id binds each encrypted chunk to its patient.
	PutAttachmentChunk(ctx context.Context, patientID, attachmentID string, index int, data []byte) error
	CreateAttachment(ctx context.Context, a Attachment) error
	Attachment(ctx context.Context, id string) (Attachment, error)
	AttachmentChunk(ctx context.Context, patientID, attachmentID string, index int) ([]byte, error)
	ListAttachments(ctx context.Context, patientID string) ([]Attachment, error) // newest first
}

// UserFilter selects accounts. Zero fields do not filter.
type UserFilter struct {
	ClinicID string
	Role     Role
	IDs      []string // only these users (nil: any; empty: none)
	Limit    int      // 0: no limit
}

// PatientFilter selects patients. Zero fields do not filter. Identifying
// fields are searched through blind indexes, so matches are exact.
type PatientFilter struct {
	ClinicID     string
	IdentityCode string // exact match on the code as ParseIdentityCode normalises it
	FamilyName   string // exact match on NormalizeName of the family name
	BirthYear    int    // with FamilyName: exact birth year
	Limit        int    // 0: no limit
	Offset       int
}

// CareFilter selects care relationships. Zero fields do not filter.
type CareFilter struct {
	PatientID   string
	TherapistID string
	ClinicID    string
	ActiveAt    time.Time // non-zero: only relationships active then
}

// NoteFilter selects a patient's notes.
type NoteFilter struct {
	ReleasedOnly bool
	Limit        int // 0: no limit
}

// rerunnable is the context key of Rerunnable.
type rerunnable struct{}

// Rerunnable marks ctx for an Update whose function may run more than once
// with one outcome: the store may run it first outside its write
// transaction, against a read-only snapshot, and keep that run's writes
// only if what it read is unchanged when they are applied, else run it
// again (internal/audit does, so that requests' work happens outside its
// sequencer). Such a function must be safe to run again from the start: it
// answers through variables it assigns, not ones it appends to, has no
// effect outside the transaction that a second run would repeat, and does
// not change a value after passing it to a write.
func Rerunnable(ctx context.Context) context.Context {
	return context.WithValue(ctx, rerunnable{}, true)
}

// IsRerunnable reports whether ctx was marked by Rerunnable.
func IsRerunnable(ctx context.Context) bool {
	v, _ := ctx.Value(rerunnable{}).(bool)
	return v
}
