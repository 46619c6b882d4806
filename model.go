package confidant

import (
	"log/slog"
	"strings"
	"time"
)

// Organisation is the provider that runs the clinics. An installation holds
// exactly one.
type Organisation struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Clinic is one therapy centre of the organisation.
type Clinic struct {
	ID        string
	Name      string
	City      string
	CreatedAt time.Time
}

// User is a sign-in account: a staff member or a patient.
type User struct {
	ID           string
	Username     string // unique, lower case
	DisplayName  string
	Role         Role
	ClinicIDs    []string // staff: clinic memberships
	PatientID    string   // patients: the patient record this account reads
	PasswordHash string   // PHC-encoded argon2id; never logged
	Disabled     bool
	// FailedLogins and LockedUntil belong to the account lockout that
	// sign-in throttling replaced (see LoginFailures); they are stored but
	// no longer read by the service.
	FailedLogins int
	LockedUntil  time.Time
	CreatedAt    time.Time
	// Email is where a staff member's invitations and notices go (staff
	// addresses are not patient data); always empty for patients, whose
	// address is used for an invitation and never stored.
	Email string
	// InvitedBy is the account that created this one by invitation ("" for
	// the operator's accounts and those from before invitations).
	InvitedBy string
	// AwaitingApproval marks a therapist account that reads no chart until
	// a security officer other than its inviter approves it. Accounts
	// from before approvals count as approved.
	AwaitingApproval bool
	ApprovedBy       string    // the security officer who approved it
	ApprovedAt       time.Time // zero unless approved by someone
	// DisabledBy is the account that last disabled this one ("" when not
	// disabled, or disabled before this was recorded).
	DisabledBy string
	// FactMAC authenticates the account's authorization facts (role,
	// clinics, patient, approval, disabled) under a key held outside the
	// database (internal/seal, docs/SECURITY.md "Authorization facts").
	FactMAC []byte
	// IdentityCode is a staff member's Finnish identity code on the way in
	// only (CreateUser): internal/seal replaces it by IdentityIndex, the
	// blind index a patient with that code has, and it is never stored or
	// read back. IdentityIndex is that index (nil: none), for the
	// detector's staff_close rule (docs/INCIDENTS.md).
	IdentityCode  string
	IdentityIndex []byte
	// Address is a staff member's home address on the way in only
	// (CreateUser, SetStaffClose), as IdentityCode: internal/seal replaces
	// it by AddressIndex, the blind index a patient living there has, and
	// it is never stored or read back. AddressIndex is nil for none.
	Address      string
	AddressIndex []byte
}

// Invitation lets the person an account was made for set its password,
// once, before ExpiresAt. Only the SHA-256 of its random token is stored.
type Invitation struct {
	TokenHash []byte
	UserID    string
	CreatedBy string // "" for the operator
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused; also set when revoked
}

// LogValue logs ids only.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.String("role", string(u.Role)))
}

// Session is a server-side sign-in session. Only the SHA-256 of the bearer
// token is stored, so a copy of the database does not yield live sessions.
type Session struct {
	ID        string // opaque, safe to log
	TokenHash []byte // SHA-256 of the secret token
	UserID    string
	Kind      string // "web" (cookie), "api" (bearer token) or "mfa" (a sign-in waiting for its second factor)
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute timeout
	// Client and Agent are the client's address and software (its
	// User-Agent, cut short) at sign-in, shown to the user in their list
	// of sessions.
	Client string
	Agent  string
}

// Notice is a security notice to a user about their own account (a
// sign-in from a new client, repeated failed sign-ins), shown in the app
// and mailed to the account's address. It holds no patient data.
type Notice struct {
	ID     string
	UserID string
	Kind   string // NoticeNewClient or NoticeFailures
	At     time.Time
	Client string // the client concerned
	Agent  string
	Count  int       // failures counted (NoticeFailures)
	ReadAt time.Time // zero while unread
}

// Notice kinds.
const (
	NoticeNewClient = "new_client" // a sign-in from a client this account had not signed in from
	NoticeFailures  = "failures"   // repeated failed sign-ins
)

