package service

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Clinics lists the organisation's clinics (to staff).
func (s *Service) Clinics(ctx context.Context) ([]confidant.Clinic, error) {
	if _, err := need(ctx, policy.ListClinics); err != nil {
		return nil, err
	}
	var cs []confidant.Clinic
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		cs, err = tx.ListClinics(ctx)
		return err
	})
	return cs, err
}

// Clinic returns one clinic (to staff).
func (s *Service) Clinic(ctx context.Context, id string) (confidant.Clinic, error) {
	if _, err := need(ctx, policy.ListClinics); err != nil {
		return confidant.Clinic{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.Clinic{}, err
	}
	var c confidant.Clinic
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		c, err = tx.Clinic(ctx, id)
		return err
	})
	return c, err
}

// CreateClinic adds a clinic; the acting manager becomes a member of it.
func (s *Service) CreateClinic(ctx context.Context, name, city string) (confidant.Clinic, error) {
	a, err := need(ctx, policy.CreateClinic)
	if err != nil {
		return confidant.Clinic{}, err
	}
	c := confidant.Clinic{ID: confidant.NewID(), Name: oneLine(name), City: oneLine(city), CreatedAt: s.clock()}
	if err := checkText("clinic_name", "Clinic name", c.Name, 1, 120); err != nil {
		return c, err
	}
	if err := checkText("city", "City", c.City, 0, 120); err != nil {
		return c, err
	}
	err = s.update(ctx, func(tx confidant.Tx) error {
		u, err := tx.User(ctx, a.UserID)
		if err != nil {
			return err
		}
		if err := tx.CreateClinic(ctx, c); err != nil {
			return err
		}
		u.ClinicIDs = append(u.ClinicIDs, c.ID)
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActClinicCreate, "", c.ID)
	})
	if err != nil {
		return confidant.Clinic{}, err
	}
	return c, nil
}

// UpdateClinic renames a clinic the acting manager manages.
func (s *Service) UpdateClinic(ctx context.Context, id, name, city string) (confidant.Clinic, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.Clinic{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.Clinic{}, err
	}
	if err := policy.Check(a, policy.ManageClinic, policy.Facts{InClinic: a.InClinic(id)}); err != nil {
		return confidant.Clinic{}, err
	}
	name, city = oneLine(name), oneLine(city)
	if err := checkText("clinic_name", "Clinic name", name, 1, 120); err != nil {
		return confidant.Clinic{}, err
	}
	if err := checkText("city", "City", city, 0, 120); err != nil {
		return confidant.Clinic{}, err
	}
	var c confidant.Clinic
	err = s.update(ctx, func(tx confidant.Tx) error {
		if c, err = tx.Clinic(ctx, id); err != nil {
			return err
		}
		c.Name, c.City = name, city
		if err := tx.UpdateClinic(ctx, c); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActClinicUpdate, "", c.ID)
	})
	if err != nil {
		return confidant.Clinic{}, err
	}
	return c, nil
}

// StaffInput describes a new account.
type StaffInput struct {
	Username    string
	DisplayName string
	Role        confidant.Role
	ClinicIDs   []string
	PatientID   string // RolePatient only
	// Email is where a staff member's invitation goes (required by
	// CreateStaff; stored: staff addresses are not patient data).
	Email string
	// Password is for OperatorCreateUser only: the operator holds the
	// machine and its keys. CreateStaff refuses it.
	Password string
	// IdentityCode is a staff member's Finnish identity code (optional;
	// the operator's `confidant user create --identity-code`): only its
	// blind index is stored, for the detector (docs/INCIDENTS.md).
	IdentityCode string
	// Address is a staff member's home address (optional; `confidant user
	// create --address`): only its blind index is stored, compared with
	// patients' by the detector (docs/INCIDENTS.md).
	Address string
}

