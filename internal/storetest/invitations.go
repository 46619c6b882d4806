package storetest

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Invitations: stored by token hash, used once, never after expiry; revoked
// all at once.
func testInvitations(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	inv := confidant.Invitation{
		TokenHash: hash("one"), UserID: f.therapist.ID, CreatedBy: confidant.NewID(),
		CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour),
	}
	expired := inv
	expired.TokenHash, expired.ExpiresAt = hash("expired"), at(2*time.Minute)
	other := inv
	other.TokenHash, other.CreatedBy = hash("other"), ""
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, i := range []confidant.Invitation{inv, expired, other} {
			if err := tx.CreateInvitation(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(h []byte) (confidant.Invitation, error) {
		t.Helper()
		var got confidant.Invitation
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.Invitation(ctx, h)
			return err
		})
		return got, err
	}
	got, err := get(inv.TokenHash)
	if err != nil {
		t.Fatalf("Invitation: %v", err)
	}
	diff(t, "invitation", inv, got)
	_, err = get(hash("unknown"))
	wantKind(t, "Invitation of an unknown token", err, confidant.KindNotFound)
	wantKind(t, "CreateInvitation for an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		i := inv
		i.TokenHash, i.UserID = hash("nobody"), confidant.NewID()
		return tx.CreateInvitation(ctx, i)
	}), confidant.KindNotFound)
	wantKind(t, "CreateInvitation twice", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateInvitation(ctx, inv)
	}), confidant.KindConflict)

	use := func(h []byte, when time.Time) error {
		return tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.UseInvitation(ctx, h, when) })
	}
	wantCode := func(what string, err error, code string) {
		t.Helper()
		wantKind(t, what, err, confidant.KindConflict)
		if confidant.CodeOf(err) != code {
			t.Errorf("%s: code %q, want %q", what, confidant.CodeOf(err), code)
		}
	}
	wantCode("UseInvitation after expiry", use(expired.TokenHash, at(2*time.Minute)), "invitation_used")
	wantCode("UseInvitation of an unknown token", use(hash("unknown"), at(2*time.Minute)), "invitation_used")
	if err := use(inv.TokenHash, at(3*time.Minute)); err != nil {
		t.Fatalf("UseInvitation: %v", err)
	}
	wantCode("UseInvitation twice", use(inv.TokenHash, at(4*time.Minute)), "invitation_used")
	got, _ = get(inv.TokenHash)
	if !got.UsedAt.Equal(at(3 * time.Minute).UTC().Truncate(time.Microsecond)) {
		t.Errorf("UsedAt = %v, want %v", got.UsedAt, at(3*time.Minute))
	}

	// Revoking marks the unused ones used, and leaves the used ones alone.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.RevokeInvitations(ctx, f.therapist.ID, at(5*time.Minute))
	})
	wantCode("UseInvitation after revocation", use(other.TokenHash, at(6*time.Minute)), "invitation_used")
	got, _ = get(inv.TokenHash)
	if !got.UsedAt.Equal(at(3 * time.Minute).UTC().Truncate(time.Microsecond)) {
		t.Errorf("revocation changed a used invitation: UsedAt %v", got.UsedAt)
	}

	// Two concurrent uses of one token: exactly one succeeds.
	last := inv
	last.TokenHash = hash("race")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateInvitation(ctx, last) })
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = use(last.TokenHash, at(10*time.Minute)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case confidant.CodeOf(err) != "invitation_used" && confidant.KindOf(err) != confidant.KindUnavailable:
			t.Errorf("concurrent UseInvitation: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses succeeded, want 1", ok, len(errs))
	}
}

// Approval and the account facts: email, inviter, who approved and who
// disabled are stored and read back; ApproveUser is conditional.
func testApproval(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	u := newUser(confidant.RoleTherapist, f.clinic.ID)
	u.Email, u.InvitedBy, u.AwaitingApproval, u.PasswordHash = "new@example.org", confidant.NewID(), true, ""
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, u) })
	read := func() confidant.User {
		t.Helper()
		var got confidant.User
		if err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.User(ctx, u.ID)
			return err
		}); err != nil {
			t.Fatalf("User: %v", err)
		}
		return got
	}
	diff(t, "invited user", u, read())

	by := confidant.NewID()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ApproveUser(ctx, u.ID, by, at(time.Hour))
	})
	want := u
	want.AwaitingApproval, want.ApprovedBy, want.ApprovedAt = false, by, at(time.Hour)
	diff(t, "approved user", want, read())
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ApproveUser(ctx, u.ID, confidant.NewID(), at(2*time.Hour))
	})
	wantKind(t, "ApproveUser twice", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "already_approved" {
		t.Errorf("ApproveUser twice: code %q", confidant.CodeOf(err))
	}
	diff(t, "user approved once", want, read())
	wantKind(t, "ApproveUser of an unknown user", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ApproveUser(ctx, confidant.NewID(), by, at(time.Hour))
	}), confidant.KindNotFound)

	// UpdateUser stores who disabled, and does not undo the approval.
	want.Disabled, want.DisabledBy = true, confidant.NewID()
	stale := want
	stale.AwaitingApproval, stale.ApprovedBy, stale.ApprovedAt = true, "", time.Time{}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.UpdateUser(ctx, stale) })
	diff(t, "disabled user", want, read())
}

// A patient has at most one portal account.
func testOnePortalAccount(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	first := newUser(confidant.RolePatient)
	first.PatientID = f.patient.ID
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, first) })
	second := newUser(confidant.RolePatient)
	second.PatientID = f.patient.ID
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, second) })
	wantKind(t, "a second portal account", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "patient_has_account" {
		t.Errorf("a second portal account: code %q, want patient_has_account", confidant.CodeOf(err))
	}
	// A taken username still says so.
	dup := newUser(confidant.RolePatient)
	dup.Username = first.Username
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, dup) })
	if confidant.CodeOf(err) != "username_taken" {
		t.Errorf("a taken username: %v, want username_taken", err)
	}
	// Staff accounts have no patient and are not limited.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, newUser(confidant.RoleTherapist, f.clinic.ID)); err != nil {
			return err
		}
		return tx.CreateUser(ctx, newUser(confidant.RoleManager, f.clinic.ID))
	})
}

// DeleteTOTP removes an enrolment (a forced reset), and is a no-op without
// one.
func testDeleteTOTP(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.DeleteTOTP(ctx, f.therapist.ID); err != nil {
			return err
		}
		if err := tx.PutTOTPPending(ctx, f.therapist.ID, sealed(), at(time.Minute)); err != nil {
			return err
		}
		return tx.ConfirmTOTP(ctx, f.therapist.ID, 100, at(time.Minute))
	})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.DeleteTOTP(ctx, f.therapist.ID) })
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.TOTP(ctx, f.therapist.ID)
		return err
	})
	wantKind(t, "TOTP after DeleteTOTP", err, confidant.KindNotFound)
	wantKind(t, "UseTOTPStep after DeleteTOTP", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UseTOTPStep(ctx, f.therapist.ID, 200)
	}), confidant.KindConflict)
}