// TOTP is a user's time-based one-time password second factor (RFC 6238:
// SHA-1, 6 digits, 30-second steps), as the service sees it. The secrets
// are stored sealed (SealedTOTP); they must never be logged, printed or put
// in an error.
type TOTP struct {
	UserID string
	// Secret is the confirmed secret (raw bytes, not base32); nil while the
	// user is not enrolled.
	Secret []byte
	// Pending is a secret handed out for enrolment and not yet confirmed
	// by a first valid code; nil when none is pending.
	Pending []byte
	// LastStep is the last time step (Unix time / 30) whose code was
	// accepted: each step is accepted once, so a code is never accepted
	// again, nor any code of an earlier step.
	LastStep   int64
	EnrolledAt time.Time // zero while not enrolled
}

// Enrolled reports whether the user has a confirmed TOTP secret.
func (t TOTP) Enrolled() bool { return len(t.Secret) > 0 }

// LogValue logs the user id only, never a secret.
func (t TOTP) LogValue() slog.Value { return slog.StringValue(t.UserID) }

// String hides the secrets from fmt.
func (t TOTP) String() string { return "TOTP{" + t.UserID + " [REDACTED]}" }

// GoString hides the secrets from %#v.
func (t TOTP) GoString() string { return t.String() }

// Patient is a person in care. Name, identity code and contact details are
// identifying; they will be encrypted at rest (issue 3).
type Patient struct {
	ID           string
	ClinicID     string
	GivenName    string
	FamilyName   string
	IdentityCode string // Finnish personal identity code (henkilötunnus), validated
	BirthDate    time.Time
	Phone        string
	Email        string
	Address      string
	CreatedAt    time.Time
	ErasedAt     time.Time // zero unless the patient was crypto-shredded
}

// Erased reports whether the patient's records were crypto-shredded.
func (p Patient) Erased() bool { return !p.ErasedAt.IsZero() }

// Name returns "Given Family".
func (p Patient) Name() string {
	if p.GivenName == "" {
		return p.FamilyName
	}
	return p.GivenName + " " + p.FamilyName
}

// LogValue logs ids only.
func (p Patient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", p.ID), slog.String("clinic", p.ClinicID))
}

// CareRelationship gives a therapist access to a patient's records from From
// until To (exclusive; zero To means open-ended).
type CareRelationship struct {
	ID          string
	PatientID   string
	TherapistID string
	ClinicID    string
	From        time.Time
	To          time.Time // zero: open
	CreatedBy   string
	CreatedAt   time.Time
	EndedBy     string
	// FactMAC authenticates the relationship (internal/seal).
	FactMAC []byte
}

// ActiveAt reports whether the relationship is in force at t.
func (c CareRelationship) ActiveAt(t time.Time) bool {
	return !t.Before(c.From) && (c.To.IsZero() || t.Before(c.To))
}

// NoteStatus is the state of a session note version.
type NoteStatus string

// Note states: a draft may be edited by its author; a signed version is
// locked forever and can only be superseded by an amendment.
const (
	NoteDraft  NoteStatus = "draft"
	NoteSigned NoteStatus = "signed"
)

// NoteTemplate is the structure a note was written with.
type NoteTemplate string

// Templates offered for session notes.
const (
	TemplateFree NoteTemplate = "free"
	TemplateSOAP NoteTemplate = "soap"
	TemplateDAP  NoteTemplate = "dap"
)

// Templates lists the note templates in display order.
var Templates = []NoteTemplate{TemplateFree, TemplateSOAP, TemplateDAP}

// Valid reports whether t is a known template.
func (t NoteTemplate) Valid() bool {
	return t == TemplateFree || t == TemplateSOAP || t == TemplateDAP
}

// Skeleton is the starting text for a new note of this template.
func (t NoteTemplate) Skeleton() string {
	switch t {
	case TemplateSOAP:
		return "Subjective:\n\nObjective:\n\nAssessment:\n\nPlan:\n"
	case TemplateDAP:
		return "Data:\n\nAssessment:\n\nPlan:\n"
	}
	return ""
}

