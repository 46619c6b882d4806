package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Process notes.

func (t *tx) CreateProcessNote(ctx context.Context, n confidant.SealedProcessNote) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO process_notes (id, patient_id, author_id, created_at, data)
		VALUES ($1, $2, $3, $4, $5)`, n.ID, n.PatientID, n.AuthorID, ts(n.CreatedAt), nonNil(n.Data))
	return mapErr(err, "create process note", "Process note")
}

// ListProcessNotes returns authorID's process notes about patientID, newest
// first. Notes by other authors are never returned.
func (t *tx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.SealedProcessNote, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT id, patient_id, author_id, created_at, data FROM process_notes
		WHERE patient_id = $1 AND author_id = $2 ORDER BY created_at DESC NULLS LAST, id`, patientID, authorID)
	ns, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedProcessNote, error) {
		var n confidant.SealedProcessNote
		err := row.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.CreatedAt), &n.Data)
		return n, err
	})
	return ns, mapErr(err, "list process notes", "")
}

// Diagnoses.

const diagnosisCols = `id, patient_id, status, recorded_by, recorded_at, data`

func scanDiagnosis(row pgx.CollectableRow) (confidant.SealedDiagnosis, error) {
	var d confidant.SealedDiagnosis
	var status string
	err := row.Scan(&d.ID, &d.PatientID, &status, &d.RecordedBy, tm(&d.RecordedAt), &d.Data)
	d.Status = confidant.DiagnosisStatus(status)
	return d, err
}

// CreateDiagnosis stores d; an empty Status is stored as active.
func (t *tx) CreateDiagnosis(ctx context.Context, d confidant.SealedDiagnosis) error {
	if d.Status == "" {
		d.Status = confidant.DiagnosisActive
	}
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO diagnoses (`+diagnosisCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		d.ID, d.PatientID, string(d.Status), d.RecordedBy, ts(d.RecordedAt), nonNil(d.Data))
	return mapErr(err, "create diagnosis", "Diagnosis")
}

func (t *tx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	if s != confidant.DiagnosisActive && s != confidant.DiagnosisResolved {
		return invalid("invalid_status", "Unknown diagnosis status.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE diagnoses SET status = $2 WHERE id = $1`, id, string(s))
	if err != nil {
		return mapErr(err, "set diagnosis status", "Diagnosis")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Diagnosis")
	}
	return nil
}

func (t *tx) Diagnosis(ctx context.Context, id string) (confidant.SealedDiagnosis, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+diagnosisCols+` FROM diagnoses WHERE id = $1`, id)
	d, err := pgx.CollectExactlyOneRow(rows, scanDiagnosis)
	return d, mapErr(err, "get diagnosis", "Diagnosis")
}

// ListDiagnoses returns a patient's diagnoses, newest first.
func (t *tx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.SealedDiagnosis, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+diagnosisCols+` FROM diagnoses WHERE patient_id = $1
		ORDER BY recorded_at DESC NULLS LAST, id`, patientID)
	ds, err := collect(rows, scanDiagnosis)
	return ds, mapErr(err, "list diagnoses", "")
}

// Treatment plans.

func (t *tx) CreatePlan(ctx context.Context, p confidant.SealedPlan) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO treatment_plans (id, patient_id, author_id, created_at, data)
		VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.PatientID, p.AuthorID, ts(p.CreatedAt), nonNil(p.Data))
	return mapErr(err, "create treatment plan", "Treatment plan")
}

// ListPlans returns a patient's treatment plan versions, newest first.
func (t *tx) ListPlans(ctx context.Context, patientID string) ([]confidant.SealedPlan, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT id, patient_id, author_id, created_at, data
		FROM treatment_plans WHERE patient_id = $1 ORDER BY created_at DESC NULLS LAST, id`, patientID)
	ps, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedPlan, error) {
		var p confidant.SealedPlan
		err := row.Scan(&p.ID, &p.PatientID, &p.AuthorID, tm(&p.CreatedAt), &p.Data)
		return p, err
	})
	return ps, mapErr(err, "list treatment plans", "")
}

// Outcome measures.

func (t *tx) CreateMeasure(ctx context.Context, m confidant.SealedMeasure) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO measures (id, patient_id, instrument, recorded_by, taken_at, data)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		m.ID, m.PatientID, string(m.Instrument), m.RecordedBy, ts(m.TakenAt), nonNil(m.Data))
	return mapErr(err, "create measure", "Measure")
}

// ListMeasures returns a patient's measures, oldest first (for trends).
func (t *tx) ListMeasures(ctx context.Context, patientID string) ([]confidant.SealedMeasure, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT id, patient_id, instrument, recorded_by, taken_at, data
		FROM measures WHERE patient_id = $1 ORDER BY taken_at NULLS FIRST, id`, patientID)
	ms, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedMeasure, error) {
		var m confidant.SealedMeasure
		var instrument string
		err := row.Scan(&m.ID, &m.PatientID, &instrument, &m.RecordedBy, tm(&m.TakenAt), &m.Data)
		m.Instrument = confidant.Instrument(instrument)
		return m, err
	})
	return ms, mapErr(err, "list measures", "")
}

