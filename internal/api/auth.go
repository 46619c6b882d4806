package api

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/service"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login: POST /api/v1/login. The token is shown once; only its hash is
// stored.
func (h *handler) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	token, sess, err := h.svc.Login(r.Context(), req.Username, req.Password, service.SessionAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenView{Token: token, TokenType: "Bearer", ExpiresAt: timestamp(sess.ExpiresAt)})
	return nil
}

// logout: POST /api/v1/logout ends the session of the token used.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Logout(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// me: GET /api/v1/me.
func (h *handler) me(w http.ResponseWriter, r *http.Request) error {
	u, err := h.svc.Me(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newUserView(u))
	return nil
}

// myRecord: GET /api/v1/me/record, the patient portal: own demographics and
// released notes (signed versions only).
func (h *handler) myRecord(w http.ResponseWriter, r *http.Request) error {
	p, ns, err := h.svc.MyRecord(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recordView{Patient: newPatientView(p), Notes: mapSlice(ns, newNoteView)})
	return nil
}