// Label is the human name of the template.
func (t NoteTemplate) Label() string {
	switch t {
	case TemplateSOAP:
		return "SOAP"
	case TemplateDAP:
		return "DAP"
	}
	return "Free text"
}

// Note is a session note with its full version history. Versions[0] is the
// original; the last element is current. Only the last version may be a draft.
type Note struct {
	ID         string
	PatientID  string
	AuthorID   string // who created the note
	SessionAt  time.Time
	CreatedAt  time.Time
	ReleasedAt time.Time // zero until released to the patient
	ReleasedBy string
	Versions   []NoteVersion
}

// Current returns the latest version.
func (n Note) Current() NoteVersion {
	if len(n.Versions) == 0 {
		return NoteVersion{}
	}
	return n.Versions[len(n.Versions)-1]
}

// Status is the status of the current version.
func (n Note) Status() NoteStatus { return n.Current().Status }

// Released reports whether the note has been released to the patient.
func (n Note) Released() bool { return !n.ReleasedAt.IsZero() }

// LatestSigned returns the newest signed version, if any.
func (n Note) LatestSigned() (NoteVersion, bool) {
	for i := len(n.Versions) - 1; i >= 0; i-- {
		if n.Versions[i].Status == NoteSigned {
			return n.Versions[i], true
		}
	}
	return NoteVersion{}, false
}

// LogValue logs ids only.
func (n Note) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", n.ID), slog.String("patient", n.PatientID))
}

// NoteVersion is one immutable-once-signed version of a note.
type NoteVersion struct {
	Version   int // 1-based
	Template  NoteTemplate
	Body      string
	Status    NoteStatus
	AuthorID  string // who wrote this version
	CreatedAt time.Time
	UpdatedAt time.Time
	SignedAt  time.Time
	SignedBy  string
	Reason    string // amendments: why the note was amended
}

// ProcessNote is a private note that only its author can ever read.
type ProcessNote struct {
	ID        string
	PatientID string
	AuthorID  string
	Body      string
	CreatedAt time.Time
}

// DiagnosisStatus tells whether a diagnosis is current.
type DiagnosisStatus string

// Diagnosis states.
const (
	DiagnosisActive   DiagnosisStatus = "active"
	DiagnosisResolved DiagnosisStatus = "resolved"
)

// Diagnosis is an ICD-10 (chapter F) diagnosis recorded for a patient.
type Diagnosis struct {
	ID         string
	PatientID  string
	Code       string // e.g. "F32.1", validated against the shipped code list
	Title      string // the code's title from the list
	Note       string // free-text comment
	Status     DiagnosisStatus
	RecordedBy string
	RecordedAt time.Time
}

// TreatmentPlan is one version of a patient's treatment plan; the newest is
// current and earlier ones stay visible.
type TreatmentPlan struct {
	ID            string
	PatientID     string
	Goals         string
	Interventions string
	ReviewOn      time.Time // zero when not set
	AuthorID      string
	CreatedAt     time.Time
}

// Measure is one administration of an outcome measure (PHQ-9 or GAD-7).
type Measure struct {
	ID         string
	PatientID  string
	Instrument Instrument
	Answers    []int
	Score      int
	Severity   string
	RecordedBy string
	TakenAt    time.Time
}

// Attachment is a file attached to a patient's record. Content is stored in
// chunks of at most AttachmentChunkSize bytes and streamed.
type Attachment struct {
	ID          string
	PatientID   string
	Filename    string
	ContentType string
	Size        int64
	SHA256      []byte
	Chunks      int
	UploadedBy  string
	CreatedAt   time.Time
}

// AttachmentChunkSize is the size of each stored chunk of an attachment.
const AttachmentChunkSize = 256 << 10