// Staff lists staff accounts, optionally of one clinic, to managers and
// security officers. Password hashes are never returned.
func (s *Service) Staff(ctx context.Context, clinicID string) ([]confidant.User, error) {
	if _, err := need(ctx, policy.ListStaff); err != nil {
		return nil, err
	}
	var us []confidant.User
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		us, err = tx.ListUsers(ctx, confidant.UserFilter{ClinicID: clinicID})
		return err
	})
	out := us[:0]
	for _, u := range us {
		if u.Role != confidant.RolePatient {
			u.PasswordHash = ""
			out = append(out, u)
		}
	}
	return out, err
}

// Therapists lists the therapists of a clinic (for assigning care).
func (s *Service) Therapists(ctx context.Context, clinicID string) ([]confidant.User, error) {
	if _, err := need(ctx, policy.ListStaff); err != nil {
		return nil, err
	}
	var us []confidant.User
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		us, err = tx.ListUsers(ctx, confidant.UserFilter{ClinicID: clinicID, Role: confidant.RoleTherapist})
		return err
	})
	for i := range us {
		us[i].PasswordHash = ""
	}
	return us, err
}

// CreateStaff creates a therapist or manager account in clinics the acting
// manager manages, without a usable password, and mails an invitation to
// in.Email. A therapist account reads no chart until a security officer
// other than the acting manager approves it (ApproveAccount).
func (s *Service) CreateStaff(ctx context.Context, in StaffInput) (Invited, error) {
	a, err := actor(ctx)
	if err != nil {
		return Invited{}, err
	}
	if in.Password != "" {
		return Invited{}, ErrPasswordNotAccepted
	}
	if in.Role != confidant.RoleTherapist && in.Role != confidant.RoleManager {
		if a.Role == confidant.RoleManager {
			return Invited{}, confidant.Errorf(confidant.KindInvalid, "invalid_role", "Managers can create therapist and manager accounts.")
		}
		return Invited{}, confidant.ErrPermission
	}
	if len(in.ClinicIDs) == 0 {
		return Invited{}, confidant.Errorf(confidant.KindInvalid, "missing_clinic", "Choose at least one clinic.")
	}
	allIn := true
	for _, c := range in.ClinicIDs {
		allIn = allIn && a.InClinic(c)
	}
	if err := policy.Check(a, policy.ManageStaff, policy.Facts{InClinic: allIn}); err != nil {
		return Invited{}, err
	}
	if err := checkEmail(in.Email); err != nil {
		return Invited{}, err
	}
	return s.createInvited(ctx, a, in, in.Email)
}

// OperatorCreateUser creates an account of any role without an acting user.
// It exists for the operator's command line (`confidant user create`), who
// already holds the database and keys; no network transport may call it.
func (s *Service) OperatorCreateUser(ctx context.Context, in StaffInput) (confidant.User, error) {
	if in.Email != "" {
		if err := checkEmail(in.Email); err != nil {
			return confidant.User{}, err
		}
	}
	if err := CheckPassword(in.Password); err != nil {
		return confidant.User{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return confidant.User{}, err
	}
	u := s.newUser(in)
	if u.Role == confidant.RolePatient {
		u.Email = "" // a patient's address would be patient data in the clear
	}
	u.PasswordHash = hash
	err = s.createUser(ctx, u, nil)
	u.PasswordHash, u.IdentityCode, u.Address = "", "", ""
	return u, err
}

// OperatorInviteUser creates an account of any role without an acting user
// and without a password, with an invitation returned as a hand-over code
// (valid InvitationTTL, once): with it the person sets their own password
// and, for staff, enrols their second factor (AcceptInvitationSignIn). It
// is for the operator's command line (`confidant init`, `confidant user
// create`, `confidant user invite`); accounts it makes need no approval
// (the operator holds the machine and its keys anyway).
func (s *Service) OperatorInviteUser(ctx context.Context, in StaffInput) (Invited, error) {
	if in.Password != "" {
		return Invited{}, ErrPasswordNotAccepted
	}
	if in.Email != "" {
		if err := checkEmail(in.Email); err != nil {
			return Invited{}, err
		}
	}
	inv, err := s.createInvited(ctx, confidant.Actor{}, in, "")
	return inv, err
}

// OperatorReinvite revokes the account's unused invitations and issues a
// new hand-over code for it (a lost invitation, or an enrolment left
// unfinished), for the operator's `confidant user invite`. The password
// and second factor stay until the code is used: accepting it sets a new
// password and, for staff whose second factor is not set up, starts its
// enrolment.
func (s *Service) OperatorReinvite(ctx context.Context, userID string) (Invited, error) {
	now := s.clock()
	code, inv, err := s.newInvitation(userID, "", now)
	if err != nil {
		return Invited{}, err
	}
	var u confidant.User
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		if err := tx.RevokeInvitations(ctx, userID, now); err != nil {
			return err
		}
		if err := tx.CreateInvitation(ctx, inv); err != nil {
			return err
		}
		ev := s.event(ctx, ActInvitationSend, u.PatientID, u.ID, confidant.OutcomeOK)
		ev.Purpose = "hand-over code by the operator"
		return tx.Audit(ev)
	})
	if err != nil {
		return Invited{}, err
	}
	u.PasswordHash = ""
	return Invited{User: u, ExpiresAt: inv.ExpiresAt, Code: code}, nil
}

