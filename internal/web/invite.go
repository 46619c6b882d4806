package web

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// The invitation page: the invitee sets their own password. The link in
// the invitation carries the code in its fragment (#...), which the
// browser never sends: app.js copies it into the form, or the invitee
// types it.

type inviteView struct {
	page
}

// GET /invite
func (s *server) inviteForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "invite", &inviteView{page: s.page(r, "Set your password")})
}

// POST /invite
func (s *server) acceptInvite(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	v := &inviteView{page: s.page(r, "Set your password")}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		v.Error = "The two passwords differ."
		s.render(w, r, http.StatusBadRequest, "invite", v)
		return
	}
	_, res, err := s.svc.AcceptInvitationSignIn(r.Context(), r.PostForm.Get("code"), pw)
	if err != nil {
		httpx.LogError(s.log, r, err)
		v.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "invite", v)
		return
	}
	if res.MFARequired() {
		// Staff set up their second factor now, in the pending sign-in the
		// invitation started (the only place where one can be set up).
		s.setMFACookie(w, res.MFAToken, service.MFAEnrolLife)
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
		return
	}
	redirect(w, r, "/login", "password-set")
}
