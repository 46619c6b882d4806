package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testDiagnoses(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID, "Eino", "Leino", 2)
	mk := func(patientID, code, title string, d time.Duration) confidant.Diagnosis {
		return confidant.Diagnosis{
			ID: confidant.NewID(), PatientID: patientID, Code: code, Title: title,
			Note: "Onset after bereavement.", Status: confidant.DiagnosisActive,
			RecordedBy: f.therapist.ID, RecordedAt: at(d),
		}
	}
	older := mk(f.patient.ID, "F32.1", "Moderate depressive episode", -30*day)
	newer := mk(f.patient.ID, "F41.1", "Generalized anxiety disorder", -day)
	newer.Note = ""
	middle := mk(f.patient.ID, "F43.1", "Post-traumatic stress disorder", -10*day)
	other := mk(p2.ID, "F40.1", "Social phobias", 0)
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, d := range []confidant.Diagnosis{older, newer, middle, other} {
			if err := tx.CreateDiagnosis(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	got := read(t, s, func(ctx context.Context, tx confidant.Tx) (confidant.Diagnosis, error) {
		return tx.Diagnosis(ctx, older.ID)
	})
	diff(t, "Diagnosis", older, got)

	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		return tx.SetDiagnosisStatus(ctx, older.ID, confidant.DiagnosisResolved)
	})
	older.Status = confidant.DiagnosisResolved
	got = read(t, s, func(ctx context.Context, tx confidant.Tx) (confidant.Diagnosis, error) {
		return tx.Diagnosis(ctx, older.ID)
	})
	diff(t, "Diagnosis after SetDiagnosisStatus", older, got)

	list := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Diagnosis, error) {
		return tx.ListDiagnoses(ctx, f.patient.ID)
	})
	diff(t, "ListDiagnoses (newest first)", []confidant.Diagnosis{newer, middle, older}, list)
}

func testPlans(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID, "Eino", "Leino", 2)
	mk := func(patientID, goals string, review time.Time, d time.Duration) confidant.TreatmentPlan {
		return confidant.TreatmentPlan{
			ID: confidant.NewID(), PatientID: patientID, Goals: goals,
			Interventions: "CBT, weekly; behavioural activation.", ReviewOn: review,
			AuthorID: f.therapist.ID, CreatedAt: at(d),
		}
	}
	v1 := mk(f.patient.ID, "Return to work.", time.Time{}, -60*day)
	v3 := mk(f.patient.ID, "Return to work full time.", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), -day)
	v2 := mk(f.patient.ID, "Return to work part time.", time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), -30*day)
	other := mk(p2.ID, "Sleep.", time.Time{}, 0)
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, p := range []confidant.TreatmentPlan{v1, v3, v2, other} {
			if err := tx.CreatePlan(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	list := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.TreatmentPlan, error) {
		return tx.ListPlans(ctx, f.patient.ID)
	})
	diff(t, "ListPlans (newest first)", []confidant.TreatmentPlan{v3, v2, v1}, list)
	if len(list) == 3 && !list[2].ReviewOn.IsZero() {
		t.Errorf("unset ReviewOn read back as %v, want the zero time", list[2].ReviewOn)
	}
}

func testMeasures(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID, "Eino", "Leino", 2)
	mk := func(patientID string, in confidant.Instrument, answers []int, d time.Duration) confidant.Measure {
		score, severity, err := in.Score(answers)
		if err != nil {
			t.Fatalf("Score: %v", err)
		}
		return confidant.Measure{
			ID: confidant.NewID(), PatientID: patientID, Instrument: in, Answers: answers,
			Score: score, Severity: severity, RecordedBy: f.therapist.ID, TakenAt: at(d),
		}
	}
	first := mk(f.patient.ID, confidant.PHQ9, []int{3, 3, 2, 3, 1, 2, 2, 1, 1}, -60*day)
	third := mk(f.patient.ID, confidant.PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 0}, -day)
	second := mk(f.patient.ID, confidant.GAD7, []int{1, 2, 3, 0, 1, 2, 3}, -30*day)
	other := mk(p2.ID, confidant.GAD7, []int{0, 1, 0, 1, 0, 1, 0}, 0)
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, m := range []confidant.Measure{third, first, other, second} {
			if err := tx.CreateMeasure(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	list := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Measure, error) {
		return tx.ListMeasures(ctx, f.patient.ID)
	})
	diff(t, "ListMeasures (oldest first)", []confidant.Measure{first, second, third}, list)
}

func testAttachments(t *testing.T, s confidant.Store) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID, "Eino", "Leino", 2)
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	// Two full chunks and a short one with zero bytes in it.
	chunks := [][]byte{random(confidant.AttachmentChunkSize), random(confidant.AttachmentChunkSize), append([]byte{0, 0, 'P', 'D', 'F', 0}, random(1000)...)}
	var content []byte
	for _, c := range chunks {
		content = append(content, c...)
	}
	sum := sha256.Sum256(content)
	big := confidant.Attachment{
		ID: confidant.NewID(), PatientID: f.patient.ID, Filename: "lähete (2).pdf",
		ContentType: "application/pdf", Size: int64(len(content)), SHA256: sum[:],
		Chunks: len(chunks), UploadedBy: f.therapist.ID, CreatedAt: at(-day),
	}
	smallContent := []byte("hello")
	smallSum := sha256.Sum256(smallContent)
	small := confidant.Attachment{
		ID: confidant.NewID(), PatientID: f.patient.ID, Filename: "note.txt",
		ContentType: "text/plain", Size: int64(len(smallContent)), SHA256: smallSum[:],
		Chunks: 1, UploadedBy: f.therapist.ID, CreatedAt: base,
	}
	older := small
	older.ID, older.Filename, older.CreatedAt = confidant.NewID(), "old.txt", at(-30*day)
	other := small
	other.ID, other.PatientID = confidant.NewID(), p2.ID
	update(t, s, func(ctx context.Context, tx confidant.Tx) error {
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
		for _, a := range []confidant.Attachment{small, older, other} {
			if err := tx.PutAttachmentChunk(ctx, a.ID, 0, smallContent); err != nil {
				return err
			}
			if err := tx.CreateAttachment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})

	got := read(t, s, func(ctx context.Context, tx confidant.Tx) (confidant.Attachment, error) {
		return tx.Attachment(ctx, big.ID)
	})
	diff(t, "Attachment", big, got)
	var back []byte
	for i := range chunks {
		c := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]byte, error) { return tx.AttachmentChunk(ctx, big.ID, i) })
		if !bytes.Equal(c, chunks[i]) {
			t.Errorf("AttachmentChunk(%d): got %d bytes, want %d (content differs)", i, len(c), len(chunks[i]))
		}
		back = append(back, c...)
	}
	if got := sha256.Sum256(back); !bytes.Equal(got[:], big.SHA256) {
		t.Errorf("reassembled content does not match its SHA-256")
	}
	err := tryView(t, s, func(ctx context.Context, tx confidant.Tx) error {
		_, err := tx.AttachmentChunk(ctx, big.ID, len(chunks))
		return err
	})
	wantKind(t, "AttachmentChunk past the end", err, confidant.KindNotFound)

	list := read(t, s, func(ctx context.Context, tx confidant.Tx) ([]confidant.Attachment, error) {
		return tx.ListAttachments(ctx, f.patient.ID)
	})
	diff(t, "ListAttachments (newest first)", []confidant.Attachment{small, big, older}, list)
}
