package service

import (
	"context"
	"fmt"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Sign-in throttling (ASVS 5.0 6.1.1) replaces the account lockout, which
// let anyone lock the real user out by typing wrong passwords. Failures
// (wrong passwords, wrong second-factor codes, unknown or disabled
// accounts) are counted in the database per (client address, account), so
// that every server of one database shares them, and slow down only the
// clients that fail:
//
//   - one client on one account: after PairFree failures, each further
//     attempt waits Base, doubling per failure, at most Max;
//   - one client on every account (password spraying): the same after
//     ClientFree failures;
//   - every client on one account (a distributed attack): after
//     AccountFree failures, clients that have themselves failed on the
//     account wait too, counted from their own last failure on it.
//
// A client that has not failed on the account (and is not spraying) is
// never slowed down, so the right password and the right code from
// another address still sign in while an attacker is refused with 429
// and Retry-After. A successful sign-in forgets that client's failures on
// that account; counts are swept ThrottleConfig.Forget after their last
// failure; security officers list and clear throttled accounts.

// ThrottleConfig holds the numbers of sign-in throttling.
type ThrottleConfig struct {
	PairFree    int           // failures of one client on one account before delays start
	ClientFree  int           // failures of one client on all accounts before delays start
	AccountFree int           // failures of all clients on one account before failing clients slow down
	Base        time.Duration // the first delay
	Max         time.Duration // the cap of the delay, which doubles per further failure
	Forget      time.Duration // counts are deleted this long after their last failure
}

// DefaultThrottle is the default throttling: after 3 failures of a client
// on an account (10 across accounts, 20 of all clients on one account), 30
// seconds, doubling per further failure up to 15 minutes; counts forgotten
// a day after their last failure.
var DefaultThrottle = ThrottleConfig{
	PairFree: 3, ClientFree: 10, AccountFree: 20,
	Base: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour,
}

func (c ThrottleConfig) validate() error {
	if c.PairFree <= 0 || c.ClientFree <= 0 || c.AccountFree <= 0 || c.Base <= 0 || c.Max < c.Base || c.Forget < c.Max {
		return confidant.Errorf(confidant.KindInvalid, "invalid_config", "throttle settings must be positive, with base <= max <= forget")
	}
	return nil
}

// Delay returns the wait after n failures when free of them are free: 0
// below free, Base at free, doubling per further failure, at most Max.
func (c ThrottleConfig) Delay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := c.Base
	for i := free; i < n && d < c.Max; i++ {
		d *= 2
	}
	return min(d, c.Max)
}

