package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

func TestThrottleDelay(t *testing.T) {
	c := service.DefaultThrottle
	for _, tc := range []struct {
		n, free int
		want    time.Duration
	}{
		{0, 3, 0}, {2, 3, 0}, {3, 3, 30 * time.Second}, {4, 3, time.Minute}, {5, 3, 2 * time.Minute},
		{7, 3, 8 * time.Minute}, {8, 3, 15 * time.Minute}, {1000, 3, 15 * time.Minute},
		{9, 10, 0}, {10, 10, 30 * time.Second},
	} {
		if got := c.Delay(tc.n, tc.free); got != tc.want {
			t.Errorf("Delay(%d, %d) = %v, want %v", tc.n, tc.free, got, tc.want)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    confidant.LoginFailures
		want time.Duration
	}{
		{"nothing", confidant.LoginFailures{}, 0},
		{"pair below", confidant.LoginFailures{Pair: 2, PairLast: now, Client: 2, ClientLast: now, Account: 2}, 0},
		{"pair at", confidant.LoginFailures{Pair: 3, PairLast: now, Client: 3, ClientLast: now, Account: 3}, 30 * time.Second},
		{"pair, waited part", confidant.LoginFailures{Pair: 3, PairLast: now.Add(-20 * time.Second), Client: 3, ClientLast: now, Account: 3}, 10 * time.Second},
		{"pair, waited all", confidant.LoginFailures{Pair: 4, PairLast: now.Add(-time.Minute), Client: 4, ClientLast: now.Add(-time.Minute), Account: 4}, 0},
		{"spraying client", confidant.LoginFailures{Client: 11, ClientLast: now, Account: 1}, time.Minute},
		{"account ceiling, client failed on it", confidant.LoginFailures{Pair: 1, PairLast: now, Client: 1, ClientLast: now, Account: 20}, 30 * time.Second},
		{"account ceiling, fresh client", confidant.LoginFailures{Account: 1000}, 0},
	} {
		if got := c.Wait(tc.f, now); got != tc.want {
			t.Errorf("%s: Wait = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// retryAfter returns the wait of a throttled answer, failing unless err is
// one.
func retryAfter(t *testing.T, what string, err error) time.Duration {
	t.Helper()
	d, ok := confidant.RetryAfter(err)
	if confidant.CodeOf(err) != "throttled" || confidant.KindOf(err) != confidant.KindRateLimited || !ok {
		t.Fatalf("%s: %v, want 429 throttled with a wait", what, err)
	}
	return d
}

// TestThrottle: failures from one client address make that client wait
// (growing delays), never the account's owner at another address; the
// refusals are events; a security officer sees and clears the account.
func TestThrottle(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	l := testfix.Log(w.Store)
	attacker := confidant.WithClient(t.Context(), "203.0.113.9")
	owner := confidant.WithClient(t.Context(), "198.51.100.7")
	u, secret := w.Therapist, w.TOTPSecret(w.Therapist)
	login := func(ctx context.Context, pw string) (service.LoginResult, error) {
		return svc.Login(ctx, u.Username, pw, service.SessionAPI)
	}

	for i := range service.DefaultThrottle.PairFree {
		_, err := login(attacker, "wrong-password-"+fmt.Sprint(i))
		wantCode(t, "wrong password", err, "invalid_credentials")
	}
	// The attacker's client waits, even with the right password...
	if d := retryAfter(t, "attacker after 3 failures", func() error { _, err := login(attacker, testfix.Password); return err }()); d != 30*time.Second {
		t.Errorf("first wait %v, want 30s", d)
	}
	// ...while the owner, at another address, signs in with password and code.
	res, err := login(owner, testfix.Password)
	if err != nil || !res.MFARequired() {
		t.Fatalf("owner's password during the attack: %v", err)
	}
	ok, err := svc.LoginTOTP(owner, res.MFAToken, testfix.CodeAt(t, secret, testfix.Step(now)), service.SessionAPI, "198.51.100.7")
	if err != nil || ok.Token == "" {
		t.Fatalf("owner's code during the attack: %v", err)
	}

	// The delay doubles with each further failure.
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		now = now.Add(retryAfter(t, "waiting attacker", func() error { _, err := login(attacker, "x-wrong-password"); return err }()))
		_, err := login(attacker, "another-wrong-password")
		wantCode(t, "a try after the wait", err, "invalid_credentials")
		if d := retryAfter(t, "attacker again", func() error { _, err := login(attacker, testfix.Password); return err }()); d != want {
			t.Errorf("wait %v, want %v", d, want)
		}
	}

	// Wrong second-factor codes count too: the owner's client, with the
	// right password, sends wrong codes and is then made to wait.
	res, err = login(owner, testfix.Password)
	if err != nil {
		t.Fatal(err)
	}
	bad := testfix.CodeAt(t, secret, testfix.Step(now)-5)
	for range service.DefaultThrottle.PairFree {
		_, err := svc.LoginTOTP(owner, res.MFAToken, bad, service.SessionAPI, "198.51.100.7")
		wantCode(t, "wrong code", err, "totp_invalid")
	}
	_, err = svc.LoginTOTP(owner, res.MFAToken, testfix.CodeAt(t, secret, testfix.Step(now)+1), service.SessionAPI, "198.51.100.7")
	retryAfter(t, "right code after three wrong ones", err)

	// A security officer sees the account and clears it; others may not.
	if _, err := svc.ListThrottled(w.As(w.Manager)); confidant.KindOf(err) != confidant.KindPermission {
		t.Fatalf("manager lists throttled accounts: %v", err)
	}
	if err := svc.ClearThrottle(w.As(w.Therapist), u.ID); confidant.KindOf(err) != confidant.KindPermission {
		t.Fatalf("therapist clears a throttle: %v", err)
	}
	list, err := svc.ListThrottled(w.As(w.Security))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].User.ID != u.ID || !list[0].Throttled || list[0].Clients != 2 ||
		list[0].Failures != 6+service.DefaultThrottle.PairFree || list[0].User.PasswordHash != "" {
		t.Fatalf("throttled accounts: %+v", list)
	}
	if err := svc.ClearThrottle(w.As(w.Security), confidant.NewID()); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("clear an unknown account: %v", err)
	}
	if err := svc.ClearThrottle(w.As(w.Security), u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := login(attacker, testfix.Password); err != nil {
		t.Fatalf("attacker's client right after the clear: %v", err)
	}
	if list, err := svc.ListThrottled(w.As(w.Security)); err != nil || len(list) != 0 {
		t.Fatalf("after the clear: %+v %v", list, err)
	}

	// The refusals are login.failed events with the reason, and the clear
	// is an event.
	evs, err := l.Query(t.Context(), confidant.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		purpose, _, err := l.OpenFree(ev)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Action == service.ActLoginFailed && strings.HasPrefix(purpose, "throttled"):
			n["throttled"]++
			if ev.ActorID != u.ID {
				t.Errorf("throttled event of %q, want the account", ev.ActorID)
			}
		case ev.Action == service.ActThrottleClear && ev.ActorID == w.Security.ID && ev.RecordID == u.ID:
			n["clear"]++
		case ev.Action == service.ActThrottleList && ev.Outcome == confidant.OutcomeOK:
			n["list"]++
		}
	}
	if n["throttled"] != 8 || n["clear"] != 1 || n["list"] != 2 {
		t.Errorf("events %v, want 8 throttled refusals, 1 clear, 2 lists", n)
	}
}

// TestThrottleAccountCeiling: many clients failing once each on one account
// slow down those clients, never a client that has not failed on it.
func TestThrottleAccountCeiling(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	u := w.Manager
	for i := range service.DefaultThrottle.AccountFree {
		ctx := confidant.WithClient(t.Context(), fmt.Sprintf("10.0.%d.%d", i/250, i%250))
		_, err := svc.Login(ctx, u.Username, "wrong-password", service.SessionAPI)
		wantCode(t, "one failure per client", err, "invalid_credentials")
	}
	_, err := svc.Login(confidant.WithClient(t.Context(), "10.0.0.0"), u.Username, testfix.Password, service.SessionAPI)
	retryAfter(t, "a client that failed once, over the ceiling", err)
	if _, err := svc.Login(confidant.WithClient(t.Context(), "192.0.2.200"), u.Username, testfix.Password, service.SessionAPI); err != nil {
		t.Fatalf("a fresh client over the ceiling: %v", err)
	}
}

// TestThrottleUnknownUser: unknown usernames are throttled like accounts,
// so the 429 tells nothing about which usernames exist; counts are swept.
func TestThrottleUnknownUser(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	ctx := confidant.WithClient(t.Context(), "203.0.113.50")
	for range service.DefaultThrottle.PairFree {
		_, err := svc.Login(ctx, "nobody-here", "wrong-password", service.SessionAPI)
		wantCode(t, "unknown user", err, "invalid_credentials")
	}
	_, err := svc.Login(ctx, "nobody-here", "wrong-password", service.SessionAPI)
	retryAfter(t, "unknown user after 3 failures", err)
	// Another username from the same client is not throttled yet.
	_, err = svc.Login(ctx, "someone-else", "wrong-password", service.SessionAPI)
	wantCode(t, "another unknown user", err, "invalid_credentials")

	// The sweep forgets counts a day after their last failure.
	if n, err := svc.SweepLoginFailures(t.Context()); err != nil || n != 0 {
		t.Fatalf("early sweep: %d %v", n, err)
	}
	now = now.Add(service.DefaultThrottle.Forget + time.Second)
	if n, err := svc.SweepLoginFailures(t.Context()); err != nil || n != 2 {
		t.Fatalf("sweep: %d %v, want 2 rows", n, err)
	}
	_, err = svc.Login(ctx, "nobody-here", "wrong-password", service.SessionAPI)
	wantCode(t, "unknown user after the sweep", err, "invalid_credentials")
}

// TestFailedSignInKeepsNothingTyped: a failed sign-in's event names the
// account (when one matched) and the reason, never what was typed into the
// username field, which may be a password typed into the wrong field.
func TestFailedSignInKeepsNothingTyped(t *testing.T) {
	w := newWorld(t)
	l := testfix.Log(w.Store)
	ctx := confidant.WithClient(t.Context(), "192.0.2.77")
	const typed = "Hunter2-Typed-Into-Username"
	if _, err := w.Service.Login(ctx, typed, "whatever", service.SessionAPI); err == nil {
		t.Fatal("an unknown username signed in")
	}
	if _, err := w.Service.Login(ctx, w.Therapist.Username, "not the password", service.SessionAPI); err == nil {
		t.Fatal("a wrong password signed in")
	}
	evs, err := l.Query(t.Context(), confidant.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, ev := range evs {
		if ev.Action != service.ActLoginFailed {
			continue
		}
		failed++
		purpose, _, err := l.OpenFree(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(purpose, typed) || strings.Contains(purpose, w.Therapist.Username) {
			t.Errorf("login.failed keeps what was typed: %q", purpose)
		}
		if purpose != "unknown user" && purpose != "wrong password" {
			t.Errorf("login.failed reason %q", purpose)
		}
	}
	if failed != 2 {
		t.Errorf("%d login.failed events, want 2", failed)
	}
}
