package confidant

import (
	"context"
	"time"
)

// SealedStore is what a database implements (internal/sqlite,
// internal/postgres). It never sees clinical content or identifying patient
// data in the clear: those arrive already encrypted by internal/seal, as the
// Data fields of the Sealed* rows, and blind indexes stand in for the
// identifying fields that must be searchable.
//
// What a SealedStore holds in the clear is the documented leakage of
// docs/SECURITY.md: opaque ids, clinic, author, record type (note template,
// measure instrument, attachment content type), status, timestamps, sizes,
// and staff accounts (staff are not patients).
//
// internal/seal turns a SealedStore into a Store, which the service uses.
type SealedStore interface {
	// Update runs fn in one read-write transaction; see Store.Update.
	Update(ctx context.Context, fn func(SealedTx) error) error
	// View runs fn in one read-only transaction; see Store.View.
	View(ctx context.Context, fn func(SealedTx) error) error
	Close() error
}

// SealedTx is the set of operations inside a SealedStore transaction. The
// contracts are those of the same-named Tx methods, with sealed rows in
// place of plaintext records. A store treats every Data field and every
// index as opaque bytes.
type SealedTx interface {
	// LogTx keeps the access log (see audit.go).
	LogTx

	// Detector watermarks (internal/detect; docs/INCIDENTS.md, "Detection
	// rules"): for each named detector, the index of the next access-log
	// event it will process. They hold no patient data.
	//
	// DetectorState returns the named watermark and when it last moved:
	// 0 and the zero time for a name without one.
	DetectorState(ctx context.Context, name string) (next uint64, updated time.Time, err error)
	// AdvanceDetector sets the named watermark to next, in one conditional
	// update, if it is old (a name without one counts as 0), and reports
	// whether it did: false when another writer moved it first.
	AdvanceDetector(ctx context.Context, name string, old, next uint64, at time.Time) (bool, error)
	// Recipients of alerts and the outbox (delivery.go).
	SealedDeliveryTx

	// Organisation, clinics, accounts and sessions hold no patient data.
	Organisation(ctx context.Context) (Organisation, error)
	CreateOrganisation(ctx context.Context, o Organisation) error
	CreateClinic(ctx context.Context, c Clinic) error
	UpdateClinic(ctx context.Context, c Clinic) error
	Clinic(ctx context.Context, id string) (Clinic, error)
	ListClinics(ctx context.Context) ([]Clinic, error)
	CreateUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error
	User(ctx context.Context, id string) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	SetPassword(ctx context.Context, userID, hash string) error
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
	// FailSession counts one wrong second-factor code against a session
	// (of kind "mfa") and deletes the session once it has max failures. A
	// session that does not exist is not an error.
	FailSession(ctx context.Context, id string, max int) error
	// SessionFailures returns the wrong codes counted against a session (0
	// for none, or for a session that does not exist).
	SessionFailures(ctx context.Context, id string) (int, error)

	// TOTP second factors. Secrets arrive sealed (bound to the user by
	// internal/seal); time steps are in the clear.
	//
	// TOTP returns a user's row; KindNotFound when the user never started
	// an enrolment.
	TOTP(ctx context.Context, userID string) (SealedTOTP, error)
	// PutTOTPPending stores a sealed secret awaiting confirmation, creating
	// the row (LastStep 0) or replacing an earlier pending secret; a
	// confirmed secret and LastStep are kept.
	PutTOTPPending(ctx context.Context, userID string, pending []byte, at time.Time) error
	// ConfirmTOTP makes the pending secret the confirmed one, sets
	// EnrolledAt to at and LastStep to step, in one conditional update:
	// KindConflict "totp_step_used" unless a secret is pending and LastStep
	// is at most step (step 0: confirmed without a code, by the operator or
	// the demo).
	ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error
	// UseTOTPStep records that the code of time step step was accepted, in
	// one conditional update: KindConflict "totp_step_used" unless the user
	// is enrolled and LastStep < step, so that two concurrent uses of one
	// code cannot both succeed.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes a user's TOTP row, confirmed and pending secrets
	// and last step alike (a forced reset: the user enrols again); no error
	// when there is none.
	DeleteTOTP(ctx context.Context, userID string) error

	// WebAuthn passkeys: CreateWebAuthnCredential stores a credential
	// (KindConflict "credential_exists" if its credential id is registered
	// already, KindNotFound for an unknown user); WebAuthnCredentials lists
	// a user's, oldest first.
	WebAuthnCredentials(ctx context.Context, userID string) ([]SealedWebAuthnCredential, error)
	CreateWebAuthnCredential(ctx context.Context, c SealedWebAuthnCredential) error
	WebAuthnTx

	// Sign-in throttling (see Tx.LoginFailures): clientKey is the keyed
	// hash internal/seal computes of the client's address, account a user
	// id or the keyed hash of an unknown username. FailLogin increments
	// one row in one statement (concurrent failures are all counted).
	LoginFailures(ctx context.Context, clientKey []byte, account string) (LoginFailures, error)
	FailLogin(ctx context.Context, clientKey []byte, account string, at time.Time) error
	ClearLoginFailures(ctx context.Context, clientKey []byte, account string) error
	ClearAccountFailures(ctx context.Context, account string) error
	ListLoginFailures(ctx context.Context, limit int) ([]ThrottledAccount, error)
	DeleteLoginFailures(ctx context.Context, before time.Time) (int, error)

	// Care relationships hold ids and times only.
	CreateCare(ctx context.Context, c CareRelationship) error
	EndCare(ctx context.Context, id string, to time.Time, by string) error
	Care(ctx context.Context, id string) (CareRelationship, error)
	ListCare(ctx context.Context, f CareFilter) ([]CareRelationship, error)
	HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error)

	// SetFactMAC replaces the MAC of the authorization facts of one row
	// of table (FactUsers, FactCare, FactBreakGlass); KindNotFound for no such row.
	// internal/seal computes and checks the MACs (docs/SECURITY.md,
	// "Authorization facts").
	SetFactMAC(ctx context.Context, table, id string, mac []byte) error
	// SetUserClose replaces an account's identity and address indexes
	// (nil: none) for the detector's staff_close rule; KindNotFound for no
	// such account. They are not authorization facts.
	SetUserClose(ctx context.Context, userID string, identity, address []byte) error

	// Patients. There is no uniqueness constraint on blind indexes (they are
	// truncated, so different values may share one); internal/seal checks
	// identity-code uniqueness by decrypting the candidates.
	CreatePatient(ctx context.Context, p SealedPatient) error
	UpdatePatient(ctx context.Context, p SealedPatient) error // Data and indexes
	Patient(ctx context.Context, id string) (SealedPatient, error)
	// ListPatients returns patients matching f, erased ones excluded unless
	// f.IncludeErased, ordered by CreatedAt then ID.
	ListPatients(ctx context.Context, f SealedPatientFilter) ([]SealedPatient, error)
	// ListPatientsForTherapist returns the non-erased patients with a care
	// relationship to therapistID active at `at`, matching f, each once,
	// ordered by CreatedAt then ID.
	ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f SealedPatientFilter) ([]SealedPatient, error)
	// ErasePatient crypto-shreds a patient: it deletes the patient's wrapped
	// key, clears the blind indexes and sets ErasedAt. The sealed rows stay
	// and can never be decrypted again. KindConflict if already erased.
	ErasePatient(ctx context.Context, id string, at time.Time) error
	// AddressIndexPending returns up to limit ids (in id order) of the
	// patients written before patients had an address index whose index
	// has not been computed yet (internal/seal BackfillAddressIndexes).
	AddressIndexPending(ctx context.Context, limit int) ([]string, error)
	// SetAddressIndex sets the address index (nil: none) of a patient
	// that is not erased, and takes the patient off AddressIndexPending's
	// list; an erased or unknown patient is only taken off the list.
	SetAddressIndex(ctx context.Context, patientID string, index []byte) error

	// Wrapped keys. A patient's keyset is stored wrapped by the key-encryption
	// key (KEK); system keys (the blind-index key, later the audit key) too.
	PatientKey(ctx context.Context, patientID string) (WrappedKey, error)
	// PutPatientKey inserts or replaces a patient's wrapped keyset.
	PutPatientKey(ctx context.Context, k WrappedKey) error
	// ListPatientKeys returns wrapped patient keysets whose KEKID differs from
	// f.NotKEK (all when empty), with Owner > f.After, ordered by Owner, at
	// most f.Limit (0: no limit). Used by KEK rotation, which is resumable.
	ListPatientKeys(ctx context.Context, f KeyFilter) ([]WrappedKey, error)
	// CountPatientKeys counts wrapped patient keysets, and those whose KEKID
	// differs from notKEK.
	CountPatientKeys(ctx context.Context, notKEK string) (total, other int, err error)
	SystemKey(ctx context.Context, name string) (WrappedKey, error)
	PutSystemKey(ctx context.Context, k WrappedKey) error

	// Break-the-glass grants: ids, category, status and times in the
	// clear; Data seals the reason and the review comment (kind
	// BlobBreakGlass, sub 0).
	CreateBreakGlass(ctx context.Context, g SealedBreakGlass) error
	BreakGlass(ctx context.Context, id string) (SealedBreakGlass, error)
	ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (ActiveGrant, error)
	ListBreakGlass(ctx context.Context, f BreakGlassFilter) ([]SealedBreakGlass, error)
	CountBreakGlass(ctx context.Context, f BreakGlassFilter) (int, error)
	// ReviewBreakGlass sets status, reviewer and time of an open grant and
	// replaces its Data (now sealing the comment too; nil keeps Data, for
	// an erased patient's grant), in one conditional update:
	// KindConflict "already_reviewed" unless it is open.
	ReviewBreakGlass(ctx context.Context, id string, status BreakGlassStatus, by string, at time.Time, data []byte) error

	// Alerts: metadata in the clear, Data seals patients, explanation
	// and reason (internal/seal), FactMAC authenticates the metadata.
	// CreateAlert inserts unless the Key exists (then false, nothing
	// written). SetAlertStatus applies c to alert id if its status is
	// from, in one conditional update: KindConflict
	// "alert_status_changed" otherwise; KindNotFound for none.
	CreateAlert(ctx context.Context, a SealedAlert) (bool, error)
	Alert(ctx context.Context, id string) (SealedAlert, error)
	ListAlerts(ctx context.Context, f AlertFilter) ([]SealedAlert, error)
	SetAlertStatus(ctx context.Context, id string, from AlertStatus, c SealedAlertChange) error
	CountAlerts(ctx context.Context, since, until time.Time) (map[string]int, error)

	// Honeytokens: a keyed tag of the decoy patient's id (unique), the id
	// sealed in Data, and a fact MAC; no patient id in the clear.
	// CreateHoneytoken: KindConflict "honeytoken_exists" for a tag stored
	// already. HoneytokenByTag: KindNotFound for none.
	CreateHoneytoken(ctx context.Context, h SealedHoneytoken) error
	ListHoneytokens(ctx context.Context) ([]SealedHoneytoken, error)
	HoneytokenByTag(ctx context.Context, tag []byte) (SealedHoneytoken, error)
	// The incident register. Ids, status and times in the clear; Data
	// seals the body under the incidents' system keyset (internal/seal).
	// UpdateIncident changes the row only if its history_seq is still
	// prevSeq (KindConflict "incident_changed"). History rows and letters
	// are only ever inserted (the databases refuse UPDATE and DELETE of
	// history rows by trigger).
	CreateIncident(ctx context.Context, i SealedIncident) error
	UpdateIncident(ctx context.Context, i SealedIncident, prevSeq int) error
	Incident(ctx context.Context, id string) (SealedIncident, error)
	ListIncidents(ctx context.Context, f IncidentFilter) ([]SealedIncident, error)
	AppendIncidentEvent(ctx context.Context, ev SealedIncidentEvent) error
	IncidentEvents(ctx context.Context, incidentID string) ([]SealedIncidentEvent, error)
	CreateIncidentLetter(ctx context.Context, l SealedIncidentLetter) error
	IncidentLetters(ctx context.Context, f IncidentLetterFilter) ([]SealedIncidentLetter, error)

	// Session notes.
	CreateNote(ctx context.Context, n SealedNote) error
	Note(ctx context.Context, id string) (SealedNote, error)
	ListNotes(ctx context.Context, patientID string, f NoteFilter) ([]SealedNote, error)
	UpdateDraft(ctx context.Context, noteID string, version int, template NoteTemplate, data []byte, at time.Time) error
	SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error
	// AddNoteVersion appends v. v.Version must be the current number of
	// versions plus one, else KindConflict: the sealed Data is bound to its
	// version number, so a concurrent amendment must not shift it.
	AddNoteVersion(ctx context.Context, noteID string, v SealedNoteVersion) error
	ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error

	CreateProcessNote(ctx context.Context, n SealedProcessNote) error
	ListProcessNotes(ctx context.Context, patientID, authorID string) ([]SealedProcessNote, error)

	CreateDiagnosis(ctx context.Context, d SealedDiagnosis) error
	SetDiagnosisStatus(ctx context.Context, id string, s DiagnosisStatus) error
	Diagnosis(ctx context.Context, id string) (SealedDiagnosis, error)
	ListDiagnoses(ctx context.Context, patientID string) ([]SealedDiagnosis, error)

	CreatePlan(ctx context.Context, p SealedPlan) error
	ListPlans(ctx context.Context, patientID string) ([]SealedPlan, error)

	CreateMeasure(ctx context.Context, m SealedMeasure) error
	ListMeasures(ctx context.Context, patientID string) ([]SealedMeasure, error)

	PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error
	CreateAttachment(ctx context.Context, a SealedAttachment) error
	Attachment(ctx context.Context, id string) (SealedAttachment, error)
	AttachmentChunk(ctx context.Context, attachmentID string, index int) ([]byte, error)
	ListAttachments(ctx context.Context, patientID string) ([]SealedAttachment, error)

	// PatientBlobs returns every sealed blob belonging to a patient (the
	// patient row, every note version, process note, diagnosis, plan,
	// measure, attachment, attachment chunk, break-the-glass grant and incident letter), for re-encryption under a
	// rotated key and for verification.
	PatientBlobs(ctx context.Context, patientID string) ([]Blob, error)
	// RewriteBlob replaces the Data of the blob identified by (Kind, ID, Sub)
	// and owned by PatientID. KindNotFound if there is no such blob.
	RewriteBlob(ctx context.Context, b Blob) error

	// RecordScanner scans every record's id, version and digest (records.go).
	RecordScanner
}

