package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testPatients(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	got := read(t, s, func(ctx context.Context, tx confidant.Tx) (confidant.Patient, error) {
		return tx.Patient(ctx, f.patient.ID)
	})
	diff(t, "Patient", f.patient, got)

	other := newClinic("Espoo")
	want := f.patient
	want.ClinicID = other.ID
	want.GivenName, want.FamilyName = "Aino-Maria", "Äijälä"
	want.Phone, want.Email, want.Address = "", "aino@example.com", "Kauppakatu 3"
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		if err := tx.CreateClinic(ctx, other); err != nil {
			return err
		}
		return tx.UpdatePatient(ctx, want)
	})
	got = read(t, s, func(ctx context.Context, tx confidant.Tx) (confidant.Patient, error) {
		return tx.Patient(ctx, f.patient.ID)
	})
	diff(t, "Patient after UpdatePatient", want, got)

	// The name index follows the update.
	list := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Patient, error) {
		return tx.ListPatients(ctx, confidant.PatientFilter{Name: "äijä"})
	})
	diffOrdered(t, "ListPatients by the updated name", []string{f.patient.ID}, patientIDs(list))
	list = read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Patient, error) {
		return tx.ListPatients(ctx, confidant.PatientFilter{Name: "virtanen"})
	})
	diffOrdered(t, "ListPatients by the old name", nil, patientIDs(list))
}

func testPatientConflict(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	dup := newPatient(f.clinic.ID, "Ilmari", "Kivi", 2)
	dup.IdentityCode = f.patient.IdentityCode
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.Tx) error { return tx.CreatePatient(ctx, dup) })
	wantKind(t, "CreatePatient with a taken identity code", err, confidant.KindConflict)
	wantNoLeak(t, "CreatePatient conflict", err, dup.IdentityCode, dup.GivenName, dup.FamilyName)

	second := newPatient(f.clinic.ID, "Ilmari", "Kivi", 3)
	update(t, s, func(ctx context.Context, tx confidant.Tx) error { return tx.CreatePatient(ctx, second) })
	second.IdentityCode = f.patient.IdentityCode
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.Tx) error { return tx.UpdatePatient(ctx, second) })
	wantKind(t, "UpdatePatient to a taken identity code", err, confidant.KindConflict)
	wantNoLeak(t, "UpdatePatient conflict", err, second.IdentityCode, second.GivenName, second.FamilyName)
}

