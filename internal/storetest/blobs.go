package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// patientRecords is one patient's sealed records, as created by
// createRecords.
type patientRecords struct {
	patient     confidant.SealedPatient
	note        confidant.SealedNote // two versions
	processNote confidant.SealedProcessNote
	diagnosis   confidant.SealedDiagnosis
	plan        confidant.SealedPlan
	measure     confidant.SealedMeasure
	attachment  confidant.SealedAttachment // two chunks
	chunks      [][]byte
}

// createRecords creates a patient with one record of every kind; the
// process note is by author.
func createRecords(t *testing.T, s confidant.SealedStore, clinicID, author string) patientRecords {
	t.Helper()
	p := newPatient(clinicID)
	r := patientRecords{
		patient: p,
		note:    newNote(p.ID, author, at(-day)),
		processNote: confidant.SealedProcessNote{
			ID: confidant.NewID(), PatientID: p.ID, AuthorID: author, CreatedAt: base, Data: sealed(),
		},
		diagnosis: confidant.SealedDiagnosis{
			ID: confidant.NewID(), PatientID: p.ID, Status: confidant.DiagnosisActive,
			RecordedBy: author, RecordedAt: base, Data: sealed(),
		},
		plan: confidant.SealedPlan{ID: confidant.NewID(), PatientID: p.ID, AuthorID: author, CreatedAt: base, Data: sealed()},
		measure: confidant.SealedMeasure{
			ID: confidant.NewID(), PatientID: p.ID, Instrument: confidant.PHQ9,
			RecordedBy: author, TakenAt: base, Data: sealed(),
		},
		attachment: confidant.SealedAttachment{
			ID: confidant.NewID(), PatientID: p.ID, ContentType: "application/pdf", Size: 5000, Chunks: 2,
			UploadedBy: author, CreatedAt: base, Data: sealed(),
		},
		chunks: [][]byte{sealed(), sealed()},
	}
	v1 := &r.note.Versions[0]
	v1.Status, v1.SignedAt, v1.SignedBy = confidant.NoteSigned, at(-day+time.Hour), author
	r.note.Versions = append(r.note.Versions, confidant.SealedNoteVersion{
		Version: 2, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: author,
		CreatedAt: base, UpdatedAt: base, Data: sealed(),
	})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, r.patient); err != nil {
			return err
		}
		if err := tx.CreateNote(ctx, r.note); err != nil {
			return err
		}
		if err := tx.CreateProcessNote(ctx, r.processNote); err != nil {
			return err
		}
		if err := tx.CreateDiagnosis(ctx, r.diagnosis); err != nil {
			return err
		}
		if err := tx.CreatePlan(ctx, r.plan); err != nil {
			return err
		}
		if err := tx.CreateMeasure(ctx, r.measure); err != nil {
			return err
		}
		for i, c := range r.chunks {
			if err := tx.PutAttachmentChunk(ctx, r.attachment.ID, i, c); err != nil {
				return err
			}
		}
		return tx.CreateAttachment(ctx, r.attachment)
	})
	return r
}

// blobs returns the blobs PatientBlobs must return for r.
func (r patientRecords) blobs() []confidant.Blob {
	id := r.patient.ID
	out := []confidant.Blob{
		{PatientID: id, Kind: confidant.BlobPatient, ID: id, Data: r.patient.Data},
		{PatientID: id, Kind: confidant.BlobProcessNote, ID: r.processNote.ID, Data: r.processNote.Data},
		{PatientID: id, Kind: confidant.BlobDiagnosis, ID: r.diagnosis.ID, Data: r.diagnosis.Data},
		{PatientID: id, Kind: confidant.BlobPlan, ID: r.plan.ID, Data: r.plan.Data},
		{PatientID: id, Kind: confidant.BlobMeasure, ID: r.measure.ID, Data: r.measure.Data},
		{PatientID: id, Kind: confidant.BlobAttachment, ID: r.attachment.ID, Data: r.attachment.Data},
	}
	for _, v := range r.note.Versions {
		out = append(out, confidant.Blob{PatientID: id, Kind: confidant.BlobNoteVersion, ID: r.note.ID, Sub: v.Version, Data: v.Data})
	}
	for i, c := range r.chunks {
		out = append(out, confidant.Blob{PatientID: id, Kind: confidant.BlobAttachmentChunk, ID: r.attachment.ID, Sub: i, Data: c})
	}
	return out
}

// sortBlobs sorts blobs by kind, id and sub before comparing: the order of
// PatientBlobs is left open.
var sortBlobs = cmpopts.SortSlices(func(a, b confidant.Blob) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Sub < b.Sub
})

