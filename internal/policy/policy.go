// Package policy decides who may do what to whose record. It is pure: the
// service layer gathers the facts (is there an active care relationship, who
// wrote the note, which clinic) and asks Check before every operation.
//
// The rules, from DESIGN.md section 2:
//
//   - Therapists reach clinical content only through a care relationship
//     active now. Without one the record does not exist for them (NotFound),
//     so an id cannot be used to probe who is in care.
//   - Private process notes are readable by their author only, ever.
//   - Drafts are edited and signed by their author only; signed versions are
//     locked and superseded only by amendments.
//   - Patients read their own demographics and the notes released to them.
//   - Clinic managers administer clinics, accounts and care relationships in
//     their own clinics. They never see clinical content.
//   - Security officers see accounts and metadata, never clinical content.
//   - A new therapist account reaches no patient until a security officer
//     approves it (the Approved fact); the service refuses the approval to
//     the manager who invited it and to the account itself.
//   - Break-the-glass: an approved therapist may open, in an emergency, the
//     chart of a patient of one of their own clinics (the InClinic fact)
//     without a care relationship (BreakGlass; the service asks for a
//     reason and the second factor and records it). Until it expires, the
//     grant (the Emergency fact) gives what care gives, with two
//     exceptions: it does not amend or release notes (AmendNote,
//     ReleaseNote: those change what the treating therapists signed or
//     what the patient is shown, which is theirs to do), and the
//     author-only rules stay (another author's process notes still do not
//     exist for them, nor can they edit or sign another's draft). Only the
//     patient's own clinics: a therapist cannot reach, even in an
//     emergency, a patient of a clinic they do not work in.
//   - The data protection officer (RoleDPO) sees access-log metadata,
//     the break-the-glass queue, alerts and incidents; never clinical
//     content, and changes no account.
//   - Security officers and the data protection officer keep the
//     recipients of alerts: one proposes a change, a different one
//     approves it with their second factor (ProposeRecipient,
//     ApproveRecipient); they read the outbox and the board digest.
//   - Security officers see and review every break-the-glass grant
//     (ListBreakGlass, ReviewBreakGlass); the reason is shown to them and
//     to the patient, never clinical content.
package policy

import (
	confidant "github.com/confidanthealth/confidant"
)

// Action is an operation subject to policy.
type Action string

