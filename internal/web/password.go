package web

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
)

// passwordView is the page where users change their own password.
type passwordView struct {
	page
	Staff bool // signs in with a second factor
}

func (s *server) newPasswordView(r *http.Request) *passwordView {
	v := &passwordView{page: s.page(r, "Change your password")}
	v.Staff = v.Me != nil && v.Me.Role.Staff()
	return v
}

// GET /password
func (s *server) passwordForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "password", s.newPasswordView(r))
}

// POST /password changes the signed-in user's password; every session of
// the account ends, so the user signs in again.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	v := s.newPasswordView(r)
	next := r.PostForm.Get("password")
	if next != r.PostForm.Get("password2") {
		v.Error = "The two new passwords differ."
		s.render(w, r, http.StatusBadRequest, "password", v)
		return
	}
	if err := s.svc.ChangePassword(r.Context(), r.PostForm.Get("current"), next); err != nil {
		if confidant.KindOf(err) != confidant.KindInvalid {
			s.fail(w, r, err)
			return
		}
		httpx.LogError(s.log, r, err)
		v.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "password", v)
		return
	}
	s.clearCookie(w)
	redirect(w, r, "/login", "password-changed")
}
