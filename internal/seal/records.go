package seal

import (
	"context"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

var _ confidant.Tx = (*tx)(nil)

// Session notes.

func (t *tx) sealVersion(a tink.AEAD, n confidant.Note, v confidant.NoteVersion) (confidant.SealedNoteVersion, error) {
	data, err := sealJSON(a, noteData{Body: v.Body, Reason: v.Reason}, confidant.BlobNoteVersion, n.PatientID, n.ID, v.Version)
	if err != nil {
		return confidant.SealedNoteVersion{}, err
	}
	return confidant.SealedNoteVersion{
		Version: v.Version, Template: v.Template, Status: v.Status, AuthorID: v.AuthorID,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, SignedAt: v.SignedAt, SignedBy: v.SignedBy, Data: data,
	}, nil
}

func (t *tx) openNote(ctx context.Context, sn confidant.SealedNote) (confidant.Note, error) {
	n := confidant.Note{
		ID: sn.ID, PatientID: sn.PatientID, AuthorID: sn.AuthorID, SessionAt: sn.SessionAt,
		CreatedAt: sn.CreatedAt, ReleasedAt: sn.ReleasedAt, ReleasedBy: sn.ReleasedBy,
	}
	a, err := t.aead(ctx, sn.PatientID)
	if err != nil {
		return n, err
	}
	n.Versions = make([]confidant.NoteVersion, len(sn.Versions))
	for i, v := range sn.Versions {
		var d noteData
		if err := openJSON(a, v.Data, &d, confidant.BlobNoteVersion, sn.PatientID, sn.ID, v.Version); err != nil {
			n.Versions = nil // no plaintext of the other versions with an error
			return n, err
		}
		n.Versions[i] = confidant.NoteVersion{
			Version: v.Version, Template: v.Template, Body: d.Body, Status: v.Status, AuthorID: v.AuthorID,
			CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, SignedAt: v.SignedAt, SignedBy: v.SignedBy, Reason: d.Reason,
		}
	}
	return n, nil
}

func (t *tx) CreateNote(ctx context.Context, n confidant.Note) error {
	a, err := t.aead(ctx, n.PatientID)
	if err != nil {
		return err
	}
	sn := confidant.SealedNote{
		ID: n.ID, PatientID: n.PatientID, AuthorID: n.AuthorID, SessionAt: n.SessionAt,
		CreatedAt: n.CreatedAt, ReleasedAt: n.ReleasedAt, ReleasedBy: n.ReleasedBy,
	}
	for _, v := range n.Versions {
		sv, err := t.sealVersion(a, n, v)
		if err != nil {
			return err
		}
		sn.Versions = append(sn.Versions, sv)
	}
	if err := t.SealedTx.CreateNote(ctx, sn); err != nil {
		return err
	}
	t.wroteNote(sn)
	return nil
}

func (t *tx) Note(ctx context.Context, id string) (confidant.Note, error) {
	sn, err := t.SealedTx.Note(ctx, id)
	if err != nil {
		return confidant.Note{}, err
	}
	t.sawNote(sn)
	return t.openNote(ctx, sn)
}

func (t *tx) ListNotes(ctx context.Context, patientID string, f confidant.NoteFilter) ([]confidant.Note, error) {
	sns, err := t.SealedTx.ListNotes(ctx, patientID, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Note, len(sns))
	for i, sn := range sns {
		if out[i], err = t.openNote(ctx, sn); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) UpdateDraft(ctx context.Context, noteID string, version int, template confidant.NoteTemplate, body string, at time.Time) error {
	sn, err := t.SealedTx.Note(ctx, noteID)
	if err != nil {
		return err
	}
	a, err := t.aead(ctx, sn.PatientID)
	if err != nil {
		return err
	}
	// The sealed value holds the amendment reason too, which stays.
	var reason string
	for _, v := range sn.Versions {
		if v.Version == version {
			var d noteData
			if err := openJSON(a, v.Data, &d, confidant.BlobNoteVersion, sn.PatientID, noteID, version); err != nil {
				return err
			}
			reason = d.Reason
		}
	}
	data, err := sealJSON(a, noteData{Body: body, Reason: reason}, confidant.BlobNoteVersion, sn.PatientID, noteID, version)
	if err != nil {
		return err
	}
	if err := t.SealedTx.UpdateDraft(ctx, noteID, version, template, data, at); err != nil {
		return err
	}
	t.wrote(confidant.RecordState{Kind: confidant.RecordNote, ID: noteID, PatientID: sn.PatientID, Version: version, Digest: confidant.RecordDigestOf(data)})
	return nil
}

func (t *tx) AddNoteVersion(ctx context.Context, noteID string, v confidant.NoteVersion) error {
	sn, err := t.SealedTx.Note(ctx, noteID)
	if err != nil {
		return err
	}
	if v.Version != len(sn.Versions)+1 {
		return confidant.Errorf(confidant.KindConflict, "note_version_mismatch", "The note was changed meanwhile; reload it.")
	}
	a, err := t.aead(ctx, sn.PatientID)
	if err != nil {
		return err
	}
	sv, err := t.sealVersion(a, confidant.Note{ID: noteID, PatientID: sn.PatientID}, v)
	if err != nil {
		return err
	}
	if err := t.SealedTx.AddNoteVersion(ctx, noteID, sv); err != nil {
		return err
	}
	t.wrote(confidant.RecordState{Kind: confidant.RecordNote, ID: noteID, PatientID: sn.PatientID, Version: sv.Version, Digest: confidant.RecordDigestOf(sv.Data)})
	return nil
}

// Process notes.

func (t *tx) CreateProcessNote(ctx context.Context, n confidant.ProcessNote) error {
	a, err := t.aead(ctx, n.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, processNoteData{Body: n.Body, Author: n.AuthorID}, confidant.BlobProcessNote, n.PatientID, n.ID, 0)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreateProcessNote(ctx, confidant.SealedProcessNote{
		ID: n.ID, PatientID: n.PatientID, AuthorID: n.AuthorID, CreatedAt: n.CreatedAt, Data: data,
	}); err != nil {
		return err
	}
	t.wrote(created(confidant.RecordProcessNote, n.ID, n.PatientID, data))
	return nil
}

func (t *tx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.ProcessNote, error) {
	rows, err := t.SealedTx.ListProcessNotes(ctx, patientID, authorID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	a, err := t.aead(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.ProcessNote, 0, len(rows))
	for _, r := range rows {
		var d processNoteData
		if err := openJSON(a, r.Data, &d, confidant.BlobProcessNote, r.PatientID, r.ID, 0); err != nil {
			return nil, err
		}
		if d.Author != "" && d.Author != r.AuthorID {
			// author_id changed in the database: the note is not this
			// author's (docs/SECURITY.md, "Authorization facts").
			t.s.reportForged(FactProcessNotes, r.ID)
			continue
		}
		out = append(out, confidant.ProcessNote{ID: r.ID, PatientID: r.PatientID, AuthorID: r.AuthorID, Body: d.Body, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// Diagnoses.

func (t *tx) CreateDiagnosis(ctx context.Context, d confidant.Diagnosis) error {
	a, err := t.aead(ctx, d.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, diagnosisData{Code: d.Code, Title: d.Title, Note: d.Note}, confidant.BlobDiagnosis, d.PatientID, d.ID, 0)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreateDiagnosis(ctx, confidant.SealedDiagnosis{
		ID: d.ID, PatientID: d.PatientID, Status: d.Status, RecordedBy: d.RecordedBy, RecordedAt: d.RecordedAt, Data: data,
	}); err != nil {
		return err
	}
	t.wrote(created(confidant.RecordDiagnosis, d.ID, d.PatientID, data))
	return nil
}

func (t *tx) openDiagnosis(ctx context.Context, r confidant.SealedDiagnosis) (confidant.Diagnosis, error) {
	a, err := t.aead(ctx, r.PatientID)
	if err != nil {
		return confidant.Diagnosis{}, err
	}
	var d diagnosisData
	if err := openJSON(a, r.Data, &d, confidant.BlobDiagnosis, r.PatientID, r.ID, 0); err != nil {
		return confidant.Diagnosis{}, err
	}
	return confidant.Diagnosis{
		ID: r.ID, PatientID: r.PatientID, Code: d.Code, Title: d.Title, Note: d.Note,
		Status: r.Status, RecordedBy: r.RecordedBy, RecordedAt: r.RecordedAt,
	}, nil
}

func (t *tx) Diagnosis(ctx context.Context, id string) (confidant.Diagnosis, error) {
	r, err := t.SealedTx.Diagnosis(ctx, id)
	if err != nil {
		return confidant.Diagnosis{}, err
	}
	t.saw(created(confidant.RecordDiagnosis, r.ID, r.PatientID, r.Data))
	return t.openDiagnosis(ctx, r)
}

func (t *tx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.Diagnosis, error) {
	rows, err := t.SealedTx.ListDiagnoses(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Diagnosis, len(rows))
	for i, r := range rows {
		if out[i], err = t.openDiagnosis(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Treatment plans.

func (t *tx) CreatePlan(ctx context.Context, p confidant.TreatmentPlan) error {
	a, err := t.aead(ctx, p.PatientID)
	if err != nil {
		return err
	}
	d := planData{Goals: p.Goals, Interventions: p.Interventions}
	if !p.ReviewOn.IsZero() {
		d.ReviewOn = p.ReviewOn.UTC().Format(time.RFC3339Nano)
	}
	data, err := sealJSON(a, d, confidant.BlobPlan, p.PatientID, p.ID, 0)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreatePlan(ctx, confidant.SealedPlan{ID: p.ID, PatientID: p.PatientID, AuthorID: p.AuthorID, CreatedAt: p.CreatedAt, Data: data}); err != nil {
		return err
	}
	t.wrote(created(confidant.RecordPlan, p.ID, p.PatientID, data))
	return nil
}

func (t *tx) ListPlans(ctx context.Context, patientID string) ([]confidant.TreatmentPlan, error) {
	rows, err := t.SealedTx.ListPlans(ctx, patientID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	a, err := t.aead(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.TreatmentPlan, len(rows))
	for i, r := range rows {
		var d planData
		if err := openJSON(a, r.Data, &d, confidant.BlobPlan, r.PatientID, r.ID, 0); err != nil {
			return nil, err
		}
		p := confidant.TreatmentPlan{ID: r.ID, PatientID: r.PatientID, Goals: d.Goals, Interventions: d.Interventions, AuthorID: r.AuthorID, CreatedAt: r.CreatedAt}
		if d.ReviewOn != "" {
			if p.ReviewOn, err = time.Parse(time.RFC3339Nano, d.ReviewOn); err != nil {
				return nil, errIntegrity
			}
		}
		out[i] = p
	}
	return out, nil
}

// Outcome measures.

func (t *tx) CreateMeasure(ctx context.Context, m confidant.Measure) error {
	a, err := t.aead(ctx, m.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, measureData{Answers: m.Answers, Score: m.Score, Severity: m.Severity}, confidant.BlobMeasure, m.PatientID, m.ID, 0)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreateMeasure(ctx, confidant.SealedMeasure{
		ID: m.ID, PatientID: m.PatientID, Instrument: m.Instrument, RecordedBy: m.RecordedBy, TakenAt: m.TakenAt, Data: data,
	}); err != nil {
		return err
	}
	t.wrote(created(confidant.RecordMeasure, m.ID, m.PatientID, data))
	return nil
}

func (t *tx) ListMeasures(ctx context.Context, patientID string) ([]confidant.Measure, error) {
	rows, err := t.SealedTx.ListMeasures(ctx, patientID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	a, err := t.aead(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Measure, len(rows))
	for i, r := range rows {
		var d measureData
		if err := openJSON(a, r.Data, &d, confidant.BlobMeasure, r.PatientID, r.ID, 0); err != nil {
			return nil, err
		}
		out[i] = confidant.Measure{
			ID: r.ID, PatientID: r.PatientID, Instrument: r.Instrument, Answers: d.Answers,
			Score: d.Score, Severity: d.Severity, RecordedBy: r.RecordedBy, TakenAt: r.TakenAt,
		}
	}
	return out, nil
}

// Attachments.

func (t *tx) PutAttachmentChunk(ctx context.Context, patientID, attachmentID string, index int, data []byte) error {
	a, err := t.aead(ctx, patientID)
	if err != nil {
		return err
	}
	sealed, err := sealBytes(a, data, confidant.BlobAttachmentChunk, patientID, attachmentID, index)
	if err != nil {
		return err
	}
	return t.SealedTx.PutAttachmentChunk(ctx, attachmentID, index, sealed)
}

func (t *tx) AttachmentChunk(ctx context.Context, patientID, attachmentID string, index int) ([]byte, error) {
	sealed, err := t.SealedTx.AttachmentChunk(ctx, attachmentID, index)
	if err != nil {
		return nil, err
	}
	a, err := t.aead(ctx, patientID)
	if err != nil {
		return nil, err
	}
	return openBytes(a, sealed, confidant.BlobAttachmentChunk, patientID, attachmentID, index)
}

func (t *tx) CreateAttachment(ctx context.Context, at confidant.Attachment) error {
	a, err := t.aead(ctx, at.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, attachmentData{Filename: at.Filename, SHA256: at.SHA256}, confidant.BlobAttachment, at.PatientID, at.ID, 0)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreateAttachment(ctx, confidant.SealedAttachment{
		ID: at.ID, PatientID: at.PatientID, ContentType: at.ContentType, Size: at.Size, Chunks: at.Chunks,
		UploadedBy: at.UploadedBy, CreatedAt: at.CreatedAt, Data: data,
	}); err != nil {
		return err
	}
	t.wrote(created(confidant.RecordAttachment, at.ID, at.PatientID, data))
	return nil
}

func (t *tx) openAttachment(ctx context.Context, r confidant.SealedAttachment) (confidant.Attachment, error) {
	a, err := t.aead(ctx, r.PatientID)
	if err != nil {
		return confidant.Attachment{}, err
	}
	var d attachmentData
	if err := openJSON(a, r.Data, &d, confidant.BlobAttachment, r.PatientID, r.ID, 0); err != nil {
		return confidant.Attachment{}, err
	}
	return confidant.Attachment{
		ID: r.ID, PatientID: r.PatientID, Filename: d.Filename, ContentType: r.ContentType, Size: r.Size,
		SHA256: d.SHA256, Chunks: r.Chunks, UploadedBy: r.UploadedBy, CreatedAt: r.CreatedAt,
	}, nil
}

func (t *tx) Attachment(ctx context.Context, id string) (confidant.Attachment, error) {
	r, err := t.SealedTx.Attachment(ctx, id)
	if err != nil {
		return confidant.Attachment{}, err
	}
	return t.openAttachment(ctx, r)
}

func (t *tx) ListAttachments(ctx context.Context, patientID string) ([]confidant.Attachment, error) {
	rows, err := t.SealedTx.ListAttachments(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Attachment, len(rows))
	for i, r := range rows {
		if out[i], err = t.openAttachment(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