// Tables of authorization facts authenticated by a MAC (SetFactMAC).
const (
	FactUsers      = "users"
	FactCare       = "care"
	FactBreakGlass = "break_glass"
	// FactAlerts and FactHoneytokens are authenticated the same way
	// (internal/seal) but are not authorization facts: SetFactMAC does
	// not touch them (their MAC is written with the row).
	FactAlerts      = "alerts"
	FactHoneytokens = "honeytokens"
	// FactIncidents and FactIncidentHistory name incident rows in reports
	// of forged facts (their MACs are columns of their own, not SetFactMAC).
	FactIncidents       = "incidents"
	FactIncidentHistory = "incident_history"
)

// SealedAlert is an alert row: Data seals the patients, the explanation
// and a dismissal's reason (bound to the alert id); FactMAC authenticates
// rule, severity, actor, clinic, key, status, decision, incident and
// creation time.
type SealedAlert struct {
	ID                    string
	Rule                  string
	Severity              AlertSeverity
	ActorID               string
	ClinicID              string
	Key                   string
	CreatedAt             time.Time
	Status                AlertStatus
	DecidedBy             string
	DecidedAt             time.Time
	IncidentID            string
	From, To              time.Time
	FirstIndex, LastIndex uint64
	Data                  []byte
	FactMAC               []byte
}

