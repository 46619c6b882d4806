package seal_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/seal"
)

// TestBreakGlassSealed: a grant's reason and its reviewer's comment are
// sealed under the patient's key and bound to the grant (moved to another
// grant they fail to open); after erasure the grant stays listable without
// its reason, and can still be reviewed.
func TestBreakGlassSealed(t *testing.T) { forEachBackend(t, testBreakGlassSealed) }

func testBreakGlassSealed(t *testing.T, be backend) {
	ctx := context.Background()
	e := newEnv(t, be)
	f := e.addFixture(t, "Glass", 7)
	pid := f.patient.ID
	reason, comment := "suicidal statements on the crisis line", "confirmed with the crisis line"
	grant := func(id string) confidant.BreakGlass {
		return confidant.BreakGlass{
			ID: id, TherapistID: e.therapist.ID, PatientID: pid, ClinicID: e.clinic.ID, Category: "risk_to_life",
			Reason: reason, CreatedAt: t0, ExpiresAt: t0.Add(4 * time.Hour), Status: confidant.BreakGlassOpen,
		}
	}
	g1, g2 := grant(confidant.NewID()), grant(confidant.NewID())
	e.update(t, func(tx confidant.Tx) error {
		if err := tx.CreateBreakGlass(ctx, g1); err != nil {
			return err
		}
		return tx.CreateBreakGlass(ctx, g2)
	})
	e.update(t, func(tx confidant.Tx) error {
		return tx.ReviewBreakGlass(ctx, g1.ID, confidant.BreakGlassNotJustified, "officer", t0.Add(time.Hour), comment)
	})
	var got confidant.BreakGlass
	e.view(t, func(tx confidant.Tx) error {
		var err error
		got, err = tx.BreakGlass(ctx, g1.ID)
		return err
	})
	if got.Reason != reason || got.ReviewComment != comment || got.Status != confidant.BreakGlassNotJustified {
		t.Fatalf("grant read back: %+v", got)
	}
	// At rest: neither text in the row.
	var rows []confidant.SealedBreakGlass
	err := e.backend.View(ctx, func(stx confidant.SealedTx) error {
		var err error
		rows, err = stx.ListBreakGlass(ctx, confidant.BreakGlassFilter{PatientID: pid})
		return err
	})
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows: %v %d", err, len(rows))
	}
	for _, r := range rows {
		if bytes.Contains(r.Data, []byte(reason)) || bytes.Contains(r.Data, []byte(comment)) || bytes.Contains(r.Data, []byte("crisis")) {
			t.Errorf("grant %s holds its text in the clear", r.ID)
		}
	}
	// Key rotation re-encrypts the grant, which still reads back.
	if err := seal.RotatePatient(ctx, e.backend, e.keys, pid, nil); err != nil {
		t.Fatal(err)
	}
	e.view(t, func(tx confidant.Tx) error {
		var err error
		got, err = tx.BreakGlass(ctx, g1.ID)
		return err
	})
	if got.Reason != reason || got.ReviewComment != comment {
		t.Fatalf("grant after key rotation: %+v", got)
	}
	var rotated []byte
	if err := e.backend.View(ctx, func(stx confidant.SealedTx) error {
		r, err := stx.BreakGlass(ctx, g1.ID)
		rotated = r.Data
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == g1.ID && bytes.Equal(r.Data, rotated) {
			t.Errorf("key rotation left the grant's sealed data as it was")
		}
	}
	// Bound to its grant: g1's sealed data copied onto g2 does not open.
	var d1 []byte
	for _, r := range rows {
		if r.ID == g1.ID {
			d1 = r.Data
		}
	}
	e.tamper(t, func(stx confidant.SealedTx, st *seal.Store) error {
		if err := stx.RewriteBlob(ctx, confidant.Blob{PatientID: pid, Kind: confidant.BlobBreakGlass, ID: g2.ID, Data: d1}); err != nil {
			return err
		}
		err := st.View(ctx, func(tx confidant.Tx) error {
			_, err := tx.BreakGlass(ctx, g2.ID)
			return err
		})
		if !seal.IsIntegrityError(err) {
			t.Errorf("a grant's sealed text moved to another grant: %v, want an integrity error", err)
		}
		return nil
	})
	// Erased: listed without the reason, still reviewable.
	e.update(t, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, pid, t0.Add(2*time.Hour)) })
	var gs []confidant.BreakGlass
	e.update(t, func(tx confidant.Tx) error {
		if err := tx.ReviewBreakGlass(ctx, g2.ID, confidant.BreakGlassJustified, "officer", t0.Add(3*time.Hour), "x"); err != nil {
			return err
		}
		var err error
		gs, err = tx.ListBreakGlass(ctx, confidant.BreakGlassFilter{PatientID: pid})
		return err
	})
	if len(gs) != 2 {
		t.Fatalf("grants of an erased patient: %d", len(gs))
	}
	for _, g := range gs {
		if g.Reason != "" || g.ReviewComment != "" || g.Status == confidant.BreakGlassOpen {
			t.Errorf("erased patient's grant: %+v", g)
		}
	}
}
