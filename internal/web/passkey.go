package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// Passkeys and recovery codes in the web app. WebAuthn needs JavaScript
// (static/passkey.js): its ceremonies are small JSON endpoints that the
// script calls with fetch from the same origin (net/http's
// CrossOriginProtection, in httpx.Secure, refuses other origins), with the
// session or pending sign-in in its cookie as for forms. Everything else
// (recovery codes, removing a passkey) is plain forms.

// maxPasskeyJSON bounds the JSON body of a ceremony request.
const maxPasskeyJSON = service.MaxCredentialJSON + 4<<10

// passkeyRequest is the body the script posts.
type passkeyRequest struct {
	SecondFactor bool            `json:"second_factor"` // sign-in: the pending sign-in's second factor (else discoverable)
	Ceremony     string          `json:"ceremony"`
	Name         string          `json:"name"`
	Next         string          `json:"next"`
	Credential   json.RawMessage `json:"credential"`
}

// readPasskeyJSON decodes the script's request.
func readPasskeyJSON(w http.ResponseWriter, r *http.Request) (passkeyRequest, error) {
	var req passkeyRequest
	if r.Header.Get("Content-Type") != "application/json" {
		return req, confidant.Errorf(confidant.KindUnsupported, "unsupported_media_type", "Send JSON.")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPasskeyJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return req, confidant.Errorf(confidant.KindTooLarge, "too_large", "The request is too large.")
		}
		return req, invalid("malformed_json", "The request could not be read.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, invalid("malformed_json", "The request could not be read.")
	}
	return req, nil
}

// passkeyJSON answers the script.
func passkeyJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// passkeyFail answers the script with the error's message (never a value
// sent), its status and, for throttling, Retry-After.
func (s *server) passkeyFail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.LogError(s.log, r, err)
	setRetryAfter(w, err)
	passkeyJSON(w, httpx.Status(err), map[string]string{"error": confidant.MessageOf(err), "code": confidant.CodeOf(err)})
}

type ceremonyJSON struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

// passkeyLoginBegin: POST /login/passkey/begin, a discoverable sign-in or
// (second_factor) the pending sign-in's second factor.
func (s *server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	req, err := readPasskeyJSON(w, r)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	tok := ""
	if req.SecondFactor {
		if tok = s.mfaToken(r); tok == "" {
			s.passkeyFail(w, r, confidant.Errorf(confidant.KindUnauthenticated, "mfa_expired", "Your sign-in has expired. Please sign in again."))
			return
		}
	}
	c, err := s.svc.BeginPasskeyLogin(r.Context(), tok)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, ceremonyJSON{Ceremony: c.ID, Options: c.Options})
}

// passkeyLoginFinish: POST /login/passkey/finish signs in: the session
// cookie is set, and the script goes where the answer says.
func (s *server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	req, err := readPasskeyJSON(w, r)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	res, err := s.svc.FinishPasskeyLogin(r.Context(), req.Ceremony, req.Credential, service.SessionWeb, httpx.ClientAddr(r))
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	if old := s.token(r); old != "" {
		s.endSession(r, old)
	}
	s.clearMFACookie(w)
	s.setCookie(w, res.Token)
	passkeyJSON(w, http.StatusOK, map[string]string{"redirect": safeNext(req.Next)})
}

// passkeyEnrolBegin: POST /login/passkey/enrol/begin, a first sign-in
// registers a passkey as its second factor.
func (s *server) passkeyEnrolBegin(w http.ResponseWriter, r *http.Request) {
	if _, err := readPasskeyJSON(w, r); err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	c, err := s.svc.BeginPasskeyEnrolment(r.Context(), s.mfaToken(r))
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, ceremonyJSON{Ceremony: c.ID, Options: c.Options})
}

// passkeyEnrolFinish: POST /login/passkey/enrol/finish stores the passkey
// and signs in; the answer carries the recovery codes, which the script
// shows once.
func (s *server) passkeyEnrolFinish(w http.ResponseWriter, r *http.Request) {
	req, err := readPasskeyJSON(w, r)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	res, codes, err := s.svc.FinishPasskeyEnrolment(r.Context(), s.mfaToken(r), req.Ceremony, req.Name, req.Credential, service.SessionWeb, httpx.ClientAddr(r))
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	s.clearMFACookie(w)
	s.setCookie(w, res.Token)
	passkeyJSON(w, http.StatusOK, map[string]any{"redirect": safeNext(req.Next), "recovery_codes": codes})
}

// passkeyRegisterBegin: POST /account/passkeys/begin (signed in).
func (s *server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	if _, err := readPasskeyJSON(w, r); err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	c, err := s.svc.BeginPasskeyRegistration(r.Context())
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, ceremonyJSON{Ceremony: c.ID, Options: c.Options})
}

