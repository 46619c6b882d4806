package api

import (
	"net/http"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// The two ways a clinic manager could give themselves clinical access, and
// what now stops each.
func TestManagerCannotGrantThemselvesAccess(t *testing.T) {
	e := newEnv(t)
	mgr := e.login(t, "manager")
	sec := e.login(t, "security")

	t.Run("therapist account with a chosen password", func(t *testing.T) {
		pw := testfix.Password
		e.call(t, http.StatusBadRequest, "POST", "/api/v1/staff", mgr, staffRequest{
			Username: "sock.puppet", DisplayName: "Sock Puppet", Role: "therapist",
			ClinicIDs: []string{e.ClinicA.ID}, Email: "puppet@example.org", Password: &pw,
		}).wantCode(t, "password_not_accepted")

		// By invitation: the manager holds the invitation (say, their own
		// address), sets the password, assigns care and signs in...
		var u userView
		e.call(t, http.StatusCreated, "POST", "/api/v1/staff", mgr, staffRequest{
			Username: "sock.puppet", DisplayName: "Sock Puppet", Role: "therapist",
			ClinicIDs: []string{e.ClinicA.ID}, Email: "puppet@example.org",
		}).decode(t, &u)
		code := e.Mail.InvitationCode(t, "puppet@example.org")
		puppet := e.accept(t, code, "sock.puppet")
		e.call(t, http.StatusBadRequest, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": code, "password": testfix.Password}).
			wantCode(t, "invitation_invalid")
		e.call(t, http.StatusCreated, "POST", "/api/v1/care", mgr, careRequest{PatientID: e.PatientC.ID, TherapistID: u.ID})
		// ...but reads nothing until a security officer approves.
		e.call(t, http.StatusNotFound, "GET", "/api/v1/patients/"+e.PatientC.ID+"/chart", puppet, nil)
		e.call(t, http.StatusForbidden, "GET", "/api/v1/patients", puppet, nil).wantCode(t, "awaiting_approval")
		// The manager cannot approve it.
		e.call(t, http.StatusForbidden, "POST", "/api/v1/accounts/"+u.ID+"/approve", mgr, nil)
		var waiting staffView
		e.call(t, http.StatusOK, "GET", "/api/v1/accounts/awaiting-approval", sec, nil).decode(t, &waiting)
		if len(waiting.Staff) != 1 || waiting.Staff[0].ID != u.ID {
			t.Fatalf("awaiting approval: %+v", waiting)
		}
		// A security officer can; then the chart opens.
		// Approving asks for the officer's second factor again (step-up).
		e.call(t, http.StatusBadRequest, "POST", "/api/v1/accounts/"+u.ID+"/approve", sec, nil).wantCode(t, "second_factor_required")
		e.call(t, http.StatusBadRequest, "POST", "/api/v1/accounts/"+u.ID+"/approve", sec, stepUpRequest{Code: "000000"}).wantCode(t, "second_factor_invalid")
		e.call(t, http.StatusOK, "POST", "/api/v1/accounts/"+u.ID+"/approve", sec, stepUpRequest{Code: testfix.Code(t, e.secretOf(t, "security"))}).decode(t, &u)
		if u.AwaitingApproval || u.ApprovedBy != e.Security.ID {
			t.Errorf("approved: %+v", u)
		}
		e.call(t, http.StatusConflict, "POST", "/api/v1/accounts/"+u.ID+"/approve", sec, nil).wantCode(t, "already_approved")
		e.call(t, http.StatusOK, "GET", "/api/v1/patients/"+e.PatientC.ID+"/chart", puppet, nil)
	})

	t.Run("patient account with a chosen password", func(t *testing.T) {
		pw := testfix.Password
		e.call(t, http.StatusBadRequest, "POST", "/api/v1/patients/"+e.PatientA.ID+"/account", mgr,
			accountRequest{Username: "aino2", Handover: true, Password: &pw}).wantCode(t, "password_not_accepted")
		// PatientA has a portal account already: a second one is refused.
		e.call(t, http.StatusConflict, "POST", "/api/v1/patients/"+e.PatientA.ID+"/account", mgr,
			accountRequest{Username: "aino2", Handover: true}).wantCode(t, "patient_has_account")
		// PatientC gets one, by a hand-over code shown once.
		var inv invitedView
		e.call(t, http.StatusCreated, "POST", "/api/v1/patients/"+e.PatientC.ID+"/account", mgr,
			accountRequest{Username: "cecilia", Handover: true}).decode(t, &inv)
		if inv.HandoverCode == "" || inv.InvitationExpiresAt == nil || inv.PatientID != e.PatientC.ID {
			t.Fatalf("invited: %+v", inv)
		}
		e.call(t, http.StatusOK, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": inv.HandoverCode, "password": testfix.Password})
		e.call(t, http.StatusConflict, "POST", "/api/v1/patients/"+e.PatientC.ID+"/account", mgr,
			accountRequest{Username: "cecilia2", Email: "c@example.org"}).wantCode(t, "patient_has_account")
		// The patient sees the account's creation and the refused second one.
		pc := e.login(t, "cecilia")
		var log accessLogView
		e.call(t, http.StatusOK, "GET", "/api/v1/me/access-log", pc, nil).decode(t, &log)
		seen := map[string]int{}
		for _, ev := range log.Events {
			seen[ev.Action+"/"+ev.Outcome]++
		}
		for _, want := range []string{"account.create/ok", "account.invitation.send/ok", "account.invitation.accept/ok", "account.create/denied"} {
			if seen[want] == 0 {
				t.Errorf("patient's access log lacks %s: %v", want, seen)
			}
		}
	})
}

// wantCode checks the error code of an error answer.
func (r response) wantCode(t *testing.T, code string) {
	t.Helper()
	if got := r.errorOf(t).Error.Code; got != code {
		t.Errorf("error code %q, want %q", got, code)
	}
}
