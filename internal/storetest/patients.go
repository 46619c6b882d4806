package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func getPatient(t *testing.T, s confidant.SealedStore, id string) confidant.SealedPatient {
	t.Helper()
	return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedPatient, error) {
		return tx.Patient(ctx, id)
	})
}

func listPatients(t *testing.T, s confidant.SealedStore, f confidant.SealedPatientFilter) []confidant.SealedPatient {
	t.Helper()
	return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedPatient, error) {
		return tx.ListPatients(ctx, f)
	})
}

func createPatients(t *testing.T, s confidant.SealedStore, clinics []confidant.Clinic, ps ...confidant.SealedPatient) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, c := range clinics {
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
		}
		for _, p := range ps {
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func testPatients(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	got := getPatient(t, s, f.patient.ID)
	diff(t, "Patient", f.patient, got)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("Patient.CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	if !got.ErasedAt.IsZero() {
		t.Errorf("new patient has ErasedAt %v", got.ErasedAt)
	}

	dup := newPatient(f.clinic.ID)
	dup.ID = f.patient.ID
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreatePatient(ctx, dup) })
	wantKind(t, "CreatePatient with a taken id", err, confidant.KindConflict)
	diff(t, "Patient after a failed CreatePatient", f.patient, getPatient(t, s, f.patient.ID))

	// Patients may be created without indexes (e.g. no birth year known).
	bare := newPatient(f.clinic.ID)
	bare.IdentityIndex, bare.SurnameYearIndex, bare.AddressIndex = nil, nil, nil
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreatePatient(ctx, bare) })
	diff(t, "Patient without indexes", bare, getPatient(t, s, bare.ID))

	// UpdatePatient replaces clinic, data and indexes; CreatedAt stays.
	other := newClinic("Espoo")
	want := f.patient
	want.ClinicID = other.ID
	want.Data = sealed()
	want.IdentityIndex, want.SurnameIndex, want.SurnameYearIndex, want.AddressIndex = blindIndex(), blindIndex(), nil, blindIndex()
	arg := want
	arg.CreatedAt = at(day)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, other); err != nil {
			return err
		}
		return tx.UpdatePatient(ctx, arg)
	})
	diff(t, "Patient after UpdatePatient", want, getPatient(t, s, f.patient.ID))
	diff(t, "other Patient after UpdatePatient", bare, getPatient(t, s, bare.ID))

	// The indexes follow the update.
	for _, tc := range []struct {
		name string
		f    confidant.SealedPatientFilter
		want []string
	}{
		{"new identity index", confidant.SealedPatientFilter{IdentityIndex: want.IdentityIndex}, []string{want.ID}},
		{"old identity index", confidant.SealedPatientFilter{IdentityIndex: f.patient.IdentityIndex}, nil},
		{"new surname index", confidant.SealedPatientFilter{SurnameIndex: want.SurnameIndex}, []string{want.ID}},
		{"old surname index", confidant.SealedPatientFilter{SurnameIndex: f.patient.SurnameIndex}, nil},
		{"old surname and year index", confidant.SealedPatientFilter{SurnameYearIndex: f.patient.SurnameYearIndex}, nil},
		{"new clinic", confidant.SealedPatientFilter{ClinicID: other.ID}, []string{want.ID}},
		{"old clinic", confidant.SealedPatientFilter{ClinicID: f.clinic.ID}, []string{bare.ID}},
	} {
		diffOrdered(t, "ListPatients by "+tc.name, tc.want, patientIDs(listPatients(t, s, tc.f)))
	}
}

