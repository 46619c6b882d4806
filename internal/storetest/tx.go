package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testNotFound(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	unknown := confidant.NewID()
	const unknownUsername = "nobody.here"
	ops := []struct {
		name string
		op   func(ctx context.Context, tx confidant.SealedTx) error
	}{
		{"Clinic", func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Clinic(ctx, unknown); return err }},
		{"UpdateClinic", func(ctx context.Context, tx confidant.SealedTx) error {
			c := f.clinic
			c.ID = unknown
			return tx.UpdateClinic(ctx, c)
		}},
		{"User", func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.User(ctx, unknown); return err }},
		{"UserByUsername", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.UserByUsername(ctx, unknownUsername)
			return err
		}},
		{"UpdateUser", func(ctx context.Context, tx confidant.SealedTx) error {
			u := f.therapist
			u.ID, u.Username = unknown, unknownUsername
			return tx.UpdateUser(ctx, u)
		}},
		{"SetPassword", func(ctx context.Context, tx confidant.SealedTx) error { return tx.SetPassword(ctx, unknown, "x") }},
		{"RecordLogin", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.RecordLogin(ctx, unknown, false, base)
		}},
		{"TouchSession", func(ctx context.Context, tx confidant.SealedTx) error { return tx.TouchSession(ctx, unknown, base) }},
		{"Patient", func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Patient(ctx, unknown); return err }},
		{"UpdatePatient", func(ctx context.Context, tx confidant.SealedTx) error {
			p := newPatient(f.clinic.ID)
			p.ID = unknown
			return tx.UpdatePatient(ctx, p)
		}},
		{"ErasePatient", func(ctx context.Context, tx confidant.SealedTx) error { return tx.ErasePatient(ctx, unknown, base) }},
		{"PatientKey", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.PatientKey(ctx, unknown)
			return err
		}},
		{"SystemKey", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.SystemKey(ctx, "no-such-key")
			return err
		}},
		{"Care", func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Care(ctx, unknown); return err }},
		{"EndCare", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.EndCare(ctx, unknown, base, f.therapist.ID)
		}},
		{"Note", func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Note(ctx, unknown); return err }},
		{"UpdateDraft", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.UpdateDraft(ctx, unknown, 1, confidant.TemplateFree, sealed(), base)
		}},
		{"SignNote", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.SignNote(ctx, unknown, 1, f.therapist.ID, base)
		}},
		{"AddNoteVersion", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.AddNoteVersion(ctx, unknown, confidant.SealedNoteVersion{Template: confidant.TemplateFree, Data: sealed(), Status: confidant.NoteDraft, AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base})
		}},
		{"ReleaseNote", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.ReleaseNote(ctx, unknown, f.therapist.ID, base)
		}},
		{"Diagnosis", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.Diagnosis(ctx, unknown)
			return err
		}},
		{"SetDiagnosisStatus", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.SetDiagnosisStatus(ctx, unknown, confidant.DiagnosisResolved)
		}},
		{"Attachment", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.Attachment(ctx, unknown)
			return err
		}},
		{"AttachmentChunk", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.AttachmentChunk(ctx, unknown, 0)
			return err
		}},
		{"RewriteBlob", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.RewriteBlob(ctx, confidant.Blob{PatientID: unknown, Kind: confidant.BlobPatient, ID: unknown, Data: sealed()})
		}},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(t, s, tc.op)
			wantKind(t, tc.name, err, confidant.KindNotFound)
			if err != nil && strings.Contains(err.Error(), unknownUsername) {
				t.Errorf("%s: error %q contains the username looked for", tc.name, err)
			}
		})
	}
}

// errRollback is returned by transactions that must leave nothing behind.
var errRollback = errors.New("storetest: roll back")

func testUpdateRollbackOnError(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	c := newClinic("Never")
	p := newPatient(f.clinic.ID)
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, c); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p); err != nil {
			return err
		}
		if err := tx.RecordLogin(ctx, f.therapist.ID, false, at(time.Hour)); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errRollback)
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	wantNothingKept(t, s, f, c, p)
}

func testUpdateRollbackOnPanic(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	c := newClinic("Never")
	p := newPatient(f.clinic.ID)
	type boom struct{ msg string }
	func() {
		defer func() {
			r := recover()
			if r != (boom{"storetest"}) {
				t.Errorf("recovered %v, want the panic value of fn", r)
			}
		}()
		s.Update(t.Context(), func(tx confidant.SealedTx) error {
			ctx := t.Context()
			if err := tx.CreateClinic(ctx, c); err != nil {
				return err
			}
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
			if err := tx.RecordLogin(ctx, f.therapist.ID, false, at(time.Hour)); err != nil {
				return err
			}
			panic(boom{"storetest"})
		})
		t.Errorf("Update returned after fn panicked")
	}()
	wantNothingKept(t, s, f, c, p)

	// The store is still usable: the panic did not leave a transaction open.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateClinic(ctx, c) })
	read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.Clinic, error) {
		return tx.Clinic(ctx, c.ID)
	})
}

// wantNothingKept checks that neither c nor p exist and that the fixture's
// therapist has no failed sign-in recorded.
func wantNothingKept(t *testing.T, s confidant.SealedStore, f fixture, c confidant.Clinic, p confidant.SealedPatient) {
	t.Helper()
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Clinic(ctx, c.ID); return err })
	wantKind(t, "Clinic after rollback", err, confidant.KindNotFound)
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Patient(ctx, p.ID); return err })
	wantKind(t, "Patient after rollback", err, confidant.KindNotFound)
	u := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.User, error) {
		return tx.User(ctx, f.therapist.ID)
	})
	if u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("after rollback: FailedLogins = %d, LockedUntil = %v; want 0 and zero", u.FailedLogins, u.LockedUntil)
	}
}

