package storetest

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// TOTP second factors: a pending secret, its confirmation, and the last
// accepted time step, which each conditional update compares.
func testTOTP(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	get := func() (confidant.SealedTOTP, error) {
		t.Helper()
		var got confidant.SealedTOTP
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.TOTP(ctx, f.therapist.ID)
			return err
		})
		return got, err
	}
	_, err := get()
	wantKind(t, "TOTP before enrolment", err, confidant.KindNotFound)
	wantKind(t, "UseTOTPStep before enrolment", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseTOTPStep(ctx, f.therapist.ID, 100)
	}), confidant.KindConflict)
	wantKind(t, "ConfirmTOTP with nothing pending", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 100, base)
	}), confidant.KindConflict)
	wantKind(t, "PutTOTPPending for an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.PutTOTPPending(ctx, confidant.NewID(), sealed(), base)
	}), confidant.KindNotFound)

	// A pending secret: not enrolled yet, so no step can be used.
	first, second := sealed(), sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.PutTOTPPending(ctx, f.therapist.ID, first, at(time.Minute))
	})
	got, err := get()
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	diff(t, "pending TOTP", confidant.SealedTOTP{UserID: f.therapist.ID, Pending: first, UpdatedAt: at(time.Minute)}, got)
	wantKind(t, "UseTOTPStep while only pending", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseTOTPStep(ctx, f.therapist.ID, 100)
	}), confidant.KindConflict)

	// A second enrolment replaces the pending secret; confirming moves it.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.PutTOTPPending(ctx, f.therapist.ID, second, at(2*time.Minute))
	})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 100, at(3*time.Minute))
	})
	got, err = get()
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	diff(t, "confirmed TOTP", confidant.SealedTOTP{UserID: f.therapist.ID, Secret: second, LastStep: 100,
		EnrolledAt: at(3 * time.Minute), UpdatedAt: at(3 * time.Minute)}, got)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 101, at(4*time.Minute))
	})
	wantKind(t, "ConfirmTOTP twice", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "totp_step_used" {
		t.Errorf("ConfirmTOTP twice: code %q, want totp_step_used", confidant.CodeOf(err))
	}

	// Each step once, and never an earlier one.
	steps := []struct {
		step int64
		ok   bool
	}{
		{100, false}, // the confirming code's step
		{99, false},
		{101, true},
		{101, false}, // a replay
		{103, true},  // steps may be skipped
		{102, false}, // but not gone back to
		{103, false},
		{104, true},
	}
	for _, st := range steps {
		err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.UseTOTPStep(ctx, f.therapist.ID, st.step)
		})
		if st.ok && err != nil {
			t.Errorf("UseTOTPStep(%d): %v", st.step, err)
		}
		if !st.ok {
			wantKind(t, "UseTOTPStep replay or earlier step", err, confidant.KindConflict)
			if confidant.CodeOf(err) != "totp_step_used" {
				t.Errorf("UseTOTPStep(%d): code %q, want totp_step_used", st.step, confidant.CodeOf(err))
			}
		}
	}
	got, err = get()
	if err != nil || got.LastStep != 104 || string(got.Secret) != string(second) || got.Pending != nil {
		t.Errorf("after UseTOTPStep: LastStep %d, secret kept %v, pending %v, %v", got.LastStep,
			string(got.Secret) == string(second), got.Pending != nil, err)
	}

	// A re-enrolment keeps the secret and the last step until confirmed,
	// and is confirmed only at a step not before the last one.
	third := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.PutTOTPPending(ctx, f.therapist.ID, third, at(5*time.Minute))
	})
	got, _ = get()
	if string(got.Secret) != string(second) || string(got.Pending) != string(third) || got.LastStep != 104 {
		t.Errorf("re-enrolment pending: secret kept %v, pending %v, LastStep %d",
			string(got.Secret) == string(second), string(got.Pending) == string(third), got.LastStep)
	}
	wantKind(t, "ConfirmTOTP at an earlier step", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 103, at(6*time.Minute))
	}), confidant.KindConflict)

	// Another user starts with nothing.
	other := newUser(confidant.RoleManager, f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, other) })
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.TOTP(ctx, other.ID)
		return err
	})
	wantKind(t, "TOTP of another user", err, confidant.KindNotFound)
}

// Two concurrent uses of one code: exactly one succeeds.
func testConcurrentTOTP(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.PutTOTPPending(ctx, f.therapist.ID, sealed(), base); err != nil {
			return err
		}
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 0, base)
	})
	const racers = 8
	for _, step := range []int64{1000, 1001} {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				err := s.Update(t.Context(), func(tx confidant.SealedTx) error {
					return tx.UseTOTPStep(t.Context(), f.therapist.ID, step)
				})
				switch k := confidant.KindOf(err); {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case k == confidant.KindConflict || k == confidant.KindUnavailable:
				default:
					t.Errorf("racer %d: %v (kind %v), want success, conflict or unavailable", i, err, k)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d of %d concurrent uses of step %d succeeded, want exactly 1", wins, racers, step)
		}
	}
}

// FailSession counts wrong codes and deletes the session at the cap.
func testFailSession(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	mk := func(kind string) confidant.Session {
		id := confidant.NewID()
		h := sha256.Sum256([]byte("token " + id))
		return confidant.Session{ID: id, TokenHash: h[:], UserID: f.therapist.ID, Kind: kind,
			CreatedAt: base, LastSeen: base, ExpiresAt: at(5 * time.Minute)}
	}
	mfa, other := mk("mfa"), mk("mfa")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateSession(ctx, mfa); err != nil {
			return err
		}
		return tx.CreateSession(ctx, other)
	})
	byHash := func(h []byte) (confidant.Session, error) {
		var got confidant.Session
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.SessionByTokenHash(ctx, h)
			return err
		})
		return got, err
	}
	failures := func(id string) int {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (int, error) { return tx.SessionFailures(ctx, id) })
	}
	if n := failures(mfa.ID); n != 0 {
		t.Errorf("SessionFailures of a new session = %d", n)
	}
	const max = 3
	for i := 1; i < max; i++ {
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.FailSession(ctx, mfa.ID, max) })
		got, err := byHash(mfa.TokenHash)
		if err != nil {
			t.Fatalf("after %d failures: %v", i, err)
		}
		diff(t, "Session after FailSession", mfa, got)
		if n := failures(mfa.ID); n != i {
			t.Errorf("SessionFailures after %d failures = %d", i, n)
		}
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.FailSession(ctx, mfa.ID, max) })
	_, err := byHash(mfa.TokenHash)
	wantKind(t, "SessionByTokenHash after the last failure", err, confidant.KindNotFound)
	if n := failures(mfa.ID); n != 0 {
		t.Errorf("SessionFailures of a deleted session = %d, want 0 (the count goes with it)", n)
	}
	if _, err := byHash(other.TokenHash); err != nil || failures(other.ID) != 0 {
		t.Errorf("the other session: %v, %d failures; want untouched", err, failures(other.ID))
	}
	// A session that is gone is not an error, nor one that never was.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.FailSession(ctx, mfa.ID, max) })
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.FailSession(ctx, confidant.NewID(), max)
	})
	if n := failures(mfa.ID); n != 0 {
		t.Errorf("SessionFailures of a deleted session after FailSession = %d", n)
	}
	// Expired sessions take their counts with them.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.FailSession(ctx, other.ID, max) })
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.DeleteExpiredSessions(ctx, at(time.Hour))
		return err
	})
	if n := failures(other.ID); n != 0 {
		t.Errorf("SessionFailures of an expired session = %d", n)
	}
}
