package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// testDetectorState checks the detector's watermarks: absent is 0; a
// conditional update moves one only from the value it names; names are
// independent; a watermark may move back (a detected rollback resets it).
func testDetectorState(t *testing.T, s confidant.SealedStore) {
	advance := func(name string, old, next uint64, at time.Time) bool {
		t.Helper()
		var ok bool
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) (err error) {
			ok, err = tx.AdvanceDetector(ctx, name, old, next, at)
			return err
		})
		return ok
	}
	state := func(name string) (uint64, time.Time) {
		t.Helper()
		var n uint64
		var at time.Time
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) (err error) {
			n, at, err = tx.DetectorState(ctx, name)
			return err
		})
		return n, at
	}
	if n, at := state("detect"); n != 0 || !at.IsZero() {
		t.Fatalf("absent watermark = %d at %v, want 0 and the zero time", n, at)
	}
	if advance("detect", 5, 9, at(time.Minute)) {
		t.Fatal("advanced an absent watermark from 5")
	}
	if n, _ := state("detect"); n != 0 {
		t.Fatalf("watermark = %d after a refused advance, want 0", n)
	}
	if !advance("detect", 0, 100, at(2*time.Minute)) {
		t.Fatal("could not advance from 0")
	}
	if n, when := state("detect"); n != 100 || !when.Equal(at(2*time.Minute).UTC().Truncate(time.Microsecond)) {
		t.Fatalf("watermark = %d at %v, want 100 at %v", n, when, at(2*time.Minute))
	}
	if advance("detect", 0, 7, at(3*time.Minute)) {
		t.Fatal("a second writer starting from 0 advanced a watermark at 100")
	}
	if advance("detect", 99, 200, at(3*time.Minute)) {
		t.Fatal("advanced from a stale value")
	}
	if !advance("detect", 100, 250, at(4*time.Minute)) {
		t.Fatal("could not advance from the current value")
	}
	if !advance("detect", 250, 40, at(5*time.Minute)) { // reset after a rollback
		t.Fatal("could not move the watermark back")
	}
	if n, _ := state("detect"); n != 40 {
		t.Fatalf("watermark = %d, want 40", n)
	}
	if n, _ := state("other"); n != 0 {
		t.Fatalf("another name's watermark = %d, want 0", n)
	}
	if !advance("other", 0, 3, at(time.Minute)) {
		t.Fatal("could not advance another name")
	}
	if n, _ := state("detect"); n != 40 {
		t.Fatalf("watermark = %d after another name moved, want 40", n)
	}
	var err error
	_ = s.Update(t.Context(), func(tx confidant.SealedTx) error {
		_, err = tx.AdvanceDetector(t.Context(), "detect", 40, 1<<63, at(time.Hour))
		return err
	})
	if !confidant.IsKind(err, confidant.KindInvalid) {
		t.Fatalf("advancing to 2^63: %v, want KindInvalid", err)
	}
}

// testConcurrentDetectors has writers race to advance one watermark from
// the same value: exactly one wins each round.
func testConcurrentDetectors(t *testing.T, s confidant.SealedStore) {
	const writers, rounds = 4, 5
	var cur uint64
	for r := 0; r < rounds; r++ {
		var mu sync.Mutex
		won := 0
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ok bool
				err := s.Update(t.Context(), func(tx confidant.SealedTx) (err error) {
					ok, err = tx.AdvanceDetector(t.Context(), "race", cur, cur+10, at(time.Duration(r)*time.Second))
					return err
				})
				if err != nil && !confidant.IsKind(err, confidant.KindConflict) && !confidant.IsKind(err, confidant.KindUnavailable) {
					t.Errorf("advance: %v", err)
				}
				if err == nil && ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("round %d: %d writers advanced the watermark from %d, want exactly 1", r, won, cur)
		}
		cur += 10
	}
}