func patientBlobs(t *testing.T, s confidant.SealedStore, patientID string) []confidant.Blob {
	t.Helper()
	return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.Blob, error) {
		return tx.PatientBlobs(ctx, patientID)
	})
}

func testPatientBlobs(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	colleague := newUser(confidant.RoleTherapist, f.clinic.ID)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateUser(ctx, colleague) })
	a := createRecords(t, s, f.clinic.ID, f.therapist.ID)
	b := createRecords(t, s, f.clinic.ID, colleague.ID)

	// Every author's process notes: re-encryption must reach them all.
	extra := confidant.SealedProcessNote{ID: confidant.NewID(), PatientID: a.patient.ID, AuthorID: colleague.ID, CreatedAt: base, Data: sealed()}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateProcessNote(ctx, extra) })
	wantA := append(a.blobs(), confidant.Blob{PatientID: a.patient.ID, Kind: confidant.BlobProcessNote, ID: extra.ID, Data: extra.Data})

	diff(t, "PatientBlobs", wantA, patientBlobs(t, s, a.patient.ID), sortBlobs)
	diff(t, "PatientBlobs of another patient", b.blobs(), patientBlobs(t, s, b.patient.ID), sortBlobs)
	diff(t, "PatientBlobs of a patient without records",
		[]confidant.Blob{{PatientID: f.patient.ID, Kind: confidant.BlobPatient, ID: f.patient.ID, Data: f.patient.Data}},
		patientBlobs(t, s, f.patient.ID), sortBlobs)
	diff(t, "PatientBlobs of an unknown patient", []confidant.Blob(nil), patientBlobs(t, s, confidant.NewID()), sortBlobs)

	// An erased patient's blobs are still there (for verification).
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ErasePatient(ctx, b.patient.ID, base)
	})
	diff(t, "PatientBlobs of an erased patient", b.blobs(), patientBlobs(t, s, b.patient.ID), sortBlobs)
}

func testRewriteBlob(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	a := createRecords(t, s, f.clinic.ID, f.therapist.ID)
	b := createRecords(t, s, f.clinic.ID, f.therapist.ID)
	bBefore := b.blobs()

	// Rewrite every blob of a, one transaction each, and check each through
	// the normal getter.
	for _, blob := range a.blobs() {
		name := fmt.Sprintf("%s/%d", blob.Kind, blob.Sub)
		t.Run(name, func(t *testing.T) {
			blob.Data = sealed()
			update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.RewriteBlob(ctx, blob) })
			got := readBlob(t, s, a, blob)
			if !bytes.Equal(got, blob.Data) {
				t.Errorf("after RewriteBlob, the getter returns %d bytes, not the %d rewritten", len(got), len(blob.Data))
			}
			a.set(blob)
		})
	}
	diff(t, "PatientBlobs after rewriting all", a.blobs(), patientBlobs(t, s, a.patient.ID), sortBlobs)

	// Only Data changed.
	gotPatient := getPatient(t, s, a.patient.ID)
	diff(t, "Patient after RewriteBlob", a.patient, gotPatient)
	gotNote := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, a.note.ID)
	})
	diff(t, "Note after RewriteBlob", a.note, gotNote)
	gotAttachment := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedAttachment, error) {
		return tx.Attachment(ctx, a.attachment.ID)
	})
	diff(t, "Attachment after RewriteBlob", a.attachment, gotAttachment)

	// Another patient's blobs were not touched.
	diff(t, "PatientBlobs of the other patient", bBefore, patientBlobs(t, s, b.patient.ID), sortBlobs)

	// Unknown blobs, and blobs of another patient, are not found.
	pid := a.patient.ID
	data := sealed()
	for _, tc := range []struct {
		name string
		blob confidant.Blob
	}{
		{"unknown patient", confidant.Blob{PatientID: confidant.NewID(), Kind: confidant.BlobPatient, ID: pid, Data: data}},
		{"unknown id", confidant.Blob{PatientID: pid, Kind: confidant.BlobDiagnosis, ID: confidant.NewID(), Data: data}},
		{"unknown kind", confidant.Blob{PatientID: pid, Kind: "secret", ID: a.diagnosis.ID, Data: data}},
		{"wrong kind", confidant.Blob{PatientID: pid, Kind: confidant.BlobPlan, ID: a.diagnosis.ID, Data: data}},
		{"note version past the last", confidant.Blob{PatientID: pid, Kind: confidant.BlobNoteVersion, ID: a.note.ID, Sub: 3, Data: data}},
		{"note version 0", confidant.Blob{PatientID: pid, Kind: confidant.BlobNoteVersion, ID: a.note.ID, Sub: 0, Data: data}},
		{"chunk past the last", confidant.Blob{PatientID: pid, Kind: confidant.BlobAttachmentChunk, ID: a.attachment.ID, Sub: 2, Data: data}},
		{"other patient's patient row", confidant.Blob{PatientID: pid, Kind: confidant.BlobPatient, ID: b.patient.ID, Data: data}},
		{"other patient's note version", confidant.Blob{PatientID: pid, Kind: confidant.BlobNoteVersion, ID: b.note.ID, Sub: 1, Data: data}},
		{"other patient's process note", confidant.Blob{PatientID: pid, Kind: confidant.BlobProcessNote, ID: b.processNote.ID, Data: data}},
		{"other patient's diagnosis", confidant.Blob{PatientID: pid, Kind: confidant.BlobDiagnosis, ID: b.diagnosis.ID, Data: data}},
		{"other patient's plan", confidant.Blob{PatientID: pid, Kind: confidant.BlobPlan, ID: b.plan.ID, Data: data}},
		{"other patient's measure", confidant.Blob{PatientID: pid, Kind: confidant.BlobMeasure, ID: b.measure.ID, Data: data}},
		{"other patient's attachment", confidant.Blob{PatientID: pid, Kind: confidant.BlobAttachment, ID: b.attachment.ID, Data: data}},
		{"other patient's chunk", confidant.Blob{PatientID: pid, Kind: confidant.BlobAttachmentChunk, ID: b.attachment.ID, Sub: 0, Data: data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.RewriteBlob(ctx, tc.blob) })
			wantKind(t, "RewriteBlob", err, confidant.KindNotFound)
		})
	}
	diff(t, "PatientBlobs after refused rewrites", a.blobs(), patientBlobs(t, s, a.patient.ID), sortBlobs)
	diff(t, "other PatientBlobs after refused rewrites", bBefore, patientBlobs(t, s, b.patient.ID), sortBlobs)
}

