package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Fact MACs (docs/SECURITY.md, "Authorization facts"): stored byte-exact
// with the row that carries them, replaced by SetFactMAC (which reports an
// unknown row as not found and refuses an unknown table); the store never
// interprets them.
func testFactMACs(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	u := newUser(confidant.RoleTherapist, f.clinic.ID)
	u.FactMAC = []byte("user-mac")
	c := newCare(f.patient, u.ID, at(-day), time.Time{})
	c.FactMAC = []byte("care-mac")
	g := confidant.SealedBreakGlass{ID: confidant.NewID(), TherapistID: u.ID, PatientID: f.patient.ID, ClinicID: f.clinic.ID,
		Category: "risk_to_life", CreatedAt: at(0), ExpiresAt: at(time.Hour), Status: confidant.BreakGlassOpen,
		Data: sealed(), FactMAC: []byte("grant-mac")}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateCare(ctx, c); err != nil {
			return err
		}
		return tx.CreateBreakGlass(ctx, g)
	})
	check := func(what, wantU, wantC, wantG string) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			gu, err := tx.User(ctx, u.ID)
			if err != nil {
				return err
			}
			gc, err := tx.Care(ctx, c.ID)
			if err != nil {
				return err
			}
			gg, err := tx.BreakGlass(ctx, g.ID)
			if err != nil {
				return err
			}
			if string(gu.FactMAC) != wantU || string(gc.FactMAC) != wantC || string(gg.FactMAC) != wantG {
				t.Errorf("%s: MACs %q %q %q, want %q %q %q", what, gu.FactMAC, gc.FactMAC, gg.FactMAC, wantU, wantC, wantG)
			}
			return nil
		})
	}
	check("as created", "user-mac", "care-mac", "grant-mac")

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		u.Role, u.FactMAC = confidant.RoleManager, []byte("user-mac-2")
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.SetFactMAC(ctx, confidant.FactCare, c.ID, []byte("care-mac-2")); err != nil {
			return err
		}
		return tx.SetFactMAC(ctx, confidant.FactBreakGlass, g.ID, []byte("grant-mac-2"))
	})
	check("after UpdateUser and SetFactMAC", "user-mac-2", "care-mac-2", "grant-mac-2")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetFactMAC(ctx, confidant.FactUsers, u.ID, []byte("user-mac-3"))
	})
	check("after SetFactMAC of the user", "user-mac-3", "care-mac-2", "grant-mac-2")

	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetFactMAC(ctx, confidant.FactCare, confidant.NewID(), []byte("x"))
	})
	wantKind(t, "SetFactMAC of a missing row", err, confidant.KindNotFound)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetFactMAC(ctx, "patients", f.patient.ID, []byte("x"))
	})
	wantKind(t, "SetFactMAC of another table", err, confidant.KindInvalid)
}
