package api

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// mfaView is the answer to a correct password for an account that signs in
// with a second factor: no session yet, only the token of the pending
// sign-in.
type mfaView struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	MFAEnrol    bool   `json:"mfa_enrol,omitempty"`
}

// login: POST /api/v1/login. The token is shown once; only its hash is
// stored. An account with a second factor (every staff account) gets an
// MFA token instead, for POST /api/v1/login/totp.
func (h *handler) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := h.svc.Login(r.Context(), req.Username, req.Password, service.SessionAPI)
	if err != nil {
		return err
	}
	if res.MFARequired() {
		writeJSON(w, http.StatusOK, mfaView{MFARequired: true, MFAToken: res.MFAToken, MFAEnrol: res.MFAEnrol})
		return nil
	}
	writeJSON(w, http.StatusOK, tokenView{Token: res.Token, TokenType: "Bearer", ExpiresAt: timestamp(res.Session.ExpiresAt)})
	return nil
}

type totpLoginRequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

// loginTOTP: POST /api/v1/login/totp completes a sign-in with a TOTP code.
func (h *handler) loginTOTP(w http.ResponseWriter, r *http.Request) error {
	var req totpLoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := h.svc.LoginTOTP(r.Context(), req.MFAToken, req.Code, service.SessionAPI, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	tv := tokenView{Token: res.Token, TokenType: "Bearer", ExpiresAt: timestamp(res.Session.ExpiresAt)}
	if len(res.RecoveryCodes) > 0 {
		// The first code of a new authenticator app: the account's
		// recovery codes, shown once.
		writeJSON(w, http.StatusOK, enrolledView{tokenView: tv, RecoveryCodes: res.RecoveryCodes})
		return nil
	}
	writeJSON(w, http.StatusOK, tv)
	return nil
}

type totpEnrolRequest struct {
	MFAToken string `json:"mfa_token"`
}

type totpEnrolView struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// enrolTOTP: POST /api/v1/login/totp/enrol hands an account that must enrol
// a second factor its new TOTP secret, once.
func (h *handler) enrolTOTP(w http.ResponseWriter, r *http.Request) error {
	var req totpEnrolRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := h.svc.BeginTOTPEnrolment(r.Context(), req.MFAToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpEnrolView{Secret: e.Secret, URI: e.URI})
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

// changePasswordRequest is the body of POST /api/v1/me/password.
type changePasswordRequest struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// changePassword: POST /api/v1/me/password {"current_password",
// "new_password"} sets the signed-in user's own password. Every session of
// the account ends, this one too: sign in again with the new password (and
// the second factor).
func (h *handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req changePasswordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(r.Context(), req.Current, req.New); err != nil {
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
