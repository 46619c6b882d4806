package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/confidanthealth/confidant"
)

// Diagnoses.

const diagnosisColumns = `id, patient_id, code, title, note, status, recorded_by, recorded_at`

func scanDiagnosis(s interface{ Scan(...any) error }, d *confidant.Diagnosis) error {
	return s.Scan(&d.ID, &d.PatientID, &d.Code, &d.Title, &d.Note, &d.Status, &d.RecordedBy, tm(&d.RecordedAt))
}

func (t *tx) CreateDiagnosis(ctx context.Context, d confidant.Diagnosis) error {
	_, err := t.exec(ctx, "create diagnosis",
		`INSERT INTO diagnoses (`+diagnosisColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.PatientID, d.Code, d.Title, d.Note, string(d.Status), d.RecordedBy, micros(d.RecordedAt))
	return err
}

func (t *tx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	return t.execOne(ctx, "diagnosis", "set diagnosis status",
		`UPDATE diagnoses SET status = ? WHERE id = ?`, string(s), id)
}

func (t *tx) Diagnosis(ctx context.Context, id string) (confidant.Diagnosis, error) {
	var d confidant.Diagnosis
	err := scanDiagnosis(t.tx.QueryRowContext(ctx, `SELECT `+diagnosisColumns+` FROM diagnoses WHERE id = ?`, id), &d)
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("diagnosis")
	}
	return d, dbErr("diagnosis", err)
}

func (t *tx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.Diagnosis, error) {
	var out []confidant.Diagnosis
	err := t.list(ctx, "list diagnoses",
		`SELECT `+diagnosisColumns+` FROM diagnoses WHERE patient_id = ? ORDER BY recorded_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var d confidant.Diagnosis
			err := scanDiagnosis(r, &d)
			out = append(out, d)
			return err
		})
	return out, err
}

// Treatment plans.

func (t *tx) CreatePlan(ctx context.Context, p confidant.TreatmentPlan) error {
	_, err := t.exec(ctx, "create plan",
		`INSERT INTO plans (id, patient_id, goals, interventions, review_on, author_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.PatientID, p.Goals, p.Interventions, micros(p.ReviewOn), p.AuthorID, micros(p.CreatedAt))
	return err
}

func (t *tx) ListPlans(ctx context.Context, patientID string) ([]confidant.TreatmentPlan, error) {
	var out []confidant.TreatmentPlan
	err := t.list(ctx, "list plans",
		`SELECT id, patient_id, goals, interventions, review_on, author_id, created_at
		FROM plans WHERE patient_id = ? ORDER BY created_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var p confidant.TreatmentPlan
			err := r.Scan(&p.ID, &p.PatientID, &p.Goals, &p.Interventions, tm(&p.ReviewOn), &p.AuthorID, tm(&p.CreatedAt))
			out = append(out, p)
			return err
		})
	return out, err
}

// Outcome measures: one row in measures, one per answer in measure_answers.

func (t *tx) CreateMeasure(ctx context.Context, m confidant.Measure) error {
	_, err := t.exec(ctx, "create measure",
		`INSERT INTO measures (id, patient_id, instrument, score, severity, recorded_by, taken_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.PatientID, string(m.Instrument), m.Score, m.Severity, m.RecordedBy, micros(m.TakenAt))
	if err != nil {
		return err
	}
	for i, a := range m.Answers {
		if _, err := t.exec(ctx, "create measure",
			`INSERT INTO measure_answers (measure_id, item, answer) VALUES (?, ?, ?)`, m.ID, i, a); err != nil {
			return err
		}
	}
	return nil
}

// ListMeasures returns a patient's measures, oldest first.
func (t *tx) ListMeasures(ctx context.Context, patientID string) ([]confidant.Measure, error) {
	var out []confidant.Measure
	idx := map[string]int{}
	err := t.list(ctx, "list measures",
		`SELECT id, patient_id, instrument, score, severity, recorded_by, taken_at
		FROM measures WHERE patient_id = ? ORDER BY taken_at, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var m confidant.Measure
			err := r.Scan(&m.ID, &m.PatientID, &m.Instrument, &m.Score, &m.Severity, &m.RecordedBy, tm(&m.TakenAt))
			idx[m.ID] = len(out)
			out = append(out, m)
			return err
		})
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = t.list(ctx, "list measure answers",
		`SELECT a.measure_id, a.answer FROM measure_answers a JOIN measures m ON m.id = a.measure_id
		WHERE m.patient_id = ? ORDER BY a.measure_id, a.item`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var id string
			var a int
			if err := r.Scan(&id, &a); err != nil {
				return err
			}
			if i, ok := idx[id]; ok {
				out[i].Answers = append(out[i].Answers, a)
			}
			return nil
		})
	return out, err
}

// Attachments.

// PutAttachmentChunk stores chunk index of an attachment whose metadata
// CreateAttachment must store in the same transaction (checked at commit).
func (t *tx) PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error {
	if len(data) > confidant.AttachmentChunkSize {
		return confidant.Errorf(confidant.KindTooLarge, "chunk_too_large", "An attachment chunk may hold at most %d bytes.", confidant.AttachmentChunkSize)
	}
	_, err := t.exec(ctx, "put attachment chunk",
		`INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?, ?, ?)`,
		attachmentID, index, nonNil(data))
	return err
}

// CreateAttachment stores the metadata after checking that the chunks put
// so far match a.Chunks and a.Size.
func (t *tx) CreateAttachment(ctx context.Context, a confidant.Attachment) error {
	var chunks, size, maxIdx int64
	err := t.tx.QueryRowContext(ctx,
		`SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(idx), -1)
		FROM attachment_chunks WHERE attachment_id = ?`, a.ID).Scan(&chunks, &size, &maxIdx)
	if err != nil {
		return dbErr("create attachment", err)
	}
	if chunks != int64(a.Chunks) || maxIdx != chunks-1 || size != a.Size {
		return confidant.Errorf(confidant.KindInvalid, "attachment_incomplete", "The attachment's stored content does not match its size or number of chunks.")
	}
	_, err = t.exec(ctx, "create attachment",
		`INSERT INTO attachments (id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.PatientID, a.Filename, a.ContentType, a.Size, nonNil(a.SHA256), a.Chunks, a.UploadedBy, micros(a.CreatedAt))
	return err
}

const attachmentColumns = `id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at`

func scanAttachment(s interface{ Scan(...any) error }, a *confidant.Attachment) error {
	return s.Scan(&a.ID, &a.PatientID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt))
}

func (t *tx) Attachment(ctx context.Context, id string) (confidant.Attachment, error) {
	var a confidant.Attachment
	err := scanAttachment(t.tx.QueryRowContext(ctx, `SELECT `+attachmentColumns+` FROM attachments WHERE id = ?`, id), &a)
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

func (t *tx) ListAttachments(ctx context.Context, patientID string) ([]confidant.Attachment, error) {
	var out []confidant.Attachment
	err := t.list(ctx, "list attachments",
		`SELECT `+attachmentColumns+` FROM attachments WHERE patient_id = ? ORDER BY created_at DESC, id`,
		[]any{patientID},
		func(r *sql.Rows) error {
			var a confidant.Attachment
			err := scanAttachment(r, &a)
			out = append(out, a)
			return err
		})
	return out, err
}