func testListPatients(t *testing.T, s confidant.Store) {
	c1, c2 := newClinic("One"), newClinic("Two")
	virtanen := newPatient(c1.ID, "Aino", "Virtanen", 1)
	aijala := newPatient(c1.ID, "Matti", "Äijälä", 2)
	aija := newPatient(c1.ID, "Äijä", "Nieminen", 3)
	brien := newPatient(c1.ID, "Anna  Maria", "O'Brien", 4)
	korhonen := newPatient(c2.ID, "Pekka", "Korhonen", 5)
	all := []confidant.Patient{virtanen, aijala, aija, brien, korhonen}
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		for _, c := range []confidant.Clinic{c1, c2} {
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
		}
		for _, p := range all {
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		name   string
		filter confidant.PatientFilter
		want   []confidant.Patient
	}{
		{"all", confidant.PatientFilter{}, all},
		{"clinic", confidant.PatientFilter{ClinicID: c2.ID}, []confidant.Patient{korhonen}},
		{"family name prefix", confidant.PatientFilter{Name: "Vir"}, []confidant.Patient{virtanen}},
		{"family name prefix lower case", confidant.PatientFilter{Name: "virtanen"}, []confidant.Patient{virtanen}},
		{"given name prefix", confidant.PatientFilter{Name: "pek"}, []confidant.Patient{korhonen}},
		{"non-ASCII on given or family name", confidant.PatientFilter{Name: "äij"}, []confidant.Patient{aijala, aija}},
		{"non-ASCII upper case", confidant.PatientFilter{Name: "ÄIJÄLÄ"}, []confidant.Patient{aijala}},
		{"non-ASCII mixed case", confidant.PatientFilter{Name: "äIJä"}, []confidant.Patient{aijala, aija}},
		{"surrounding spaces", confidant.PatientFilter{Name: "  virt "}, []confidant.Patient{virtanen}},
		{"inner spaces collapsed", confidant.PatientFilter{Name: "anna   maria"}, []confidant.Patient{brien}},
		{"apostrophe", confidant.PatientFilter{Name: "o'b"}, []confidant.Patient{brien}},
		{"not a substring", confidant.PatientFilter{Name: "irtanen"}, nil},
		{"not the full name", confidant.PatientFilter{Name: "aino virtanen"}, nil},
		{"percent is literal", confidant.PatientFilter{Name: "%"}, nil},
		{"percent inside is literal", confidant.PatientFilter{Name: "v%n"}, nil},
		{"underscore is literal", confidant.PatientFilter{Name: "_ino"}, nil},
		{"backslash is literal", confidant.PatientFilter{Name: `\`}, nil},
		{"name and clinic", confidant.PatientFilter{Name: "äij", ClinicID: c2.ID}, nil},
		{"identity code", confidant.PatientFilter{IdentityCode: aija.IdentityCode}, []confidant.Patient{aija}},
		{"identity code prefix does not match", confidant.PatientFilter{IdentityCode: aija.IdentityCode[:6]}, nil},
		{"identity code and other clinic", confidant.PatientFilter{IdentityCode: aija.IdentityCode, ClinicID: c2.ID}, nil},
	}
	byID := sortByID[confidant.Patient](func(p confidant.Patient) string { return p.ID })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Patient, error) {
				return tx.ListPatients(ctx, tc.filter)
			})
			diff(t, "ListPatients", tc.want, got, byID)
		})
	}

	t.Run("pages", func(t *testing.T) {
		var seen []string
		for offset := 0; offset < 10; offset += 2 {
			page := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Patient, error) {
				return tx.ListPatients(ctx, confidant.PatientFilter{Limit: 2, Offset: offset})
			})
			if len(page) > 2 {
				t.Fatalf("page at offset %d has %d patients, want at most 2", offset, len(page))
			}
			seen = append(seen, patientIDs(page)...)
		}
		slices.Sort(seen)
		want := patientIDs(all)
		slices.Sort(want)
		diffOrdered(t, "patients over all pages", want, seen)
	})
}

func testListPatientsForTherapist(t *testing.T, s confidant.Store) {
	c1, c2 := newClinic("One"), newClinic("Two")
	th := newUser(confidant.RoleTherapist, c1.ID, c2.ID)
	other := newUser(confidant.RoleTherapist, c1.ID)
	th2 := newUser(confidant.RoleTherapist, c1.ID)

	virtanen := newPatient(c1.ID, "Aino", "Virtanen", 1)    // open care since a month ago
	laine := newPatient(c1.ID, "Matti", "Laine", 2)         // two active relationships
	korhonen := newPatient(c1.ID, "Liisa", "Korhonen", 3)   // care ended exactly at base
	nieminen := newPatient(c1.ID, "Eero", "Nieminen", 4)    // care starts just after base
	aaltonen := newPatient(c1.ID, "Kalle", "Aaltonen", 5)   // another therapist's patient
	heikkinen := newPatient(c2.ID, "Saara", "Heikkinen", 6) // other clinic, active
	aijala := newPatient(c1.ID, "Matti", "Äijälä", 7)       // th2's
	ohman := newPatient(c1.ID, "Outi", "Öhman", 8)          // th2's
	patients := []confidant.Patient{virtanen, laine, korhonen, nieminen, aaltonen, heikkinen, aijala, ohman}

	care := []confidant.CareRelationship{
		newCare(virtanen, th.ID, at(-30*day), time.Time{}),
		newCare(laine, th.ID, at(-10*day), at(10*day)),
		newCare(laine, th.ID, base, time.Time{}),
		newCare(korhonen, th.ID, at(-30*day), base),
		newCare(nieminen, th.ID, at(time.Microsecond), time.Time{}),
		newCare(aaltonen, other.ID, at(-30*day), time.Time{}),
		newCare(heikkinen, th.ID, at(-day), time.Time{}),
		newCare(aijala, th2.ID, at(-day), time.Time{}),
		newCare(ohman, th2.ID, at(-day), time.Time{}),
	}
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		for _, c := range []confidant.Clinic{c1, c2} {
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
		}
		for _, u := range []confidant.User{th, other, th2} {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
		}
		for _, p := range patients {
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
		}
		for _, c := range care {
			if err := tx.CreateCare(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})

	// Expected lists are in family-name order. Non-ASCII family names only
	// appear alone, so the suite does not depend on a collation.
	tests := []struct {
		name      string
		therapist string
		at        time.Time
		filter    confidant.PatientFilter
		want      []confidant.Patient
	}{
		{"active at base", th.ID, base, confidant.PatientFilter{}, []confidant.Patient{heikkinen, laine, virtanen}},
		{"earlier", th.ID, at(-5 * day), confidant.PatientFilter{}, []confidant.Patient{korhonen, laine, virtanen}},
		{"later", th.ID, at(20 * day), confidant.PatientFilter{}, []confidant.Patient{heikkinen, laine, nieminen, virtanen}},
		{"before everything", th.ID, at(-365 * day), confidant.PatientFilter{}, nil},
		{"clinic", th.ID, base, confidant.PatientFilter{ClinicID: c2.ID}, []confidant.Patient{heikkinen}},
		{"name", th.ID, base, confidant.PatientFilter{Name: "LAI"}, []confidant.Patient{laine}},
		{"given name", th.ID, base, confidant.PatientFilter{Name: "saa"}, []confidant.Patient{heikkinen}},
		{"name of a patient not in care", th.ID, base, confidant.PatientFilter{Name: "kor"}, nil},
		{"identity code", th.ID, base, confidant.PatientFilter{IdentityCode: virtanen.IdentityCode}, []confidant.Patient{virtanen}},
		{"identity code of another therapist's patient", th.ID, base, confidant.PatientFilter{IdentityCode: aaltonen.IdentityCode}, nil},
		{"limit", th.ID, base, confidant.PatientFilter{Limit: 2}, []confidant.Patient{heikkinen, laine}},
		{"limit and offset", th.ID, base, confidant.PatientFilter{Limit: 2, Offset: 2}, []confidant.Patient{virtanen}},
		{"other therapist", other.ID, base, confidant.PatientFilter{}, []confidant.Patient{aaltonen}},
		{"unknown therapist", confidant.NewID(), base, confidant.PatientFilter{}, nil},
		{"non-ASCII name", th2.ID, base, confidant.PatientFilter{Name: "äij"}, []confidant.Patient{aijala}},
		{"non-ASCII name upper case", th2.ID, base, confidant.PatientFilter{Name: "ÄIJÄ"}, []confidant.Patient{aijala}},
		{"non-ASCII initial", th2.ID, base, confidant.PatientFilter{Name: "Öh"}, []confidant.Patient{ohman}},
		{"percent is literal", th2.ID, base, confidant.PatientFilter{Name: "%"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Patient, error) {
				return tx.ListPatientsForTherapist(ctx, tc.therapist, tc.at, tc.filter)
			})
			diff(t, "ListPatientsForTherapist", tc.want, got)
		})
	}
}