func testPatientIndexes(t *testing.T, s confidant.SealedStore) {
	c1, c2 := newClinic("One"), newClinic("Two")
	a := newPatient(c1.ID)
	b := newPatient(c1.ID) // shares a's surname index (a truncated index collides)
	b.SurnameIndex = a.SurnameIndex
	b.CreatedAt = a.CreatedAt.Add(time.Second)
	c := newPatient(c2.ID) // shares a's identity index: indexes are not unique
	c.IdentityIndex = a.IdentityIndex
	c.CreatedAt = a.CreatedAt.Add(2 * time.Second)
	d := newPatient(c2.ID) // no surname-and-year index
	d.SurnameYearIndex = nil
	d.CreatedAt = a.CreatedAt.Add(3 * time.Second)
	createPatients(t, s, []confidant.Clinic{c1, c2}, a, b, c, d)

	longer := append(append([]byte{}, a.IdentityIndex...), 0)
	tests := []struct {
		name string
		f    confidant.SealedPatientFilter
		want []confidant.SealedPatient
	}{
		{"identity index", confidant.SealedPatientFilter{IdentityIndex: b.IdentityIndex}, []confidant.SealedPatient{b}},
		{"shared identity index", confidant.SealedPatientFilter{IdentityIndex: a.IdentityIndex}, []confidant.SealedPatient{a, c}},
		{"shared identity index and clinic", confidant.SealedPatientFilter{IdentityIndex: a.IdentityIndex, ClinicID: c2.ID}, []confidant.SealedPatient{c}},
		{"shared surname index", confidant.SealedPatientFilter{SurnameIndex: a.SurnameIndex}, []confidant.SealedPatient{a, b}},
		{"surname index of one", confidant.SealedPatientFilter{SurnameIndex: d.SurnameIndex}, []confidant.SealedPatient{d}},
		{"surname and year index", confidant.SealedPatientFilter{SurnameYearIndex: b.SurnameYearIndex}, []confidant.SealedPatient{b}},
		{"surname index and surname-year index", confidant.SealedPatientFilter{SurnameIndex: a.SurnameIndex, SurnameYearIndex: b.SurnameYearIndex}, []confidant.SealedPatient{b}},
		{"identity and surname index", confidant.SealedPatientFilter{IdentityIndex: a.IdentityIndex, SurnameIndex: a.SurnameIndex}, []confidant.SealedPatient{a}},
		{"identity index and other clinic", confidant.SealedPatientFilter{IdentityIndex: b.IdentityIndex, ClinicID: c2.ID}, nil},
		{"prefix of an index", confidant.SealedPatientFilter{IdentityIndex: a.IdentityIndex[:len(a.IdentityIndex)-1]}, nil},
		{"index with a byte more", confidant.SealedPatientFilter{IdentityIndex: longer}, nil},
		{"surname index used as identity index", confidant.SealedPatientFilter{IdentityIndex: a.SurnameIndex}, nil},
		{"unknown index", confidant.SealedPatientFilter{SurnameIndex: blindIndex()}, nil},
		{"empty index does not filter", confidant.SealedPatientFilter{IdentityIndex: []byte{}, ClinicID: c1.ID}, []confidant.SealedPatient{a, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, "ListPatients", tc.want, listPatients(t, s, tc.f))
		})
	}
}

func testListPatients(t *testing.T, s confidant.SealedStore) {
	c1, c2 := newClinic("One"), newClinic("Two")
	var all []confidant.SealedPatient
	for i := range 7 {
		clinic := c1.ID
		if i%3 == 2 {
			clinic = c2.ID
		}
		p := newPatient(clinic)
		// Out of insertion order, and three created at the same moment
		// (ordered by id among themselves).
		p.CreatedAt = at(time.Duration((i*5)%7) * time.Hour)
		if i >= 4 {
			p.CreatedAt = at(10 * time.Hour)
		}
		all = append(all, p)
	}
	createPatients(t, s, []confidant.Clinic{c1, c2}, all...)
	sorted := sortPatients(all)
	var inC2 []confidant.SealedPatient
	for _, p := range sorted {
		if p.ClinicID == c2.ID {
			inC2 = append(inC2, p)
		}
	}

	tests := []struct {
		name string
		f    confidant.SealedPatientFilter
		want []confidant.SealedPatient
	}{
		{"all, by CreatedAt then ID", confidant.SealedPatientFilter{}, sorted},
		{"clinic", confidant.SealedPatientFilter{ClinicID: c2.ID}, inC2},
		{"unknown clinic", confidant.SealedPatientFilter{ClinicID: confidant.NewID()}, nil},
		{"limit", confidant.SealedPatientFilter{Limit: 3}, sorted[:3]},
		{"limit and offset", confidant.SealedPatientFilter{Limit: 3, Offset: 3}, sorted[3:6]},
		{"last page", confidant.SealedPatientFilter{Limit: 3, Offset: 6}, sorted[6:]},
		{"offset past the end", confidant.SealedPatientFilter{Limit: 3, Offset: 7}, nil},
		{"offset without limit", confidant.SealedPatientFilter{Offset: 5}, sorted[5:]},
		{"clinic and limit", confidant.SealedPatientFilter{ClinicID: c2.ID, Limit: 1, Offset: 1}, inC2[1:2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, "ListPatients", tc.want, listPatients(t, s, tc.f))
		})
	}
}