// NormalizeName folds a name for search: trimmed, inner spaces collapsed,
// lower case (Unicode-aware, so "Äijälä" and "äijälä" match).
func NormalizeName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// LoginFailures is what sign-in throttling knows about one attempt: the
// failed sign-ins of its client on its account (Pair), of its client on
// every account (Client), and of every client on its account (Account),
// with the time of the last failure counted in the first two. Clients are
// known only by a keyed hash of their address (see Tx.FailLogin).
type LoginFailures struct {
	Pair       int
	PairLast   time.Time // zero when Pair is 0
	Client     int
	ClientLast time.Time // zero when Client is 0
	Account    int
}

// ThrottledAccount sums up the failed sign-ins counted against one account
// (for security officers; see Tx.ListLoginFailures).
type ThrottledAccount struct {
	AccountID   string
	Failures    int // all clients together
	Clients     int // clients with at least one failure
	MaxFailures int // the most failures of one client
	LastFailure time.Time
}

// BreakGlassStatus is the review state of an emergency access grant.
type BreakGlassStatus string

// Review states of an emergency access grant: open until a security
// officer reviews it, then justified or not justified.
const (
	BreakGlassOpen         BreakGlassStatus = "open"
	BreakGlassJustified    BreakGlassStatus = "justified"
	BreakGlassNotJustified BreakGlassStatus = "not_justified"
)

// Valid reports whether s is a known review state.
func (s BreakGlassStatus) Valid() bool {
	switch s {
	case BreakGlassOpen, BreakGlassJustified, BreakGlassNotJustified:
		return true
	}
	return false
}

// BreakGlass is a break-the-glass grant: time-limited emergency access of
// one therapist to one patient without a care relationship, with the
// reason given (which may hold clinical details and is sealed under the
// patient's key, as is the reviewer's comment). Security officers review
// every grant.
type BreakGlass struct {
	ID            string
	TherapistID   string
	PatientID     string
	ClinicID      string // the patient's clinic when the grant was made
	Category      string // one of a fixed list (internal/service)
	Reason        string // sealed
	CreatedAt     time.Time
	ExpiresAt     time.Time
	Status        BreakGlassStatus
	ReviewedBy    string
	ReviewedAt    time.Time // zero while open
	ReviewComment string    // sealed
}

// Active reports whether the grant gives access at t.
func (g BreakGlass) Active(t time.Time) bool {
	return !t.Before(g.CreatedAt) && t.Before(g.ExpiresAt)
}

// ActiveGrant names the active break-the-glass grant of a therapist for a
// patient: ids and times only (ID "" for none).
type ActiveGrant struct {
	ID        string
	ExpiresAt time.Time
}

// BreakGlassFilter selects grants, newest first. Zero fields do not
// filter.
type BreakGlassFilter struct {
	// Reviewed: nil for all; false for open grants only; true for reviewed
	// ones only.
	Reviewed  *bool
	PatientID string
	Limit     int // 0: no limit
}

// Alert is a finding of the detector that watches the access log
// (internal/detect; docs/INCIDENTS.md): which rule, how serious, whose
// activity and which patients, why, and where it stands. The explanation,
// the patients and a dismissal's reason are sealed at rest; the rest is
// metadata. Alerts are never deleted; their changes are events in the log.
type Alert struct {
	ID       string
	Rule     string        // the rule's name, e.g. "no_care", "honeytoken"
	Severity AlertSeverity // AlertLow … AlertCritical
	ActorID  string        // the account whose activity raised it; "" for integrity alerts
	ClinicID string        // the clinic concerned, if one
	// PatientIDs are the patients concerned (sealed at rest).
	PatientIDs []string
	// Explanation says in plain words why the alert was raised ("why this
	// was raised"); it names no patient (sealed at rest all the same).
	Explanation string
	// From and To bound the events the alert covers; FirstIndex and
	// LastIndex are their positions in the log.
	From, To              time.Time
	FirstIndex, LastIndex uint64
	// Key makes raising idempotent: the detector derives it from the rule,
	// the account and the window, and a second alert with the same key is
	// not stored (unique in storage).
	Key       string
	CreatedAt time.Time
	Status    AlertStatus
	// DecidedBy and DecidedAt: who last changed the status and when;
	// Reason is a dismissal's reason (sealed); IncidentID the incident it
	// was escalated to.
	DecidedBy  string
	DecidedAt  time.Time
	Reason     string
	IncidentID string
	// Tampered is set when reading: the stored row failed its integrity
	// check (its fact MAC, or its sealed part), so a database writer
	// changed it. It is shown, never hidden (docs/SECURITY.md, "Alerts").
	Tampered bool
}

