package api

import (
	"net/http"
	"strconv"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// listClinics: GET /api/v1/clinics.
func (h *handler) listClinics(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.Clinics(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clinicsView{Clinics: mapSlice(cs, newClinicView)})
	return nil
}

type clinicRequest struct {
	Name string `json:"name"`
	City string `json:"city"`
}

// createClinic: POST /api/v1/clinics. The acting manager becomes a member.
func (h *handler) createClinic(w http.ResponseWriter, r *http.Request) error {
	var req clinicRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, err := h.svc.CreateClinic(r.Context(), req.Name, req.City)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"clinics/"+c.ID)
	writeJSON(w, http.StatusCreated, newClinicView(c))
	return nil
}

// updateClinic: PUT /api/v1/clinics/{id} renames a clinic.
func (h *handler) updateClinic(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req clinicRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, err := h.svc.UpdateClinic(r.Context(), id, req.Name, req.City)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newClinicView(c))
	return nil
}

// listStaff: GET /api/v1/staff?clinic= (clinic optional).
func (h *handler) listStaff(w http.ResponseWriter, r *http.Request) error {
	us, err := h.svc.Staff(r.Context(), r.URL.Query().Get("clinic"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, staffView{Staff: mapSlice(us, newUserView)})
	return nil
}

type staffRequest struct {
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"` // therapist or manager
	ClinicIDs   []string `json:"clinic_ids"`
	Email       string   `json:"email"`
	// Password is refused: accounts are created by invitation. It is
	// decoded only to say so (password_not_accepted).
	Password *string `json:"password"`
}

// createStaff: POST /api/v1/staff creates an account and mails its
// invitation.
func (h *handler) createStaff(w http.ResponseWriter, r *http.Request) error {
	var req staffRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Password != nil {
		return service.ErrPasswordNotAccepted
	}
	inv, err := h.svc.CreateStaff(r.Context(), service.StaffInput{
		Username: req.Username, DisplayName: req.DisplayName, Role: confidant.Role(req.Role),
		ClinicIDs: req.ClinicIDs, Email: req.Email,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newInvitedView(inv))
	return nil
}

// invitedView is a new account with its invitation.
type invitedView struct {
	userView
	InvitationExpiresAt *string `json:"invitation_expires_at"`
	// HandoverCode is the invitation's code for handing over in person:
	// shown in this answer only, never again.
	HandoverCode string `json:"handover_code,omitempty"`
}

func newInvitedView(inv service.Invited) invitedView {
	return invitedView{userView: newUserView(inv.User), InvitationExpiresAt: timestamp(inv.ExpiresAt), HandoverCode: inv.Code}
}

// acceptInvitationRequest is the body of POST /api/v1/invitations/accept.
type acceptInvitationRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// acceptedView is the answer to an accepted invitation: the account, and
// for staff the pending sign-in in which its second factor is enrolled
// (POST /api/v1/login/totp/enrol, then /api/v1/login/totp).
type acceptedView struct {
	userView
	MFAToken     string  `json:"mfa_token,omitempty"`
	MFAEnrol     bool    `json:"mfa_enrol,omitempty"`
	MFAExpiresAt *string `json:"mfa_expires_at,omitempty"`
}

// acceptInvitation: POST /api/v1/invitations/accept {"token","password"}
// sets the invited account's password (no sign-in needed).
func (h *handler) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req acceptInvitationRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, res, err := h.svc.AcceptInvitationSignIn(r.Context(), req.Token, req.Password)
	if err != nil {
		return err
	}
	v := acceptedView{userView: newUserView(u)}
	if res.MFARequired() {
		v.MFAToken, v.MFAEnrol, v.MFAExpiresAt = res.MFAToken, res.MFAEnrol, timestamp(res.MFAExpiresAt)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// stepUpRequest is the body of a sensitive action: the current code of the
// caller's second factor.
type stepUpRequest struct {
	Code string `json:"code"`
}

// approveAccount: POST /api/v1/accounts/{id}/approve {"code"} (security
// officers; code is their current second-factor code).
func (h *handler) approveAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req stepUpRequest
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	u, err := h.svc.ApproveAccount(r.Context(), id, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newUserView(u))
	return nil
}

// resetAccount: POST /api/v1/accounts/{id}/reset (security officers)
// clears a staff account's password and second factor and mails it a new
// invitation.
func (h *handler) resetAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	inv, err := h.svc.ResetAccount(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newInvitedView(inv))
	return nil
}

// listAwaitingApproval: GET /api/v1/accounts/awaiting-approval.
func (h *handler) listAwaitingApproval(w http.ResponseWriter, r *http.Request) error {
	us, err := h.svc.AccountsAwaitingApproval(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, staffView{Staff: mapSlice(us, newUserView)})
	return nil
}

type staffUpdateRequest struct {
	DisplayName string   `json:"display_name"`
	ClinicIDs   []string `json:"clinic_ids"`
	// Disabled is required: a PUT that forgot it must not silently
	// re-enable an account.
	Disabled *bool `json:"disabled"`
}

// updateStaff: PUT /api/v1/staff/{id} replaces name, clinics (within the
// acting manager's clinics) and the disabled flag.
func (h *handler) updateStaff(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req staffUpdateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Disabled == nil {
		return missing("disabled")
	}
	u, err := h.svc.UpdateStaff(r.Context(), id, service.StaffUpdate{
		DisplayName: req.DisplayName, ClinicIDs: req.ClinicIDs, Disabled: *req.Disabled,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newUserView(u))
	return nil
}

// listCare: GET /api/v1/care?clinic=&active=.
func (h *handler) listCare(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	clinic := q.Get("clinic")
	if clinic == "" {
		return confidant.Errorf(confidant.KindInvalid, "missing_clinic", "Query parameter \"clinic\" is required.")
	}
	active := false
	if s := q.Get("active"); s != "" {
		var err error
		if active, err = strconv.ParseBool(s); err != nil {
			return confidant.Errorf(confidant.KindInvalid, "invalid_active", "Query parameter \"active\" must be true or false.")
		}
	}
	cs, err := h.svc.CareList(r.Context(), clinic, active)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, careListView{Care: mapSlice(cs, newCareView)})
	return nil
}

type careRequest struct {
	PatientID   string `json:"patient_id"`
	TherapistID string `json:"therapist_id"`
	From        string `json:"from"` // RFC 3339; default now
}

// assignCare: POST /api/v1/care starts a care relationship.
func (h *handler) assignCare(w http.ResponseWriter, r *http.Request) error {
	var req careRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	from, err := parseTime("from", req.From)
	if err != nil {
		return err
	}
	c, err := h.svc.AssignCare(r.Context(), req.PatientID, req.TherapistID, from)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newCareView(c))
	return nil
}

// endCare: POST /api/v1/care/{id}/end ends a care relationship now.
func (h *handler) endCare(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := h.svc.EndCare(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCareView(c))
	return nil
}

// disableAccount: POST /api/v1/accounts/{id}/disable (security officers)
// disables any account and ends its sessions at once.
func (h *handler) disableAccount(w http.ResponseWriter, r *http.Request) error {
	return h.setDisabled(w, r, true)
}

// enableAccount: POST /api/v1/accounts/{id}/enable (security officers).
func (h *handler) enableAccount(w http.ResponseWriter, r *http.Request) error {
	return h.setDisabled(w, r, false)
}

func (h *handler) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := h.svc.SetAccountDisabled(r.Context(), id, disabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newUserView(u))
	return nil
}