func testListPatientsForTherapist(t *testing.T, s confidant.SealedStore) {
	c1, c2 := newClinic("One"), newClinic("Two")
	th := newUser(confidant.RoleTherapist, c1.ID, c2.ID)
	other := newUser(confidant.RoleTherapist, c1.ID)

	mk := func(clinic string, h int) confidant.SealedPatient {
		p := newPatient(clinic)
		p.CreatedAt = at(time.Duration(h) * time.Hour)
		return p
	}
	virtanen := mk(c1.ID, 5)  // open care since a month ago
	laine := mk(c1.ID, 3)     // two active relationships
	korhonen := mk(c1.ID, 1)  // care ended exactly at base
	nieminen := mk(c1.ID, 4)  // care starts just after base
	aaltonen := mk(c1.ID, 2)  // another therapist's patient
	heikkinen := mk(c2.ID, 6) // other clinic, active
	erased := mk(c1.ID, 0)    // active care, but erased
	laine.SurnameIndex = virtanen.SurnameIndex
	patients := []confidant.SealedPatient{virtanen, laine, korhonen, nieminen, aaltonen, heikkinen, erased}

	care := []confidant.CareRelationship{
		newCare(virtanen, th.ID, at(-30*day), time.Time{}),
		newCare(laine, th.ID, at(-10*day), at(10*day)),
		newCare(laine, th.ID, base, time.Time{}),
		newCare(korhonen, th.ID, at(-30*day), base),
		newCare(nieminen, th.ID, at(time.Microsecond), time.Time{}),
		newCare(aaltonen, other.ID, at(-30*day), time.Time{}),
		newCare(heikkinen, th.ID, at(-day), time.Time{}),
		newCare(erased, th.ID, at(-day), time.Time{}),
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, c := range []confidant.Clinic{c1, c2} {
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
		}
		for _, u := range []confidant.User{th, other} {
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
		return tx.ErasePatient(ctx, erased.ID, at(-time.Hour))
	})

	// Expected lists are in CreatedAt order.
	type ps = []confidant.SealedPatient
	tests := []struct {
		name      string
		therapist string
		at        time.Time
		filter    confidant.SealedPatientFilter
		want      ps
	}{
		{"active at base", th.ID, base, confidant.SealedPatientFilter{}, ps{laine, virtanen, heikkinen}},
		{"earlier", th.ID, at(-5 * day), confidant.SealedPatientFilter{}, ps{korhonen, laine, virtanen}},
		{"later", th.ID, at(20 * day), confidant.SealedPatientFilter{}, ps{laine, nieminen, virtanen, heikkinen}},
		{"before everything", th.ID, at(-365 * day), confidant.SealedPatientFilter{}, nil},
		{"erased are left out even if asked for", th.ID, base, confidant.SealedPatientFilter{IncludeErased: true}, ps{laine, virtanen, heikkinen}},
		{"clinic", th.ID, base, confidant.SealedPatientFilter{ClinicID: c2.ID}, ps{heikkinen}},
		{"identity index", th.ID, base, confidant.SealedPatientFilter{IdentityIndex: virtanen.IdentityIndex}, ps{virtanen}},
		{"shared surname index", th.ID, base, confidant.SealedPatientFilter{SurnameIndex: virtanen.SurnameIndex}, ps{laine, virtanen}},
		{"surname and year index", th.ID, base, confidant.SealedPatientFilter{SurnameYearIndex: heikkinen.SurnameYearIndex}, ps{heikkinen}},
		{"index of a patient not in care then", th.ID, base, confidant.SealedPatientFilter{IdentityIndex: korhonen.IdentityIndex}, nil},
		{"index of another therapist's patient", th.ID, base, confidant.SealedPatientFilter{IdentityIndex: aaltonen.IdentityIndex}, nil},
		{"limit", th.ID, base, confidant.SealedPatientFilter{Limit: 2}, ps{laine, virtanen}},
		{"limit and offset", th.ID, base, confidant.SealedPatientFilter{Limit: 2, Offset: 2}, ps{heikkinen}},
		{"offset without limit", th.ID, base, confidant.SealedPatientFilter{Offset: 1}, ps{virtanen, heikkinen}},
		{"other therapist", other.ID, base, confidant.SealedPatientFilter{}, ps{aaltonen}},
		{"unknown therapist", confidant.NewID(), base, confidant.SealedPatientFilter{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedPatient, error) {
				return tx.ListPatientsForTherapist(ctx, tc.therapist, tc.at, tc.filter)
			})
			diff(t, "ListPatientsForTherapist", tc.want, got)
		})
	}
}