func (s *Service) newUser(in StaffInput) confidant.User {
	return confidant.User{
		ID: confidant.NewID(), Username: normalizeUsername(in.Username), DisplayName: oneLine(in.DisplayName),
		Role: in.Role, ClinicIDs: slices.Compact(slices.Sorted(slices.Values(in.ClinicIDs))),
		PatientID: in.PatientID, CreatedAt: s.clock(), Email: in.Email, IdentityCode: in.IdentityCode,
		Address: strings.TrimSpace(in.Address),
	}
}

// createInvited creates an account for in without a usable password, with
// an invitation by a, mailed to mailTo or, when mailTo is empty, returned
// as a hand-over code.
func (s *Service) createInvited(ctx context.Context, a confidant.Actor, in StaffInput, mailTo string) (Invited, error) {
	u := s.newUser(in)
	if u.Role == confidant.RolePatient {
		u.Email = ""
	}
	u.InvitedBy = a.UserID
	// Accounts the operator makes (no acting user) need no approval.
	u.AwaitingApproval = u.Role == confidant.RoleTherapist && a.UserID != ""
	if mailTo != "" && s.mailer == nil {
		return Invited{}, confidant.Errorf(confidant.KindUnavailable, "mail_unavailable", "This server sends no mail; use a hand-over code.")
	}
	code, inv, err := s.newInvitation(u.ID, a.UserID, u.CreatedAt)
	if err != nil {
		return Invited{}, err
	}
	if err := s.createUser(ctx, u, &inv); err != nil {
		return Invited{}, err
	}
	u.IdentityCode, u.Address = "", "" // stored as their blind indexes only
	out := Invited{User: u, ExpiresAt: inv.ExpiresAt}
	if mailTo == "" {
		out.Code = code
		return out, nil
	}
	return out, s.sendInvitation(ctx, mailTo, u, code, inv.ExpiresAt)
}

