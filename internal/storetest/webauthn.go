package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Passkeys: handles, credentials (sealed data kept byte for byte), the
// counter update, removal.
func testWebAuthn(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newUser(confidant.RoleManager, f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, other) })
	uid := f.therapist.ID

	// Handles.
	_, err := read2(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]byte, error) { return tx.WebAuthnHandle(ctx, uid) })
	wantKind(t, "WebAuthnHandle before one is made", err, confidant.KindNotFound)
	handle := randomBytes(32)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateWebAuthnHandle(ctx, uid, handle, base)
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]byte, error) { return tx.WebAuthnHandle(ctx, uid) })
	diff(t, "handle", handle, got)
	wantKind(t, "a second handle", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateWebAuthnHandle(ctx, uid, randomBytes(32), base)
	}), confidant.KindConflict)
	wantKind(t, "another user with the same handle", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateWebAuthnHandle(ctx, other.ID, handle, base)
	}), confidant.KindConflict)
	wantKind(t, "a handle for an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateWebAuthnHandle(ctx, confidant.NewID(), randomBytes(32), base)
	}), confidant.KindNotFound)
	byHandle := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (string, error) {
		return tx.UserByWebAuthnHandle(ctx, handle)
	})
	if byHandle != uid {
		t.Errorf("UserByWebAuthnHandle = %q, want %q", byHandle, uid)
	}
	_, err = read2(t, s, func(ctx context.Context, tx confidant.SealedTx) (string, error) {
		return tx.UserByWebAuthnHandle(ctx, randomBytes(32))
	})
	wantKind(t, "UserByWebAuthnHandle of an unknown handle", err, confidant.KindNotFound)

	// Credentials.
	none := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedWebAuthnCredential, error) {
		return tx.WebAuthnCredentials(ctx, uid)
	})
	if len(none) != 0 {
		t.Fatalf("credentials before registration: %d", len(none))
	}
	c1 := confidant.SealedWebAuthnCredential{
		ID: confidant.NewID(), UserID: uid, CredentialID: randomBytes(16), UserVerified: true, BackupEligible: true,
		SignCount: 7, CreatedAt: at(time.Minute), Data: sealed(),
	}
	c2 := confidant.SealedWebAuthnCredential{
		ID: confidant.NewID(), UserID: uid, CredentialID: randomBytes(64), BackupState: true,
		SignCount: 4294967295, CreatedAt: at(2 * time.Minute), Data: sealed(),
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateWebAuthnCredential(ctx, c2); err != nil {
			return err
		}
		return tx.CreateWebAuthnCredential(ctx, c1)
	})
	list := func() []confidant.SealedWebAuthnCredential {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedWebAuthnCredential, error) {
			return tx.WebAuthnCredentials(ctx, uid)
		})
	}
	diff(t, "credentials, oldest first", []confidant.SealedWebAuthnCredential{c1, c2}, list())
	dup := c1
	dup.ID, dup.UserID = confidant.NewID(), other.ID
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateWebAuthnCredential(ctx, dup) })
	wantKind(t, "a credential id registered already", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "credential_exists" {
		t.Errorf("duplicate credential: code %q, want credential_exists", confidant.CodeOf(err))
	}
	unknown := c1
	unknown.ID, unknown.UserID, unknown.CredentialID = confidant.NewID(), confidant.NewID(), randomBytes(16)
	wantKind(t, "a credential of an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateWebAuthnCredential(ctx, unknown)
	}), confidant.KindNotFound)

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseWebAuthnCredential(ctx, uid, c1.ID, 8, true, at(time.Hour))
	})
	c1.SignCount, c1.BackupState, c1.LastUsedAt = 8, true, at(time.Hour)
	diff(t, "credentials after a sign-in", []confidant.SealedWebAuthnCredential{c1, c2}, list())
	wantKind(t, "UseWebAuthnCredential of another user's credential", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseWebAuthnCredential(ctx, other.ID, c1.ID, 9, false, at(time.Hour))
	}), confidant.KindNotFound)
	wantKind(t, "DeleteWebAuthnCredential of another user's credential", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.DeleteWebAuthnCredential(ctx, other.ID, c1.ID)
	}), confidant.KindNotFound)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.DeleteWebAuthnCredential(ctx, uid, c1.ID)
	})
	diff(t, "credentials after a removal", []confidant.SealedWebAuthnCredential{c2}, list())
	wantKind(t, "deleting a removed credential", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.DeleteWebAuthnCredential(ctx, uid, c1.ID)
	}), confidant.KindNotFound)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.DeleteWebAuthnCredentials(ctx, uid) })
	if n := len(list()); n != 0 {
		t.Errorf("%d credentials after DeleteWebAuthnCredentials", n)
	}
}