func testErasePatient(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	keep := newPatient(f.clinic.ID)
	keep.CreatedAt = f.patient.CreatedAt.Add(time.Second)
	n := newNote(f.patient.ID, f.therapist.ID, base)
	key := confidant.WrappedKey{Owner: f.patient.ID, KEKID: "kek-1", Wrapped: sealed(), UpdatedAt: base}
	keepKey := confidant.WrappedKey{Owner: keep.ID, KEKID: "kek-1", Wrapped: sealed(), UpdatedAt: base}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, keep); err != nil {
			return err
		}
		if err := tx.PutPatientKey(ctx, key); err != nil {
			return err
		}
		if err := tx.PutPatientKey(ctx, keepKey); err != nil {
			return err
		}
		if err := tx.CreateCare(ctx, newCare(f.patient, f.therapist.ID, at(-day), time.Time{})); err != nil {
			return err
		}
		return tx.CreateNote(ctx, n)
	})

	erasedAt := at(time.Hour)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ErasePatient(ctx, f.patient.ID, erasedAt)
	})

	// The row stays, with its sealed data, but without indexes.
	want := f.patient
	want.ErasedAt = erasedAt
	want.IdentityIndex, want.SurnameIndex, want.SurnameYearIndex, want.AddressIndex = nil, nil, nil, nil
	got := getPatient(t, s, f.patient.ID)
	diff(t, "Patient after ErasePatient", want, got)
	if got.ErasedAt.Location() != time.UTC {
		t.Errorf("ErasedAt location = %v, want UTC", got.ErasedAt.Location())
	}

	// The key is gone; the other patient's stays.
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.PatientKey(ctx, f.patient.ID)
		return err
	})
	wantKind(t, "PatientKey of an erased patient", err, confidant.KindNotFound)
	gotKey := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.WrappedKey, error) {
		return tx.PatientKey(ctx, keep.ID)
	})
	diff(t, "PatientKey of another patient", keepKey, gotKey)
	keys := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.WrappedKey, error) {
		return tx.ListPatientKeys(ctx, confidant.KeyFilter{})
	})
	diff(t, "ListPatientKeys after ErasePatient", []confidant.WrappedKey{keepKey}, keys)

	// Lists leave it out unless asked; its old indexes find nothing.
	diff(t, "ListPatients", []confidant.SealedPatient{keep}, listPatients(t, s, confidant.SealedPatientFilter{}))
	diff(t, "ListPatients including erased", []confidant.SealedPatient{want, keep},
		listPatients(t, s, confidant.SealedPatientFilter{IncludeErased: true}))
	for name, filter := range map[string]confidant.SealedPatientFilter{
		"identity":     {IdentityIndex: f.patient.IdentityIndex, IncludeErased: true},
		"surname":      {SurnameIndex: f.patient.SurnameIndex, IncludeErased: true},
		"surname-year": {SurnameYearIndex: f.patient.SurnameYearIndex, IncludeErased: true},
	} {
		diffOrdered(t, "ListPatients by the erased patient's "+name+" index", nil, patientIDs(listPatients(t, s, filter)))
	}
	forTherapist := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedPatient, error) {
		return tx.ListPatientsForTherapist(ctx, f.therapist.ID, base, confidant.SealedPatientFilter{})
	})
	diffOrdered(t, "ListPatientsForTherapist", nil, patientIDs(forTherapist))

	// The sealed records stay (they can no longer be decrypted).
	gotNote := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, n.ID)
	})
	diff(t, "Note of an erased patient", n, gotNote)

	// Erasure is final.
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ErasePatient(ctx, f.patient.ID, at(2*time.Hour))
	})
	wantKind(t, "ErasePatient twice", err, confidant.KindConflict)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ErasePatient(ctx, confidant.NewID(), at(2*time.Hour))
	})
	wantKind(t, "ErasePatient of an unknown patient", err, confidant.KindNotFound)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		p := f.patient
		p.Data = sealed()
		return tx.UpdatePatient(ctx, p)
	})
	wantKind(t, "UpdatePatient of an erased patient", err, confidant.KindConflict)
	// A key rotation that read the key before the erasure must not bring it
	// back.
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		k := key
		k.KEKID, k.UpdatedAt = "kek-2", at(2*time.Hour)
		return tx.PutPatientKey(ctx, k)
	})
	wantKind(t, "PutPatientKey of an erased patient", err, confidant.KindConflict)
	diff(t, "Patient after the refused changes", want, getPatient(t, s, f.patient.ID))
	total, _ := countKeys(t, s, "")
	if total != 1 {
		t.Errorf("CountPatientKeys total = %d after erasing one of two, want 1", total)
	}
}