// SealedAlertChange is what SetAlertStatus writes.
type SealedAlertChange struct {
	Status     AlertStatus
	DecidedBy  string
	DecidedAt  time.Time
	IncidentID string
	Data       []byte
	FactMAC    []byte
}

// SealedHoneytoken is a honeytoken row: Tag is a keyed hash of the decoy
// patient's id, Data seals the id (bound to the row's id).
type SealedHoneytoken struct {
	ID        string
	Tag       []byte
	ClinicID  string
	CreatedBy string
	CreatedAt time.Time
	Data      []byte
	FactMAC   []byte
}

// WrappedKey is key material encrypted by the KEK. Owner is a patient id or,
// for system keys, the key's name. KEKID names the KEK key that wrapped it
// (rotation re-wraps those that differ from the current one).
type WrappedKey struct {
	Owner     string
	KEKID     string
	Wrapped   []byte
	UpdatedAt time.Time
}

// SealedTOTP is a user's TOTP row: the secrets sealed by internal/seal
// (associated data "totp/v1|<user id>"), the last accepted time step and
// the time of enrolment in the clear.
type SealedTOTP struct {
	UserID     string
	Secret     []byte // nil while not enrolled
	Pending    []byte // nil when no enrolment is pending
	LastStep   int64
	EnrolledAt time.Time // zero while not enrolled
	UpdatedAt  time.Time
}

