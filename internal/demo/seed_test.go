package demo

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/testfix"
)

func seedOptions() SeedOptions {
	return SeedOptions{Seed: 7, Clinics: 5, Staff: 20, Patients: 30, NotesPerPatient: 4,
		EventsPerPatient: 40, Now: testNow, BatchSize: 4, Hasher: password.NewTestHasher()}
}

func TestSeedDeterministic(t *testing.T) {
	s1, err := NewSeeder(seedOptions())
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := NewSeeder(seedOptions())
	g1, g2 := s1.generator(nil), s2.generator(nil)
	for i := range 12 {
		r1, r2 := g1.patient(i), g2.patient(i)
		if r1.patient.ID != s1.PatientID(i) || !confidant.ValidID(r1.patient.ID) {
			t.Fatalf("patient %d: id %q, want %q", i, r1.patient.ID, s1.PatientID(i))
		}
		if len(r1.notes) != 4 {
			t.Errorf("patient %d: %d notes, want 4", i, len(r1.notes))
		}
		for _, n := range r1.notes {
			if b := len(n.Versions[0].Body); b < 2048 || b > 8192 {
				t.Errorf("note of %d bytes, want 2-8 KiB", b)
			}
		}
		h1, h2 := g1.history(i, r1, 40), g2.history(i, r2, 40)
		if len(h1) < 40 {
			t.Errorf("patient %d: %d events, want 40", i, len(h1))
		}
		r1.newID, r2.newID = nil, nil
		if diff := cmp.Diff(r1, r2, cmp.AllowUnexported(patientRecords{})); diff != "" {
			t.Fatalf("patient %d differs:\n%.2000s", i, diff)
		}
		if diff := cmp.Diff(h1, h2); diff != "" {
			t.Fatalf("history %d differs:\n%.2000s", i, diff)
		}
	}
	o := seedOptions()
	o.Seed = 8
	s3, _ := NewSeeder(o)
	if s3.PatientID(0) == s1.PatientID(0) || s3.OrganisationID() == s1.OrganisationID() {
		t.Error("another seed gives the same ids")
	}
}

type seedState struct {
	Summary  []string
	IDs      []string
	Done     int
	LogSize  uint64
	Notes    int
	Patients int
}

func seedStateOf(t *testing.T, s *Seeder, st confidant.Store) seedState {
	t.Helper()
	done, _, err := s.Done(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	d := readBack(t, st)
	var ids []string
	for _, p := range d.patients {
		ids = append(ids, p.ID)
	}
	notes := 0
	for _, ns := range d.notes {
		notes += len(ns)
	}
	size, _, _ := testfix.Log(st).Head(t.Context())
	return seedState{Summary: summary(t, st), IDs: ids, Done: done, LogSize: size, Notes: notes, Patients: len(d.patients)}
}

func TestSeedResume(t *testing.T) {
	s, err := NewSeeder(seedOptions())
	if err != nil {
		t.Fatal(err)
	}
	full := openStore(t)
	li, pr, err := s.Run(t.Context(), full, nil)
	if err != nil || pr.Patients != 30 {
		t.Fatalf("run: %v %+v", err, pr)
	}
	checkTherapistLogins(t, full, li, 20-1-2) // 20 staff: a manager per five clinics, two security officers
	want := seedStateOf(t, s, full)
	if want.Patients != 30 || want.Notes != 120 || want.LogSize < 30*40 {
		t.Fatalf("full run: %d patients, %d notes, %d events", want.Patients, want.Notes, want.LogSize)
	}

	st := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	_, pr, err = s.Run(ctx, st, func(p Progress) {
		if p.Patients >= 12 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || pr.Patients != 12 {
		t.Fatalf("canceled run: %v after %d patients", err, pr.Patients)
	}
	if done, _, err := s.Done(t.Context(), st); err != nil || done != 12 {
		t.Fatalf("Done after cancel: %d %v, want 12", done, err)
	}
	if _, pr, err := s.Run(t.Context(), st, nil); err != nil || pr.Patients != 30 {
		t.Fatalf("resumed run: %v %+v", err, pr)
	}
	got := seedStateOf(t, s, st)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resumed data set differs from an uninterrupted one:\n%.3000s", diff)
	}
	// A third run has nothing to do.
	if _, pr, err := s.Run(t.Context(), st, nil); err != nil || pr.Notes != 0 {
		t.Fatalf("rerun: %v %+v", err, pr)
	}
}

// checkTherapistLogins checks that li lists n distinct therapist accounts of
// st, the demo therapist first.
func checkTherapistLogins(t *testing.T, st confidant.Store, li Logins, n int) {
	t.Helper()
	if len(li.Therapists) != n || li.Therapists[0] != TherapistUsername {
		t.Fatalf("therapists in the logins: %q, want %d with %q first", li.Therapists, n, TherapistUsername)
	}
	seen := map[string]bool{}
	err := st.View(t.Context(), func(tx confidant.Tx) error {
		for _, name := range li.Therapists {
			u, err := tx.UserByUsername(t.Context(), name)
			if err != nil {
				return err
			}
			if u.Role != confidant.RoleTherapist || seen[name] {
				t.Errorf("%s: role %s, listed twice: %v", name, u.Role, seen[name])
			}
			seen[name] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