// createUser stores u (and inv, when not nil) with their events.
func (s *Service) createUser(ctx context.Context, u confidant.User, inv *confidant.Invitation) error {
	if !u.Role.Valid() {
		return confidant.Errorf(confidant.KindInvalid, "invalid_role", "Unknown role.")
	}
	if err := checkUsername(u.Username); err != nil {
		return err
	}
	if err := checkText("display_name", "Name", u.DisplayName, 1, 120); err != nil {
		return err
	}
	if (u.Role == confidant.RolePatient) != (u.PatientID != "") {
		return confidant.Errorf(confidant.KindInvalid, "invalid_patient", "Patient accounts, and only they, belong to a patient.")
	}
	if u.IdentityCode != "" {
		if u.Role == confidant.RolePatient {
			return confidant.Errorf(confidant.KindInvalid, "invalid_identity_code", "Only staff accounts take an identity code; a patient's is in their record.")
		}
		code, _, err := confidant.ParseIdentityCode(u.IdentityCode)
		if err != nil {
			return err
		}
		u.IdentityCode = code
	}
	if u.Address != "" {
		if u.Role == confidant.RolePatient {
			return errPatientClose
		}
		if err := checkStaffAddress(u.Address); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx confidant.Tx) error {
		for _, c := range u.ClinicIDs {
			if _, err := tx.Clinic(ctx, c); err != nil {
				if confidant.IsKind(err, confidant.KindNotFound) {
					return confidant.Errorf(confidant.KindInvalid, "invalid_clinic", "Unknown clinic.")
				}
				return err
			}
		}
		if u.PatientID != "" {
			if _, err := tx.Patient(ctx, u.PatientID); err != nil {
				return err
			}
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if inv != nil {
			if err := tx.CreateInvitation(ctx, *inv); err != nil {
				return err
			}
		}
		if err := s.auditTx(ctx, tx, ActAccountCreate, u.PatientID, u.ID); err != nil {
			return err
		}
		if inv != nil {
			return s.auditTx(ctx, tx, ActInvitationSend, u.PatientID, u.ID)
		}
		return nil
	})
}

// PatientAccountInput describes a patient's portal account. Exactly one
// of Email and Handover: the invitation is mailed to Email (used for this
// message only, never stored, since a patient's address is patient data),
// or returned as a code for handing over in person.
type PatientAccountInput struct {
	Username string
	Email    string
	Handover bool
	Password string // refused: accounts are created by invitation
}

// CreatePatientAccount gives a patient of the acting manager's clinic a
// portal account, by invitation. A patient has at most one (KindConflict
// "patient_has_account"); the account's creation, and a refused second
// one, are events on the patient's access log.
func (s *Service) CreatePatientAccount(ctx context.Context, patientID string, in PatientAccountInput) (Invited, error) {
	if in.Password != "" {
		return Invited{}, ErrPasswordNotAccepted
	}
	if (in.Email == "") == !in.Handover {
		return Invited{}, confidant.Errorf(confidant.KindInvalid, "missing_delivery",
			"Give the patient's email address for the invitation, or ask for a hand-over code (not both).")
	}
	if in.Email != "" {
		if err := checkEmail(in.Email); err != nil {
			return Invited{}, err
		}
	}
	var (
		a confidant.Actor
		p confidant.Patient
	)
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		a, p, err = s.authorizePatient(ctx, tx, patientID, policy.ManageStaff)
		return err
	}); err != nil {
		return Invited{}, s.wrote(ctx, ActAccountCreate, patientID, "", err)
	}
	// The account's display name is not the patient's name: accounts are not
	// encrypted, and the portal shows the name from the sealed record.
	out, err := s.createInvited(ctx, a, StaffInput{
		Username: in.Username, DisplayName: "Patient", Role: confidant.RolePatient, PatientID: p.ID,
	}, in.Email)
	if confidant.IsKind(err, confidant.KindConflict) && confidant.CodeOf(err) == "patient_has_account" {
		if rerr := s.record(ctx, s.event(ctx, ActAccountCreate, p.ID, "", confidant.OutcomeDenied)); rerr != nil {
			return Invited{}, rerr
		}
	}
	return out, err
}

// StaffUpdate changes an account.
type StaffUpdate struct {
	DisplayName string
	ClinicIDs   []string
	Disabled    bool
}

