package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/confidanthealth/confidant"
)

// Diagnoses: data seals code, title and comment.

const diagnosisColumns = `id, patient_id, status, recorded_by, recorded_at, data`

func scanDiagnosis(s interface{ Scan(...any) error }, d *confidant.SealedDiagnosis) error {
	return s.Scan(&d.ID, &d.PatientID, &d.Status, &d.RecordedBy, tm(&d.RecordedAt), &d.Data)
}

func (t *tx) CreateDiagnosis(ctx context.Context, d confidant.SealedDiagnosis) error {
	_, err := t.exec(ctx, "create diagnosis",
		`INSERT INTO diagnoses (`+diagnosisColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		d.ID, d.PatientID, string(d.Status), d.RecordedBy, micros(d.RecordedAt), nonNil(d.Data))
	return err
}

func (t *tx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	return t.execOne(ctx, "diagnosis", "set diagnosis status",
		`UPDATE diagnoses SET status = ? WHERE id = ?`, string(s), id)
}

func (t *tx) Diagnosis(ctx context.Context, id string) (confidant.SealedDiagnosis, error) {
	var d confidant.SealedDiagnosis
	err := scanDiagnosis(t.queryRow(ctx, `SELECT `+diagnosisColumns+` FROM diagnoses WHERE id = ?`, id), &d)
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("diagnosis")
	}
	return d, dbErr("diagnosis", err)
}

// ListDiagnoses returns a patient's diagnoses, newest first.
func (t *tx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.SealedDiagnosis, error) {
	var out []confidant.SealedDiagnosis
	err := t.list(ctx, "list diagnoses",
		`SELECT `+diagnosisColumns+` FROM diagnoses WHERE patient_id = ? ORDER BY recorded_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var d confidant.SealedDiagnosis
			err := scanDiagnosis(r, &d)
			out = append(out, d)
			return err
		})
	return out, err
}

// Treatment plans: data seals goals, interventions and review date.

func (t *tx) CreatePlan(ctx context.Context, p confidant.SealedPlan) error {
	_, err := t.exec(ctx, "create plan",
		`INSERT INTO plans (id, patient_id, author_id, created_at, data) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.PatientID, p.AuthorID, micros(p.CreatedAt), nonNil(p.Data))
	return err
}

// ListPlans returns a patient's plans, newest first.
func (t *tx) ListPlans(ctx context.Context, patientID string) ([]confidant.SealedPlan, error) {
	var out []confidant.SealedPlan
	err := t.list(ctx, "list plans",
		`SELECT id, patient_id, author_id, created_at, data
		FROM plans WHERE patient_id = ? ORDER BY created_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var p confidant.SealedPlan
			err := r.Scan(&p.ID, &p.PatientID, &p.AuthorID, tm(&p.CreatedAt), &p.Data)
			out = append(out, p)
			return err
		})
	return out, err
}

// Outcome measures: data seals answers, score and severity; the instrument
// is in the clear.

func (t *tx) CreateMeasure(ctx context.Context, m confidant.SealedMeasure) error {
	_, err := t.exec(ctx, "create measure",
		`INSERT INTO measures (id, patient_id, instrument, recorded_by, taken_at, data) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.PatientID, string(m.Instrument), m.RecordedBy, micros(m.TakenAt), nonNil(m.Data))
	return err
}

// ListMeasures returns a patient's measures, oldest first.
func (t *tx) ListMeasures(ctx context.Context, patientID string) ([]confidant.SealedMeasure, error) {
	var out []confidant.SealedMeasure
	err := t.list(ctx, "list measures",
		`SELECT id, patient_id, instrument, recorded_by, taken_at, data
		FROM measures WHERE patient_id = ? ORDER BY taken_at, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var m confidant.SealedMeasure
			err := r.Scan(&m.ID, &m.PatientID, &m.Instrument, &m.RecordedBy, tm(&m.TakenAt), &m.Data)
			out = append(out, m)
			return err
		})
	return out, err
}

// Attachments: data seals file name and digest; each chunk is sealed on its
// own.

// MaxSealedChunk is the largest attachment chunk PutAttachmentChunk
// accepts: a full plaintext chunk (confidant.AttachmentChunkSize) and room
// for what sealing adds (nonce, tag, key id: tens of bytes).
const MaxSealedChunk = confidant.AttachmentChunkSize + 4096

// PutAttachmentChunk stores chunk index of an attachment whose metadata
// CreateAttachment must store in the same transaction (checked at commit).
func (t *tx) PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error {
	if len(data) > MaxSealedChunk {
		return confidant.Errorf(confidant.KindTooLarge, "chunk_too_large", "An attachment chunk may hold at most %d bytes.", MaxSealedChunk)
	}
	_, err := t.exec(ctx, "put attachment chunk",
		`INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?, ?, ?)`,
		attachmentID, index, nonNil(data))
	return err
}

// CreateAttachment stores the metadata after checking that the chunks put
// so far are numbered 0 to a.Chunks-1, and gives them the patient id. (Size
// is the plaintext size; sealed chunks are larger, so it is not checked
// against them.)
func (t *tx) CreateAttachment(ctx context.Context, a confidant.SealedAttachment) error {
	var chunks, maxIdx int64
	err := t.queryRow(ctx,
		`SELECT count(*), coalesce(max(idx), -1) FROM attachment_chunks WHERE attachment_id = ?`, a.ID).Scan(&chunks, &maxIdx)
	if err != nil {
		return dbErr("create attachment", err)
	}
	if chunks != int64(a.Chunks) || maxIdx != chunks-1 {
		return confidant.Errorf(confidant.KindInvalid, "attachment_incomplete", "The attachment's stored content does not match its number of chunks.")
	}
	_, err = t.exec(ctx, "create attachment",
		`INSERT INTO attachments (id, patient_id, content_type, size, chunks, uploaded_by, created_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.PatientID, a.ContentType, a.Size, a.Chunks, a.UploadedBy, micros(a.CreatedAt), nonNil(a.Data))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "create attachment",
		`UPDATE attachment_chunks SET patient_id = ? WHERE attachment_id = ?`, a.PatientID, a.ID)
	return err
}

const attachmentColumns = `id, patient_id, content_type, size, chunks, uploaded_by, created_at, data`

func scanAttachment(s interface{ Scan(...any) error }, a *confidant.SealedAttachment) error {
	return s.Scan(&a.ID, &a.PatientID, &a.ContentType, &a.Size, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt), &a.Data)
}

func (t *tx) Attachment(ctx context.Context, id string) (confidant.SealedAttachment, error) {
	var a confidant.SealedAttachment
	err := scanAttachment(t.queryRow(ctx, `SELECT `+attachmentColumns+` FROM attachments WHERE id = ?`, id), &a)
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("attachment")
	}
	return a, dbErr("attachment", err)
}

func (t *tx) AttachmentChunk(ctx context.Context, attachmentID string, index int) ([]byte, error) {
	var data []byte
	err := t.get(ctx, "attachment chunk", "attachment chunk",
		`SELECT data FROM attachment_chunks WHERE attachment_id = ? AND idx = ?`,
		[]any{attachmentID, index}, &data)
	return data, err
}

// ListAttachments returns a patient's attachments, newest first.
func (t *tx) ListAttachments(ctx context.Context, patientID string) ([]confidant.SealedAttachment, error) {
	var out []confidant.SealedAttachment
	err := t.list(ctx, "list attachments",
		`SELECT `+attachmentColumns+` FROM attachments WHERE patient_id = ? ORDER BY created_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var a confidant.SealedAttachment
			err := scanAttachment(r, &a)
			out = append(out, a)
			return err
		})
	return out, err
}
