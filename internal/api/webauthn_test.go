package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

type ceremonyBody struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

// passkeyStaff makes a staff account by invitation, accepts it through the
// API and enrols a passkey in the sign-in that follows, and returns the
// session token and the recovery codes.
func passkeyStaff(t *testing.T, e *env, name string, auth *testfix.Authenticator) (confidant.User, string, []string) {
	t.Helper()
	inv, err := e.Service.OperatorInviteUser(t.Context(), service.StaffInput{
		Username: name, DisplayName: name, Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := inv.User
	var mfa mfaBody
	e.call(t, http.StatusOK, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": inv.Code, "password": testfix.Password}).decode(t, &mfa)
	if !mfa.MFAEnrol || mfa.MFAToken == "" {
		t.Fatal("accepting a staff invitation does not start an enrolment")
	}
	var c ceremonyBody
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/enrol/begin", "", map[string]string{"mfa_token": mfa.MFAToken}).decode(t, &c)
	var done struct {
		Token         string   `json:"token"`
		RecoveryCodes []string `json:"recovery_codes"`
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/enrol/finish", "", map[string]any{
		"mfa_token": mfa.MFAToken, "ceremony": c.Ceremony, "name": "Security key", "credential": json.RawMessage(auth.Create(t, c.Options)),
	}).decode(t, &done)
	if done.Token == "" || len(done.RecoveryCodes) != 10 {
		t.Fatalf("enrolment: %+v", done)
	}
	return u, done.Token, done.RecoveryCodes
}

type mfaBody struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	MFAEnrol    bool   `json:"mfa_enrol"`
	Token       string `json:"token"`
}

func passwordStep(t *testing.T, e *env, name string) mfaBody {
	t.Helper()
	var m mfaBody
	e.call(t, http.StatusOK, "POST", "/api/v1/login", "", map[string]string{"username": name, "password": testfix.Password}).decode(t, &m)
	if !m.MFARequired || m.MFAToken == "" || m.Token != "" {
		t.Fatalf("password step of %s: %+v", name, m)
	}
	return m
}

func TestAPIPasskeys(t *testing.T) {
	e := newEnv(t)
	auth := testfix.NewAuthenticator("http://localhost:8080")
	u, token, codes := passkeyStaff(t, e, "keyholder", auth)

	// List, and the last factor of a staff account is kept.
	var list struct {
		Passkeys []struct {
			ID, Name string
		} `json:"passkeys"`
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/me/webauthn", token, nil).decode(t, &list)
	if len(list.Passkeys) != 1 || list.Passkeys[0].Name != "Security key" {
		t.Fatalf("list: %+v", list)
	}
	res := e.call(t, http.StatusConflict, "DELETE", "/api/v1/me/webauthn/"+list.Passkeys[0].ID, token, nil)
	if c := res.errorOf(t).Error.Code; c != "last_second_factor" {
		t.Fatalf("removing the last factor: %s", c)
	}
	e.call(t, http.StatusNotFound, "DELETE", "/api/v1/me/webauthn/"+confidant.NewID(), token, nil)

	// Second factor after the password.
	mfa := passwordStep(t, e, u.Username)
	var c ceremonyBody
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/begin", "", map[string]string{"mfa_token": mfa.MFAToken}).decode(t, &c)
	if !strings.Contains(string(c.Options), `"allowCredentials"`) {
		t.Errorf("second-factor options without the account's credentials: %s", c.Options)
	}
	var tok struct{ Token string }
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/finish", "", map[string]any{
		"ceremony": c.Ceremony, "credential": json.RawMessage(auth.Get(t, c.Options)),
	}).decode(t, &tok)
	e.call(t, http.StatusOK, "GET", "/api/v1/me", tok.Token, nil)

	// Discoverable: no username.
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/begin", "", map[string]string{}).decode(t, &c)
	answer := auth.Get(t, c.Options)
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/finish", "", map[string]any{
		"ceremony": c.Ceremony, "credential": json.RawMessage(answer),
	}).decode(t, &tok)
	var me struct{ ID string }
	e.call(t, http.StatusOK, "GET", "/api/v1/me", tok.Token, nil).decode(t, &me)
	if me.ID != u.ID {
		t.Fatalf("discoverable sign-in as %s, want %s", me.ID, u.ID)
	}
	// Replayed: the ceremony is gone.
	res = e.call(t, http.StatusUnauthorized, "POST", "/api/v1/login/webauthn/finish", "", map[string]any{
		"ceremony": c.Ceremony, "credential": json.RawMessage(answer),
	})
	if c := res.errorOf(t).Error.Code; c != "ceremony_invalid" {
		t.Fatalf("replay: %s", c)
	}
	// Malformed answers are 400 (not 500), and name no value.
	e.call(t, http.StatusOK, "POST", "/api/v1/login/webauthn/begin", "", map[string]string{}).decode(t, &c)
	for _, bad := range []any{"garbage", map[string]any{"id": 5}, nil, []int{1}} {
		res = e.call(t, http.StatusBadRequest, "POST", "/api/v1/login/webauthn/finish", "", map[string]any{"ceremony": c.Ceremony, "credential": bad})
		if code := res.errorOf(t).Error.Code; code != "invalid_credential" && code != "malformed_json" {
			t.Errorf("credential %v: %s", bad, code)
		}
	}
	e.call(t, http.StatusBadRequest, "POST", "/api/v1/login/webauthn/finish", "", map[string]any{"credential": json.RawMessage(answer)})

	// Step-up with the passkey, then regenerate the recovery codes.
	res = e.call(t, http.StatusBadRequest, "POST", "/api/v1/me/recovery-codes", token, map[string]string{"code": ""})
	if code := res.errorOf(t).Error.Code; code != "second_factor_required" {
		t.Fatalf("regenerate without a step-up: %s", code)
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/me/step-up/webauthn/begin", token, nil).decode(t, &c)
	e.call(t, http.StatusNoContent, "POST", "/api/v1/me/step-up/webauthn/finish", token, map[string]any{
		"ceremony": c.Ceremony, "credential": json.RawMessage(auth.Get(t, c.Options)),
	})
	var fresh struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/me/recovery-codes", token, map[string]string{"code": ""}).decode(t, &fresh)
	if len(fresh.RecoveryCodes) != 10 || fresh.RecoveryCodes[0] == codes[0] {
		t.Fatalf("regenerated: %v", fresh.RecoveryCodes)
	}
	if strings.Contains(e.log.String(), fresh.RecoveryCodes[0]) || strings.Contains(e.log.String(), codes[0]) {
		t.Error("a recovery code in the server log")
	}
}

func TestAPIRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	u, _, codes := passkeyStaff(t, e, "recovering", testfix.NewAuthenticator("http://localhost:8080"))

	// Accepted once, with the number left.
	mfa := passwordStep(t, e, u.Username)
	var got struct {
		Token string `json:"token"`
		Left  int    `json:"recovery_codes_left"`
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/login/recovery", "", map[string]string{"mfa_token": mfa.MFAToken, "code": codes[0]}).decode(t, &got)
	if got.Token == "" || got.Left != 9 {
		t.Fatalf("recovery sign-in: %+v", got)
	}
	e.call(t, http.StatusOK, "GET", "/api/v1/me", got.Token, nil)
	var st struct{ Total, Left int }
	e.call(t, http.StatusOK, "GET", "/api/v1/me/recovery-codes", got.Token, nil).decode(t, &st)
	if st.Total != 10 || st.Left != 9 {
		t.Fatalf("status %+v", st)
	}

	// Used again, or wrong: 401; the fourth try from that client is 429
	// with Retry-After, even with a right code.
	mfa = passwordStep(t, e, u.Username)
	const attacker = "198.51.100.9:4444"
	try := func(code string) response {
		return e.do(t, req{Method: "POST", Path: "/api/v1/login/recovery", RemoteAddr: attacker,
			Body: map[string]string{"mfa_token": mfa.MFAToken, "code": code}})
	}
	for _, code := range []string{codes[0], "ZZZZZ-ZZZZZ", "12345"} {
		res := try(code)
		if res.Code != http.StatusUnauthorized || res.errorOf(t).Error.Code != "recovery_code_invalid" {
			t.Fatalf("code %d: %d %s", len(code), res.Code, res.Body)
		}
	}
	res := try(codes[1])
	if res.Code != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled: %d %s", res.Code, res.Body)
	}
	// The real user's client is not slowed down and the right code works.
	mfa = passwordStep(t, e, u.Username)
	e.call(t, http.StatusOK, "POST", "/api/v1/login/recovery", "", map[string]string{"mfa_token": mfa.MFAToken, "code": codes[1]}).decode(t, &got)
	if got.Left != 8 {
		t.Fatalf("left %d, want 8", got.Left)
	}
	for _, c := range codes {
		if strings.Contains(e.log.String(), c) {
			t.Fatal("a recovery code in the server log")
		}
	}
}

// FuzzCredentialJSON feeds arbitrary bytes to the decoding of a ceremony's
// answer: the request body's decoder and the WebAuthn parsers of both
// ceremonies. Anything that is not an answer is a 400 error, never a panic
// or a 500.
func FuzzCredentialJSON(f *testing.F) {
	a := testfix.NewAuthenticator("http://localhost:8080")
	reg := a.Create(f, []byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`))
	get := a.Get(f, []byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","rpId":"localhost"}}`))
	for _, seed := range [][]byte{reg, get, []byte(`{}`), []byte(`null`), []byte(`{"id":"","rawId":"","type":"public-key","response":{}}`),
		[]byte(`{"ceremony":"x","credential":{"response":{"clientDataJSON":"e30"}}}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r ceremonyFinishRequest
		if err := decodeJSON(strings.NewReader(string(data)), &r); err != nil && !isClientError(err) {
			t.Fatalf("decode: %v is not a client error", err)
		}
		for _, parse := range []func([]byte) error{
			func(b []byte) error { _, err := service.ParseAssertion(b); return err },
			func(b []byte) error { _, err := service.ParseAttestation(b); return err },
		} {
			if err := parse(data); err != nil && confidant.KindOf(err) != confidant.KindInvalid {
				t.Fatalf("parse: %v, want invalid", err)
			}
		}
	})
}

func isClientError(err error) bool {
	switch confidant.KindOf(err) {
	case confidant.KindInvalid, confidant.KindTooLarge, confidant.KindUnsupported:
		return true
	}
	return false
}
