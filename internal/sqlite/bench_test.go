package sqlite_test

import (
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// BenchmarkUpdate measures one small write transaction (a note with its
// first version), the unit the synchronous setting is about.
func BenchmarkUpdate(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Bench", CreatedAt: time.Now()}
	user := confidant.User{ID: confidant.NewID(), Username: "bench", Role: confidant.RoleTherapist, CreatedAt: time.Now()}
	patient := confidant.Patient{ID: confidant.NewID(), ClinicID: clinic.ID, FamilyName: "Bench", CreatedAt: time.Now()}
	err := db.Update(ctx, func(tx confidant.Tx) error {
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
	for b.Loop() {
		now := time.Now()
		n := confidant.Note{
			ID: confidant.NewID(), PatientID: patient.ID, AuthorID: user.ID, SessionAt: now, CreatedAt: now,
			Versions: []confidant.NoteVersion{{Template: confidant.TemplateFree, Body: "Benchmark note body.", Status: confidant.NoteDraft, AuthorID: user.ID, CreatedAt: now, UpdatedAt: now}},
		}
		if err := db.Update(ctx, func(tx confidant.Tx) error { return tx.CreateNote(ctx, n) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkView measures a read transaction listing a patient's notes.
func BenchmarkView(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	for b.Loop() {
		err := db.View(ctx, func(tx confidant.Tx) error {
			_, err := tx.ListNotes(ctx, "x", confidant.NoteFilter{Limit: 20})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