// Actions. Each service method maps to exactly one.
const (
	// Therapist work on patients and charts.
	ListOwnPatients  Action = "patients.list_own"
	SearchPatients   Action = "patients.search"
	CreatePatient    Action = "patients.create"
	ReadDemographics Action = "patient.read_demographics"
	ReadChart        Action = "chart.read" // notes, diagnoses, plans, measures, attachments
	WriteNote        Action = "note.create"
	EditDraft        Action = "note.edit_draft"
	SignNote         Action = "note.sign"
	AmendNote        Action = "note.amend"
	ReleaseNote      Action = "note.release"
	WriteProcessNote Action = "process_note.create"
	ReadProcessNote  Action = "process_note.read"
	WriteDiagnosis   Action = "diagnosis.write"
	WritePlan        Action = "plan.write"
	WriteMeasure     Action = "measure.write"
	WriteAttachment  Action = "attachment.write"
	ReadAttachment   Action = "attachment.read"

	// Patient portal.
	ReadOwnReleased  Action = "portal.read_released"
	ReadOwnAccessLog Action = "portal.read_access_log" // who accessed my records, with proofs

	// Security officers: access-log queries (ids and metadata, never content).
	QueryAudit Action = "audit.query"

	// Administration.
	ListClinics     Action = "clinics.list"
	ManageClinic    Action = "clinic.manage"
	CreateClinic    Action = "clinic.create"
	ListPatientsAdm Action = "patients.list_clinic" // demographics only
	ListStaff       Action = "staff.list"
	ManageStaff     Action = "staff.manage"
	ManageCare      Action = "care.manage"
	ListCare        Action = "care.list"
	DisableAccount  Action = "account.disable"

	// Security officers: see accounts throttled after failed sign-ins and
	// clear them.
	ManageThrottle Action = "account.throttle"
	// ApproveAccount lets a new therapist account read charts; the service
	// refuses it to the account's inviter and to the account itself.
	ApproveAccount Action = "account.approve"
	// ResetAccount clears a staff account's password and second factor
	// and sends it a new invitation (to the address on the account).
	ResetAccount Action = "account.reset"

	// BreakGlass grants a therapist time-limited emergency access to one
	// patient of their clinics without a care relationship.
	BreakGlass Action = "patient.break_glass"
	// ListBreakGlass and ReviewBreakGlass: security officers' review queue
	// of break-the-glass grants.
	ListBreakGlass   Action = "break_glass.list"
	ReviewBreakGlass Action = "break_glass.review"

	// ListAlerts and ManageAlerts: the detector's alerts (read them;
	// acknowledge, dismiss, reopen) for security officers and the data
	// protection officer.
	ListAlerts   Action = "alerts.list"
	ManageAlerts Action = "alerts.manage"
	// CreateHoneytoken makes a decoy patient (security officers only);
	// ListHoneytokens names the decoys (security officers and the DPO).
	CreateHoneytoken Action = "honeytoken.create"
	ListHoneytokens  Action = "honeytoken.list"
	// The incident register (docs/INCIDENTS.md): security officers and
	// the data protection officer open incidents, read them, record
	// decisions, the notification's fields and new scopes, and send the
	// patients' letters; only the data protection officer sets the time of
	// awareness (which starts the legal clocks) and closes an incident.
	OpenIncident         Action = "incident.open"
	ReadIncident         Action = "incident.read"
	UpdateIncident       Action = "incident.update" // decisions, Art. 33(3) fields, rescoping
	SendIncidentLetters  Action = "incident.letters"
	SetIncidentAwareness Action = "incident.awareness"
	CloseIncident        Action = "incident.close"
	// ReadOwnLetters: a patient reads the breach notification letters
	// addressed to them.
	ReadOwnLetters Action = "portal.read_letters"
	// Recipients of alerts and their delivery (security officers and the
	// data protection officer): list the recipients and the outbox,
	// propose a change (addition or removal), approve another person's
	// proposal (the service refuses it to the proposer), read the board
	// digest.
	ListRecipients   Action = "recipients.list"
	ProposeRecipient Action = "recipients.propose"
	ApproveRecipient Action = "recipients.approve"
	ReadBoardDigest  Action = "board_digest.read"
)

// Actions lists every action, for the matrix test and documentation.
var Actions = []Action{
	ListOwnPatients, SearchPatients, CreatePatient, ReadDemographics, ReadChart,
	WriteNote, EditDraft, SignNote, AmendNote, ReleaseNote, WriteProcessNote,
	ReadProcessNote, WriteDiagnosis, WritePlan, WriteMeasure, WriteAttachment,
	ReadAttachment, ReadOwnReleased, ReadOwnAccessLog, QueryAudit, ListClinics, ManageClinic, CreateClinic,
	ListPatientsAdm, ListStaff, ManageStaff, ManageCare, ListCare, DisableAccount, ApproveAccount, ResetAccount,
	ManageThrottle, BreakGlass, ListBreakGlass, ReviewBreakGlass,
	ListAlerts, ManageAlerts, CreateHoneytoken, ListHoneytokens,
	OpenIncident, ReadIncident, UpdateIncident, SendIncidentLetters, SetIncidentAwareness, CloseIncident, ReadOwnLetters,
	ListRecipients, ProposeRecipient, ApproveRecipient, ReadBoardDigest,
}

// Facts are what the service knows about the target of an action. Only the
// facts an action needs are consulted; the zero value is the most
// restrictive.
type Facts struct {
	ActiveCare bool // the acting therapist has a care relationship with the patient, active now
	Author     bool // the actor wrote the record (draft, process note)
	OwnPatient bool // the acting patient is the patient concerned
	InClinic   bool // the target (patient, clinic, staff member) is in one of the actor's clinics
	Released   bool // the note was released to the patient
	// Approved: the acting therapist's account was approved by a security
	// officer (two people for clinical access); accounts from before
	// approvals count as approved.
	Approved bool
	// Emergency: the acting therapist has an active, unexpired
	// break-the-glass grant for the patient.
	Emergency bool
}

// clinical actions: available to therapists through an active care relationship.
var clinical = map[Action]bool{
	ReadDemographics: true, ReadChart: true, WriteNote: true, EditDraft: true,
	SignNote: true, AmendNote: true, ReleaseNote: true, WriteProcessNote: true,
	ReadProcessNote: true, WriteDiagnosis: true, WritePlan: true,
	WriteMeasure: true, WriteAttachment: true, ReadAttachment: true,
}