// UpdateStaff changes a staff account that shares a clinic with the acting
// manager. Disabling an account ends its sessions.
func (s *Service) UpdateStaff(ctx context.Context, id string, in StaffUpdate) (confidant.User, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.User{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.User{}, err
	}
	if !roleMayEver(a.Role, policy.ManageStaff) {
		return confidant.User{}, confidant.ErrPermission
	}
	name := oneLine(in.DisplayName)
	if err := checkText("display_name", "Name", name, 1, 120); err != nil {
		return confidant.User{}, err
	}
	var u confidant.User
	err = s.update(ctx, func(tx confidant.Tx) error {
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		shared := slices.ContainsFunc(u.ClinicIDs, a.InClinic)
		newIn := true
		for _, c := range in.ClinicIDs {
			newIn = newIn && a.InClinic(c)
		}
		if err := policy.Check(a, policy.ManageStaff, policy.Facts{InClinic: shared && newIn && u.Role != confidant.RolePatient}); err != nil {
			return err
		}
		if u.ID == a.UserID && in.Disabled {
			return confidant.Errorf(confidant.KindInvalid, "cannot_disable_self", "You cannot disable your own account.")
		}
		if len(in.ClinicIDs) == 0 {
			return confidant.Errorf(confidant.KindInvalid, "missing_clinic", "Choose at least one clinic.")
		}
		// Keep memberships in clinics the manager does not manage.
		var keep []string
		for _, c := range u.ClinicIDs {
			if !a.InClinic(c) {
				keep = append(keep, c)
			}
		}
		if u.Disabled && !in.Disabled && u.DisabledBy != "" && u.DisabledBy != a.UserID {
			// Only a security officer re-enables what a security officer
			// disabled (an account suspected stolen, say).
			by, err := tx.User(ctx, u.DisabledBy)
			if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
				return err
			}
			if err != nil || by.Role == confidant.RoleSecurity {
				return errDisabledBySecurity
			}
		}
		u.ClinicIDs = slices.Compact(slices.Sorted(slices.Values(append(keep, in.ClinicIDs...))))
		u.DisplayName = name
		switch {
		case in.Disabled && !u.Disabled:
			u.DisabledBy = a.UserID
		case !in.Disabled:
			u.DisabledBy = ""
		}
		u.Disabled = in.Disabled
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if u.Disabled {
			if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
		}
		return s.auditTx(ctx, tx, ActAccountUpdate, "", u.ID)
	})
	u.PasswordHash = ""
	if err != nil {
		return confidant.User{}, err
	}
	return u, nil
}

// errDisabledBySecurity refuses a manager's re-enabling of an account a
// security officer disabled.
var errDisabledBySecurity = confidant.Errorf(confidant.KindPermission, "disabled_by_security",
	"A security officer disabled this account; only a security officer can enable it again.")

// SetAccountDisabled lets a security officer disable (or re-enable) any
// account, e.g. one suspected stolen. Disabling ends its sessions at once.
func (s *Service) SetAccountDisabled(ctx context.Context, id string, disabled bool) (confidant.User, error) {
	a, err := need(ctx, policy.DisableAccount)
	if err != nil {
		return confidant.User{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.User{}, err
	}
	if id == a.UserID && disabled {
		return confidant.User{}, confidant.Errorf(confidant.KindInvalid, "cannot_disable_self", "You cannot disable your own account.")
	}
	var u confidant.User
	err = s.update(ctx, func(tx confidant.Tx) error {
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		switch {
		case disabled && !u.Disabled:
			u.DisabledBy = a.UserID
		case !disabled:
			u.DisabledBy = ""
		}
		u.Disabled = disabled
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		action := ActAccountEnable
		if disabled {
			action = ActAccountDisable
			if err := tx.DeleteUserSessions(ctx, id); err != nil {
				return err
			}
		}
		return s.auditTx(ctx, tx, action, "", id)
	})
	u.PasswordHash = ""
	if err != nil {
		return confidant.User{}, err
	}
	return u, nil
}

// CareList lists care relationships of a clinic the acting manager manages,
// optionally only those active now.
func (s *Service) CareList(ctx context.Context, clinicID string, activeOnly bool) ([]confidant.CareRelationship, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.Check(a, policy.ManageCare, policy.Facts{InClinic: a.InClinic(clinicID)}); err != nil {
		return nil, err
	}
	f := confidant.CareFilter{ClinicID: clinicID}
	if activeOnly {
		f.ActiveAt = s.clock()
	}
	var cs []confidant.CareRelationship
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		cs, err = tx.ListCare(ctx, f)
		return err
	})
	return cs, err
}

