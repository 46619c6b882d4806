package api

import (
	"encoding/json"
	"net/http"

	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// Passkeys (WebAuthn) and recovery codes; see docs/API.md.

// ceremonyView is a begun ceremony: its id and the options for
// navigator.credentials.create or .get, as the WebAuthn library marshals
// them ({"publicKey": {...}}, binary fields base64url).
type ceremonyView struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

func newCeremonyView(c service.Ceremony) ceremonyView {
	return ceremonyView{Ceremony: c.ID, Options: c.Options}
}

type mfaTokenRequest struct {
	MFAToken string `json:"mfa_token"`
}

// ceremonyFinishRequest is the answer to a ceremony: its id and the
// browser's PublicKeyCredential as JSON (binary fields base64url, as
// PublicKeyCredential.toJSON() gives them).
type ceremonyFinishRequest struct {
	MFAToken   string          `json:"mfa_token"`
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

type recoveryLoginRequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

type passkeyView struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  *string `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	Synced     bool    `json:"synced"`
}

func newPasskeyView(p service.Passkey) passkeyView {
	return passkeyView{ID: p.ID, Name: p.Name, CreatedAt: timestamp(p.CreatedAt), LastUsedAt: timestamp(p.LastUsedAt), Synced: p.Synced}
}

// loginWebAuthnBegin: POST /api/v1/login/webauthn/begin {"mfa_token"?}.
// With an MFA token the passkey is the pending sign-in's second factor;
// without, a discoverable sign-in (no username) begins.
func (h *handler) loginWebAuthnBegin(w http.ResponseWriter, r *http.Request) error {
	var req mfaTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, err := h.svc.BeginPasskeyLogin(r.Context(), req.MFAToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCeremonyView(c))
	return nil
}

// loginWebAuthnFinish: POST /api/v1/login/webauthn/finish {"ceremony",
// "credential"} answers with a session token.
func (h *handler) loginWebAuthnFinish(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyFinishRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Ceremony == "" {
		return missing("ceremony")
	}
	res, err := h.svc.FinishPasskeyLogin(r.Context(), req.Ceremony, req.Credential, service.SessionAPI, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenView{Token: res.Token, TokenType: "Bearer", ExpiresAt: timestamp(res.Session.ExpiresAt)})
	return nil
}

// enrolWebAuthnBegin: POST /api/v1/login/webauthn/enrol/begin
// {"mfa_token"}: an account that must enrol a second factor (mfa_enrol)
// registers a passkey instead of an authenticator app.
func (h *handler) enrolWebAuthnBegin(w http.ResponseWriter, r *http.Request) error {
	var req mfaTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, err := h.svc.BeginPasskeyEnrolment(r.Context(), req.MFAToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCeremonyView(c))
	return nil
}

type enrolledView struct {
	tokenView
	RecoveryCodes []string `json:"recovery_codes"`
}

// enrolWebAuthnFinish: POST /api/v1/login/webauthn/enrol/finish
// {"mfa_token", "ceremony", "name", "credential"} stores the passkey and
// completes the sign-in: a session token and the ten recovery codes,
// shown once.
func (h *handler) enrolWebAuthnFinish(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyFinishRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Ceremony == "" {
		return missing("ceremony")
	}
	res, codes, err := h.svc.FinishPasskeyEnrolment(r.Context(), req.MFAToken, req.Ceremony, req.Name, req.Credential, service.SessionAPI, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrolledView{
		tokenView:     tokenView{Token: res.Token, TokenType: "Bearer", ExpiresAt: timestamp(res.Session.ExpiresAt)},
		RecoveryCodes: codes,
	})
	return nil
}

type recoveryLoginView struct {
	tokenView
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

// loginRecovery: POST /api/v1/login/recovery {"mfa_token", "code"}
// completes a sign-in with a recovery code (used up) and says how many
// remain.
func (h *handler) loginRecovery(w http.ResponseWriter, r *http.Request) error {
	var req recoveryLoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, left, err := h.svc.LoginRecovery(r.Context(), req.MFAToken, req.Code, service.SessionAPI, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recoveryLoginView{
		tokenView:         tokenView{Token: res.Token, TokenType: "Bearer", ExpiresAt: timestamp(res.Session.ExpiresAt)},
		RecoveryCodesLeft: left,
	})
	return nil
}

// registerWebAuthnBegin: POST /api/v1/me/webauthn/register/begin.
func (h *handler) registerWebAuthnBegin(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.BeginPasskeyRegistration(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCeremonyView(c))
	return nil
}

type passkeyAddedView struct {
	Passkey       passkeyView `json:"passkey"`
	RecoveryCodes []string    `json:"recovery_codes,omitempty"`
}

// registerWebAuthnFinish: POST /api/v1/me/webauthn/register/finish
// {"ceremony", "name", "credential"}: 201 with the passkey (and, for an
// account that had none, its ten recovery codes, shown once).
func (h *handler) registerWebAuthnFinish(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyFinishRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Ceremony == "" {
		return missing("ceremony")
	}
	added, err := h.svc.FinishPasskeyRegistration(r.Context(), req.Ceremony, req.Name, req.Credential)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, passkeyAddedView{Passkey: newPasskeyView(added.Passkey), RecoveryCodes: added.RecoveryCodes})
	return nil
}

// listWebAuthn: GET /api/v1/me/webauthn.
func (h *handler) listWebAuthn(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.ListPasskeys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": mapSlice(ps, newPasskeyView)})
	return nil
}

// deleteWebAuthn: DELETE /api/v1/me/webauthn/{id}.
func (h *handler) deleteWebAuthn(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.svc.RemovePasskey(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stepUpWebAuthnBegin: POST /api/v1/me/step-up/webauthn/begin.
func (h *handler) stepUpWebAuthnBegin(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.BeginStepUpPasskey(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCeremonyView(c))
	return nil
}

// stepUpWebAuthnFinish: POST /api/v1/me/step-up/webauthn/finish
// {"ceremony", "credential"}: 204; the next step-up of this session within
// five minutes may then send an empty code.
func (h *handler) stepUpWebAuthnFinish(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyFinishRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Ceremony == "" {
		return missing("ceremony")
	}
	if err := h.svc.FinishStepUpPasskey(r.Context(), req.Ceremony, req.Credential); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerateRecoveryCodes: POST /api/v1/me/recovery-codes {"code"}: ten
// new recovery codes, shown once (the old ones stop working); code is the
// step-up.
func (h *handler) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	var req stepUpRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	codes, err := h.svc.RegenerateRecoveryCodes(r.Context(), req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

// recoveryCodesStatus: GET /api/v1/me/recovery-codes.
func (h *handler) recoveryCodesStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := h.svc.RecoveryCodesLeft(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"total": st.Total, "left": st.Left})
	return nil
}
