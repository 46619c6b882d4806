package testfix

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Second factors in tests. Every staff account of a World is enrolled with
// its own random TOTP secret (World.TOTPSecret). Code plays the user's
// authenticator app: since the server accepts each time step of a user
// once, it remembers the steps it handed out for each secret in this
// process and never hands one out twice, waiting for the next 30-second
// step when the steps the server accepts now (one either side of the
// current one) are used up.

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random TOTP secret and its base32 form.
func NewTOTPSecret() ([]byte, string) {
	raw := make([]byte, service.TOTPSecretSize)
	rand.Read(raw)
	return raw, b32.EncodeToString(raw)
}

var (
	usedMu sync.Mutex
	used   = map[string]int64{} // secret -> last step handed out
)

// Code returns a TOTP code of secret (base32) of a time step not handed out
// before in this process, waiting for the next step if need be. The code
// stays valid for at least 30 seconds.
func Code(t testing.TB, secret string) string {
	t.Helper()
	for {
		cur := time.Now().Unix() / service.TOTPPeriod
		usedMu.Lock()
		step := max(cur, used[secret]+1)
		ok := step <= cur+service.TOTPSkew
		if ok {
			used[secret] = step
		}
		usedMu.Unlock()
		if ok {
			code, err := service.TOTPCode(secret, time.Unix(step*service.TOTPPeriod, 0))
			if err != nil {
				t.Fatalf("TOTP code: %v", err)
			}
			return code
		}
		// Every step the server accepts now is used: wait for the next.
		next := time.Unix((cur+1)*service.TOTPPeriod, 0)
		time.Sleep(time.Until(next) + 10*time.Millisecond)
	}
}

// MarkCodeUsed records that the code of the current time step of secret
// was used outside Code (a test that sends its own code).
func MarkCodeUsed(secret string, step int64) {
	usedMu.Lock()
	defer usedMu.Unlock()
	used[secret] = max(used[secret], step)
}

// enrolStaff enrols each account with a new random secret and returns the
// secrets (base32) by username.
func enrolStaff(t testing.TB, st confidant.Store, users ...confidant.User) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := st.Update(ctx, func(tx confidant.Tx) error {
		for _, u := range users {
			raw, s := NewTOTPSecret()
			if err := service.EnrolTOTP(ctx, tx, u.ID, raw, now); err != nil {
				return err
			}
			out[u.Username] = s
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enrol TOTP: %v", err)
	}
	return out
}

// TOTPSecret returns the TOTP secret (base32) of a staff account of the
// world, or "" for an account without one.
func (w *World) TOTPSecret(u confidant.User) string { return w.secrets[u.Username] }

// SignIn signs u in through the service, completing the second factor
// for an enrolled account, and returns the session token.
func (w *World) SignIn(t testing.TB, u confidant.User, kind string) string {
	t.Helper()
	ctx := context.Background()
	res, err := w.Service.Login(ctx, u.Username, Password, kind)
	if err != nil {
		t.Fatalf("sign in %s: %v", u.Username, err)
	}
	if !res.MFARequired() {
		return res.Token
	}
	res, err = w.Service.LoginTOTP(ctx, res.MFAToken, Code(t, w.TOTPSecret(u)), kind, "")
	if err != nil {
		t.Fatalf("sign in %s, second factor: %v", u.Username, err)
	}
	return res.Token
}

// APISignIn signs in through the JSON API of a running server at base:
// POST /api/v1/login, then, when the answer asks for a second factor, POST
// /api/v1/login/totp with a code of secret (a second factor is enrolled
// only right after accepting an invitation, never at sign-in). It returns
// the bearer token and the account's secret (base32).
func APISignIn(t testing.TB, c *http.Client, base, username, password, secret string) (token, totpSecret string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	post := func(path string, body, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		res, err := c.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		rb, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s as %s: status %d: %s", path, username, res.StatusCode, rb)
		}
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	}
	var login struct {
		Token       string `json:"token"`
		MFARequired bool   `json:"mfa_required"`
		MFAToken    string `json:"mfa_token"`
	}
	post("/api/v1/login", map[string]string{"username": username, "password": password}, &login)
	if !login.MFARequired {
		if login.Token == "" {
			t.Fatalf("sign in %s: no token", username)
		}
		return login.Token, secret
	}
	if secret == "" {
		t.Fatalf("sign in %s: a second factor is required and no secret is known", username)
	}
	var tok struct {
		Token string `json:"token"`
	}
	post("/api/v1/login/totp", map[string]string{"mfa_token": login.MFAToken, "code": Code(t, secret)}, &tok)
	if tok.Token == "" {
		t.Fatalf("sign in %s: no token after the second factor", username)
	}
	return tok.Token, secret
}

// Step returns the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / service.TOTPPeriod }

// CodeAt returns the code of secret (base32) for the time step step,
// whether or not it was handed out: for tests of refusals.
func CodeAt(t testing.TB, secret string, step int64) string {
	t.Helper()
	c, err := service.TOTPCode(secret, time.Unix(step*service.TOTPPeriod, 0))
	if err != nil {
		t.Fatal(fmt.Errorf("TOTP code: %w", err))
	}
	return c
}

// B32 is the base32 form of a raw TOTP secret.
func B32(raw []byte) string { return b32.EncodeToString(raw) }

// FromB32 decodes a base32 TOTP secret.
func FromB32(s string) ([]byte, error) { return b32.DecodeString(s) }
