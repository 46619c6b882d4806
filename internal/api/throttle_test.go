package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestThrottleAPI: an attacker's client gets 429 with Retry-After, and a
// growing one, while the account's owner at another address signs in with
// the right password and code; a security officer sees the account and
// clears it, and the attacker's client may try again at once.
func TestThrottleAPI(t *testing.T) {
	e := newEnv(t)
	const attacker, owner = "203.0.113.66:5555", "198.51.100.20:6000"
	secret := e.TOTPSecret(e.Therapist)
	try := func(addr, password string) response {
		return e.do(t, req{Method: "POST", Path: "/api/v1/login", RemoteAddr: addr,
			Body: loginRequest{Username: "therapist", Password: password}})
	}
	for range 3 {
		wantError(t, try(attacker, "not-the-password"), 401, "invalid_credentials")
	}
	res := try(attacker, testfix.Password)
	wantError(t, res, http.StatusTooManyRequests, "throttled")
	first, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || first <= 0 {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	// The right password and code from another address sign in.
	var a loginAnswer
	if res := try(owner, testfix.Password); res.Code != 200 {
		t.Fatalf("owner's password during the attack: %d %s", res.Code, res.Body)
	} else {
		res.decode(t, &a)
	}
	var tok tokenView
	res = e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", RemoteAddr: owner,
		Body: totpLoginRequest{MFAToken: a.MFAToken, Code: testfix.Code(t, secret)}})
	if res.Code != 200 {
		t.Fatalf("owner's code during the attack: %d %s", res.Code, res.Body)
	}
	res.decode(t, &tok)
	e.call(t, 200, "GET", "/api/v1/me", tok.Token, nil)

	// The second factor's endpoint throttles the attacker's client too.
	res = e.do(t, req{Method: "POST", Path: "/api/v1/login/totp", RemoteAddr: attacker,
		Body: totpLoginRequest{MFAToken: e.password(t, "therapist").MFAToken, Code: "123456"}})
	wantError(t, res, http.StatusTooManyRequests, "throttled")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After on /login/totp")
	}

	// Security officers list and clear; others get 403.
	sec, mgr := e.login(t, "security"), e.login(t, "manager")
	e.call(t, 403, "GET", "/api/v1/security/throttled", mgr, nil)
	e.call(t, 403, "POST", "/api/v1/security/throttled/"+e.Therapist.ID+"/clear", mgr, nil)
	var list struct {
		Accounts []throttledView `json:"accounts"`
	}
	e.call(t, 200, "GET", "/api/v1/security/throttled", sec, nil).decode(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].Account.ID != e.Therapist.ID || !list.Accounts[0].Throttled ||
		list.Accounts[0].Failures != 3 || list.Accounts[0].Until == nil {
		t.Fatalf("throttled accounts: %+v", list)
	}
	e.call(t, 404, "POST", "/api/v1/security/throttled/not-an-id/clear", sec, nil)
	e.call(t, 204, "POST", "/api/v1/security/throttled/"+e.Therapist.ID+"/clear", sec, nil)
	if res := try(attacker, testfix.Password); res.Code != 200 {
		t.Fatalf("attacker's client right after the clear: %d %s", res.Code, res.Body)
	}
	e.call(t, 200, "GET", "/api/v1/security/throttled", sec, nil).decode(t, &list)
	if len(list.Accounts) != 0 {
		t.Fatalf("after the clear: %+v", list)
	}
}

// TestThrottleUnknownUserAPI: unknown usernames are throttled like
// accounts (the 429 tells nothing about which exist), with the first delay
// in Retry-After; the growth of the delay is tested in internal/service,
// whose clock tests set.
func TestThrottleUnknownUserAPI(t *testing.T) {
	e := newEnv(t)
	const attacker = "203.0.113.77:1"
	try := func() response {
		return e.do(t, req{Method: "POST", Path: "/api/v1/login", RemoteAddr: attacker,
			Body: loginRequest{Username: "nobody", Password: "wrong-password"}})
	}
	for range 3 {
		wantError(t, try(), 401, "invalid_credentials")
	}
	res := try()
	wantError(t, res, 429, "throttled")
	if got := res.Header.Get("Retry-After"); got != "30" && got != "29" {
		t.Fatalf("Retry-After %q, want 30", got)
	}
}
