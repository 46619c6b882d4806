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