// AlertSeverity ranks alerts.
type AlertSeverity string

// Severities, lowest first.
const (
	AlertLow      AlertSeverity = "low"
	AlertMedium   AlertSeverity = "medium"
	AlertHigh     AlertSeverity = "high"
	AlertCritical AlertSeverity = "critical"
)

// AlertStatus is where an alert stands in its lifecycle: new, then
// acknowledged, dismissed (with a reason) or escalated to an incident.
type AlertStatus string

// Alert statuses.
const (
	AlertNew          AlertStatus = "new"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertDismissed    AlertStatus = "dismissed"
	AlertEscalated    AlertStatus = "escalated"
)

// AlertFilter selects alerts, newest first (CreatedAt, then ID). Zero
// fields do not filter.
type AlertFilter struct {
	Since  time.Time // created at or after
	Status AlertStatus
	Rule   string
	// Before is a cursor: the id of an alert; only alerts after it in the
	// listing order (older) are returned. An unknown id returns none.
	Before string
	Limit  int // 0: no limit
}

// AlertChange is a change of an alert's status (Tx.SetAlertStatus).
type AlertChange struct {
	Status     AlertStatus
	DecidedBy  string
	DecidedAt  time.Time
	Reason     string // a dismissal's reason (sealed); "" otherwise
	IncidentID string // the incident of an escalation
}

// Valid reports whether s is a known status.
func (s AlertStatus) Valid() bool {
	switch s {
	case AlertNew, AlertAcknowledged, AlertDismissed, AlertEscalated:
		return true
	}
	return false
}

// Valid reports whether s is a known severity.
func (s AlertSeverity) Valid() bool {
	switch s {
	case AlertLow, AlertMedium, AlertHigh, AlertCritical:
		return true
	}
	return false
}

// Honeytoken is a decoy patient: an ordinary patient record that no real
// person has and nobody has a reason to open (docs/INCIDENTS.md,
// "Honeytokens"). Which patients are decoys is stored only as a keyed tag
// and a sealed id, so a stolen database does not tell.
type Honeytoken struct {
	ID        string // the honeytoken's own id (not the patient's)
	PatientID string // the decoy patient (sealed at rest)
	ClinicID  string
	CreatedBy string
	CreatedAt time.Time
	// Tampered: the row failed its integrity check when read.
	Tampered bool
}

// IncidentStatus is where an incident stands: open until the data
// protection officer closes it with a conclusion.
type IncidentStatus string

// Incident statuses.
const (
	IncidentOpen   IncidentStatus = "open"
	IncidentClosed IncidentStatus = "closed"
)

// Incident is an entry of the incident register (GDPR Art. 33(5); NIS2
// Art. 23; docs/INCIDENTS.md): a personal data breach or security incident
// being handled. Ids, status and times are metadata; the title, the
// alerts, the frozen scope, the Art. 33(3) fields and the conclusion are
// sealed. A fact MAC binds the clocks, the status and the history's head,
// so a database writer cannot quietly move a deadline or close it.
// Incidents are never deleted; every change is an IncidentEvent.
type Incident struct {
	ID       string
	Status   IncidentStatus
	OpenedBy string
	OpenedAt time.Time
	// FirstAlertAt is the earliest creation time of its alerts (zero for
	// an incident opened by hand).
	FirstAlertAt time.Time
	// AwarenessAt is when the controller became aware of the breach, set
	// by the data protection officer; it starts the clocks (zero until
	// set).
	AwarenessAt    time.Time
	AwarenessSetBy string
	ClosedAt       time.Time
	ClosedBy       string
	// Seq is the number of history entries (the last one's Seq).
	Seq int

	Title        string   // sealed
	AlertIDs     []string // sealed
	Scope        IncidentScope
	Notification IncidentNotification
	Conclusion   string // sealed
}

