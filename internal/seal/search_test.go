package seal_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/google/go-cmp/cmp"
)

// narrowIndex is the real keyring with every blind index truncated to 8
// bits, so that unrelated values share index values all the time and the
// exact comparison after decryption is what keeps results right.
type narrowIndex struct{ *keys.Keyring }

func (k narrowIndex) BlindIndex(table, field, value string, _ int) ([]byte, error) {
	return k.Keyring.BlindIndex(table, field, value, 8)
}

// person is a patient to register for a search test.
type person struct {
	given, family string
	birth         time.Time
	inCare        bool
}

// register creates the people as patients of e's clinic, in registration
// order, those inCare in the care of e's therapist.
func (e *env) register(t testing.TB, people []person) []confidant.Patient {
	t.Helper()
	ctx := context.Background()
	var out []confidant.Patient
	e.update(t, func(tx confidant.Tx) error {
		for i, p := range people {
			code, err := confidant.MakeIdentityCode(p.birth, 2+i%897)
			if err != nil {
				return err
			}
			pt := confidant.Patient{
				ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: p.given, FamilyName: p.family,
				IdentityCode: code, BirthDate: p.birth, CreatedAt: t0.Add(time.Duration(i) * time.Second),
			}
			if err := tx.CreatePatient(ctx, pt); err != nil {
				return fmt.Errorf("patient %d: %w", i, err)
			}
			if p.inCare {
				if err := tx.CreateCare(ctx, confidant.CareRelationship{
					ID: confidant.NewID(), PatientID: pt.ID, TherapistID: e.therapist.ID, ClinicID: e.clinic.ID,
					From: t0.Add(-time.Hour), CreatedBy: e.therapist.ID, CreatedAt: t0,
				}); err != nil {
					return err
				}
			}
			out = append(out, pt)
		}
		return nil
	})
	return out
}

func ids(ps []confidant.Patient) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func names(ps []confidant.Patient) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.FamilyName + " " + p.GivenName
	}
	return out
}

// surnames for the search tests: cased and spaced variants of a name are
// the same name (NormalizeName).
var surnames = []string{"Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
	"Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi", "Heikkilä", "Kinnunen",
	"Salonen", "Turunen", "Salo", "Laitinen", "Tuominen", "Rantanen", "Karjalainen", "Jokinen", "Mattila", "Savolainen",
	"Lahtinen", "Ahonen", "Äijälä", "ÄIJÄLÄ", "von  Wright", "Von Wright"}

// TestSearchExact searches by identity code, by family name and by family
// name and birth year, through ListPatients and ListPatientsForTherapist,
// with blind indexes cut to 8 bits so that most candidates are false:
// the results must be exactly the matching patients, none other.
func TestSearchExact(t *testing.T) { forEachBackend(t, testSearchExact) }

