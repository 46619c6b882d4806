package sqlite_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// BenchmarkUpdate measures one small write transaction (a note with its
// first version), the unit the synchronous setting is about.
func BenchmarkUpdate(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Bench", CreatedAt: time.Now()}
	user := confidant.User{ID: confidant.NewID(), Username: "bench", Role: confidant.RoleTherapist, CreatedAt: time.Now()}
	patient := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, CreatedAt: time.Now(), Data: make([]byte, 200)}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, user); err != nil {
			return err
		}
		return tx.CreatePatient(ctx, patient)
	})
	if err != nil {
		b.Fatal(err)
	}
	sealedNote := make([]byte, 600) // a short note's ciphertext
	for b.Loop() {
		now := time.Now()
		n := confidant.SealedNote{
			ID: confidant.NewID(), PatientID: patient.ID, AuthorID: user.ID, SessionAt: now, CreatedAt: now,
			Versions: []confidant.SealedNoteVersion{{Version: 1, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: user.ID, CreatedAt: now, UpdatedAt: now, Data: sealedNote}},
		}
		if err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.CreateNote(ctx, n) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkView measures a read transaction listing a patient's notes.
func BenchmarkView(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	for b.Loop() {
		err := db.View(ctx, func(tx confidant.SealedTx) error {
			_, err := tx.ListNotes(ctx, "x", confidant.NoteFilter{Limit: 20})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeed measures a CPU-bound write transaction like the demo
// generator's: a patient with a keyset, care, ten notes and a few other
// records, with relaxed sync so that fsync does not dominate.
func BenchmarkSeed(b *testing.B) {
	withAndWithoutCache(b, benchmarkSeed)
}

// withAndWithoutCache runs bench with the statement cache and without it,
// and reports the CPU time used per operation (cpu-ns/op), which other
// load on the machine disturbs less than the wall-clock ns/op.
func withAndWithoutCache(b *testing.B, bench func(b *testing.B, cache bool)) {
	for _, cache := range []bool{true, false} {
		name := "cache"
		if !cache {
			name = "nocache"
		}
		b.Run(name, func(b *testing.B) {
			start := cpuTime()
			bench(b, cache)
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchmarkSeed(b *testing.B, cache bool) {
	db := openAt(b, filepath.Join(b.TempDir(), "confidant.db"), sqlite.Options{RelaxedSync: true})
	if !cache {
		sqlite.DisableStmtCache(db)
	}
	ctx := b.Context()
	now := time.Now()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Bench", CreatedAt: now}
	user := confidant.User{ID: confidant.NewID(), Username: "bench", Role: confidant.RoleTherapist, CreatedAt: now}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		return tx.CreateUser(ctx, user)
	})
	if err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 600)
	for b.Loop() {
		id := confidant.NewID()
		p := confidant.SealedPatient{ID: id, ClinicID: clinic.ID, CreatedAt: now, Data: blob,
			IdentityIndex: []byte(id[:12]), SurnameIndex: []byte(id[2:14]), SurnameYearIndex: []byte(id[4:16])}
		err := db.Update(ctx, func(tx confidant.SealedTx) error {
			if _, err := tx.ListPatients(ctx, confidant.SealedPatientFilter{IdentityIndex: p.IdentityIndex}); err != nil {
				return err
			}
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
			if err := tx.PutPatientKey(ctx, confidant.WrappedKey{Owner: p.ID, KEKID: "k", Wrapped: blob[:100], UpdatedAt: now}); err != nil {
				return err
			}
			if err := tx.CreateCare(ctx, confidant.CareRelationship{ID: confidant.NewID(), PatientID: p.ID, TherapistID: user.ID, ClinicID: clinic.ID, From: now, CreatedAt: now}); err != nil {
				return err
			}
			for range 10 {
				n := confidant.SealedNote{ID: confidant.NewID(), PatientID: p.ID, AuthorID: user.ID, SessionAt: now, CreatedAt: now,
					Versions: []confidant.SealedNoteVersion{{Version: 1, Template: confidant.TemplateFree, Status: confidant.NoteSigned,
						AuthorID: user.ID, CreatedAt: now, UpdatedAt: now, SignedAt: now, SignedBy: user.ID, Data: blob}}}
				if err := tx.CreateNote(ctx, n); err != nil {
					return err
				}
			}
			for range 3 {
				if err := tx.CreateDiagnosis(ctx, confidant.SealedDiagnosis{ID: confidant.NewID(), PatientID: p.ID, Status: confidant.DiagnosisActive, RecordedBy: user.ID, RecordedAt: now, Data: blob}); err != nil {
					return err
				}
				if err := tx.CreateMeasure(ctx, confidant.SealedMeasure{ID: confidant.NewID(), PatientID: p.ID, Instrument: confidant.PHQ9, RecordedBy: user.ID, TakenAt: now, Data: blob}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkViewPatient measures a read transaction as a therapist's patient
// page makes it: the patient, its key, its notes, diagnoses and measures.
func BenchmarkViewPatient(b *testing.B) {
	withAndWithoutCache(b, benchmarkViewPatient)
}

func benchmarkViewPatient(b *testing.B, cache bool) {
	db := openTemp(b)
	if !cache {
		sqlite.DisableStmtCache(db)
	}
	ctx := b.Context()
	now := time.Now()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Bench", CreatedAt: now}
	user := confidant.User{ID: confidant.NewID(), Username: "bench", Role: confidant.RoleTherapist, CreatedAt: now}
	p := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, CreatedAt: now, Data: make([]byte, 300)}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		for _, err := range []error{tx.CreateClinic(ctx, clinic), tx.CreateUser(ctx, user), tx.CreatePatient(ctx, p),
			tx.PutPatientKey(ctx, confidant.WrappedKey{Owner: p.ID, KEKID: "k", Wrapped: make([]byte, 100), UpdatedAt: now})} {
			if err != nil {
				return err
			}
		}
		for i := range 20 {
			n := confidant.SealedNote{ID: confidant.NewID(), PatientID: p.ID, AuthorID: user.ID, SessionAt: now.Add(time.Duration(i) * time.Hour), CreatedAt: now,
				Versions: []confidant.SealedNoteVersion{{Version: 1, Template: confidant.TemplateFree, Status: confidant.NoteDraft,
					AuthorID: user.ID, CreatedAt: now, UpdatedAt: now, Data: make([]byte, 600)}}}
			if err := tx.CreateNote(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		err := db.View(ctx, func(tx confidant.SealedTx) error {
			if _, err := tx.Patient(ctx, p.ID); err != nil {
				return err
			}
			if _, err := tx.PatientKey(ctx, p.ID); err != nil {
				return err
			}
			if _, err := tx.HasActiveCare(ctx, user.ID, p.ID, now); err != nil {
				return err
			}
			if _, err := tx.ListNotes(ctx, p.ID, confidant.NoteFilter{Limit: 20}); err != nil {
				return err
			}
			if _, err := tx.ListDiagnoses(ctx, p.ID); err != nil {
				return err
			}
			_, err := tx.ListMeasures(ctx, p.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
