package web

import (
	"net/http"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The security officer's pages: accounts and their state. No clinical
// content, no patient data.

type accountsView struct {
	page
	Accounts    []confidant.User
	ClinicNames map[string]string
	MyID        string
	Now         time.Time
	// Awaiting lists therapist accounts awaiting approval.
	Awaiting     []confidant.User
	InviterNames map[string]string
}

func (s *server) accounts(w http.ResponseWriter, r *http.Request) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if a.Role != confidant.RoleSecurity {
		s.fail(w, r, confidant.ErrPermission)
		return
	}
	us, err := s.svc.Staff(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.svc.Clinics(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &accountsView{page: s.page(r, "Accounts"), Accounts: us, ClinicNames: map[string]string{}, MyID: a.UserID, Now: s.now()}
	v.Section = "accounts"
	for _, c := range cs {
		v.ClinicNames[c.ID] = c.Name
	}
	if v.Awaiting, err = s.svc.AccountsAwaitingApproval(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]string, 0, len(v.Awaiting))
	for _, u := range v.Awaiting {
		ids = append(ids, u.InvitedBy)
	}
	if v.InviterNames, err = s.svc.UserNames(r.Context(), ids); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "accounts", v)
}

// POST /accounts/{id}/reset: a security officer forces a reset (a new
// invitation to the account's own address, a new second factor).
func (s *server) resetAccount(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if _, err := s.svc.ResetAccount(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/accounts", "account-reset")
}

// POST /accounts/{id}/approve: a security officer approves a therapist
// account.
func (s *server) approveAccount(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if _, err := s.svc.ApproveAccount(r.Context(), r.PathValue("id"), r.PostForm.Get("code")); err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/accounts", "account-approved")
}

func (s *server) setAccountDisabled(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	disable := r.PostForm.Get("disabled") == "1"
	if _, err := s.svc.SetAccountDisabled(r.Context(), r.PathValue("id"), disable); err != nil {
		s.fail(w, r, err)
		return
	}
	done := "account-enabled"
	if disable {
		done = "account-disabled"
	}
	redirect(w, r, "/accounts", done)
}

type throttledView struct {
	page
	Accounts []service.ThrottledAccount
	Now      time.Time
}

// throttled: GET /accounts/throttled lists the accounts with failed
// sign-ins counted against them (security officers).
func (s *server) throttled(w http.ResponseWriter, r *http.Request) {
	as, err := s.svc.ListThrottled(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &throttledView{page: s.page(r, "Throttled sign-ins"), Accounts: as, Now: s.now()}
	v.Section = "throttled"
	s.render(w, r, http.StatusOK, "throttled", v)
}

// clearThrottle: POST /accounts/throttled/{id}/clear.
func (s *server) clearThrottle(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.svc.ClearThrottle(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/accounts/throttled", "throttle-cleared")
}
