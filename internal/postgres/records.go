package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Process notes.

func (t *tx) CreateProcessNote(ctx context.Context, n confidant.ProcessNote) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO process_notes (id, patient_id, author_id, body, created_at)
		VALUES ($1, $2, $3, $4, $5)`, n.ID, n.PatientID, n.AuthorID, n.Body, ts(n.CreatedAt))
	return mapErr(err, "create process note", "Process note")
}

// ListProcessNotes returns authorID's process notes about patientID, newest
// first. Notes by other authors are never returned.
func (t *tx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.ProcessNote, error) {
	rows, _ := t.tx.Query(ctx, `SELECT id, patient_id, author_id, body, created_at FROM process_notes
		WHERE patient_id = $1 AND author_id = $2 ORDER BY created_at DESC NULLS LAST, id`, patientID, authorID)
	ns, err := collect(rows, func(row pgx.CollectableRow) (confidant.ProcessNote, error) {
		var n confidant.ProcessNote
		err := row.Scan(&n.ID, &n.PatientID, &n.AuthorID, &n.Body, tm(&n.CreatedAt))
		return n, err
	})
	return ns, mapErr(err, "list process notes", "")
}

// Diagnoses.

const diagnosisCols = `id, patient_id, code, title, note, status, recorded_by, recorded_at`

func scanDiagnosis(row pgx.CollectableRow) (confidant.Diagnosis, error) {
	var d confidant.Diagnosis
	var status string
	err := row.Scan(&d.ID, &d.PatientID, &d.Code, &d.Title, &d.Note, &status, &d.RecordedBy, tm(&d.RecordedAt))
	d.Status = confidant.DiagnosisStatus(status)
	return d, err
}

// CreateDiagnosis stores d; an empty Status is stored as active.
func (t *tx) CreateDiagnosis(ctx context.Context, d confidant.Diagnosis) error {
	if d.Status == "" {
		d.Status = confidant.DiagnosisActive
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO diagnoses (`+diagnosisCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		d.ID, d.PatientID, d.Code, d.Title, d.Note, string(d.Status), d.RecordedBy, ts(d.RecordedAt))
	return mapErr(err, "create diagnosis", "Diagnosis")
}

func (t *tx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	if s != confidant.DiagnosisActive && s != confidant.DiagnosisResolved {
		return invalid("invalid_status", "Unknown diagnosis status.")
	}
	tag, err := t.tx.Exec(ctx, `UPDATE diagnoses SET status = $2 WHERE id = $1`, id, string(s))
	if err != nil {
		return mapErr(err, "set diagnosis status", "Diagnosis")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Diagnosis")
	}
	return nil
}

func (t *tx) Diagnosis(ctx context.Context, id string) (confidant.Diagnosis, error) {
	rows, _ := t.tx.Query(ctx, `SELECT `+diagnosisCols+` FROM diagnoses WHERE id = $1`, id)
	d, err := pgx.CollectExactlyOneRow(rows, scanDiagnosis)
	return d, mapErr(err, "get diagnosis", "Diagnosis")
}

// ListDiagnoses returns a patient's diagnoses, newest first.
func (t *tx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.Diagnosis, error) {
	rows, _ := t.tx.Query(ctx, `SELECT `+diagnosisCols+` FROM diagnoses WHERE patient_id = $1
		ORDER BY recorded_at DESC NULLS LAST, id`, patientID)
	ds, err := collect(rows, scanDiagnosis)
	return ds, mapErr(err, "list diagnoses", "")
}

// Treatment plans.

func (t *tx) CreatePlan(ctx context.Context, p confidant.TreatmentPlan) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO treatment_plans (id, patient_id, goals, interventions, review_on, author_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.ID, p.PatientID, p.Goals, p.Interventions, ts(p.ReviewOn), p.AuthorID, ts(p.CreatedAt))
	return mapErr(err, "create treatment plan", "Treatment plan")
}

// ListPlans returns a patient's treatment plan versions, newest first.
func (t *tx) ListPlans(ctx context.Context, patientID string) ([]confidant.TreatmentPlan, error) {
	rows, _ := t.tx.Query(ctx, `SELECT id, patient_id, goals, interventions, review_on, author_id, created_at
		FROM treatment_plans WHERE patient_id = $1 ORDER BY created_at DESC NULLS LAST, id`, patientID)
	ps, err := collect(rows, func(row pgx.CollectableRow) (confidant.TreatmentPlan, error) {
		var p confidant.TreatmentPlan
		err := row.Scan(&p.ID, &p.PatientID, &p.Goals, &p.Interventions, tm(&p.ReviewOn), &p.AuthorID, tm(&p.CreatedAt))
		return p, err
	})
	return ps, mapErr(err, "list treatment plans", "")
}