// Attachments.

// maxSealedChunk is the largest sealed attachment chunk the store accepts:
// a full plaintext chunk (confidant.AttachmentChunkSize) with room for the
// encryption's overhead (nonce, tag, key id and framing, well under 4 KiB).
const maxSealedChunk = confidant.AttachmentChunkSize + 4<<10

// tooLargeChunk is the error for a chunk above maxSealedChunk.
func tooLargeChunk() error {
	return &confidant.Error{Kind: confidant.KindTooLarge, Code: "chunk_too_large", Message: "The attachment chunk is too large."}
}

// PutAttachmentChunk stores sealed chunk index (from 0) of an attachment
// whose metadata CreateAttachment will store later in the same transaction;
// a transaction that puts chunks without their attachment fails to commit.
// A chunk may hold at most maxSealedChunk bytes (KindTooLarge).
func (t *tx) PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error {
	if index < 0 {
		return invalid("invalid_chunk", "The chunk index must not be negative.")
	}
	if len(data) > maxSealedChunk {
		return tooLargeChunk()
	}
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)`,
		attachmentID, index, nonNil(data))
	return mapErr(err, "put attachment chunk", "Attachment chunk")
}

// CreateAttachment stores the metadata of an attachment whose chunks were
// put in this transaction and tags the chunks with the patient. The stored
// chunks must be exactly 0 .. a.Chunks-1, else it returns KindInvalid (code
// "attachment_incomplete"). a.Size is the plaintext size; the chunks are
// ciphertext, so it cannot be checked against them.
func (t *tx) CreateAttachment(ctx context.Context, a confidant.SealedAttachment) error {
	if a.Chunks < 0 || a.Size < 0 {
		return invalid("attachment_incomplete", "The attachment's size and number of chunks must not be negative.")
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO attachments (id, patient_id, content_type, size, chunks, uploaded_by, created_at, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.PatientID, a.ContentType, a.Size, a.Chunks, a.UploadedBy, ts(a.CreatedAt), nonNil(a.Data))
	if err != nil {
		return mapErr(err, "create attachment", "Attachment")
	}
	var n, last int
	err = t.tx.QueryRow(t.c(ctx), `
		WITH c AS (UPDATE attachment_chunks SET patient_id = $2 WHERE attachment_id = $1 RETURNING idx)
		SELECT count(*), coalesce(max(idx), -1) FROM c`, a.ID, a.PatientID).Scan(&n, &last)
	if err != nil {
		return mapErr(err, "create attachment", "Attachment")
	}
	if n != a.Chunks || last != a.Chunks-1 {
		return invalid("attachment_incomplete", "The attachment's stored content does not match its number of chunks.")
	}
	return nil
}

const attachmentCols = `id, patient_id, content_type, size, chunks, uploaded_by, created_at, data`

func scanAttachment(row pgx.CollectableRow) (confidant.SealedAttachment, error) {
	var a confidant.SealedAttachment
	err := row.Scan(&a.ID, &a.PatientID, &a.ContentType, &a.Size, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt), &a.Data)
	return a, err
}

func (t *tx) Attachment(ctx context.Context, id string) (confidant.SealedAttachment, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+attachmentCols+` FROM attachments WHERE id = $1`, id)
	a, err := pgx.CollectExactlyOneRow(rows, scanAttachment)
	return a, mapErr(err, "get attachment", "Attachment")
}

func (t *tx) AttachmentChunk(ctx context.Context, attachmentID string, index int) ([]byte, error) {
	var data []byte
	err := t.tx.QueryRow(t.c(ctx), `SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2`,
		attachmentID, index).Scan(&data)
	if err != nil {
		return nil, mapErr(err, "get attachment chunk", "Attachment chunk")
	}
	return data, nil
}

// ListAttachments returns a patient's attachments, newest first.
func (t *tx) ListAttachments(ctx context.Context, patientID string) ([]confidant.SealedAttachment, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+attachmentCols+` FROM attachments WHERE patient_id = $1
		ORDER BY created_at DESC NULLS LAST, id`, patientID)
	as, err := collect(rows, scanAttachment)
	return as, mapErr(err, "list attachments", "")
}
