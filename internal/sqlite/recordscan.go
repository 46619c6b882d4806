package sqlite

import (
	"context"
	"database/sql"

	"github.com/confidanthealth/confidant"
)

// recordsQuery selects every record as (kind, id, patient, version, data):
// a note with its latest version (version 0 and no data without one).
const recordsQuery = `
SELECT 'note', n.id, n.patient_id, COALESCE(v.version, 0), v.data FROM notes n
	LEFT JOIN note_versions v ON v.note_id = n.id
		AND v.version = (SELECT MAX(w.version) FROM note_versions w WHERE w.note_id = n.id)
UNION ALL SELECT 'process_note', id, patient_id, 1, data FROM process_notes
UNION ALL SELECT 'diagnosis', id, patient_id, 1, data FROM diagnoses
UNION ALL SELECT 'plan', id, patient_id, 1, data FROM plans
UNION ALL SELECT 'measure', id, patient_id, 1, data FROM measures
UNION ALL SELECT 'attachment', id, patient_id, 1, data FROM attachments`

// ScanRecords calls fn with every record's state (confidant.RecordScanner).
func (t *tx) ScanRecords(ctx context.Context, fn func(confidant.RecordState) error) error {
	var fnErr error
	var data []byte
	err := t.list(ctx, "scan records", recordsQuery, nil, func(r *sql.Rows) error {
		var st confidant.RecordState
		var kind string
		data = data[:0]
		if err := r.Scan(&kind, &st.ID, &st.PatientID, &st.Version, &data); err != nil {
			return err
		}
		st.Kind = confidant.RecordKind(kind)
		st.Digest = confidant.RecordDigestOf(data)
		if fnErr = fn(st); fnErr != nil {
			return fnErr
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}
