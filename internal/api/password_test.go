package api

import (
	"net/http"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestChangeOwnPassword: a signed-in user changes their own password with
// the current one; weak, common and wrong answers change nothing; a change
// ends every session of the account, the old password no longer signs in
// and the new one does (with the second factor, as before).
func TestChangeOwnPassword(t *testing.T) {
	e := newEnv(t)
	user := e.Therapist.Username
	tok := e.login(t, user)
	const next = "a brand new passphrase for the clinic"
	for _, tc := range []struct {
		name, current, next, code string
	}{
		{"wrong current", "not the password", next, "wrong_password"},
		{"too short", testfix.Password, "short", "weak_password"},
		{"common", testfix.Password, "password123", "common_password"},
	} {
		res := e.call(t, http.StatusBadRequest, "POST", "/api/v1/me/password", tok,
			map[string]string{"current_password": tc.current, "new_password": tc.next})
		if got := res.errorOf(t).Error.Code; got != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
		}
	}
	// Nothing changed: the session still works.
	e.call(t, http.StatusOK, "GET", "/api/v1/me", tok, nil)
	e.call(t, http.StatusNoContent, "POST", "/api/v1/me/password", tok,
		map[string]string{"current_password": testfix.Password, "new_password": next})
	e.call(t, http.StatusUnauthorized, "GET", "/api/v1/me", tok, nil)
	e.call(t, http.StatusUnauthorized, "POST", "/api/v1/login", "", map[string]string{"username": user, "password": testfix.Password})
	res := e.call(t, http.StatusOK, "POST", "/api/v1/login", "", map[string]string{"username": user, "password": next})
	var mfa struct {
		MFARequired bool   `json:"mfa_required"`
		MFAToken    string `json:"mfa_token"`
	}
	res.decode(t, &mfa)
	if !mfa.MFARequired || mfa.MFAToken == "" {
		t.Fatalf("the new password signed in without the second factor: %s", res.Body)
	}
	e.call(t, http.StatusOK, "POST", "/api/v1/login/totp", "",
		map[string]string{"mfa_token": mfa.MFAToken, "code": testfix.Code(t, e.secretOf(t, user))})
}