func testViewIsReadOnly(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	c := newClinic("Never")
	writes := []struct {
		name string
		op   func(ctx context.Context, tx confidant.SealedTx) error
	}{
		{"CreateClinic", func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateClinic(ctx, c) }},
		{"RecordLogin", func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.RecordLogin(ctx, f.therapist.ID, false, at(time.Hour))
		}},
		{"DeleteExpiredSessions", func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.DeleteExpiredSessions(ctx, base)
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			// fn ignores the failure: even then nothing may be written, and
			// View may or may not report the failed write itself.
			var opErr error
			_ = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
				opErr = w.op(ctx, tx)
				return nil
			})
			if opErr == nil {
				t.Errorf("%s in View succeeded, want an error", w.name)
			}
		})
	}
	wantNothingKept(t, s, f, c, confidant.SealedPatient{ID: confidant.NewID()})
}

// testViewSnapshot checks that a View does not see a write committed after
// its first read (a consistent snapshot, not read-committed).
func testViewSnapshot(t *testing.T, s confidant.SealedStore) {
	first := newClinic("First")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateClinic(ctx, first) })
	second := newClinic("Second")
	var before, after []confidant.Clinic
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		if before, err = tx.ListClinics(ctx); err != nil {
			return err
		}
		// Another transaction commits meanwhile.
		if err := s.Update(ctx, func(w confidant.SealedTx) error { return w.CreateClinic(ctx, second) }); err != nil {
			return fmt.Errorf("concurrent Update: %w", err)
		}
		after, err = tx.ListClinics(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	byID := sortByID[confidant.Clinic](func(c confidant.Clinic) string { return c.ID })
	diff(t, "ListClinics at the start of the View", []confidant.Clinic{first}, before, byID)
	diff(t, "ListClinics later in the same View", []confidant.Clinic{first}, after, byID)
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.Clinic, error) {
		return tx.ListClinics(ctx)
	})
	diff(t, "ListClinics in a new View", []confidant.Clinic{first, second}, got, byID)
}

func testConcurrentUpdates(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	const writers, perWriter = 8, 20
	var (
		mu      sync.Mutex
		created []string
		wg      sync.WaitGroup
		done    = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				n := newNote(f.patient.ID, f.therapist.ID, at(time.Duration(w*perWriter+i)*time.Minute))
				err := s.Update(t.Context(), func(tx confidant.SealedTx) error { return tx.CreateNote(t.Context(), n) })
				if err != nil {
					t.Errorf("writer %d, transaction %d: %v", w, i, err)
					return
				}
				mu.Lock()
				created = append(created, n.ID)
				mu.Unlock()
			}
		})
	}
	// Readers run alongside and must never fail.
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				err := s.View(t.Context(), func(tx confidant.SealedTx) error {
					_, err := tx.ListNotes(t.Context(), f.patient.ID, confidant.NoteFilter{Limit: 10})
					return err
				})
				if err != nil {
					t.Errorf("concurrent View: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()

	notes := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedNote, error) {
		return tx.ListNotes(ctx, f.patient.ID, confidant.NoteFilter{})
	})
	if len(notes) != writers*perWriter {
		t.Errorf("ListNotes returned %d notes, want %d", len(notes), writers*perWriter)
	}
	got := ids(notes, func(n confidant.SealedNote) string { return n.ID })
	diff(t, "note ids", created, got)
}

// testConcurrentStateChanges races transactions that may each succeed only
// once (sign a draft, release a note, end a relationship): exactly one
// must win. The others fail with KindConflict, or KindUnavailable if the
// store detected the race as a serialisation failure.
func testConcurrentStateChanges(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	n := newNote(f.patient.ID, f.therapist.ID, base)
	c := newCare(f.patient, f.therapist.ID, at(-day), time.Time{})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateNote(ctx, n); err != nil {
			return err
		}
		return tx.CreateCare(ctx, c)
	})
	ops := []struct {
		name string
		op   func(ctx context.Context, tx confidant.SealedTx, i int) error
	}{
		{"SignNote", func(ctx context.Context, tx confidant.SealedTx, i int) error {
			return tx.SignNote(ctx, n.ID, 1, f.therapist.ID, at(time.Duration(i)*time.Second))
		}},
		{"ReleaseNote", func(ctx context.Context, tx confidant.SealedTx, i int) error {
			return tx.ReleaseNote(ctx, n.ID, f.therapist.ID, at(time.Duration(i)*time.Second))
		}},
		{"EndCare", func(ctx context.Context, tx confidant.SealedTx, i int) error {
			return tx.EndCare(ctx, c.ID, at(time.Duration(i)*time.Second), f.therapist.ID)
		}},
	}
	const racers = 8
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins int
			)
			start := make(chan struct{})
			for i := range racers {
				wg.Go(func() {
					<-start
					err := s.Update(t.Context(), func(tx confidant.SealedTx) error { return o.op(t.Context(), tx, i) })
					switch k := confidant.KindOf(err); {
					case err == nil:
						mu.Lock()
						wins++
						mu.Unlock()
					case k == confidant.KindConflict || k == confidant.KindUnavailable:
					default:
						t.Errorf("racer %d: %v (kind %v), want success, conflict or unavailable", i, err, k)
					}
				})
			}
			close(start)
			wg.Wait()
			if wins != 1 {
				t.Errorf("%d of %d concurrent %s calls succeeded, want exactly 1", wins, racers, o.name)
			}
		})
	}
}
