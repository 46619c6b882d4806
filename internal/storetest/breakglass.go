package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Break-the-glass grants: stored byte-exact, the active one found by
// therapist, patient and time, listed newest first by review state,
// reviewed once, and their sealed data among the patient's blobs.
func testBreakGlass(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newUser(confidant.RoleTherapist, f.clinic.ID)
	p2 := newPatient(f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, other); err != nil {
			return err
		}
		return tx.CreatePatient(ctx, p2)
	})
	grant := func(therapist, patient string, from, to time.Duration) confidant.SealedBreakGlass {
		return confidant.SealedBreakGlass{
			ID: confidant.NewID(), TherapistID: therapist, PatientID: patient, ClinicID: f.clinic.ID,
			Category: "risk_to_life", CreatedAt: at(from), ExpiresAt: at(to), Status: confidant.BreakGlassOpen, Data: sealed(),
		}
	}
	g1 := grant(f.therapist.ID, f.patient.ID, time.Hour, 5*time.Hour)
	g2 := grant(f.therapist.ID, f.patient.ID, 2*time.Hour, 6*time.Hour) // overlaps g1, expires later
	g3 := grant(other.ID, p2.ID, 3*time.Hour, 4*time.Hour)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, g := range []confidant.SealedBreakGlass{g1, g2, g3} {
			if err := tx.CreateBreakGlass(ctx, g); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(id string) (confidant.SealedBreakGlass, error) {
		var g confidant.SealedBreakGlass
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			g, err = tx.BreakGlass(ctx, id)
			return err
		})
		return g, err
	}
	got, err := get(g1.ID)
	if err != nil {
		t.Fatalf("BreakGlass: %v", err)
	}
	diff(t, "grant", g1, got)
	_, err = get(confidant.NewID())
	wantKind(t, "BreakGlass of an unknown id", err, confidant.KindNotFound)
	wantKind(t, "CreateBreakGlass twice", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateBreakGlass(ctx, g1)
	}), confidant.KindConflict)

	active := func(therapist, patient string, when time.Time) confidant.ActiveGrant {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.ActiveGrant, error) {
			return tx.ActiveBreakGlass(ctx, therapist, patient, when)
		})
	}
	for _, tc := range []struct {
		name               string
		therapist, patient string
		when               time.Time
		want               confidant.SealedBreakGlass // zero: none
	}{
		{"before the first grant", f.therapist.ID, f.patient.ID, at(time.Hour - time.Microsecond), confidant.SealedBreakGlass{}},
		{"at the start of the first", f.therapist.ID, f.patient.ID, at(time.Hour), g1},
		{"both active: the one expiring last", f.therapist.ID, f.patient.ID, at(3 * time.Hour), g2},
		{"only the second left", f.therapist.ID, f.patient.ID, at(5 * time.Hour), g2},
		{"at expiry", f.therapist.ID, f.patient.ID, at(6 * time.Hour), confidant.SealedBreakGlass{}},
		{"another therapist", other.ID, f.patient.ID, at(3 * time.Hour), confidant.SealedBreakGlass{}},
		{"another patient", f.therapist.ID, p2.ID, at(3 * time.Hour), confidant.SealedBreakGlass{}},
		{"the other's grant", other.ID, p2.ID, at(3 * time.Hour), g3},
	} {
		got := active(tc.therapist, tc.patient, tc.when)
		want := confidant.ActiveGrant{ID: tc.want.ID, ExpiresAt: tc.want.ExpiresAt}
		diff(t, "ActiveBreakGlass: "+tc.name, want, got)
	}

	list := func(f confidant.BreakGlassFilter) []string {
		t.Helper()
		gs := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedBreakGlass, error) {
			return tx.ListBreakGlass(ctx, f)
		})
		ids := make([]string, len(gs))
		for i, g := range gs {
			ids[i] = g.ID
		}
		return ids
	}
	yes, no := true, false
	diff(t, "all, newest first", []string{g3.ID, g2.ID, g1.ID}, list(confidant.BreakGlassFilter{}))
	diff(t, "limit", []string{g3.ID}, list(confidant.BreakGlassFilter{Limit: 1}))
	diff(t, "one patient's", []string{g2.ID, g1.ID}, list(confidant.BreakGlassFilter{PatientID: f.patient.ID}))

	// Review: once; the data replaced, or kept when none is given.
	reviewer := confidant.NewID()
	data := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReviewBreakGlass(ctx, g2.ID, confidant.BreakGlassNotJustified, reviewer, at(7*time.Hour), data)
	})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReviewBreakGlass(ctx, g3.ID, confidant.BreakGlassJustified, reviewer, at(7*time.Hour), nil)
	})
	want2 := g2
	want2.Status, want2.ReviewedBy, want2.ReviewedAt, want2.Data = confidant.BreakGlassNotJustified, reviewer, at(7*time.Hour), data
	got, _ = get(g2.ID)
	diff(t, "reviewed grant", want2, got)
	want3 := g3
	want3.Status, want3.ReviewedBy, want3.ReviewedAt = confidant.BreakGlassJustified, reviewer, at(7*time.Hour)
	got, _ = get(g3.ID)
	diff(t, "grant reviewed without new data", want3, got)
	wantCode := func(what string, err error, code string) {
		t.Helper()
		if confidant.CodeOf(err) != code {
			t.Errorf("%s: got %v, want code %s", what, err, code)
		}
	}
	wantCode("a second review", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReviewBreakGlass(ctx, g2.ID, confidant.BreakGlassJustified, reviewer, at(8*time.Hour), sealed())
	}), "already_reviewed")
	wantKind(t, "review of an unknown grant", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReviewBreakGlass(ctx, confidant.NewID(), confidant.BreakGlassJustified, reviewer, at(8*time.Hour), sealed())
	}), confidant.KindNotFound)
	wantKind(t, "review back to open", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReviewBreakGlass(ctx, g1.ID, confidant.BreakGlassOpen, reviewer, at(8*time.Hour), sealed())
	}), confidant.KindInvalid)
	got, _ = get(g2.ID)
	diff(t, "grant after a refused second review", want2, got)
	diff(t, "open", []string{g1.ID}, list(confidant.BreakGlassFilter{Reviewed: &no}))
	for _, tc := range []struct {
		f    confidant.BreakGlassFilter
		want int
	}{
		{confidant.BreakGlassFilter{}, 3}, {confidant.BreakGlassFilter{Reviewed: &no}, 1}, {confidant.BreakGlassFilter{Reviewed: &yes}, 2},
		{confidant.BreakGlassFilter{PatientID: f.patient.ID, Reviewed: &yes}, 1}, {confidant.BreakGlassFilter{Limit: 1}, 3},
	} {
		n := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (int, error) { return tx.CountBreakGlass(ctx, tc.f) })
		if n != tc.want {
			t.Errorf("CountBreakGlass(%+v) = %d, want %d", tc.f, n, tc.want)
		}
	}
	diff(t, "reviewed", []string{g3.ID, g2.ID}, list(confidant.BreakGlassFilter{Reviewed: &yes}))

	// The sealed data is one of the patient's blobs, and can be rewritten.
	var found bool
	for _, b := range patientBlobs(t, s, f.patient.ID) {
		if b.Kind == confidant.BlobBreakGlass && b.ID == g1.ID {
			found = bytes.Equal(b.Data, g1.Data) && b.Sub == 0
		}
	}
	if !found {
		t.Errorf("PatientBlobs does not hold the grant's sealed data")
	}
	nd := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.RewriteBlob(ctx, confidant.Blob{PatientID: f.patient.ID, Kind: confidant.BlobBreakGlass, ID: g1.ID, Data: nd})
	})
	got, _ = get(g1.ID)
	if !bytes.Equal(got.Data, nd) {
		t.Errorf("RewriteBlob did not replace the grant's data")
	}
	wantKind(t, "RewriteBlob of the grant under another patient", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.RewriteBlob(ctx, confidant.Blob{PatientID: p2.ID, Kind: confidant.BlobBreakGlass, ID: g1.ID, Data: sealed()})
	}), confidant.KindNotFound)
}
