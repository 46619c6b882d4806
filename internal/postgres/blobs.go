package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// patientBlobsSQL selects every sealed blob of patient $1: kind, id, sub
// (note version or chunk index, else 0) and data, in a fixed order (kind as
// listed, then id, then sub). Every part is served by an index that leads
// with patient_id.
const patientBlobsSQL = `
SELECT kind, id, sub, data FROM (
	SELECT 1 AS ord, 'patient' AS kind, id, 0 AS sub, data FROM patients WHERE id = $1
	UNION ALL SELECT 2, 'note_version', note_id, version, data FROM note_versions WHERE patient_id = $1
	UNION ALL SELECT 3, 'process_note', id, 0, data FROM process_notes WHERE patient_id = $1
	UNION ALL SELECT 4, 'diagnosis', id, 0, data FROM diagnoses WHERE patient_id = $1
	UNION ALL SELECT 5, 'treatment_plan', id, 0, data FROM treatment_plans WHERE patient_id = $1
	UNION ALL SELECT 6, 'measure', id, 0, data FROM measures WHERE patient_id = $1
	UNION ALL SELECT 7, 'attachment', id, 0, data FROM attachments WHERE patient_id = $1
	UNION ALL SELECT 8, 'attachment_chunk', attachment_id, idx, data FROM attachment_chunks WHERE patient_id = $1
	UNION ALL SELECT 9, 'break_glass', id, 0, data FROM break_glass WHERE patient_id = $1
	UNION ALL SELECT 10, 'incident_letter', id, 0, data FROM incident_letters WHERE patient_id = $1
) b ORDER BY ord, id, sub`

// blobKinds maps the kind column of patientBlobsSQL to confidant's kinds.
var blobKinds = map[string]confidant.BlobKind{
	"patient":          confidant.BlobPatient,
	"note_version":     confidant.BlobNoteVersion,
	"process_note":     confidant.BlobProcessNote,
	"diagnosis":        confidant.BlobDiagnosis,
	"treatment_plan":   confidant.BlobPlan,
	"measure":          confidant.BlobMeasure,
	"attachment":       confidant.BlobAttachment,
	"attachment_chunk": confidant.BlobAttachmentChunk,
	"break_glass":      confidant.BlobBreakGlass,
	"incident_letter":  confidant.BlobIncidentLetter,
}

// PatientBlobs returns every sealed blob belonging to a patient, erased or
// not: the patient row, every note version, process note (of every author),
// diagnosis, plan, measure, attachment, attachment chunk, break-the-glass
// grant and incident letter. It returns
// nothing for an unknown patient. The order is fixed: by kind in that order,
// then id, then Sub.
func (t *tx) PatientBlobs(ctx context.Context, patientID string) ([]confidant.Blob, error) {
	rows, _ := t.tx.Query(t.c(ctx), patientBlobsSQL, patientID)
	bs, err := collect(rows, func(row pgx.CollectableRow) (confidant.Blob, error) {
		var kind string
		b := confidant.Blob{PatientID: patientID}
		err := row.Scan(&kind, &b.ID, &b.Sub, &b.Data)
		b.Kind = blobKinds[kind]
		return b, err
	})
	return bs, mapErr(err, "list patient blobs", "")
}

// rewriteSQL holds, for each blob kind, the statement that replaces the data
// of one blob: $1 patient, $2 id, $3 sub, $4 data. Kinds without a sub match
// only Sub 0.
var rewriteSQL = map[confidant.BlobKind]string{
	confidant.BlobPatient:         `UPDATE patients SET data = $4 WHERE id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobNoteVersion:     `UPDATE note_versions SET data = $4 WHERE patient_id = $1 AND note_id = $2 AND version = $3`,
	confidant.BlobProcessNote:     `UPDATE process_notes SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobDiagnosis:       `UPDATE diagnoses SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobPlan:            `UPDATE treatment_plans SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobMeasure:         `UPDATE measures SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobAttachment:      `UPDATE attachments SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobAttachmentChunk: `UPDATE attachment_chunks SET data = $4 WHERE patient_id = $1 AND attachment_id = $2 AND idx = $3`,
	confidant.BlobBreakGlass:      `UPDATE break_glass SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
	confidant.BlobIncidentLetter:  `UPDATE incident_letters SET data = $4 WHERE patient_id = $1 AND id = $2 AND $3 = 0`,
}

// RewriteBlob replaces the Data of the blob identified by (Kind, ID, Sub)
// and owned by PatientID. It returns KindNotFound if there is no such blob
// (including an unknown kind).
func (t *tx) RewriteBlob(ctx context.Context, b confidant.Blob) error {
	sql, ok := rewriteSQL[b.Kind]
	if !ok {
		return notFound("Blob")
	}
	if b.Kind == confidant.BlobAttachmentChunk && len(b.Data) > maxSealedChunk {
		return tooLargeChunk()
	}
	tag, err := t.tx.Exec(t.c(ctx), sql, b.PatientID, b.ID, b.Sub, nonNil(b.Data))
	if err != nil {
		return mapErr(err, "rewrite blob", "Blob")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Blob")
	}
	return nil
}