// authorOnly actions additionally need the actor to be the author.
var authorOnly = map[Action]bool{EditDraft: true, SignNote: true, ReadProcessNote: true}

// notInEmergency are the clinical actions a break-the-glass grant does not
// give: they change what the treating therapists signed or what the
// patient is shown.
var notInEmergency = map[Action]bool{AmendNote: true, ReleaseNote: true}

// ErrNotInEmergency refuses what emergency access does not give.
var ErrNotInEmergency = confidant.Errorf(confidant.KindPermission, "not_in_emergency_access",
	"Emergency access does not allow this; it is for the patient's treating therapists.")

// Check returns nil if actor a may perform act given f. Otherwise it returns
// an *confidant.Error: KindNotFound where revealing existence would leak
// (clinical records outside care, other patients' data), KindPermission
// where the role can never do this.
func Check(a confidant.Actor, act Action, f Facts) error {
	switch a.Role {
	case confidant.RoleTherapist:
		switch act {
		case ListClinics:
			return nil
		case ListOwnPatients, SearchPatients, CreatePatient:
			if f.Approved {
				return nil
			}
			return ErrAwaitingApproval
		case BreakGlass:
			switch {
			case !f.Approved:
				return ErrAwaitingApproval
			case !f.InClinic:
				return confidant.ErrNotFound
			}
			return nil
		}
		if clinical[act] {
			// Unapproved, the record does not exist for them, as without care.
			if !(f.ActiveCare || f.Emergency) || !f.Approved {
				return confidant.ErrNotFound
			}
			if !f.ActiveCare && notInEmergency[act] {
				return ErrNotInEmergency
			}
			if authorOnly[act] && !f.Author {
				if act == ReadProcessNote {
					return confidant.ErrNotFound
				}
				return confidant.Errorf(confidant.KindPermission, "not_author", "Only the author can do this.")
			}
			return nil
		}
	case confidant.RolePatient:
		switch act {
		case ReadOwnReleased, ReadOwnAccessLog, ReadOwnLetters:
			if f.OwnPatient {
				return nil
			}
			return confidant.ErrNotFound
		case ReadDemographics:
			if f.OwnPatient {
				return nil
			}
			return confidant.ErrNotFound
		}
	case confidant.RoleManager:
		switch act {
		case ListClinics, CreateClinic, ListStaff, ListCare:
			return nil
		case CreatePatient, ManageClinic, ListPatientsAdm, ManageStaff, ManageCare:
			if f.InClinic {
				return nil
			}
			return confidant.ErrNotFound
		}
	case confidant.RoleSecurity:
		switch act {
		case ListClinics, ListStaff, DisableAccount, QueryAudit, ManageThrottle, ApproveAccount, ResetAccount,
			ListBreakGlass, ReviewBreakGlass, ListAlerts, ManageAlerts, CreateHoneytoken, ListHoneytokens,
			OpenIncident, ReadIncident, UpdateIncident, SendIncidentLetters,
			ListRecipients, ProposeRecipient, ApproveRecipient, ReadBoardDigest:
			return nil
		}
	case confidant.RoleDPO:
		// The data protection officer oversees: access-log metadata and
		// the break-the-glass queue, read only; alerts and incidents are
		// theirs too (internal/service). Never clinical content, never
		// accounts.
		switch act {
		case ListClinics, ListStaff, QueryAudit, ListBreakGlass, ListAlerts, ManageAlerts, ListHoneytokens,
			OpenIncident, ReadIncident, UpdateIncident, SendIncidentLetters, SetIncidentAwareness, CloseIncident,
			ListRecipients, ProposeRecipient, ApproveRecipient, ReadBoardDigest:
			return nil
		}
	}
	return confidant.ErrPermission
}

// ErrAwaitingApproval refuses a therapist whose account no security officer
// has approved yet.
var ErrAwaitingApproval = confidant.Errorf(confidant.KindPermission, "awaiting_approval",
	"Your account awaits approval by a security officer before it can reach patients' records.")

// Can reports whether Check would allow the action; templates use it to
// decide what to show.
func Can(a confidant.Actor, act Action, f Facts) bool { return Check(a, act, f) == nil }