// KeyFilter selects wrapped patient keys; see SealedTx.ListPatientKeys.
type KeyFilter struct {
	NotKEK string
	After  string
	Limit  int
}

// SealedPatient is a patient row: ids and times in the clear, everything
// identifying sealed in Data, and blind indexes for exact-match search.
type SealedPatient struct {
	ID               string
	ClinicID         string
	CreatedAt        time.Time
	ErasedAt         time.Time // zero unless crypto-shredded
	Data             []byte
	IdentityIndex    []byte // blind index of the identity code
	SurnameIndex     []byte // blind index of the normalised family name
	SurnameYearIndex []byte // blind index of family name and birth year
	AddressIndex     []byte // blind index of the normalised address (compared, never searched)
}

// SealedPatientFilter selects patients. Zero fields do not filter.
type SealedPatientFilter struct {
	ClinicID         string
	IdentityIndex    []byte
	SurnameIndex     []byte
	SurnameYearIndex []byte
	IncludeErased    bool
	Limit            int
	Offset           int
}

// SealedNote is a session note row with its versions.
type SealedNote struct {
	ID         string
	PatientID  string
	AuthorID   string
	SessionAt  time.Time
	CreatedAt  time.Time
	ReleasedAt time.Time
	ReleasedBy string
	Versions   []SealedNoteVersion
}

