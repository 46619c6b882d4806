// Package storetest is the conformance suite for implementations of
// confidant.Store. Every store (internal/sqlite, internal/postgres) runs the
// same suite, so they behave the same:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) confidant.Store {
//			s := openEmptyStore(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the contracts documented on confidant.Store and
// confidant.Tx. Where the interface leaves something open (for example the
// order of ListUsers), the suite does not depend on it. Times are compared as
// UTC truncated to microseconds: a store must keep at least microsecond
// precision and must truncate, not round, anything finer.
package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the conformance suite. Each subtest calls open for a fresh, empty
// store; open must arrange for the store to be closed (t.Cleanup) and may
// call t.Skip when the backing database is unavailable.
//
// The suite creates referenced records (clinics, users, patients) before
// the records that refer to them, so stores may enforce foreign keys. One
// subtest calls Update from inside View (to check that View reads a
// snapshot), so the two must not share a single connection.
func Run(t *testing.T, open func(t *testing.T) confidant.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s confidant.Store)
	}{
		{"Organisation", testOrganisation},
		{"Clinics", testClinics},
		{"Users", testUsers},
		{"UserConflict", testUserConflict},
		{"UpdateUser", testUpdateUser},
		{"ListUsers", testListUsers},
		{"RecordLogin", testRecordLogin},
		{"Sessions", testSessions},
		{"Patients", testPatients},
		{"PatientConflict", testPatientConflict},
		{"ListPatients", testListPatients},
		{"ListPatientsForTherapist", testListPatientsForTherapist},
		{"Care", testCare},
		{"HasActiveCare", testHasActiveCare},
		{"ListCare", testListCare},
		{"Notes", testNotes},
		{"NoteLifecycle", testNoteLifecycle},
		{"ListNotes", testListNotes},
		{"ProcessNotes", testProcessNotes},
		{"Diagnoses", testDiagnoses},
		{"Plans", testPlans},
		{"Measures", testMeasures},
		{"Attachments", testAttachments},
		{"NotFound", testNotFound},
		{"UpdateRollbackOnError", testUpdateRollbackOnError},
		{"UpdateRollbackOnPanic", testUpdateRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ViewSnapshot", testViewSnapshot},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentStateChanges", testConcurrentStateChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// cmpOpts compares records as the Tx contract promises them: times as UTC
// truncated to microseconds, nil and empty slices alike, and the clinic ids
// of a user as a set.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
	}),
	cmpopts.EquateEmpty(),
	cmpopts.SortSlices(func(a, b string) bool { return a < b }),
}

// diff reports a mismatch between want and got.
func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, append(cmp.Options{cmpOpts}, opts...)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// update runs fn in a read-write transaction and fails the test on error.
func update(t *testing.T, s confidant.Store, fn func(ctx context.Context, tx confidant.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx confidant.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// tryUpdate runs fn in a read-write transaction and returns its error.
func tryUpdate(t *testing.T, s confidant.Store, fn func(ctx context.Context, tx confidant.Tx) error) error {
	t.Helper()
	ctx := t.Context()
	return s.Update(ctx, func(tx confidant.Tx) error { return fn(ctx, tx) })
}

// read runs fn in a read-only transaction and returns its result, failing the
// test on error.
func read[T any](t *testing.T, s confidant.Store, fn func(ctx context.Context, tx confidant.Tx) (T, error)) T {
	t.Helper()
	ctx := t.Context()
	var v T
	err := s.View(ctx, func(tx confidant.Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v
}

// tryView runs fn in a read-only transaction and returns its error.
func tryView(t *testing.T, s confidant.Store, fn func(ctx context.Context, tx confidant.Tx) error) error {
	t.Helper()
	ctx := t.Context()
	return s.View(ctx, func(tx confidant.Tx) error { return fn(ctx, tx) })
}

// wantKind fails the test unless err is an *confidant.Error of kind want.
func wantKind(t *testing.T, what string, err error, want confidant.Kind) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, want)
		return
	}
	if got := confidant.KindOf(err); got != want {
		t.Errorf("%s: got error kind %v (%v), want %v", what, got, err, want)
	}
}

// wantNoLeak fails the test if err's text contains any of the secrets.
func wantNoLeak(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q contains patient data", what, err)
		}
	}
}

