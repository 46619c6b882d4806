package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testOrganisation(t *testing.T, s confidant.SealedStore) {
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.Organisation(ctx)
		return err
	})
	wantKind(t, "Organisation before init", err, confidant.KindNotFound)

	want := confidant.Organisation{ID: confidant.NewID(), Name: "Mieli & Keho Oy", CreatedAt: base}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateOrganisation(ctx, want) })
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.Organisation, error) {
		return tx.Organisation(ctx)
	})
	diff(t, "Organisation", want, got)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("Organisation.CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
}

func testClinics(t *testing.T, s confidant.SealedStore) {
	a, b := newClinic("Helsinki centre"), newClinic("Tampere")
	b.City = "Tampere"
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, a); err != nil {
			return err
		}
		return tx.CreateClinic(ctx, b)
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.Clinic, error) {
		return tx.Clinic(ctx, a.ID)
	})
	diff(t, "Clinic", a, got)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("Clinic.CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}

	a.Name, a.City = "Helsinki, Kallio", "Helsingfors"
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.UpdateClinic(ctx, a) })
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.Clinic, error) {
		return tx.Clinic(ctx, a.ID)
	})
	diff(t, "Clinic after UpdateClinic", a, got)

	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.Clinic, error) {
		return tx.ListClinics(ctx)
	})
	diff(t, "ListClinics", []confidant.Clinic{a, b}, list, sortByID[confidant.Clinic](func(c confidant.Clinic) string { return c.ID }))
}

func testUsers(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newClinic("Turku")
	manager := newUser(confidant.RoleManager, f.clinic.ID, other.ID)
	manager.Disabled = true
	manager.FailedLogins = 2
	manager.LockedUntil = at(time.Hour)
	patientUser := newUser(confidant.RolePatient)
	patientUser.PatientID = f.patient.ID
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, other); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, manager); err != nil {
			return err
		}
		return tx.CreateUser(ctx, patientUser)
	})
	for _, want := range []confidant.User{f.therapist, manager, patientUser} {
		got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) { return tx.User(ctx, want.ID) })
		diff(t, "User", want, got)
		got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
			return tx.UserByUsername(ctx, want.Username)
		})
		diff(t, "UserByUsername", want, got)
	}

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetPassword(ctx, manager.ID, "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3aGFzaA")
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
		return tx.User(ctx, manager.ID)
	})
	manager.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3aGFzaA"
	diff(t, "User after SetPassword", manager, got)
}

func testUserConflict(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	dup := newUser(confidant.RoleManager, f.clinic.ID)
	dup.Username = f.therapist.Username
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, dup) })
	wantKind(t, "CreateUser with a taken username", err, confidant.KindConflict)

	// The failed transaction kept nothing.
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.User(ctx, dup.ID)
		return err
	})
	wantKind(t, "User after failed CreateUser", err, confidant.KindNotFound)
}

func testUpdateUser(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newClinic("Oulu")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateClinic(ctx, other) })

	// A stale copy, read before a password change and a failed sign-in.
	stale := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
		return tx.User(ctx, f.therapist.ID)
	})
	const newHash = "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXI$b3RoZXJoYXNo"
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.SetPassword(ctx, f.therapist.ID, newHash); err != nil {
			return err
		}
		return tx.RecordLogin(ctx, f.therapist.ID, false, at(time.Hour))
	})

	stale.DisplayName = "Dr. Ääpälä"
	stale.Role = confidant.RoleManager
	stale.ClinicIDs = []string{other.ID}
	stale.Disabled = true
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.UpdateUser(ctx, stale) })

	want := f.therapist
	want.DisplayName, want.Role, want.ClinicIDs, want.Disabled = stale.DisplayName, stale.Role, stale.ClinicIDs, stale.Disabled
	// UpdateUser changes only display name, role, clinics and disabled: the
	// stale copy must not undo the password change or the failed sign-in.
	want.PasswordHash = newHash
	want.FailedLogins = 1
	want.LockedUntil = at(time.Hour)
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
		return tx.User(ctx, f.therapist.ID)
	})
	diff(t, "User after UpdateUser", want, got)

	// Clearing all clinic memberships.
	want.ClinicIDs = nil
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.UpdateUser(ctx, want) })
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
		return tx.User(ctx, f.therapist.ID)
	})
	diff(t, "User after removing clinics", want, got)
}