// Ceremonies: stored, replaced, used once, swept after expiry.
func testWebAuthnCeremonies(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	c := confidant.WebAuthnCeremony{
		ID: confidant.NewID(), Kind: "login", UserID: f.therapist.ID, SessionID: confidant.NewID(),
		Data: sealed(), CreatedAt: at(0), ExpiresAt: at(5 * time.Minute),
	}
	disc := confidant.WebAuthnCeremony{ID: confidant.NewID(), Kind: "discoverable", Data: sealed(), CreatedAt: at(0), ExpiresAt: at(time.Minute)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.PutWebAuthnCeremony(ctx, c); err != nil {
			return err
		}
		return tx.PutWebAuthnCeremony(ctx, disc)
	})
	get := func(id string) (confidant.WebAuthnCeremony, error) {
		return read2(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.WebAuthnCeremony, error) {
			return tx.WebAuthnCeremony(ctx, id)
		})
	}
	got, err := get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ceremony", c, got)
	got, _ = get(disc.ID)
	diff(t, "discoverable ceremony", disc, got)
	c.Kind, c.Data, c.ExpiresAt = "step_up_done", sealed(), at(10*time.Minute)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.PutWebAuthnCeremony(ctx, c) })
	got, _ = get(c.ID)
	diff(t, "replaced ceremony", c, got)

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.DeleteWebAuthnCeremony(ctx, c.ID) })
	_, err = get(c.ID)
	wantKind(t, "a used ceremony", err, confidant.KindNotFound)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.DeleteWebAuthnCeremony(ctx, c.ID) })
	wantKind(t, "using a ceremony twice", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "ceremony_used" {
		t.Errorf("second use: code %q, want ceremony_used", confidant.CodeOf(err))
	}

	// Concurrent finishes: exactly one uses the ceremony.
	race := confidant.WebAuthnCeremony{ID: confidant.NewID(), Kind: "login", Data: sealed(), CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.PutWebAuthnCeremony(ctx, race) })
	if wins := racers(t, func() error {
		return s.Update(t.Context(), func(tx confidant.SealedTx) error { return tx.DeleteWebAuthnCeremony(t.Context(), race.ID) })
	}); wins != 1 {
		t.Errorf("%d concurrent uses of one ceremony succeeded, want exactly 1", wins)
	}

	var swept int
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		swept, err = tx.DeleteExpiredWebAuthnCeremonies(ctx, at(2*time.Minute))
		return err
	})
	if swept != 1 {
		t.Errorf("swept %d ceremonies, want 1 (the expired discoverable one)", swept)
	}
	_, err = get(disc.ID)
	wantKind(t, "a swept ceremony", err, confidant.KindNotFound)
}

// Recovery codes: replaced as a set, each used once, also concurrently.
func testRecoveryCodes(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	uid := f.therapist.ID
	codes := func() []confidant.RecoveryCode {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.RecoveryCode, error) {
			return tx.RecoveryCodes(ctx, uid)
		})
	}
	if n := len(codes()); n != 0 {
		t.Fatalf("%d codes before any were made", n)
	}
	first := []string{"$argon2id$v=19$m=64,t=1,p=1$a$b", "h1", "h2"}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetRecoveryCodes(ctx, uid, first, at(0))
	})
	want := []confidant.RecoveryCode{
		{UserID: uid, N: 0, Hash: first[0], CreatedAt: at(0)},
		{UserID: uid, N: 1, Hash: first[1], CreatedAt: at(0)},
		{UserID: uid, N: 2, Hash: first[2], CreatedAt: at(0)},
	}
	diff(t, "recovery codes", want, codes())
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseRecoveryCode(ctx, uid, 1, at(time.Hour))
	})
	want[1].UsedAt = at(time.Hour)
	diff(t, "recovery codes after a use", want, codes())
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseRecoveryCode(ctx, uid, 1, at(2*time.Hour))
	})
	wantKind(t, "a used code again", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "recovery_code_used" {
		t.Errorf("second use: code %q, want recovery_code_used", confidant.CodeOf(err))
	}
	wantKind(t, "a code that does not exist", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseRecoveryCode(ctx, uid, 7, at(2*time.Hour))
	}), confidant.KindConflict)
	wantKind(t, "codes of an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetRecoveryCodes(ctx, confidant.NewID(), first, at(0))
	}), confidant.KindNotFound)

	if wins := racers(t, func() error {
		return s.Update(t.Context(), func(tx confidant.SealedTx) error { return tx.UseRecoveryCode(t.Context(), uid, 2, at(3*time.Hour)) })
	}); wins != 1 {
		t.Errorf("%d concurrent uses of one recovery code succeeded, want exactly 1", wins)
	}

	// Regeneration replaces every code, used or not.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetRecoveryCodes(ctx, uid, []string{"n0"}, at(4*time.Hour))
	})
	diff(t, "regenerated codes", []confidant.RecoveryCode{{UserID: uid, N: 0, Hash: "n0", CreatedAt: at(4 * time.Hour)}}, codes())
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetRecoveryCodes(ctx, uid, nil, at(5*time.Hour))
	})
	if n := len(codes()); n != 0 {
		t.Errorf("%d codes after removing them all", n)
	}
}

// racers runs fn from 8 goroutines at once and returns how many succeeded;
// the others must fail with a conflict (or, under contention, unavailable).
func racers(t *testing.T, fn func() error) int {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			<-start
			err := fn()
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
	return wins
}

// read2 runs fn in a read-only transaction and returns its result and
// error (for expected errors).
func read2[T any](t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) (T, error)) (T, error) {
	t.Helper()
	var v T
	err := s.View(t.Context(), func(tx confidant.SealedTx) error {
		var err error
		v, err = fn(t.Context(), tx)
		return err
	})
	return v, err
}