// zone is where the suite's input times live, so a store must convert to
// UTC. base has nanoseconds, so a store must truncate to microseconds.
var (
	zone = time.FixedZone("EET", 2*60*60)
	base = time.Date(2025, 3, 14, 9, 26, 53, 589793738, zone) // rounds up, truncates down
)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

const day = 24 * time.Hour

// fixture is a minimal set of related records most tests need.
type fixture struct {
	clinic    confidant.Clinic
	therapist confidant.User
	patient   confidant.Patient
}

// seed creates an organisation, a clinic, a therapist and a patient.
func seed(t *testing.T, s confidant.Store) fixture {
	t.Helper()
	f := fixture{clinic: newClinic("Helsinki centre")}
	f.therapist = newUser(confidant.RoleTherapist, f.clinic.ID)
	f.patient = newPatient(f.clinic.ID, "Aino", "Virtanen", 1)
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		if err := tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: "Mieli Oy", CreatedAt: base}); err != nil {
			return err
		}
		if err := tx.CreateClinic(ctx, f.clinic); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, f.therapist); err != nil {
			return err
		}
		return tx.CreatePatient(ctx, f.patient)
	})
	return f
}

func newClinic(name string) confidant.Clinic {
	return confidant.Clinic{ID: confidant.NewID(), Name: name, City: "Helsinki", CreatedAt: base}
}

func newUser(role confidant.Role, clinics ...string) confidant.User {
	id := confidant.NewID()
	return confidant.User{
		ID:           id,
		Username:     "user-" + id[:10],
		DisplayName:  "User " + id[:4],
		Role:         role,
		ClinicIDs:    clinics,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:    at(time.Minute),
	}
}

// newPatient returns a patient with a valid identity code made from n
// (distinct n give distinct codes).
func newPatient(clinicID, given, family string, n int) confidant.Patient {
	birth := time.Date(1980+n%20, time.Month(1+n%12), 1+n%28, 0, 0, 0, 0, time.UTC)
	code, err := confidant.MakeIdentityCode(birth, 900+n%100)
	if err != nil {
		panic(fmt.Sprintf("storetest: MakeIdentityCode: %v", err))
	}
	return confidant.Patient{
		ID:           confidant.NewID(),
		ClinicID:     clinicID,
		GivenName:    given,
		FamilyName:   family,
		IdentityCode: code,
		BirthDate:    birth,
		Phone:        "+358 40 123 4567",
		Email:        strings.ToLower(given) + "@example.org",
		Address:      "Mannerheimintie 1 A 2\n00100 Helsinki",
		CreatedAt:    at(2 * time.Minute),
	}
}

func newCare(p confidant.Patient, therapistID string, from, to time.Time) confidant.CareRelationship {
	return confidant.CareRelationship{
		ID:          confidant.NewID(),
		PatientID:   p.ID,
		TherapistID: therapistID,
		ClinicID:    p.ClinicID,
		From:        from,
		To:          to,
		CreatedBy:   therapistID,
		CreatedAt:   at(3 * time.Minute),
	}
}

func newNote(patientID, authorID string, sessionAt time.Time) confidant.Note {
	return confidant.Note{
		ID:        confidant.NewID(),
		PatientID: patientID,
		AuthorID:  authorID,
		SessionAt: sessionAt,
		CreatedAt: sessionAt.Add(time.Hour),
		Versions: []confidant.NoteVersion{{
			Version:   1,
			Template:  confidant.TemplateSOAP,
			Body:      confidant.TemplateSOAP.Skeleton() + "Sleeps poorly; \"quotes\", 'apostrophes' and ümlauts.",
			Status:    confidant.NoteDraft,
			AuthorID:  authorID,
			CreatedAt: sessionAt.Add(time.Hour),
			UpdatedAt: sessionAt.Add(time.Hour),
		}},
	}
}

// ids returns the ids of records, in order.
func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func patientIDs(ps []confidant.Patient) []string {
	return ids(ps, func(p confidant.Patient) string { return p.ID })
}

// diffOrdered compares id lists where the order matters.
func diffOrdered(t *testing.T, what string, want, got []string) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// sortByID sorts slices of T by id before comparing, for lists whose order
// the interface leaves open.
func sortByID[T any](id func(T) string) cmp.Option {
	return cmpopts.SortSlices(func(a, b T) bool { return id(a) < id(b) })
}