func testListUsers(t *testing.T, s confidant.SealedStore) {
	c1, c2 := newClinic("One"), newClinic("Two")
	t1 := newUser(confidant.RoleTherapist, c1.ID)
	t2 := newUser(confidant.RoleTherapist, c1.ID, c2.ID)
	t3 := newUser(confidant.RoleTherapist, c2.ID)
	m1 := newUser(confidant.RoleManager, c1.ID)
	sec := newUser(confidant.RoleSecurity)
	all := []confidant.User{t1, t2, t3, m1, sec}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, c := range []confidant.Clinic{c1, c2} {
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
		}
		for _, u := range all {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		name   string
		filter confidant.UserFilter
		want   []confidant.User
	}{
		{"all", confidant.UserFilter{}, all},
		{"clinic", confidant.UserFilter{ClinicID: c1.ID}, []confidant.User{t1, t2, m1}},
		{"role", confidant.UserFilter{Role: confidant.RoleTherapist}, []confidant.User{t1, t2, t3}},
		{"clinic and role", confidant.UserFilter{ClinicID: c2.ID, Role: confidant.RoleTherapist}, []confidant.User{t2, t3}},
		{"unknown clinic", confidant.UserFilter{ClinicID: confidant.NewID()}, nil},
		{"ids", confidant.UserFilter{IDs: []string{t1.ID, sec.ID, confidant.NewID()}}, []confidant.User{t1, sec}},
		{"ids and role", confidant.UserFilter{IDs: []string{t1.ID, sec.ID, m1.ID}, Role: confidant.RoleTherapist}, []confidant.User{t1}},
		{"no ids", confidant.UserFilter{IDs: []string{}}, nil},
	}
	byID := sortByID[confidant.User](func(u confidant.User) string { return u.ID })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.User, error) {
				return tx.ListUsers(ctx, tc.filter)
			})
			diff(t, "ListUsers", tc.want, got, byID)
		})
	}

	t.Run("limit", func(t *testing.T) {
		got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.User, error) {
			return tx.ListUsers(ctx, confidant.UserFilter{Role: confidant.RoleTherapist, Limit: 2})
		})
		if len(got) != 2 {
			t.Fatalf("ListUsers with Limit 2 returned %d users", len(got))
		}
		for _, u := range got {
			if u.Role != confidant.RoleTherapist {
				t.Errorf("ListUsers with Limit returned role %q", u.Role)
			}
		}
	})
}

func testRecordLogin(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	get := func() confidant.User {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
			return tx.User(ctx, f.therapist.ID)
		})
	}
	steps := []struct {
		name        string
		ok          bool
		lockedUntil time.Time
		wantFailed  int
		wantLocked  time.Time
	}{
		{"first failure", false, time.Time{}, 1, time.Time{}},
		{"second failure", false, at(time.Minute), 2, at(time.Minute)},
		{"third failure", false, at(15 * time.Minute), 3, at(15 * time.Minute)},
		{"success resets", true, time.Time{}, 0, time.Time{}},
		{"failure after success", false, at(time.Hour), 1, at(time.Hour)},
		{"success resets again", true, time.Time{}, 0, time.Time{}},
	}
	for _, st := range steps {
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.RecordLogin(ctx, f.therapist.ID, st.ok, st.lockedUntil)
		})
		u := get()
		if u.FailedLogins != st.wantFailed {
			t.Errorf("%s: FailedLogins = %d, want %d", st.name, u.FailedLogins, st.wantFailed)
		}
		diff(t, st.name+": LockedUntil", st.wantLocked, u.LockedUntil)
	}
}

func testSessions(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newUser(confidant.RoleManager, f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, other) })

	mk := func(userID, kind string, expires time.Time) confidant.Session {
		id := confidant.NewID()
		h := sha256.Sum256([]byte("token " + id))
		return confidant.Session{
			ID: id, TokenHash: h[:], UserID: userID, Kind: kind,
			CreatedAt: base, LastSeen: base, ExpiresAt: expires,
		}
	}
	web := mk(f.therapist.ID, "web", at(12*time.Hour))
	api := mk(f.therapist.ID, "api", at(30*day))
	old := mk(f.therapist.ID, "web", at(-time.Hour))
	otherWeb := mk(other.ID, "web", at(12*time.Hour))
	otherOld := mk(other.ID, "web", at(-day))
	all := []confidant.Session{web, api, old, otherWeb, otherOld}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, x := range all {
			if err := tx.CreateSession(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	byHash := func(h []byte) (confidant.Session, error) {
		t.Helper()
		var got confidant.Session
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.SessionByTokenHash(ctx, h)
			return err
		})
		return got, err
	}
	for _, want := range all {
		got, err := byHash(want.TokenHash)
		if err != nil {
			t.Fatalf("SessionByTokenHash: %v", err)
		}
		diff(t, "Session", want, got)
	}
	unknown := sha256.Sum256([]byte("no such token"))
	_, err := byHash(unknown[:])
	wantKind(t, "SessionByTokenHash(unknown)", err, confidant.KindNotFound)

	// Touch.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.TouchSession(ctx, web.ID, at(time.Hour))
	})
	web.LastSeen = at(time.Hour)
	got, err := byHash(web.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash after touch: %v", err)
	}
	diff(t, "Session after TouchSession", web, got)
	if !bytes.Equal(got.TokenHash, web.TokenHash) {
		t.Errorf("TokenHash changed")
	}

	// Expired sessions of every user go; live ones stay.
	var n int
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		n, err = tx.DeleteExpiredSessions(ctx, base)
		return err
	})
	if n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, want 2", n)
	}
	for _, x := range []confidant.Session{old, otherOld} {
		_, err := byHash(x.TokenHash)
		wantKind(t, "SessionByTokenHash(expired)", err, confidant.KindNotFound)
	}

	// DeleteSession removes one.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.DeleteSession(ctx, web.ID) })
	_, err = byHash(web.TokenHash)
	wantKind(t, "SessionByTokenHash(deleted)", err, confidant.KindNotFound)
	if _, err := byHash(api.TokenHash); err != nil {
		t.Errorf("DeleteSession removed another session: %v", err)
	}

	// DeleteUserSessions removes only that user's.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.DeleteUserSessions(ctx, f.therapist.ID)
	})
	_, err = byHash(api.TokenHash)
	wantKind(t, "SessionByTokenHash(after DeleteUserSessions)", err, confidant.KindNotFound)
	if _, err := byHash(otherWeb.TokenHash); err != nil {
		t.Errorf("DeleteUserSessions removed another user's session: %v", err)
	}
}