// Outcome measures.

func (t *tx) CreateMeasure(ctx context.Context, m confidant.Measure) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO measures (id, patient_id, instrument, answers, score, severity, recorded_by, taken_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		m.ID, m.PatientID, string(m.Instrument), m.Answers, m.Score, m.Severity, m.RecordedBy, ts(m.TakenAt))
	return mapErr(err, "create measure", "Measure")
}

// ListMeasures returns a patient's measures, oldest first (for trends).
func (t *tx) ListMeasures(ctx context.Context, patientID string) ([]confidant.Measure, error) {
	rows, _ := t.tx.Query(ctx, `SELECT id, patient_id, instrument, answers, score, severity, recorded_by, taken_at
		FROM measures WHERE patient_id = $1 ORDER BY taken_at NULLS FIRST, id`, patientID)
	ms, err := collect(rows, func(row pgx.CollectableRow) (confidant.Measure, error) {
		var m confidant.Measure
		var instrument string
		err := row.Scan(&m.ID, &m.PatientID, &instrument, &m.Answers, &m.Score, &m.Severity, &m.RecordedBy, tm(&m.TakenAt))
		m.Instrument = confidant.Instrument(instrument)
		return m, err
	})
	return ms, mapErr(err, "list measures", "")
}

// Attachments.

// PutAttachmentChunk stores chunk index (from 0) of an attachment whose
// metadata CreateAttachment will store later in the same transaction; a
// transaction that puts chunks without their attachment fails to commit.
// A chunk may hold at most confidant.AttachmentChunkSize bytes.
func (t *tx) PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error {
	if index < 0 {
		return invalid("invalid_chunk", "The chunk index must not be negative.")
	}
	if len(data) > confidant.AttachmentChunkSize {
		return &confidant.Error{Kind: confidant.KindTooLarge, Code: "chunk_too_large", Message: "The attachment chunk is too large."}
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)`,
		attachmentID, index, nonNil(data))
	return mapErr(err, "put attachment chunk", "Attachment chunk")
}

// CreateAttachment stores the metadata of an attachment whose chunks were
// put in this transaction and tags the chunks with the patient. The stored
// chunks must be exactly 0 .. a.Chunks-1 and hold a.Size bytes in all, else
// it returns KindInvalid (code "attachment_incomplete").
func (t *tx) CreateAttachment(ctx context.Context, a confidant.Attachment) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO attachments (id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, a.PatientID, a.Filename, a.ContentType, a.Size, a.SHA256, a.Chunks, a.UploadedBy, ts(a.CreatedAt))
	if err != nil {
		return mapErr(err, "create attachment", "Attachment")
	}
	// octet_length of a stored bytea is read from its header; the chunk
	// contents are not loaded.
	var n, last int
	var size int64
	err = t.tx.QueryRow(ctx, `
		WITH c AS (UPDATE attachment_chunks SET patient_id = $2 WHERE attachment_id = $1
		           RETURNING idx, octet_length(data) AS len)
		SELECT count(*), coalesce(max(idx), -1), coalesce(sum(len), 0) FROM c`, a.ID, a.PatientID).Scan(&n, &last, &size)
	if err != nil {
		return mapErr(err, "create attachment", "Attachment")
	}
	if n != a.Chunks || last != a.Chunks-1 || size != a.Size {
		return invalid("attachment_incomplete", "The attachment's stored content does not match its size and number of chunks.")
	}
	return nil
}

const attachmentCols = `id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at`

func scanAttachment(row pgx.CollectableRow) (confidant.Attachment, error) {
	var a confidant.Attachment
	err := row.Scan(&a.ID, &a.PatientID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt))
	return a, err
}

func (t *tx) Attachment(ctx context.Context, id string) (confidant.Attachment, error) {
	rows, _ := t.tx.Query(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE id = $1`, id)
	a, err := pgx.CollectExactlyOneRow(rows, scanAttachment)
	return a, mapErr(err, "get attachment", "Attachment")
}

func (t *tx) AttachmentChunk(ctx context.Context, attachmentID string, index int) ([]byte, error) {
	var data []byte
	err := t.tx.QueryRow(ctx, `SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2`,
		attachmentID, index).Scan(&data)
	if err != nil {
		return nil, mapErr(err, "get attachment chunk", "Attachment chunk")
	}
	return data, nil
}

// ListAttachments returns a patient's attachments, newest first.
func (t *tx) ListAttachments(ctx context.Context, patientID string) ([]confidant.Attachment, error) {
	rows, _ := t.tx.Query(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE patient_id = $1
		ORDER BY created_at DESC NULLS LAST, id`, patientID)
	as, err := collect(rows, scanAttachment)
	return as, mapErr(err, "list attachments", "")
}
