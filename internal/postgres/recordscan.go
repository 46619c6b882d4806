package postgres

import (
	"context"

	"github.com/confidanthealth/confidant"
)

// recordsSQL selects every record as (kind, id, patient, version, data):
// a note with its latest version (version 0 and no data without one).
const recordsSQL = `
SELECT 'note', n.id, n.patient_id, COALESCE(v.version, 0), v.data FROM notes n
	LEFT JOIN LATERAL (SELECT w.version, w.data FROM note_versions w WHERE w.note_id = n.id
		ORDER BY w.version DESC LIMIT 1) v ON true
UNION ALL SELECT 'process_note', id, patient_id, 1, data FROM process_notes
UNION ALL SELECT 'diagnosis', id, patient_id, 1, data FROM diagnoses
UNION ALL SELECT 'plan', id, patient_id, 1, data FROM treatment_plans
UNION ALL SELECT 'measure', id, patient_id, 1, data FROM measures
UNION ALL SELECT 'attachment', id, patient_id, 1, data FROM attachments`

// ScanRecords calls fn with every record's state (confidant.RecordScanner).
func (t *tx) ScanRecords(ctx context.Context, fn func(confidant.RecordState) error) error {
	rows, err := t.tx.Query(t.c(ctx), recordsSQL)
	if err != nil {
		return mapErr(err, "scan records", "")
	}
	defer rows.Close()
	var data []byte
	for rows.Next() {
		var st confidant.RecordState
		var kind string
		var version int32
		if err := rows.Scan(&kind, &st.ID, &st.PatientID, &version, &data); err != nil {
			return mapErr(err, "scan records", "")
		}
		st.Kind, st.Version = confidant.RecordKind(kind), int(version)
		st.Digest = confidant.RecordDigestOf(data)
		if err := fn(st); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "scan records", "")
}