// testUserIdentityIndex checks a staff account's identity index: stored
// as given, read back by every account query, kept by UpdateUser; none is
// nil or empty.
func testUserIdentityIndex(t *testing.T, s confidant.SealedStore) {
	idx := []byte{0, 0xff, 7, 0}
	with := confidant.User{ID: confidant.NewID(), Username: "withcode", DisplayName: "A B", Role: confidant.RoleSecurity, CreatedAt: at(0), IdentityIndex: idx}
	without := confidant.User{ID: confidant.NewID(), Username: "nocode", DisplayName: "C D", Role: confidant.RoleSecurity, CreatedAt: at(0)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, with); err != nil {
			return err
		}
		return tx.CreateUser(ctx, without)
	})
	check := func(when string) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			u, err := tx.User(ctx, with.ID)
			if err != nil {
				return err
			}
			if string(u.IdentityIndex) != string(idx) {
				t.Errorf("%s: User's identity index = %x, want %x", when, u.IdentityIndex, idx)
			}
			if u, err = tx.UserByUsername(ctx, "withcode"); err != nil || string(u.IdentityIndex) != string(idx) {
				t.Errorf("%s: UserByUsername's identity index = %x (%v)", when, u.IdentityIndex, err)
			}
			us, err := tx.ListUsers(ctx, confidant.UserFilter{})
			if err != nil {
				return err
			}
			for _, u := range us {
				want := ""
				if u.ID == with.ID {
					want = string(idx)
				}
				if string(u.IdentityIndex) != want {
					t.Errorf("%s: ListUsers: %s's identity index = %x, want %x", when, u.Username, u.IdentityIndex, want)
				}
			}
			return nil
		})
	}
	check("created")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		u := with
		u.DisplayName, u.IdentityIndex = "A C", nil
		return tx.UpdateUser(ctx, u)
	})
	check("updated")
}

// testUserCloseIndexes checks a staff account's address index (stored as
// given and read back by every account query, as the identity index) and
// SetUserClose, which replaces both indexes and nothing else.
func testUserCloseIndexes(t *testing.T, s confidant.SealedStore) {
	idx, addr := blindIndex(), blindIndex()
	u := confidant.User{ID: confidant.NewID(), Username: "withaddress", DisplayName: "A B", Role: confidant.RoleManager,
		CreatedAt: at(0), AddressIndex: addr}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, u) })
	check := func(when string, identity, address []byte) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			got, err := tx.User(ctx, u.ID)
			if err != nil {
				return err
			}
			byName, err := tx.UserByUsername(ctx, u.Username)
			if err != nil {
				return err
			}
			us, err := tx.ListUsers(ctx, confidant.UserFilter{})
			if err != nil || len(us) != 1 {
				t.Fatalf("%s: ListUsers: %d accounts (%v)", when, len(us), err)
			}
			for q, g := range map[string]confidant.User{"User": got, "UserByUsername": byName, "ListUsers": us[0]} {
				if string(g.IdentityIndex) != string(identity) || string(g.AddressIndex) != string(address) {
					t.Errorf("%s: %s: indexes %x, %x; want %x, %x", when, q, g.IdentityIndex, g.AddressIndex, identity, address)
				}
				if g.DisplayName != "A B" || g.Role != confidant.RoleManager {
					t.Errorf("%s: %s: the account changed: %+v", when, q, g)
				}
			}
			return nil
		})
	}
	check("created", nil, addr)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		v := u
		v.AddressIndex = nil
		return tx.UpdateUser(ctx, v) // does not touch the indexes
	})
	check("updated", nil, addr)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.SetUserClose(ctx, u.ID, idx, nil) })
	check("identity set, address cleared", idx, nil)
	addr2 := blindIndex()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.SetUserClose(ctx, u.ID, idx, addr2) })
	check("both set", idx, addr2)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetUserClose(ctx, u.ID, []byte{}, nil)
	})
	check("both cleared", nil, nil)
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetUserClose(ctx, confidant.NewID(), idx, addr)
	})
	wantKind(t, "SetUserClose of an unknown account", err, confidant.KindNotFound)
}

// testAddressIndexes checks SetAddressIndex and the backfill's pending
// list, which a fresh database has empty (the migration listed the
// patients it found: none).
func testAddressIndexes(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	erased := newPatient(f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, erased); err != nil {
			return err
		}
		return tx.ErasePatient(ctx, erased.ID, at(time.Hour))
	})
	pending := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]string, error) {
		return tx.AddressIndexPending(ctx, 10)
	})
	if len(pending) != 0 {
		t.Errorf("a fresh database lists %d patients without an address index", len(pending))
	}
	want := f.patient
	want.AddressIndex = blindIndex()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.SetAddressIndex(ctx, f.patient.ID, want.AddressIndex); err != nil {
			return err
		}
		if err := tx.SetAddressIndex(ctx, erased.ID, blindIndex()); err != nil { // erased: nothing changes
			return err
		}
		return tx.SetAddressIndex(ctx, confidant.NewID(), blindIndex()) // unknown: nothing to do
	})
	diff(t, "Patient after SetAddressIndex", want, getPatient(t, s, f.patient.ID))
	if got := getPatient(t, s, erased.ID); len(got.AddressIndex) != 0 || got.ErasedAt.IsZero() {
		t.Errorf("erased patient after SetAddressIndex: index %x, erased at %v", got.AddressIndex, got.ErasedAt)
	}
	want.AddressIndex = nil
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetAddressIndex(ctx, f.patient.ID, nil)
	})
	diff(t, "Patient after SetAddressIndex(nil)", want, getPatient(t, s, f.patient.ID))
}