// EarlyWarningDeadline is the NIS2 Art. 23(4)(a) early warning's: 24 hours
// after awareness (zero until awareness is set).
func (i Incident) EarlyWarningDeadline() time.Time {
	if i.AwarenessAt.IsZero() {
		return time.Time{}
	}
	return i.AwarenessAt.Add(24 * time.Hour)
}

// RegulatorDeadline is the GDPR Art. 33(1) notification's: 72 hours after
// awareness (zero until awareness is set).
func (i Incident) RegulatorDeadline() time.Time {
	if i.AwarenessAt.IsZero() {
		return time.Time{}
	}
	return i.AwarenessAt.Add(72 * time.Hour)
}

// IncidentScope is a breach scope frozen when it was computed: the
// patients whose records the accounts' events concern in [From, To), the
// kinds of records, and the access-log checkpoint it was computed at
// (events at indexes below Checkpoint.Size).
type IncidentScope struct {
	Version     int
	AccountIDs  []string
	From, To    time.Time
	PatientIDs  []string
	RecordKinds []string
	Events      int
	ComputedAt  time.Time
	Checkpoint  IncidentCheckpoint
}

// IncidentCheckpoint is the signed access-log checkpoint a scope was
// computed at.
type IncidentCheckpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	Note   string // the signed note
}

// IncidentNotification holds what GDPR Art. 33(3) asks a notification to
// the supervisory authority to describe.
type IncidentNotification struct {
	Nature            string // the nature of the breach
	SubjectCategories string // categories of data subjects concerned
	SubjectsApprox    int    // approximate number of data subjects (-1: not set)
	RecordCategories  string // categories of personal data records concerned
	RecordsApprox     int    // approximate number of records (-1: not set)
	DPOContact        string // name and contact details of the DPO
	Consequences      string // likely consequences
	Measures          string // measures taken or proposed
	UpdatedBy         string
	UpdatedAt         time.Time
}

// Incident history kinds.
const (
	IncidentEventOpened       = "opened"
	IncidentEventAwareness    = "awareness_set"
	IncidentEventAwarenessFix = "awareness_corrected"
	IncidentEventDecision     = "decision"
	IncidentEventNotification = "notification_updated"
	IncidentEventRescoped     = "rescoped"
	IncidentEventLetters      = "letters_sent"
	IncidentEventClosed       = "closed"
)

// IncidentEvent is one entry of an incident's history, which is append
// only: who did what and when, with its details sealed.
type IncidentEvent struct {
	IncidentID string
	Seq        int
	At         time.Time
	By         string
	Kind       string
	// Details (sealed): a decision's text, a correction's reason, a
	// conclusion; the awareness time set; a new scope; the notification
	// fields; the letters' phase and patients.
	Text         string
	Time         time.Time
	Scope        *IncidentScope
	Notification *IncidentNotification
	Phase        string
	PatientIDs   []string
	Count        int
}

// IncidentFilter selects incidents, newest first.
type IncidentFilter struct {
	Status IncidentStatus // "" for all
	Limit  int            // 0: no limit
}

// IncidentLetter is a breach notification letter to a patient (GDPR Art.
// 34), in Finnish, Swedish and English, sealed under the patient's key.
type IncidentLetter struct {
	ID         string
	IncidentID string
	PatientID  string
	Phase      string
	CreatedAt  time.Time
	CreatedBy  string
	Texts      []LetterText
	Mailed     bool // also sent by e-mail
}

// LetterText is a letter in one language.
type LetterText struct {
	Lang    string // fi, sv, en
	Subject string
	Body    string
}

// IncidentLetterFilter selects letters, oldest first. Zero fields do not
// filter.
type IncidentLetterFilter struct {
	IncidentID string
	PatientID  string
	// MetaOnly: without the letters' texts (nothing is decrypted, no
	// patient key is unwrapped).
	MetaOnly bool
}