// passkeyRegisterFinish: POST /account/passkeys/finish stores the passkey;
// for an account without recovery codes the answer carries its new ones.
func (s *server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	req, err := readPasskeyJSON(w, r)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	added, err := s.svc.FinishPasskeyRegistration(r.Context(), req.Ceremony, req.Name, req.Credential)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, map[string]any{"redirect": "/account/sign-in?done=passkey-added", "recovery_codes": added.RecoveryCodes})
}

// stepUpBegin: POST /account/step-up/begin (signed in).
func (s *server) stepUpBegin(w http.ResponseWriter, r *http.Request) {
	if _, err := readPasskeyJSON(w, r); err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	c, err := s.svc.BeginStepUpPasskey(r.Context())
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, ceremonyJSON{Ceremony: c.ID, Options: c.Options})
}

// stepUpFinish: POST /account/step-up/finish; the script then submits the
// form of the sensitive action with an empty code.
func (s *server) stepUpFinish(w http.ResponseWriter, r *http.Request) {
	req, err := readPasskeyJSON(w, r)
	if err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	if err := s.svc.FinishStepUpPasskey(r.Context(), req.Ceremony, req.Credential); err != nil {
		s.passkeyFail(w, r, err)
		return
	}
	passkeyJSON(w, http.StatusOK, map[string]string{})
}

// signInMethodsView is the "Sign-in methods" page.
type signInMethodsView struct {
	page
	Passkeys      []service.Passkey
	Recovery      service.RecoveryStatus
	RecoveryCodes []string // new codes, shown once
}

func (s *server) newSignInMethodsView(r *http.Request) (*signInMethodsView, error) {
	v := &signInMethodsView{page: s.page(r, "Sign-in methods")}
	var err error
	if v.Passkeys, err = s.svc.ListPasskeys(r.Context()); err != nil {
		return nil, err
	}
	if v.Recovery, err = s.svc.RecoveryCodesLeft(r.Context()); err != nil {
		return nil, err
	}
	return v, nil
}

// signInMethods: GET /account/sign-in lists passkeys and recovery codes.
func (s *server) signInMethods(w http.ResponseWriter, r *http.Request) {
	v, err := s.newSignInMethodsView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "sign-in-methods", v)
}

// removePasskey: POST /account/passkeys/{id}/remove.
func (s *server) removePasskey(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.svc.RemovePasskey(r.Context(), r.PathValue("id")); err != nil {
		if confidant.CodeOf(err) == "last_second_factor" {
			v, verr := s.newSignInMethodsView(r)
			if verr != nil {
				s.fail(w, r, verr)
				return
			}
			v.Error = confidant.MessageOf(err)
			s.render(w, r, httpx.Status(err), "sign-in-methods", v)
			return
		}
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/account/sign-in", "passkey-removed")
}

// regenerateRecoveryCodes: POST /account/recovery-codes {code} makes ten
// new codes (the old ones stop working) and shows them once.
func (s *server) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), r.PostForm.Get("code"))
	v, verr := s.newSignInMethodsView(r)
	if verr != nil {
		s.fail(w, r, verr)
		return
	}
	if err != nil {
		httpx.LogError(s.log, r, err)
		setRetryAfter(w, err)
		v.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "sign-in-methods", v)
		return
	}
	v.RecoveryCodes = codes
	s.render(w, r, http.StatusOK, "sign-in-methods", v)
}

// recoveryCodesView shows new recovery codes once, after a sign-in that
// confirmed the account's first authenticator app.
type recoveryCodesView struct {
	page
	Codes []string
	Next  string
}

// recoveryUsedView tells who signed in with a recovery code how many
// remain.
type recoveryUsedView struct {
	page
	Left int
	Next string
}

// loginRecovery: POST /login/recovery completes the sign-in with a
// recovery code.
func (s *server) loginRecovery(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	v := s.newTOTPView(r, r.PostForm.Get("next"))
	tok := s.mfaToken(r)
	res, left, err := s.svc.LoginRecovery(r.Context(), tok, r.PostForm.Get("recovery_code"), service.SessionWeb, httpx.ClientAddr(r))
	if err != nil {
		v.RecoveryOpen = true
		s.secondFactorFailed(w, r, v, tok, err)
		return
	}
	s.clearMFACookie(w)
	s.setCookie(w, res.Token)
	s.render(w, r, http.StatusOK, "recovery-used", &recoveryUsedView{page: s.page(r, "Signed in"), Left: left, Next: cmp.Or(v.Next, "/")})
}
