package policy

import (
	"fmt"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// req names what an action needs. The table below is the specification; it
// is written out by hand, not derived from policy.go, so a change to either
// shows up as a failure.
type req string

const (
	never      req = ""            // KindPermission whatever the facts
	always     req = "always"      // allowed whatever the facts
	care       req = "care"        // active care relationship, else NotFound
	careAuthor req = "care+author" // active care and authorship
	own        req = "own"         // the patient's own record, else NotFound
	approved   req = "approved"    // an approved (therapist) account, else Permission awaiting_approval
	clinic     req = "clinic"      // target in one of the actor's clinics, else NotFound
	// careOrEmergency: active care or a break-the-glass grant (Emergency),
	// else NotFound; careOnly: active care; with only a grant,
	// Permission not_in_emergency_access.
	careOrEmergency       req = "care|emergency"
	careOrEmergencyAuthor req = "care|emergency+author"
	careOnly              req = "care, not emergency"
	approvedClinic        req = "approved+clinic" // approved (else Permission), target in the actor's clinics (else NotFound)
)

var spec = map[confidant.Role]map[Action]req{
	confidant.RoleTherapist: {
		ListOwnPatients: approved, SearchPatients: approved, CreatePatient: approved, ListClinics: always,
		ReadDemographics: careOrEmergency, ReadChart: careOrEmergency, WriteNote: careOrEmergency,
		EditDraft: careOrEmergencyAuthor, SignNote: careOrEmergencyAuthor, AmendNote: careOnly, ReleaseNote: careOnly,
		WriteProcessNote: careOrEmergency, ReadProcessNote: careOrEmergencyAuthor, WriteDiagnosis: careOrEmergency,
		WritePlan: careOrEmergency, WriteMeasure: careOrEmergency, WriteAttachment: careOrEmergency,
		ReadAttachment: careOrEmergency, BreakGlass: approvedClinic,
	},
	confidant.RolePatient: {
		ReadOwnReleased: own, ReadDemographics: own, ReadOwnAccessLog: own, ReadOwnLetters: own,
	},
	confidant.RoleManager: {
		ListClinics: always, CreateClinic: always, ListStaff: always, ListCare: always,
		CreatePatient: clinic, ManageClinic: clinic, ListPatientsAdm: clinic, ManageStaff: clinic, ManageCare: clinic,
	},
	confidant.RoleSecurity: {
		ListClinics: always, ListStaff: always, DisableAccount: always, QueryAudit: always, ApproveAccount: always, ResetAccount: always,
		ManageThrottle: always, ListBreakGlass: always, ReviewBreakGlass: always,
		ListAlerts: always, ManageAlerts: always, CreateHoneytoken: always, ListHoneytokens: always,
		OpenIncident: always, ReadIncident: always, UpdateIncident: always, SendIncidentLetters: always,
		ListRecipients: always, ProposeRecipient: always, ApproveRecipient: always, ReadBoardDigest: always,
	},
	confidant.RoleDPO: {
		ListClinics: always, ListStaff: always, QueryAudit: always, ListBreakGlass: always,
		ListAlerts: always, ManageAlerts: always, ListHoneytokens: always,
		OpenIncident: always, ReadIncident: always, UpdateIncident: always, SendIncidentLetters: always,
		SetIncidentAwareness: always, CloseIncident: always,
		ListRecipients: always, ProposeRecipient: always, ApproveRecipient: always, ReadBoardDigest: always,
	},
}

// TestMatrix checks every role against every action under every combination
// of facts.
func TestMatrix(t *testing.T) {
	for _, role := range confidant.Roles {
		a := confidant.Actor{UserID: "u", Role: role}
		for _, act := range Actions {
			r := spec[role][act]
			for bits := range 128 {
				f := Facts{
					ActiveCare: bits&1 != 0,
					Author:     bits&2 != 0,
					OwnPatient: bits&4 != 0,
					InClinic:   bits&8 != 0,
					Released:   bits&16 != 0,
					Approved:   bits&32 != 0,
					Emergency:  bits&64 != 0,
				}
				name := fmt.Sprintf("%s/%s/%+v", role, act, f)
				err := Check(a, act, f)
				want := expect(r, act, f)
				got := "allow"
				if err != nil {
					got = confidant.KindOf(err).String()
				}
				if got != want {
					t.Errorf("%s: got %s, want %s", name, got, want)
				}
				if Can(a, act, f) != (err == nil) {
					t.Errorf("%s: Can disagrees with Check", name)
				}
			}
		}
	}
}

func expect(r req, act Action, f Facts) string {
	switch r {
	case careOrEmergency, careOrEmergencyAuthor, careOnly:
		switch {
		case !(f.ActiveCare || f.Emergency) || !f.Approved:
			return "not_found"
		case r == careOnly && !f.ActiveCare:
			return "permission_denied"
		case r == careOrEmergencyAuthor && !f.Author && act == ReadProcessNote:
			return "not_found" // another's process note does not exist for you, in care or emergency
		case r == careOrEmergencyAuthor && !f.Author:
			return "permission_denied"
		}
		return "allow"
	case approvedClinic:
		switch {
		case !f.Approved:
			return "permission_denied"
		case !f.InClinic:
			return "not_found"
		}
		return "allow"
	case always:
		return "allow"
	case approved:
		if f.Approved {
			return "allow"
		}
		return "permission_denied"
	case care:
		// An unapproved therapist's care gives nothing: the record does
		// not exist for them.
		if f.ActiveCare && f.Approved {
			return "allow"
		}
		return "not_found"
	case careAuthor:
		switch {
		case !f.ActiveCare || !f.Approved:
			return "not_found"
		case f.Author:
			return "allow"
		case act == ReadProcessNote:
			return "not_found" // another's process note does not exist for you
		default:
			return "permission_denied"
		}
	case own:
		if f.OwnPatient {
			return "allow"
		}
		return "not_found"
	case clinic:
		if f.InClinic {
			return "allow"
		}
		return "not_found"
	}
	return "permission_denied"
}

// TestNoClinicalForAdmins states the central promise directly: no
// combination of facts lets a manager or security officer reach clinical
// content.
func TestNoClinicalForAdmins(t *testing.T) {
	clinicalActions := []Action{ReadChart, ReadProcessNote, ReadAttachment, ReadOwnReleased,
		WriteNote, AmendNote, SignNote, ReleaseNote, WriteDiagnosis, WritePlan, WriteMeasure, WriteAttachment}
	all := Facts{ActiveCare: true, Author: true, OwnPatient: true, InClinic: true, Released: true, Approved: true, Emergency: true}
	for _, role := range []confidant.Role{confidant.RoleManager, confidant.RoleSecurity} {
		for _, act := range clinicalActions {
			if Can(confidant.Actor{UserID: "u", Role: role}, act, all) {
				t.Errorf("%s may %s", role, act)
			}
		}
	}
}

// TestUnknownRole fails closed.
func TestUnknownRole(t *testing.T) {
	all := Facts{ActiveCare: true, Author: true, OwnPatient: true, InClinic: true, Released: true, Approved: true, Emergency: true}
	for _, act := range Actions {
		if Can(confidant.Actor{UserID: "u", Role: "root"}, act, all) {
			t.Errorf("unknown role may %s", act)
		}
	}
}

// TestSpecCoversActions makes sure a new action is added to the spec table
// deliberately: every action must be allowed to at least one role.
func TestSpecCoversActions(t *testing.T) {
	for _, act := range Actions {
		found := false
		for _, m := range spec {
			if m[act] != never {
				found = true
			}
		}
		if !found {
			t.Errorf("action %s is allowed to nobody", act)
		}
	}
}

// TestUnapprovedTherapistReachesNoPatient: with every other fact true, a
// therapist whose account awaits approval reaches no patient.
func TestUnapprovedTherapistReachesNoPatient(t *testing.T) {
	f := Facts{ActiveCare: true, Author: true, OwnPatient: true, InClinic: true, Released: true, Emergency: true}
	for _, act := range Actions {
		if act != ListClinics && Can(confidant.Actor{UserID: "u", Role: confidant.RoleTherapist}, act, f) {
			t.Errorf("an unapproved therapist may %s", act)
		}
	}
}
