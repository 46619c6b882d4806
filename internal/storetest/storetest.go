// Package storetest is the conformance suite for implementations of
// confidant.SealedStore. Every database (internal/sqlite, internal/postgres)
// runs the same suite, so they behave the same:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) confidant.SealedStore {
//			s := openEmptyStore(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the contracts documented on confidant.SealedStore and
// confidant.SealedTx. Where the interface leaves something open (for example
// the order of ListUsers), the suite does not depend on it. Times are
// compared as UTC truncated to microseconds: a store must keep at least
// microsecond precision and must truncate, not round, anything finer.
//
// Sealed data (every Data field, wrapped keys) and blind indexes are random
// bytes here, with zero bytes and 0xFF in them: a store must keep them
// byte-exact and must not look inside.
package storetest

import (
	"context"
	"math/rand/v2"
	"slices"
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
func Run(t *testing.T, open func(t *testing.T) confidant.SealedStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s confidant.SealedStore)
	}{
		{"Organisation", testOrganisation},
		{"Clinics", testClinics},
		{"Users", testUsers},
		{"UserConflict", testUserConflict},
		{"UpdateUser", testUpdateUser},
		{"FactMACs", testFactMACs},
		{"ListUsers", testListUsers},
		{"RecordLogin", testRecordLogin},
		{"Sessions", testSessions},
		{"FailSession", testFailSession},
		{"SessionsAndNotices", testSessionsAndNotices},
		{"LoginFailures", testLoginFailures},
		{"TOTP", testTOTP},
		{"ConcurrentTOTP", testConcurrentTOTP},
		{"Invitations", testInvitations},
		{"Approval", testApproval},
		{"OnePortalAccount", testOnePortalAccount},
		{"DeleteTOTP", testDeleteTOTP},
		{"BreakGlass", testBreakGlass},
		{"Alerts", testAlerts},
		{"Honeytokens", testHoneytokens},
		{"Incidents", testIncidents},
		{"Recipients", testRecipients},
		{"Outbox", testOutbox},
		{"ConcurrentClaims", testConcurrentClaims},
		{"WebAuthn", testWebAuthn},
		{"WebAuthnCeremonies", testWebAuthnCeremonies},
		{"RecoveryCodes", testRecoveryCodes},
		{"Patients", testPatients},
		{"PatientIndexes", testPatientIndexes},
		{"ListPatients", testListPatients},
		{"ListPatientsForTherapist", testListPatientsForTherapist},
		{"ErasePatient", testErasePatient},
		{"PatientKeys", testPatientKeys},
		{"ListPatientKeys", testListPatientKeys},
		{"SystemKeys", testSystemKeys},
		{"Care", testCare},
		{"HasActiveCare", testHasActiveCare},
		{"ListCare", testListCare},
		{"Notes", testNotes},
		{"NoteWithHistory", testNoteWithHistory},
		{"NoteLifecycle", testNoteLifecycle},
		{"ListNotes", testListNotes},
		{"ProcessNotes", testProcessNotes},
		{"Diagnoses", testDiagnoses},
		{"Plans", testPlans},
		{"Measures", testMeasures},
		{"Attachments", testAttachments},
		{"AttachmentIncomplete", testAttachmentIncomplete},
		{"PatientBlobs", testPatientBlobs},
		{"RewriteBlob", testRewriteBlob},
		{"ScanRecords", testScanRecords},
		{"NotFound", testNotFound},
		{"UpdateRollbackOnError", testUpdateRollbackOnError},
		{"UpdateRollbackOnPanic", testUpdateRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ViewSnapshot", testViewSnapshot},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentStateChanges", testConcurrentStateChanges},
		{"DetectorState", testDetectorState},
		{"ConcurrentDetectors", testConcurrentDetectors},
		{"UserIdentityIndex", testUserIdentityIndex},
		{"UserCloseIndexes", testUserCloseIndexes},
		{"AddressIndexes", testAddressIndexes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// cmpOpts compares records as the SealedTx contract promises them: times as
// UTC truncated to microseconds, nil and empty slices alike, and the clinic
// ids of a user as a set. Byte slices (sealed data, indexes) must be equal
// byte for byte.
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
func update(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx confidant.SealedTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// tryUpdate runs fn in a read-write transaction and returns its error.
func tryUpdate(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) error) error {
	t.Helper()
	ctx := t.Context()
	return s.Update(ctx, func(tx confidant.SealedTx) error { return fn(ctx, tx) })
}

// read runs fn in a read-only transaction and returns its result, failing the
// test on error.
func read[T any](t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) (T, error)) T {
	t.Helper()
	ctx := t.Context()
	var v T
	err := s.View(ctx, func(tx confidant.SealedTx) error {
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
func tryView(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) error) error {
	t.Helper()
	ctx := t.Context()
	return s.View(ctx, func(tx confidant.SealedTx) error { return fn(ctx, tx) })
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
	patient   confidant.SealedPatient
}

// seed creates an organisation, a clinic, a therapist and a patient.
func seed(t *testing.T, s confidant.SealedStore) fixture {
	t.Helper()
	f := fixture{clinic: newClinic("Helsinki centre")}
	f.therapist = newUser(confidant.RoleTherapist, f.clinic.ID)
	f.patient = newPatient(f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
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

// sealed returns opaque bytes standing in for a ciphertext: 16 to 4096
// random bytes that start with a zero byte, end with 0xFF and have another
// zero byte in the middle, so a store that treats them as text fails.
func sealed() []byte {
	return randomBytes(16 + rand.IntN(4096-16+1))
}

// randomBytes returns n >= 3 random bytes with zero bytes at the start and
// in the middle and 0xFF at the end.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	b[0], b[n/2], b[n-1] = 0, 0, 0xFF
	return b
}

// blindIndex returns a random stand-in for a truncated blind index.
func blindIndex() []byte { return randomBytes(8 + rand.IntN(25)) }

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

// newPatient returns a patient with sealed data and four distinct blind
// indexes.
func newPatient(clinicID string) confidant.SealedPatient {
	return confidant.SealedPatient{
		ID:               confidant.NewID(),
		ClinicID:         clinicID,
		CreatedAt:        at(2 * time.Minute),
		Data:             sealed(),
		IdentityIndex:    blindIndex(),
		SurnameIndex:     blindIndex(),
		SurnameYearIndex: blindIndex(),
		AddressIndex:     blindIndex(),
	}
}

func newCare(p confidant.SealedPatient, therapistID string, from, to time.Time) confidant.CareRelationship {
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

// newNote returns a note with one draft version.
func newNote(patientID, authorID string, sessionAt time.Time) confidant.SealedNote {
	return confidant.SealedNote{
		ID:        confidant.NewID(),
		PatientID: patientID,
		AuthorID:  authorID,
		SessionAt: sessionAt,
		CreatedAt: sessionAt.Add(time.Hour),
		Versions: []confidant.SealedNoteVersion{{
			Version:   1,
			Template:  confidant.TemplateSOAP,
			Status:    confidant.NoteDraft,
			AuthorID:  authorID,
			CreatedAt: sessionAt.Add(time.Hour),
			UpdatedAt: sessionAt.Add(time.Hour),
			Data:      sealed(),
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

func patientIDs(ps []confidant.SealedPatient) []string {
	return ids(ps, func(p confidant.SealedPatient) string { return p.ID })
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

// sortPatients sorts patients as ListPatients must return them: by
// CreatedAt, then ID.
func sortPatients(ps []confidant.SealedPatient) []confidant.SealedPatient {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b confidant.SealedPatient) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ps
}