// AssignCare starts a care relationship between a patient and a therapist
// of the patient's clinic. from zero means now.
func (s *Service) AssignCare(ctx context.Context, patientID, therapistID string, from time.Time) (confidant.CareRelationship, error) {
	now := s.clock()
	if from.IsZero() {
		from = now
	}
	from = from.UTC().Truncate(time.Microsecond)
	if err := checkID(therapistID); err != nil {
		return confidant.CareRelationship{}, confidant.Errorf(confidant.KindInvalid, "invalid_therapist", "Choose a therapist of the patient's clinic.")
	}
	var c confidant.CareRelationship
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.ManageCare)
		if err != nil {
			return err
		}
		t, err := tx.User(ctx, therapistID)
		if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if err != nil || t.Role != confidant.RoleTherapist || t.Disabled || !slices.Contains(t.ClinicIDs, p.ClinicID) {
			return confidant.Errorf(confidant.KindInvalid, "invalid_therapist", "Choose an active therapist of the patient's clinic.")
		}
		existing, err := tx.ListCare(ctx, confidant.CareFilter{PatientID: p.ID, TherapistID: t.ID, ActiveAt: now})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return confidant.Errorf(confidant.KindConflict, "care_exists", "This therapist already has an active care relationship with the patient.")
		}
		c = confidant.CareRelationship{
			ID: confidant.NewID(), PatientID: p.ID, TherapistID: t.ID, ClinicID: p.ClinicID,
			From: from, CreatedBy: a.UserID, CreatedAt: now,
		}
		if err := tx.CreateCare(ctx, c); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActCareAssign, p.ID, c.ID)
	})
	if err := s.wrote(ctx, ActCareAssign, patientID, "", err); err != nil {
		return confidant.CareRelationship{}, err
	}
	return c, nil
}

// EndCare ends a care relationship now. The therapist loses access to the
// patient's records at once.
func (s *Service) EndCare(ctx context.Context, id string) (confidant.CareRelationship, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.CareRelationship{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.CareRelationship{}, err
	}
	if !roleMayEver(a.Role, policy.ManageCare) {
		return confidant.CareRelationship{}, confidant.ErrPermission
	}
	var c confidant.CareRelationship
	err = s.update(ctx, func(tx confidant.Tx) error {
		if c, err = tx.Care(ctx, id); err != nil {
			return err
		}
		if err := policy.Check(a, policy.ManageCare, policy.Facts{InClinic: a.InClinic(c.ClinicID)}); err != nil {
			return err
		}
		now := s.clock()
		if err := tx.EndCare(ctx, id, now, a.UserID); err != nil {
			return err
		}
		c.To, c.EndedBy = now, a.UserID
		return s.auditTx(ctx, tx, ActCareEnd, c.PatientID, c.ID)
	})
	if err != nil {
		return confidant.CareRelationship{}, err
	}
	return c, nil
}

// MyRecord returns the acting patient's own demographics and the notes
// released to them.
func (s *Service) MyRecord(ctx context.Context) (confidant.Patient, []confidant.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.Patient{}, nil, err
	}
	if a.Role != confidant.RolePatient {
		return confidant.Patient{}, nil, confidant.ErrPermission
	}
	var p confidant.Patient
	var ns []confidant.Note
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		if _, p, err = s.authorizePatient(ctx, tx, a.PatientID, policy.ReadDemographics); err != nil {
			return err
		}
		// The notes are a second kind of read, with its own rule.
		if _, _, err = s.authorizePatient(ctx, tx, a.PatientID, policy.ReadOwnReleased); err != nil {
			return err
		}
		if ns, err = tx.ListNotes(ctx, a.PatientID, confidant.NoteFilter{ReleasedOnly: true}); err != nil {
			return err
		}
		ns = releasedView(ns)
		return nil
	})
	if err := s.done(ctx, ActPortalRead, a.PatientID, "", err); err != nil {
		return confidant.Patient{}, nil, err
	}
	return p, ns, nil
}

