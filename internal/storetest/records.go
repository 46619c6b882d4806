package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testDiagnoses(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID)
	mk := func(patientID string, d time.Duration) confidant.SealedDiagnosis {
		return confidant.SealedDiagnosis{
			ID: confidant.NewID(), PatientID: patientID, Status: confidant.DiagnosisActive,
			RecordedBy: f.therapist.ID, RecordedAt: at(d), Data: sealed(),
		}
	}
	older := mk(f.patient.ID, -30*day)
	newer := mk(f.patient.ID, -day)
	middle := mk(f.patient.ID, -10*day)
	other := mk(p2.ID, 0)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, d := range []confidant.SealedDiagnosis{older, newer, middle, other} {
			if err := tx.CreateDiagnosis(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(id string) confidant.SealedDiagnosis {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedDiagnosis, error) {
			return tx.Diagnosis(ctx, id)
		})
	}
	diff(t, "Diagnosis", older, get(older.ID))

	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetDiagnosisStatus(ctx, older.ID, confidant.DiagnosisResolved)
	})
	older.Status = confidant.DiagnosisResolved
	diff(t, "Diagnosis after SetDiagnosisStatus", older, get(older.ID))

	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedDiagnosis, error) {
		return tx.ListDiagnoses(ctx, f.patient.ID)
	})
	diff(t, "ListDiagnoses (newest first)", []confidant.SealedDiagnosis{newer, middle, older}, list)
}

func testPlans(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID)
	mk := func(patientID string, d time.Duration) confidant.SealedPlan {
		return confidant.SealedPlan{
			ID: confidant.NewID(), PatientID: patientID, AuthorID: f.therapist.ID, CreatedAt: at(d), Data: sealed(),
		}
	}
	v1 := mk(f.patient.ID, -60*day)
	v3 := mk(f.patient.ID, -day)
	v2 := mk(f.patient.ID, -30*day)
	other := mk(p2.ID, 0)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, p := range []confidant.SealedPlan{v1, v3, v2, other} {
			if err := tx.CreatePlan(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedPlan, error) {
		return tx.ListPlans(ctx, f.patient.ID)
	})
	diff(t, "ListPlans (newest first)", []confidant.SealedPlan{v3, v2, v1}, list)
}

func testMeasures(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID)
	mk := func(patientID string, in confidant.Instrument, d time.Duration) confidant.SealedMeasure {
		return confidant.SealedMeasure{
			ID: confidant.NewID(), PatientID: patientID, Instrument: in,
			RecordedBy: f.therapist.ID, TakenAt: at(d), Data: sealed(),
		}
	}
	first := mk(f.patient.ID, confidant.PHQ9, -60*day)
	third := mk(f.patient.ID, confidant.PHQ9, -day)
	second := mk(f.patient.ID, confidant.GAD7, -30*day)
	other := mk(p2.ID, confidant.GAD7, 0)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, m := range []confidant.SealedMeasure{third, first, other, second} {
			if err := tx.CreateMeasure(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedMeasure, error) {
		return tx.ListMeasures(ctx, f.patient.ID)
	})
	diff(t, "ListMeasures (oldest first)", []confidant.SealedMeasure{first, second, third}, list)
}

// sealedChunkOverhead is what the suite adds to a full plaintext chunk to
// stand in for its ciphertext: a store must accept sealed chunks somewhat
// larger than confidant.AttachmentChunkSize.
const sealedChunkOverhead = 64

func testAttachments(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID)
	// Two full sealed chunks and a short one.
	chunks := [][]byte{
		randomBytes(confidant.AttachmentChunkSize + sealedChunkOverhead),
		randomBytes(confidant.AttachmentChunkSize + sealedChunkOverhead),
		sealed(),
	}
	big := confidant.SealedAttachment{
		ID: confidant.NewID(), PatientID: f.patient.ID, ContentType: "application/pdf",
		Size: 2*confidant.AttachmentChunkSize + 1000, Chunks: len(chunks),
		UploadedBy: f.therapist.ID, CreatedAt: at(-day), Data: sealed(),
	}
	smallChunk := sealed()
	small := confidant.SealedAttachment{
		ID: confidant.NewID(), PatientID: f.patient.ID, ContentType: "text/plain", Size: 5, Chunks: 1,
		UploadedBy: f.therapist.ID, CreatedAt: base, Data: sealed(),
	}
	older := small
	older.ID, older.CreatedAt, older.Data = confidant.NewID(), at(-30*day), sealed()
	other := small
	other.ID, other.PatientID, other.Data = confidant.NewID(), p2.ID, sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for i, c := range chunks {
			if err := tx.PutAttachmentChunk(ctx, big.ID, i, c); err != nil {
				return err
			}
		}
		if err := tx.CreateAttachment(ctx, big); err != nil {
			return err
		}
		for _, a := range []confidant.SealedAttachment{small, older, other} {
			if err := tx.PutAttachmentChunk(ctx, a.ID, 0, smallChunk); err != nil {
				return err
			}
			if err := tx.CreateAttachment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})

	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedAttachment, error) {
		return tx.Attachment(ctx, big.ID)
	})
	diff(t, "Attachment", big, got)
	for i := range chunks {
		c := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]byte, error) {
			return tx.AttachmentChunk(ctx, big.ID, i)
		})
		if !bytes.Equal(c, chunks[i]) {
			t.Errorf("AttachmentChunk(%d): got %d bytes, want %d (content differs)", i, len(c), len(chunks[i]))
		}
	}
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.AttachmentChunk(ctx, big.ID, len(chunks))
		return err
	})
	wantKind(t, "AttachmentChunk past the end", err, confidant.KindNotFound)

	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedAttachment, error) {
		return tx.ListAttachments(ctx, f.patient.ID)
	})
	diff(t, "ListAttachments (newest first)", []confidant.SealedAttachment{small, big, older}, list)
}

// testAttachmentIncomplete checks that CreateAttachment refuses metadata
// whose number of chunks does not match the chunks put, and that chunks
// left without metadata fail the transaction.
func testAttachmentIncomplete(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	mk := func(chunks int) confidant.SealedAttachment {
		return confidant.SealedAttachment{
			ID: confidant.NewID(), PatientID: f.patient.ID, ContentType: "text/plain", Size: 10, Chunks: chunks,
			UploadedBy: f.therapist.ID, CreatedAt: base, Data: sealed(),
		}
	}
	tests := []struct {
		name string
		a    confidant.SealedAttachment
		put  []int // chunk indexes put before CreateAttachment
	}{
		{"missing chunk", mk(2), []int{0}},
		{"extra chunk", mk(1), []int{0, 1}},
		{"gap", mk(2), []int{0, 2}},
		{"no chunks", mk(1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
				for _, i := range tc.put {
					if err := tx.PutAttachmentChunk(ctx, tc.a.ID, i, sealed()); err != nil {
						return err
					}
				}
				return tx.CreateAttachment(ctx, tc.a)
			})
			wantKind(t, "CreateAttachment", err, confidant.KindInvalid)
		})
	}
	t.Run("chunks without metadata", func(t *testing.T) {
		id := confidant.NewID()
		err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.PutAttachmentChunk(ctx, id, 0, sealed())
		})
		if err == nil {
			t.Errorf("a transaction that left a chunk without its attachment committed")
		}
		err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			_, err := tx.AttachmentChunk(ctx, id, 0)
			return err
		})
		wantKind(t, "AttachmentChunk of a chunk without metadata", err, confidant.KindNotFound)
	})
}