// Wait returns how long the client of f must still wait at now before its
// next attempt on the account of f (0: it may try now).
func (c ThrottleConfig) Wait(f confidant.LoginFailures, now time.Time) time.Duration {
	var until time.Time
	later := func(t time.Time) {
		if t.After(until) {
			until = t
		}
	}
	if d := c.Delay(f.Pair, c.PairFree); d > 0 {
		later(f.PairLast.Add(d))
	}
	if d := c.Delay(f.Client, c.ClientFree); d > 0 {
		later(f.ClientLast.Add(d))
	}
	if f.Pair > 0 { // only clients that have failed on this account
		if d := c.Delay(f.Account, c.AccountFree); d > 0 {
			later(f.PairLast.Add(d))
		}
	}
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// throttleAccount is the account key of a sign-in attempt: the user's id,
// or "?" + the username when no account has it (see confidant.Tx).
func throttleAccount(userID, username string) string {
	if userID != "" {
		return userID
	}
	return "?" + username
}

// errThrottled is the answer to a throttled attempt: 429 with the wait in
// seconds, rounded up, as Retry-After.
func errThrottled(wait time.Duration) error {
	return retryLater(wait, "Too many failed sign-ins from your address.")
}

// retryLater is a 429 (code throttled) saying why, with the wait in
// seconds, rounded up, as Retry-After.
func retryLater(wait time.Duration, why string) error {
	secs := int64((wait + time.Second - 1) / time.Second)
	when := fmt.Sprintf("%d seconds", secs)
	if secs > 90 {
		when = fmt.Sprintf("%d minutes", (secs+59)/60)
	}
	return confidant.Wrap(&confidant.RetryAfterError{After: time.Duration(secs) * time.Second},
		confidant.KindRateLimited, "throttled",
		why+" Please wait "+when+" and try again.")
}

// throttled records a sign-in refused for throttling (login.failed with the
// reason "throttled") and returns the 429.
func (s *Service) throttled(ctx context.Context, u confidant.User, username string, wait time.Duration) error {
	ev := s.event(ctx, ActLoginFailed, "", "", confidant.OutcomeDenied)
	if u.ID != "" {
		ev = s.userEvent(ctx, ActLoginFailed, u, "", confidant.OutcomeDenied)
	}
	ev.Purpose = "throttled"
	if username != "" {
		ev.Purpose += ": " + username
	}
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	return errThrottled(wait)
}

// ThrottledAccount is an account with failed sign-ins counted against it,
// as security officers see it.
type ThrottledAccount struct {
	User        confidant.User // without its password hash
	Failures    int            // all clients together
	Clients     int            // clients with failures
	MaxFailures int            // the most failures of one client
	LastFailure time.Time
	// Throttled says that some client (the one with MaxFailures) is or was
	// made to wait, until about Until.
	Throttled bool
	Until     time.Time
}

// ListThrottled returns the accounts with failed sign-ins counted against
// them, the most recent failure first (security officers; an access-log
// event). Failures on usernames no account has are not listed.
func (s *Service) ListThrottled(ctx context.Context) ([]ThrottledAccount, error) {
	if _, err := need(ctx, policy.ManageThrottle); err != nil {
		return nil, s.done(ctx, ActThrottleList, "", "", err)
	}
	var out []ThrottledAccount
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		rows, err := tx.ListLoginFailures(ctx, 500)
		if err != nil {
			return err
		}
		out = nil
		for _, r := range rows {
			if !confidant.ValidID(r.AccountID) {
				continue
			}
			u, err := tx.User(ctx, r.AccountID)
			if confidant.IsKind(err, confidant.KindNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			u.PasswordHash = ""
			c := s.cfg.Throttle
			d := max(c.Delay(r.MaxFailures, c.PairFree), c.Delay(r.Failures, c.AccountFree))
			out = append(out, ThrottledAccount{
				User: u, Failures: r.Failures, Clients: r.Clients, MaxFailures: r.MaxFailures,
				LastFailure: r.LastFailure, Throttled: d > 0, Until: r.LastFailure.Add(d),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.done(ctx, ActThrottleList, "", "", nil); err != nil {
		return nil, err
	}
	return out, nil
}

// ClearThrottle forgets every client's failed sign-ins on account userID,
// so that each may try again at once (security officers; an access-log
// event, on the patient's history for a patient's account). An unknown id
// is 404.
func (s *Service) ClearThrottle(ctx context.Context, userID string) error {
	if _, err := need(ctx, policy.ManageThrottle); err != nil {
		return s.wrote(ctx, ActThrottleClear, "", "", err)
	}
	if err := checkID(userID); err != nil {
		return err
	}
	err := s.update(ctx, func(tx confidant.Tx) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if err := tx.ClearAccountFailures(ctx, u.ID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActThrottleClear, u.PatientID, u.ID)
	})
	return err
}

// SweepLoginFailures deletes the failure counts whose last failure is
// older than the throttle's Forget; the server calls it periodically.
func (s *Service) SweepLoginFailures(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		n, err = tx.DeleteLoginFailures(ctx, s.clock().Add(-s.cfg.Throttle.Forget))
		return err
	})
	return n, err
}

// throttleWait returns how long the client of ctx must wait before its
// next sign-in step (or step-up) on the account userID; zero when none.
func (s *Service) throttleWait(ctx context.Context, userID string) (time.Duration, error) {
	var fails confidant.LoginFailures
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		fails, err = tx.LoginFailures(ctx, confidant.ClientFrom(ctx), userID)
		return err
	}); err != nil {
		return 0, err
	}
	return s.cfg.Throttle.Wait(fails, s.clock()), nil
}

// signInWait refuses a sign-in step of u while the client is throttled on
// the account (recorded as a throttled sign-in).
func (s *Service) signInWait(ctx context.Context, u confidant.User) error {
	wait, err := s.throttleWait(ctx, u.ID)
	if err == nil && wait > 0 {
		err = s.throttled(ctx, u, "", wait)
	}
	return err
}