func testSearchExact(t *testing.T, be backend) {
	kr := testfix.Keyring(t)
	e := newEnvKeys(t, be, kr, narrowIndex{kr})
	var people []person
	for i := range 340 {
		people = append(people, person{
			given: fmt.Sprint("Given", i), family: surnames[i%len(surnames)],
			birth:  time.Date(1950+i%7, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC),
			inCare: i%3 == 0,
		})
	}
	all := e.register(t, people)
	ctx := context.Background()

	type query struct {
		name string
		f    confidant.PatientFilter
	}
	var queries []query
	for i := 0; i < len(all); i += 7 {
		p := all[i]
		queries = append(queries,
			query{"identity code " + p.IdentityCode, confidant.PatientFilter{IdentityCode: p.IdentityCode}},
			query{"family name " + p.FamilyName, confidant.PatientFilter{FamilyName: p.FamilyName}},
			query{fmt.Sprint("family name and year ", p.FamilyName, p.BirthDate.Year()), confidant.PatientFilter{FamilyName: p.FamilyName, BirthYear: p.BirthDate.Year()}},
		)
	}
	code, err := confidant.MakeIdentityCode(time.Date(1999, 9, 9, 0, 0, 0, 0, time.UTC), 999)
	if err != nil {
		t.Fatal(err)
	}
	queries = append(queries,
		query{"unknown identity code", confidant.PatientFilter{IdentityCode: code}},
		query{"unknown family name", confidant.PatientFilter{FamilyName: "Nobodyhasthisname"}},
		query{"family name, year nobody has", confidant.PatientFilter{FamilyName: "Virtanen", BirthYear: 1949}},
		query{"cased and spaced", confidant.PatientFilter{FamilyName: " äijälä "}},
	)

	// want applies the search to the plaintext.
	want := func(f confidant.PatientFilter, careOnly bool) []string {
		var out []string
		for i, p := range all {
			if careOnly && !people[i].inCare {
				continue
			}
			ok := p.IdentityCode == f.IdentityCode
			if f.FamilyName != "" {
				ok = confidant.NormalizeName(p.FamilyName) == confidant.NormalizeName(f.FamilyName) &&
					(f.BirthYear == 0 || p.BirthDate.Year() == f.BirthYear)
			}
			if ok {
				out = append(out, p.ID)
			}
		}
		return out
	}
	candidates, results := 0, 0
	e.view(t, func(tx confidant.Tx) error {
		for _, q := range queries {
			got, err := tx.ListPatients(ctx, q.f)
			if err != nil {
				t.Errorf("%s: ListPatients: %v", q.name, err)
				continue
			}
			if diff := cmp.Diff(want(q.f, false), ids(got), equateEmpty); diff != "" {
				t.Errorf("%s: ListPatients (-want +got):\n%s", q.name, diff)
			}
			results += len(got)
			got, err = tx.ListPatientsForTherapist(ctx, e.therapist.ID, t0, q.f)
			if err != nil {
				t.Errorf("%s: ListPatientsForTherapist: %v", q.name, err)
				continue
			}
			w, g := want(q.f, true), ids(got)
			slices.Sort(w)
			slices.Sort(g)
			if diff := cmp.Diff(w, g, equateEmpty); diff != "" {
				t.Errorf("%s: ListPatientsForTherapist (-want +got):\n%s", q.name, diff)
			}
		}
		return nil
	})
	// The database returned many more candidates than results: the test did
	// exercise the exact comparison.
	err = e.backend.View(ctx, func(stx confidant.SealedTx) error {
		for _, q := range queries {
			var sf confidant.SealedPatientFilter
			var err error
			switch {
			case q.f.IdentityCode != "":
				sf.IdentityIndex, err = kr.BlindIndex("patients", "identity_code", q.f.IdentityCode, 8)
			case q.f.BirthYear != 0:
				sf.SurnameYearIndex, err = kr.BlindIndex("patients", "surname_birth_year", confidant.NormalizeName(q.f.FamilyName)+"|"+fmt.Sprint(q.f.BirthYear), 8)
			default:
				sf.SurnameIndex, err = kr.BlindIndex("patients", "surname", confidant.NormalizeName(q.f.FamilyName), 8)
			}
			if err != nil {
				return err
			}
			rows, err := stx.ListPatients(ctx, sf)
			if err != nil {
				return err
			}
			candidates += len(rows)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if candidates-results < 30 { // about 140 expected
		t.Errorf("%d candidates for %d results of %d queries: too few collisions to test the exact comparison", candidates, results, len(queries))
	}
	t.Logf("%d queries: %d candidates from the 8-bit indexes, %d results", len(queries), candidates, results)
}

// TestSearchBirthDateZone registers a patient whose birth date is given in
// another time zone: the store keeps it in UTC, and searching by family
// name and the year of the stored birth date finds the patient.
func TestSearchBirthDateZone(t *testing.T) { forEachBackend(t, testSearchBirthDateZone) }

func testSearchBirthDateZone(t *testing.T, be backend) {
	e := newEnv(t, be)
	ctx := context.Background()
	birth := time.Date(1985, 1, 1, 0, 30, 0, 0, time.FixedZone("EET", 2*3600)) // 1984-12-31 22:30 UTC
	p := confidant.Patient{ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: "Uusi", FamilyName: "Vuosi", BirthDate: birth, CreatedAt: t0}
	e.update(t, func(tx confidant.Tx) error { return tx.CreatePatient(ctx, p) })
	e.view(t, func(tx confidant.Tx) error {
		got, err := tx.Patient(ctx, p.ID)
		if err != nil {
			return err
		}
		if !got.BirthDate.Equal(birth) || got.BirthDate.Location() != time.UTC {
			t.Errorf("birth date read back as %v, want %v in UTC", got.BirthDate, birth)
		}
		y := got.BirthDate.Year()
		found, err := tx.ListPatients(ctx, confidant.PatientFilter{FamilyName: "Vuosi", BirthYear: y})
		if err != nil {
			return err
		}
		if len(found) != 1 || found[0].ID != p.ID {
			t.Errorf("search by family name and the stored birth year %d found %d patients, want the one", y, len(found))
		}
		return nil
	})
}

// finnishPeople are in the care of the therapist, registered in an order
// unlike the Finnish one; finnishOrder is that order (family then given
// name, case ignored, å ä ö after z).
var (
	finnishPeople = []person{
		{"Pekka", "Östman", t0, true}, {"Ville", "Korhonen", t0, true}, {"Anna", "Åberg", t0, true},
		{"Eero", "ärväs", t0, true}, {"Zoe", "Zimmer", t0, true}, {"Olli", "aalto", t0, true},
		{"Iida", "Ähkä", t0, true}, {"Matti", "Öhman", t0, true}, {"Kalle", "Berg", t0, true},
		{"Aino", "Korhonen", t0, true}, {"Not", "Incare", t0, false},
	}
	finnishOrder = []string{"aalto Olli", "Berg Kalle", "Korhonen Aino", "Korhonen Ville", "Zimmer Zoe",
		"Åberg Anna", "Ähkä Iida", "ärväs Eero", "Öhman Matti", "Östman Pekka"}
)

// TestTherapistListOrder checks the Finnish ordering of a therapist's
// patients.
func TestTherapistListOrder(t *testing.T) { forEachBackend(t, testTherapistListOrder) }

func testTherapistListOrder(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.register(t, finnishPeople)
	e.view(t, func(tx confidant.Tx) error {
		got, err := tx.ListPatientsForTherapist(context.Background(), e.therapist.ID, t0, confidant.PatientFilter{})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(finnishOrder, names(got)); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
		return nil
	})
}

// TestTherapistListConcurrent lists a therapist's patients from many
// goroutines at once: each must get the Finnish order (and, under -race,
// the collation must not be shared state).
func TestTherapistListConcurrent(t *testing.T) { forEachBackend(t, testTherapistListConcurrent) }

func testTherapistListConcurrent(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.register(t, finnishPeople)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				err := e.store.View(context.Background(), func(tx confidant.Tx) error {
					got, err := tx.ListPatientsForTherapist(context.Background(), e.therapist.ID, t0, confidant.PatientFilter{})
					if err != nil {
						return err
					}
					if !slices.Equal(names(got), finnishOrder) {
						return fmt.Errorf("order %q", names(got))
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestSearchPaging checks limit and offset: in registration order for
// ListPatients, in name order for ListPatientsForTherapist, and in both
// applied after the exact comparison (indexes cut to 8 bits, so
// candidates include other names).
func TestSearchPaging(t *testing.T) { forEachBackend(t, testSearchPaging) }

func testSearchPaging(t *testing.T, be backend) {
	kr := testfix.Keyring(t)
	e := newEnvKeys(t, be, kr, narrowIndex{kr})
	// Virtanens registered in reverse order of given names, among others
	// whose names share Virtanen's index value. ASCII names, so that byte
	// order is the Finnish order.
	ix := func(name string) string {
		b, err := kr.BlindIndex("patients", "surname", confidant.NormalizeName(name), 8)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	families := []string{"Virtanen", "Korhonen", "Nieminen"}
	for i := 0; len(families) < 6; i++ {
		if name := fmt.Sprint("Sukunimi", i); ix(name) == ix("Virtanen") {
			families = append(families, name)
		}
	}
	var people []person
	for i := range 60 {
		p := person{given: fmt.Sprintf("G%02d", 59-i), family: families[1+i%(len(families)-1)],
			birth: time.Date(1970, 1, 1+i%28, 0, 0, 0, 0, time.UTC), inCare: true}
		if i%6 == 0 {
			p.family = "Virtanen"
		}
		people = append(people, p)
	}
	all := e.register(t, people)
	var virtanens []confidant.Patient // registration order
	for _, p := range all {
		if p.FamilyName == "Virtanen" {
			virtanens = append(virtanens, p)
		}
	}
	byName := slices.Clone(virtanens)
	slices.SortFunc(byName, func(a, b confidant.Patient) int { return cmpString(a.GivenName, b.GivenName) })
	if len(virtanens) < 8 || slices.Equal(ids(virtanens), ids(byName)) {
		t.Fatalf("fixture: %d Virtanens, registration order equal to name order", len(virtanens))
	}
	allByName := slices.Clone(all)
	slices.SortFunc(allByName, func(a, b confidant.Patient) int {
		if c := cmpString(a.FamilyName, b.FamilyName); c != 0 {
			return c
		}
		return cmpString(a.GivenName, b.GivenName)
	})
	ctx := context.Background()
	virtanen := confidant.PatientFilter{FamilyName: "Virtanen"}
	tests := []struct {
		name    string
		therapy bool
		f       confidant.PatientFilter
		want    []confidant.Patient
	}{
		{"all, first page", false, confidant.PatientFilter{Limit: 7}, all[:7]},
		{"all, second page", false, confidant.PatientFilter{Limit: 7, Offset: 7}, all[7:14]},
		{"all, past the end", false, confidant.PatientFilter{Limit: 7, Offset: 60}, nil},
		{"name, first page", false, with(virtanen, 3, 0), virtanens[:3]},
		{"name, second page", false, with(virtanen, 3, 3), virtanens[3:6]},
		{"name, offset only", false, with(virtanen, 0, 4), virtanens[4:]},
		{"name, past the end", false, with(virtanen, 3, 10), nil},
		{"therapist, first page", true, confidant.PatientFilter{Limit: 7}, allByName[:7]},
		{"therapist, second page", true, confidant.PatientFilter{Limit: 7, Offset: 7}, allByName[7:14]},
		{"therapist, name, first page", true, with(virtanen, 3, 0), byName[:3]},
		{"therapist, name, second page", true, with(virtanen, 3, 3), byName[3:6]},
		{"therapist, name, offset only", true, with(virtanen, 0, 4), byName[4:]},
		{"therapist, name, past the end", true, with(virtanen, 3, 10), nil},
	}
	e.view(t, func(tx confidant.Tx) error {
		for _, tc := range tests {
			var got []confidant.Patient
			var err error
			if tc.therapy {
				got, err = tx.ListPatientsForTherapist(ctx, e.therapist.ID, t0, tc.f)
			} else {
				got, err = tx.ListPatients(ctx, tc.f)
			}
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if diff := cmp.Diff(names(tc.want), names(got), equateEmpty); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
		return nil
	})
}

func with(f confidant.PatientFilter, limit, offset int) confidant.PatientFilter {
	f.Limit, f.Offset = limit, offset
	return f
}

// cmpString orders the ASCII-only names of TestSearchPaging.
func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestIdentityCodeUnique checks that identity codes stay unique although
// the index has no uniqueness constraint (and, cut to 8 bits, collides):
// a duplicate is refused with Conflict identity_code_taken on create and
// update, while different codes sharing an index value are accepted.
func TestIdentityCodeUnique(t *testing.T) { forEachBackend(t, testIdentityCodeUnique) }

func testIdentityCodeUnique(t *testing.T, be backend) {
	kr := testfix.Keyring(t)
	e := newEnvKeys(t, be, kr, narrowIndex{kr})
	ctx := context.Background()
	// Two different codes with the same 8-bit index.
	var codes []string
	seen := map[string]string{}
	for i := 2; len(codes) == 0; i++ {
		c, err := confidant.MakeIdentityCode(time.Date(1980, 5, 6, 0, 0, 0, 0, time.UTC), i)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := kr.BlindIndex("patients", "identity_code", c, 8)
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[string(ix)]; ok {
			codes = []string{other, c}
		}
		seen[string(ix)] = c
	}
	mk := func(code string) confidant.Patient {
		return confidant.Patient{ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: "Uniikki", FamilyName: "Tunnus", IdentityCode: code, CreatedAt: t0}
	}
	a, b := mk(codes[0]), mk(codes[1])
	e.update(t, func(tx confidant.Tx) error {
		if err := tx.CreatePatient(ctx, a); err != nil {
			return err
		}
		return tx.CreatePatient(ctx, b) // same index value, different code
	})
	conflict := func(what string, err error) {
		t.Helper()
		if confidant.KindOf(err) != confidant.KindConflict || confidant.CodeOf(err) != "identity_code_taken" {
			t.Errorf("%s: %v, want Conflict identity_code_taken", what, err)
		}
	}
	err := e.store.Update(ctx, func(tx confidant.Tx) error { return tx.CreatePatient(ctx, mk(codes[0])) })
	conflict("create with a taken code", err)
	moved := b
	moved.IdentityCode = a.IdentityCode
	err = e.store.Update(ctx, func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, moved) })
	conflict("update to a taken code", err)
	b.Phone = "+358 50 000 0000"
	e.update(t, func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, b) }) // keeping its own code
	e.view(t, func(tx confidant.Tx) error {
		got, err := tx.ListPatients(ctx, confidant.PatientFilter{IdentityCode: codes[1]})
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != b.ID || got[0].Phone != b.Phone {
			t.Errorf("search by code after the refused update: %v", ids(got))
		}
		return nil
	})
	// An erased patient's code no longer counts: its indexes are cleared.
	e.update(t, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, a.ID, t0) })
	e.update(t, func(tx confidant.Tx) error { return tx.CreatePatient(ctx, mk(codes[0])) })
}

// TestErasedPatient checks a crypto-shredded patient: gone from every list
// and search, the bare row for Patient (as Tx documents), and NotFound
// patient_erased for every record and every write.
func TestErasedPatient(t *testing.T) { forEachBackend(t, testErasedPatient) }

func testErasedPatient(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Erased", 9)
	keep := e.addFixture(t, "Kept", 10)
	ctx := context.Background()
	p := f.patient
	e.update(t, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, p.ID, t0) })
	err := e.store.Update(ctx, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, p.ID, t0) })
	if confidant.KindOf(err) != confidant.KindConflict {
		t.Errorf("erase twice: %v, want Conflict", err)
	}
	e.view(t, func(tx confidant.Tx) error {
		for _, fl := range []confidant.PatientFilter{
			{}, {IdentityCode: p.IdentityCode}, {FamilyName: p.FamilyName}, {FamilyName: p.FamilyName, BirthYear: p.BirthDate.Year()},
		} {
			got, err := tx.ListPatients(ctx, fl)
			if err != nil {
				return err
			}
			if slices.Contains(ids(got), p.ID) {
				t.Errorf("ListPatients(%+v) returns the erased patient", fl)
			}
			got, err = tx.ListPatientsForTherapist(ctx, e.therapist.ID, t0, fl)
			if err != nil {
				return err
			}
			if slices.Contains(ids(got), p.ID) {
				t.Errorf("ListPatientsForTherapist(%+v) returns the erased patient", fl)
			}
		}
		got, err := tx.Patient(ctx, p.ID)
		if err != nil {
			return err
		}
		want := confidant.Patient{ID: p.ID, ClinicID: p.ClinicID, CreatedAt: p.CreatedAt, ErasedAt: t0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Patient of an erased patient (-want +got):\n%s", diff)
		}
		return nil
	})
	erased := func(what string, err error) {
		t.Helper()
		if confidant.KindOf(err) != confidant.KindNotFound || confidant.CodeOf(err) != "patient_erased" {
			t.Errorf("%s: %v, want NotFound patient_erased", what, err)
		}
	}
	reads := map[string]func(tx confidant.Tx) error{
		"Note":             func(tx confidant.Tx) error { _, err := tx.Note(ctx, f.notes[0].ID); return err },
		"ListNotes":        func(tx confidant.Tx) error { _, err := tx.ListNotes(ctx, p.ID, confidant.NoteFilter{}); return err },
		"ListProcessNotes": func(tx confidant.Tx) error { _, err := tx.ListProcessNotes(ctx, p.ID, e.therapist.ID); return err },
		"Diagnosis":        func(tx confidant.Tx) error { _, err := tx.Diagnosis(ctx, f.diagnoses[0].ID); return err },
		"ListDiagnoses":    func(tx confidant.Tx) error { _, err := tx.ListDiagnoses(ctx, p.ID); return err },
		"ListPlans":        func(tx confidant.Tx) error { _, err := tx.ListPlans(ctx, p.ID); return err },
		"ListMeasures":     func(tx confidant.Tx) error { _, err := tx.ListMeasures(ctx, p.ID); return err },
		"Attachment":       func(tx confidant.Tx) error { _, err := tx.Attachment(ctx, f.attachments[0].ID); return err },
		"ListAttachments":  func(tx confidant.Tx) error { _, err := tx.ListAttachments(ctx, p.ID); return err },
		"AttachmentChunk": func(tx confidant.Tx) error {
			_, err := tx.AttachmentChunk(ctx, p.ID, f.attachments[0].ID, 0)
			return err
		},
		"UpdatePatient": func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, p) },
		"CreateNote": func(tx confidant.Tx) error {
			n := f.notes[1]
			n.ID = confidant.NewID()
			return tx.CreateNote(ctx, n)
		},
		"CreateDiagnosis": func(tx confidant.Tx) error {
			d := f.diagnoses[0]
			d.ID = confidant.NewID()
			return tx.CreateDiagnosis(ctx, d)
		},
		"PutAttachmentChunk": func(tx confidant.Tx) error {
			return tx.PutAttachmentChunk(ctx, p.ID, confidant.NewID(), 0, []byte("more"))
		},
	}
	for name, fn := range reads {
		erased(name, e.store.Update(ctx, fn))
	}
	_, err = seal.VerifyPatient(ctx, e.backend, e.keys, p.ID)
	if confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("VerifyPatient of an erased patient: %v, want NotFound", err)
	}
	// The other patient is untouched.
	if got := e.readAll(t, keep.patient.ID); got.Patient.FamilyName != keep.patient.FamilyName || len(got.Notes) != 2 {
		t.Errorf("the other patient after the erasure: %+v", got.Patient)
	}
}