// set records a rewritten blob in r.
func (r *patientRecords) set(b confidant.Blob) {
	switch b.Kind {
	case confidant.BlobPatient:
		r.patient.Data = b.Data
	case confidant.BlobNoteVersion:
		r.note.Versions[b.Sub-1].Data = b.Data
	case confidant.BlobProcessNote:
		r.processNote.Data = b.Data
	case confidant.BlobDiagnosis:
		r.diagnosis.Data = b.Data
	case confidant.BlobPlan:
		r.plan.Data = b.Data
	case confidant.BlobMeasure:
		r.measure.Data = b.Data
	case confidant.BlobAttachment:
		r.attachment.Data = b.Data
	case confidant.BlobAttachmentChunk:
		r.chunks[b.Sub] = b.Data
	}
}

// readBlob reads b's data back through the getter of its kind.
func readBlob(t *testing.T, s confidant.SealedStore, r patientRecords, b confidant.Blob) []byte {
	t.Helper()
	return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]byte, error) {
		switch b.Kind {
		case confidant.BlobPatient:
			p, err := tx.Patient(ctx, b.ID)
			return p.Data, err
		case confidant.BlobNoteVersion:
			n, err := tx.Note(ctx, b.ID)
			if err != nil || len(n.Versions) < b.Sub {
				return nil, err
			}
			return n.Versions[b.Sub-1].Data, nil
		case confidant.BlobProcessNote:
			ns, err := tx.ListProcessNotes(ctx, r.patient.ID, r.processNote.AuthorID)
			for _, n := range ns {
				if n.ID == b.ID {
					return n.Data, err
				}
			}
			return nil, err
		case confidant.BlobDiagnosis:
			d, err := tx.Diagnosis(ctx, b.ID)
			return d.Data, err
		case confidant.BlobPlan:
			ps, err := tx.ListPlans(ctx, r.patient.ID)
			for _, p := range ps {
				if p.ID == b.ID {
					return p.Data, err
				}
			}
			return nil, err
		case confidant.BlobMeasure:
			ms, err := tx.ListMeasures(ctx, r.patient.ID)
			for _, m := range ms {
				if m.ID == b.ID {
					return m.Data, err
				}
			}
			return nil, err
		case confidant.BlobAttachment:
			a, err := tx.Attachment(ctx, b.ID)
			return a.Data, err
		case confidant.BlobAttachmentChunk:
			return tx.AttachmentChunk(ctx, b.ID, b.Sub)
		}
		return nil, fmt.Errorf("unknown blob kind %q", b.Kind)
	})
}
