package sqlite

import (
	"context"
	"database/sql"

	"github.com/confidanthealth/confidant"
)

// blobTables says where each kind of sealed blob lives: the table, and the
// columns that hold the id and the sub-number (the note version or the chunk
// index; empty for kinds that have none). Every such table has patient_id
// and data columns.
var blobTables = map[confidant.BlobKind]struct{ table, id, sub string }{
	confidant.BlobPatient:         {"patients", "id", ""},
	confidant.BlobNoteVersion:     {"note_versions", "note_id", "version"},
	confidant.BlobProcessNote:     {"process_notes", "id", ""},
	confidant.BlobDiagnosis:       {"diagnoses", "id", ""},
	confidant.BlobPlan:            {"plans", "id", ""},
	confidant.BlobMeasure:         {"measures", "id", ""},
	confidant.BlobAttachment:      {"attachments", "id", ""},
	confidant.BlobAttachmentChunk: {"attachment_chunks", "attachment_id", "idx"},
	confidant.BlobBreakGlass:      {"break_glass", "id", ""},
	confidant.BlobIncidentLetter:  {"incident_letters", "id", ""},
}

// patientBlobsQuery selects every sealed blob of a patient as
// (kind, id, sub, data).
var patientBlobsQuery = func() string {
	q := ""
	for _, kind := range []confidant.BlobKind{
		confidant.BlobPatient, confidant.BlobNoteVersion, confidant.BlobProcessNote, confidant.BlobDiagnosis,
		confidant.BlobPlan, confidant.BlobMeasure, confidant.BlobAttachment, confidant.BlobAttachmentChunk,
		confidant.BlobBreakGlass, confidant.BlobIncidentLetter,
	} {
		b := blobTables[kind]
		sub, owner := "0", "patient_id"
		if b.sub != "" {
			sub = b.sub
		}
		if kind == confidant.BlobPatient {
			owner = "id"
		}
		if q != "" {
			q += "\nUNION ALL\n"
		}
		q += `SELECT '` + string(kind) + `', ` + b.id + `, ` + sub + `, data FROM ` + b.table + ` WHERE ` + owner + ` = ?1`
	}
	return q
}()

// PatientBlobs returns every sealed blob of a patient: the patient row, each
// note version, process note (of every author), diagnosis, plan, measure,
// attachment, attachment chunk, break-the-glass grant and incident letter. None for an unknown patient.
func (t *tx) PatientBlobs(ctx context.Context, patientID string) ([]confidant.Blob, error) {
	var out []confidant.Blob
	err := t.list(ctx, "patient blobs", patientBlobsQuery, []any{patientID}, func(r *sql.Rows) error {
		b := confidant.Blob{PatientID: patientID}
		err := r.Scan(&b.Kind, &b.ID, &b.Sub, &b.Data)
		out = append(out, b)
		return err
	})
	return out, err
}

// RewriteBlob replaces the data of the blob (b.Kind, b.ID, b.Sub) owned by
// b.PatientID; nothing else changes. KindNotFound if there is no such blob
// (an unknown kind, id or sub-number, or another patient's).
func (t *tx) RewriteBlob(ctx context.Context, b confidant.Blob) error {
	bt, ok := blobTables[b.Kind]
	if !ok || (bt.sub == "" && b.Sub != 0) {
		return notFound("sealed record")
	}
	owner := "patient_id"
	if b.Kind == confidant.BlobPatient {
		owner = "id"
	}
	// Table and column names come from blobTables, never from b.
	query := `UPDATE ` + bt.table + ` SET data = ? WHERE ` + owner + ` = ? AND ` + bt.id + ` = ?`
	args := []any{nonNil(b.Data), b.PatientID, b.ID}
	if bt.sub != "" {
		query += ` AND ` + bt.sub + ` = ?`
		args = append(args, b.Sub)
	}
	return t.execOne(ctx, "sealed record", "rewrite blob", query, args...)
}