// SealedNoteVersion is one version; Data seals the body and the amendment
// reason.
type SealedNoteVersion struct {
	Version   int
	Template  NoteTemplate
	Status    NoteStatus
	AuthorID  string
	CreatedAt time.Time
	UpdatedAt time.Time
	SignedAt  time.Time
	SignedBy  string
	Data      []byte
}

// SealedProcessNote is a private process note row.
type SealedProcessNote struct {
	ID        string
	PatientID string
	AuthorID  string
	CreatedAt time.Time
	Data      []byte
}

// SealedDiagnosis is a diagnosis row; Data seals code, title and comment.
type SealedDiagnosis struct {
	ID         string
	PatientID  string
	Status     DiagnosisStatus
	RecordedBy string
	RecordedAt time.Time
	Data       []byte
}

// SealedPlan is a treatment plan row; Data seals goals, interventions and
// review date.
type SealedPlan struct {
	ID        string
	PatientID string
	AuthorID  string
	CreatedAt time.Time
	Data      []byte
}

// SealedMeasure is an outcome measure row; Data seals answers, score and
// severity. The instrument is in the clear (record type).
type SealedMeasure struct {
	ID         string
	PatientID  string
	Instrument Instrument
	RecordedBy string
	TakenAt    time.Time
	Data       []byte
}

// SealedAttachment is an attachment's metadata row; Data seals the file name
// and digest. Each stored chunk is sealed separately.
type SealedAttachment struct {
	ID          string
	PatientID   string
	ContentType string
	Size        int64
	Chunks      int
	UploadedBy  string
	CreatedAt   time.Time
	Data        []byte
}

// SealedBreakGlass is a break-the-glass grant row; Data seals the reason
// and the review comment.
type SealedBreakGlass struct {
	ID          string
	TherapistID string
	PatientID   string
	ClinicID    string
	Category    string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Status      BreakGlassStatus
	ReviewedBy  string
	ReviewedAt  time.Time
	Data        []byte
	// FactMAC authenticates who may read which chart until when
	// (internal/seal): id, therapist, patient, clinic, category, created,
	// expires.
	FactMAC []byte
}

// SealedIncident is an incident row. HistoryMAC is the MAC of its last
// history entry; FactMAC authenticates the row (internal/seal).
type SealedIncident struct {
	ID             string
	Status         IncidentStatus
	OpenedBy       string
	OpenedAt       time.Time
	FirstAlertAt   time.Time
	AwarenessAt    time.Time
	AwarenessSetBy string
	ClosedAt       time.Time
	ClosedBy       string
	ScopeSize      uint64 // the checkpoint size of the current scope
	HistorySeq     int
	HistoryMAC     []byte
	Data           []byte
	FactMAC        []byte
}

// SealedIncidentEvent is a history row: MAC chains it to the entry before.
type SealedIncidentEvent struct {
	IncidentID string
	Seq        int
	At         time.Time
	By         string
	Kind       string
	Data       []byte
	MAC        []byte
}

// SealedIncidentLetter is a letter row; Data is sealed under the
// patient's key (kind BlobIncidentLetter, sub 0).
type SealedIncidentLetter struct {
	ID         string
	IncidentID string
	PatientID  string
	Phase      string
	CreatedAt  time.Time
	CreatedBy  string
	Mailed     bool
	Data       []byte
}

// BlobKind names a kind of sealed blob.
type BlobKind string

// Blob kinds. Sub is the note version or the chunk index, else 0.
const (
	BlobPatient         BlobKind = "patient"
	BlobNoteVersion     BlobKind = "note_version"
	BlobProcessNote     BlobKind = "process_note"
	BlobDiagnosis       BlobKind = "diagnosis"
	BlobPlan            BlobKind = "plan"
	BlobMeasure         BlobKind = "measure"
	BlobAttachment      BlobKind = "attachment"
	BlobAttachmentChunk BlobKind = "attachment_chunk"
	BlobBreakGlass      BlobKind = "break_glass"
	BlobIncidentLetter  BlobKind = "incident_letter"
)

// Blob is one sealed value and its place.
type Blob struct {
	PatientID string
	Kind      BlobKind
	ID        string
	Sub       int
	Data      []byte
}