// UserNames resolves account ids to display names for showing who did what.
// Any signed-in actor may resolve names of staff; unknown ids are skipped.
func (s *Service) UserNames(ctx context.Context, ids []string) (map[string]string, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ids))
	want := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] && confidant.ValidID(id) {
			seen[id] = true
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	// One query for all of them (a page of the access log names dozens).
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		us, err := tx.ListUsers(ctx, confidant.UserFilter{IDs: want})
		for _, u := range us {
			if u.Role != confidant.RolePatient {
				out[u.ID] = u.DisplayName
			}
		}
		return err
	})
	return out, err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func checkUsername(u string) error {
	if len(u) < 3 || len(u) > 64 || strings.ContainsFunc(u, func(r rune) bool {
		return !(unicode.IsLower(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-' || r == '@')
	}) {
		return confidant.Errorf(confidant.KindInvalid, "invalid_username", "Usernames are 3-64 characters: lower-case letters, digits and . _ - @.")
	}
	return nil
}

// CloseInput is what OperatorSetClose sets on a staff account for the
// detector's staff_close rule (docs/INCIDENTS.md): the blind indexes of
// the staff member's identity code and home address, compared with
// patients'. The clear values are never stored.
type CloseInput struct {
	IdentityCode string // sets the identity index ("": keeps it)
	Address      string // sets the address index ("": keeps it)
	Clear        bool   // clears both; not with a code or an address
}

var errPatientClose = confidant.Errorf(confidant.KindInvalid, "patient_account",
	"Only staff accounts take an identity code and an address; a patient's are in their record.")

// checkStaffAddress accepts one line of up to 300 characters (as a
// patient's address) with a letter or a digit in it: an address with none
// would have no index.
func checkStaffAddress(a string) error {
	if err := checkText("address", "Address", a, 1, 300); err != nil {
		return err
	}
	if strings.ContainsAny(a, "\r\n") || !strings.ContainsFunc(a, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) {
		return confidant.Errorf(confidant.KindInvalid, "invalid_address", "Give the address on one line, as a patient's would be written.")
	}
	return nil
}

// OperatorSetClose sets or clears the identity and address indexes of an
// existing staff account, for the operator's `confidant user set-close`
// (no network transport may call it). The change is an account.update
// event in the access log, which names the account only (neither the
// code nor the address), and makes the detector read the account's
// indexes again. A patient's account is refused (KindInvalid).
func (s *Service) OperatorSetClose(ctx context.Context, userID string, in CloseInput) (confidant.User, error) {
	in.IdentityCode, in.Address = strings.TrimSpace(in.IdentityCode), strings.TrimSpace(in.Address)
	switch {
	case in.Clear && (in.IdentityCode != "" || in.Address != ""):
		return confidant.User{}, confidant.Errorf(confidant.KindInvalid, "invalid_close", "Clear, or set an identity code or an address, not both.")
	case !in.Clear && in.IdentityCode == "" && in.Address == "":
		return confidant.User{}, confidant.Errorf(confidant.KindInvalid, "invalid_close", "Give an identity code, an address, or clear them.")
	}
	if in.IdentityCode != "" {
		code, _, err := confidant.ParseIdentityCode(in.IdentityCode)
		if err != nil {
			return confidant.User{}, err
		}
		in.IdentityCode = code
	}
	if in.Address != "" {
		if err := checkStaffAddress(in.Address); err != nil {
			return confidant.User{}, err
		}
	}
	var u confidant.User
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		if u.Role == confidant.RolePatient {
			return errPatientClose
		}
		set := confidant.User{ID: u.ID, IdentityCode: in.IdentityCode, Address: in.Address,
			IdentityIndex: u.IdentityIndex, AddressIndex: u.AddressIndex}
		if in.Clear {
			set.IdentityIndex, set.AddressIndex = nil, nil
		}
		if err := tx.SetStaffClose(ctx, set); err != nil {
			return err
		}
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActAccountUpdate, "", u.ID)
	})
	if err != nil {
		return confidant.User{}, err
	}
	u.PasswordHash = ""
	return u, nil
}
