package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// loginAnswer is every field POST /api/v1/login may answer with.
type loginAnswer struct {
	Token       *string `json:"token"`
	MFARequired bool    `json:"mfa_required"`
	MFAToken    string  `json:"mfa_token"`
	MFAEnrol    bool    `json:"mfa_enrol"`
}

func (e *env) password(t *testing.T, username string) loginAnswer {
	t.Helper()
	var a loginAnswer
	e.call(t, http.StatusOK, "POST", "/api/v1/login", "", loginRequest{Username: username, Password: testfix.Password}).decode(t, &a)
	return a
}

func wantError(t *testing.T, res response, status int, code string) {
	t.Helper()
	var b errorBody
	res.decode(t, &b)
	if res.Code != status || b.Error.Code != code {
		t.Fatalf("status %d code %q, want %d %q: %s", res.Code, b.Error.Code, status, code, res.Body)
	}
}

func TestLoginTOTPEndpoints(t *testing.T) {
	e := newEnv(t)
	secret := e.TOTPSecret(e.Therapist)

	// A staff account gets an MFA challenge and no token.
	a := e.password(t, "therapist")
	if !a.MFARequired || a.MFAToken == "" || a.Token != nil || a.MFAEnrol {
		t.Fatalf("password of an enrolled therapist: %+v", a)
	}
	// The MFA token is no bearer token.
	e.call(t, 401, "GET", "/api/v1/me", a.MFAToken, nil)

	// Wrong, malformed and missing codes: 401 totp_invalid (sent from
	// another client address, which they get throttled: TestThrottleAPI).
	old := testfix.CodeAt(t, secret, testfix.Step(time.Now())-10) // long out of the drift
	for _, code := range []string{old, "abc", ""} {
		wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: a.MFAToken, Code: code}, RemoteAddr: "203.0.113.1:4000"}), 401, "totp_invalid")
	}
	// The right code gives a token as POST /login does.
	code := testfix.Code(t, secret)
	var tok tokenView
	e.call(t, 200, "POST", "/api/v1/login/totp", "", totpLoginRequest{MFAToken: a.MFAToken, Code: code}).decode(t, &tok)
	if tok.Token == "" || tok.TokenType != "Bearer" || tok.ExpiresAt == nil {
		t.Fatalf("token answer: %+v", tok)
	}
	var me userView
	e.call(t, 200, "GET", "/api/v1/me", tok.Token, nil).decode(t, &me)
	if me.ID != e.Therapist.ID {
		t.Fatalf("me: %+v", me)
	}
	// The same code again, with a new password step: refused.
	a = e.password(t, "therapist")
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: a.MFAToken, Code: code}}), 401, "totp_invalid")
	// Unknown and used-up MFA tokens.
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: "nonsense", Code: code}}), 401, "mfa_expired")
	e.call(t, 200, "POST", "/api/v1/login/totp", "", totpLoginRequest{MFAToken: a.MFAToken, Code: testfix.Code(t, secret)})
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: a.MFAToken, Code: "000000"}}), 401, "mfa_expired")
	// Strict decoding.
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: `{"mfa_token":"x","code":"1","extra":1}`}), 400, "unknown_field")

	// An enrolled account cannot enrol again.
	a = e.password(t, "manager")
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp/enrol", Body: totpEnrolRequest{MFAToken: a.MFAToken}}), 409, "totp_enrolled")
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp/enrol", Body: totpEnrolRequest{MFAToken: "nonsense"}}), 401, "mfa_expired")

	// A patient without a second factor signs in as before.
	var pat loginAnswer
	e.call(t, 200, "POST", "/api/v1/login", "", loginRequest{Username: "aino", Password: testfix.Password}).decode(t, &pat)
	if pat.MFARequired || pat.Token == nil || *pat.Token == "" {
		t.Fatalf("patient: %+v", pat)
	}

	// Nothing secret in the log.
	for _, s := range []string{secret, code, a.MFAToken, tok.Token} {
		if strings.Contains(e.log.String(), s) {
			t.Fatal("a secret, code or token is in the log")
		}
	}
}

func TestLoginTOTPEnrolEndpoint(t *testing.T) {
	e := newEnv(t)
	inv, err := e.Service.OperatorInviteUser(t.Context(), service.StaffInput{
		Username: "newcomer", DisplayName: "New Comer", Role: confidant.RoleSecurity,
	})
	if err != nil {
		t.Fatal(err)
	}
	u := inv.User
	var a struct {
		ID       string `json:"id"`
		MFAToken string `json:"mfa_token"`
		MFAEnrol bool   `json:"mfa_enrol"`
		Expires  string `json:"mfa_expires_at"`
	}
	e.call(t, 200, "POST", "/api/v1/invitations/accept", "", map[string]string{"token": inv.Code, "password": testfix.Password}).decode(t, &a)
	if a.ID != u.ID || !a.MFAEnrol || a.MFAToken == "" || a.Expires == "" {
		t.Fatalf("accepting a staff invitation: %+v", a)
	}
	// The password alone opens no enrolment (a stolen one would enrol the
	// thief's authenticator).
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login", Body: loginRequest{Username: u.Username, Password: testfix.Password}}), 403, "second_factor_not_set_up")
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", Body: totpLoginRequest{MFAToken: a.MFAToken, Code: "123456"}}), 409, "totp_not_enrolled")
	var en totpEnrolView
	e.call(t, 200, "POST", "/api/v1/login/totp/enrol", "", totpEnrolRequest{MFAToken: a.MFAToken}).decode(t, &en)
	if len(en.Secret) != 32 || !strings.HasPrefix(en.URI, "otpauth://totp/") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Fatalf("enrolment answer: secret of %d characters, URI prefix %v", len(en.Secret), strings.HasPrefix(en.URI, "otpauth://totp/"))
	}
	var tok tokenView
	e.call(t, 200, "POST", "/api/v1/login/totp", "", totpLoginRequest{MFAToken: a.MFAToken, Code: testfix.Code(t, en.Secret)}).decode(t, &tok)
	e.call(t, 200, "GET", "/api/v1/me", tok.Token, nil)
	// Enrolled now: no second enrolment, and the secret works again.
	b := e.password(t, u.Username)
	if b.MFAEnrol {
		t.Fatal("asked to enrol again")
	}
	wantError(t, e.do(t, req{Method: "POST", Path: "/api/v1/login/totp/enrol", Body: totpEnrolRequest{MFAToken: b.MFAToken}}), 409, "totp_enrolled")
	e.call(t, 200, "POST", "/api/v1/login/totp", "", totpLoginRequest{MFAToken: b.MFAToken, Code: testfix.Code(t, en.Secret)})
	if strings.Contains(e.log.String(), en.Secret) {
		t.Fatal("the secret is in the log")
	}
}
