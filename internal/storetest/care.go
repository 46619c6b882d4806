package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testCare(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	manager := newUser(confidant.RoleManager, f.clinic.ID)
	c := newCare(f.patient, f.therapist.ID, at(-day), time.Time{})
	c.CreatedBy = manager.ID
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, manager); err != nil {
			return err
		}
		return tx.CreateCare(ctx, c)
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.CareRelationship, error) {
		return tx.Care(ctx, c.ID)
	})
	diff(t, "Care", c, got)
	if !got.To.IsZero() {
		t.Errorf("open Care.To = %v, want the zero time", got.To)
	}

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EndCare(ctx, c.ID, at(day), manager.ID)
	})
	c.To, c.EndedBy = at(day), manager.ID
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.CareRelationship, error) {
		return tx.Care(ctx, c.ID)
	})
	diff(t, "Care after EndCare", c, got)

	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EndCare(ctx, c.ID, at(2*day), manager.ID)
	})
	wantKind(t, "EndCare twice", err, confidant.KindConflict)
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.CareRelationship, error) {
		return tx.Care(ctx, c.ID)
	})
	diff(t, "Care after the second EndCare", c, got)

	// A relationship created with an end date has already ended.
	fixed := newCare(f.patient, f.therapist.ID, at(-day), at(day))
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateCare(ctx, fixed) })
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EndCare(ctx, fixed.ID, at(2*day), manager.ID)
	})
	wantKind(t, "EndCare on a relationship created with an end", err, confidant.KindConflict)
}

func testHasActiveCare(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newUser(confidant.RoleTherapist, f.clinic.ID)
	p2 := newPatient(f.clinic.ID)
	from, to := at(-day), at(day)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, other); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		if err := tx.CreateCare(ctx, newCare(f.patient, f.therapist.ID, from, to)); err != nil {
			return err
		}
		return tx.CreateCare(ctx, newCare(p2, f.therapist.ID, from, time.Time{}))
	})

	tests := []struct {
		name      string
		therapist string
		patient   string
		at        time.Time
		want      bool
	}{
		{"before From", f.therapist.ID, f.patient.ID, from.Add(-time.Microsecond), false},
		{"at From (inclusive)", f.therapist.ID, f.patient.ID, from, true},
		{"inside", f.therapist.ID, f.patient.ID, base, true},
		{"just before To", f.therapist.ID, f.patient.ID, to.Add(-time.Microsecond), true},
		{"at To (exclusive)", f.therapist.ID, f.patient.ID, to, false},
		{"after To", f.therapist.ID, f.patient.ID, to.Add(day), false},
		{"open-ended, before From", f.therapist.ID, p2.ID, from.Add(-time.Microsecond), false},
		{"open-ended, at From", f.therapist.ID, p2.ID, from, true},
		{"open-ended, far future", f.therapist.ID, p2.ID, at(3650 * day), true},
		{"other therapist", other.ID, f.patient.ID, base, false},
		{"unknown patient", f.therapist.ID, confidant.NewID(), base, false},
		{"unknown therapist", confidant.NewID(), f.patient.ID, base, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (bool, error) {
				return tx.HasActiveCare(ctx, tc.therapist, tc.patient, tc.at)
			})
			if got != tc.want {
				t.Errorf("HasActiveCare = %v, want %v", got, tc.want)
			}
		})
	}

	// Ending the open relationship closes it from then on.
	var id string
	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.CareRelationship, error) {
		return tx.ListCare(ctx, confidant.CareFilter{PatientID: p2.ID})
	})
	if len(list) != 1 {
		t.Fatalf("ListCare returned %d relationships, want 1", len(list))
	}
	id = list[0].ID
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EndCare(ctx, id, base, f.therapist.ID)
	})
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{base.Add(-time.Microsecond), true}, {base, false}} {
		got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (bool, error) {
			return tx.HasActiveCare(ctx, f.therapist.ID, p2.ID, c.at)
		})
		if got != c.want {
			t.Errorf("after EndCare: HasActiveCare at %v = %v, want %v", c.at.Sub(base), got, c.want)
		}
	}
}

func testListCare(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	c2 := newClinic("Two")
	other := newUser(confidant.RoleTherapist, f.clinic.ID, c2.ID)
	p2 := newPatient(c2.ID)
	open := newCare(f.patient, f.therapist.ID, at(-day), time.Time{})
	ended := newCare(f.patient, other.ID, at(-10*day), at(-5*day))
	future := newCare(f.patient, other.ID, at(5*day), time.Time{})
	inC2 := newCare(p2, other.ID, at(-day), at(day))
	all := []confidant.CareRelationship{open, ended, future, inC2}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, c2); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, other); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, c := range all {
			if err := tx.CreateCare(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		name   string
		filter confidant.CareFilter
		want   []confidant.CareRelationship
	}{
		{"all", confidant.CareFilter{}, all},
		{"patient", confidant.CareFilter{PatientID: f.patient.ID}, []confidant.CareRelationship{open, ended, future}},
		{"therapist", confidant.CareFilter{TherapistID: other.ID}, []confidant.CareRelationship{ended, future, inC2}},
		{"clinic", confidant.CareFilter{ClinicID: c2.ID}, []confidant.CareRelationship{inC2}},
		{"active now", confidant.CareFilter{ActiveAt: base}, []confidant.CareRelationship{open, inC2}},
		{"active earlier", confidant.CareFilter{ActiveAt: at(-6 * day)}, []confidant.CareRelationship{ended}},
		{"active at an end (exclusive)", confidant.CareFilter{ActiveAt: at(-5 * day)}, nil},
		{"active later", confidant.CareFilter{ActiveAt: at(6 * day)}, []confidant.CareRelationship{open, future}},
		{"patient and therapist", confidant.CareFilter{PatientID: f.patient.ID, TherapistID: other.ID}, []confidant.CareRelationship{ended, future}},
		{"patient, therapist and time", confidant.CareFilter{PatientID: f.patient.ID, TherapistID: other.ID, ActiveAt: base}, nil},
		{"unknown patient", confidant.CareFilter{PatientID: confidant.NewID()}, nil},
	}
	byID := sortByID[confidant.CareRelationship](func(c confidant.CareRelationship) string { return c.ID })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.CareRelationship, error) {
				return tx.ListCare(ctx, tc.filter)
			})
			diff(t, "ListCare", tc.want, got, byID)
		})
	}
}
