package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/confidanthealth/confidant"
)

// Reading and removing the plaintext records of schema 1.
//
// Migration 0002 renamed the plaintext tables of schema 1 to v1_<name>.
// internal/seal drives the upgrade: it pages through LegacyPatients, reads
// each patient's records with LegacyRecords, writes them sealed through the
// SealedStore, verifies them and calls DeleteLegacyPatient. When
// LegacyPending is 0, Migrate applies 0003, which drops the v1_ tables.
// Before 0002 there is nothing to read here (the plaintext is still in the
// schema 1 tables: call Migrate first); after 0003 there is nothing left.

// LegacyRecords are one patient's plaintext records from the v1_ tables.
// Chunks maps an attachment id to its chunks in order.
type LegacyRecords struct {
	Notes        []confidant.Note
	ProcessNotes []confidant.ProcessNote
	Diagnoses    []confidant.Diagnosis
	Plans        []confidant.TreatmentPlan
	Measures     []confidant.Measure
	Attachments  []confidant.Attachment
	Chunks       map[string][][]byte
}

// errBeforeSealed is returned by the Legacy methods on a database that
// Migrate has not brought to the sealed schema yet.
var errBeforeSealed = errors.New("sqlite: the database is at schema 1; run Migrate first")

// legacyTables reports whether the v1_ tables exist, and fails if the
// database is older than migration 0002.
func legacyTables(ctx context.Context, q querier) (bool, error) {
	v, err := schemaVersion(ctx, q)
	if err != nil {
		return false, dbErr("legacy: schema version", err)
	}
	if v < dropsLegacy-1 {
		return false, errBeforeSealed
	}
	var exists bool
	err = q.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'v1_patients')`).Scan(&exists)
	return exists, dbErr("legacy: tables", err)
}

// legacyPending counts the patients in v1_patients; 0 if there is no such
// table.
func legacyPending(ctx context.Context, q querier) (int, error) {
	var exists bool
	err := q.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'v1_patients')`).Scan(&exists)
	if err != nil || !exists {
		return 0, err
	}
	var n int
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM v1_patients`).Scan(&n)
	return n, err
}

// LegacyPending returns the number of patients still held in plain text in
// the tables of schema 1.
func (db *DB) LegacyPending(ctx context.Context) (int, error) {
	if _, err := legacyTables(ctx, db.reader); err != nil {
		return 0, err
	}
	n, err := legacyPending(ctx, db.reader)
	return n, dbErr("legacy pending", err)
}

// LegacyPatients returns at most limit (0: no limit) plaintext patients of
// schema 1 whose id is greater than after, ordered by id.
func (db *DB) LegacyPatients(ctx context.Context, after string, limit int) ([]confidant.Patient, error) {
	var out []confidant.Patient
	err := db.legacyView(ctx, func(ctx context.Context, t *tx) error {
		return t.list(ctx, "legacy patients",
			`SELECT id, clinic_id, given_name, family_name, identity_code, birth_date, phone, email, address, created_at
			FROM v1_patients WHERE id > ? ORDER BY id`+limitOne,
			[]any{after, limitArg(limit)},
			func(r *sql.Rows) error {
				var p confidant.Patient
				err := r.Scan(&p.ID, &p.ClinicID, &p.GivenName, &p.FamilyName, &p.IdentityCode,
					tm(&p.BirthDate), &p.Phone, &p.Email, &p.Address, tm(&p.CreatedAt))
				out = append(out, p)
				return err
			})
	})
	return out, err
}

// LegacyRecords returns every plaintext record of schema 1 about a patient,
// read in one snapshot: notes with all versions (newest session first),
// every author's process notes, diagnoses and plans (newest first),
// measures (oldest first), attachments (newest first) and their content.
func (db *DB) LegacyRecords(ctx context.Context, patientID string) (LegacyRecords, error) {
	var r LegacyRecords
	err := db.legacyView(ctx, func(ctx context.Context, t *tx) error {
		var err error
		if r.Notes, err = t.legacyNotes(ctx, patientID); err != nil {
			return err
		}
		err = t.list(ctx, "legacy process notes",
			`SELECT id, patient_id, author_id, body, created_at FROM v1_process_notes
			WHERE patient_id = ? ORDER BY created_at, id`, []any{patientID},
			func(rows *sql.Rows) error {
				var n confidant.ProcessNote
				err := rows.Scan(&n.ID, &n.PatientID, &n.AuthorID, &n.Body, tm(&n.CreatedAt))
				r.ProcessNotes = append(r.ProcessNotes, n)
				return err
			})
		if err != nil {
			return err
		}
		err = t.list(ctx, "legacy diagnoses",
			`SELECT id, patient_id, code, title, note, status, recorded_by, recorded_at FROM v1_diagnoses
			WHERE patient_id = ? ORDER BY recorded_at DESC, id`, []any{patientID},
			func(rows *sql.Rows) error {
				var d confidant.Diagnosis
				err := rows.Scan(&d.ID, &d.PatientID, &d.Code, &d.Title, &d.Note, &d.Status, &d.RecordedBy, tm(&d.RecordedAt))
				r.Diagnoses = append(r.Diagnoses, d)
				return err
			})
		if err != nil {
			return err
		}
		err = t.list(ctx, "legacy plans",
			`SELECT id, patient_id, goals, interventions, review_on, author_id, created_at FROM v1_plans
			WHERE patient_id = ? ORDER BY created_at DESC, id`, []any{patientID},
			func(rows *sql.Rows) error {
				var p confidant.TreatmentPlan
				err := rows.Scan(&p.ID, &p.PatientID, &p.Goals, &p.Interventions, tm(&p.ReviewOn), &p.AuthorID, tm(&p.CreatedAt))
				r.Plans = append(r.Plans, p)
				return err
			})
		if err != nil {
			return err
		}
		if r.Measures, err = t.legacyMeasures(ctx, patientID); err != nil {
			return err
		}
		err = t.list(ctx, "legacy attachments",
			`SELECT id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at FROM v1_attachments
			WHERE patient_id = ? ORDER BY created_at DESC, id`, []any{patientID},
			func(rows *sql.Rows) error {
				var a confidant.Attachment
				err := rows.Scan(&a.ID, &a.PatientID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt))
				r.Attachments = append(r.Attachments, a)
				return err
			})
		if err != nil {
			return err
		}
		return t.list(ctx, "legacy attachment chunks",
			`SELECT c.attachment_id, c.idx, c.data FROM v1_attachment_chunks c
			JOIN v1_attachments a ON a.id = c.attachment_id
			WHERE a.patient_id = ? ORDER BY c.attachment_id, c.idx`, []any{patientID},
			func(rows *sql.Rows) error {
				var id string
				var idx int
				var data []byte
				if err := rows.Scan(&id, &idx, &data); err != nil {
					return err
				}
				if r.Chunks == nil {
					r.Chunks = map[string][][]byte{}
				}
				if idx != len(r.Chunks[id]) {
					return errors.New("attachment chunks are not numbered from 0 without gaps")
				}
				r.Chunks[id] = append(r.Chunks[id], nonNil(data))
				return nil
			})
	})
	return r, err
}

func (t *tx) legacyNotes(ctx context.Context, patientID string) ([]confidant.Note, error) {
	var notes []confidant.Note
	idx := map[string]int{}
	err := t.list(ctx, "legacy notes",
		`SELECT id, patient_id, author_id, session_at, created_at, released_at, released_by FROM v1_notes
		WHERE patient_id = ? ORDER BY session_at DESC, id`, []any{patientID},
		func(r *sql.Rows) error {
			var n confidant.Note
			err := r.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.SessionAt), tm(&n.CreatedAt), tm(&n.ReleasedAt), &n.ReleasedBy)
			idx[n.ID] = len(notes)
			notes = append(notes, n)
			return err
		})
	if err != nil || len(notes) == 0 {
		return notes, err
	}
	err = t.list(ctx, "legacy note versions",
		`SELECT v.note_id, v.version, v.template, v.body, v.status, v.author_id,
			v.created_at, v.updated_at, v.signed_at, v.signed_by, v.reason
		FROM v1_note_versions v JOIN v1_notes n ON n.id = v.note_id
		WHERE n.patient_id = ? ORDER BY v.note_id, v.version`, []any{patientID},
		func(r *sql.Rows) error {
			var noteID string
			var v confidant.NoteVersion
			if err := r.Scan(&noteID, &v.Version, &v.Template, &v.Body, &v.Status, &v.AuthorID,
				tm(&v.CreatedAt), tm(&v.UpdatedAt), tm(&v.SignedAt), &v.SignedBy, &v.Reason); err != nil {
				return err
			}
			n := &notes[idx[noteID]]
			n.Versions = append(n.Versions, v)
			return nil
		})
	return notes, err
}

func (t *tx) legacyMeasures(ctx context.Context, patientID string) ([]confidant.Measure, error) {
	var out []confidant.Measure
	idx := map[string]int{}
	err := t.list(ctx, "legacy measures",
		`SELECT id, patient_id, instrument, score, severity, recorded_by, taken_at FROM v1_measures
		WHERE patient_id = ? ORDER BY taken_at, id`, []any{patientID},
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
	err = t.list(ctx, "legacy measure answers",
		`SELECT a.measure_id, a.answer FROM v1_measure_answers a JOIN v1_measures m ON m.id = a.measure_id
		WHERE m.patient_id = ? ORDER BY a.measure_id, a.item`, []any{patientID},
		func(r *sql.Rows) error {
			var id string
			var a int
			if err := r.Scan(&id, &a); err != nil {
				return err
			}
			m := &out[idx[id]]
			m.Answers = append(m.Answers, a)
			return nil
		})
	return out, err
}

// legacyView runs fn in a read-only transaction if the v1_ tables exist.
func (db *DB) legacyView(ctx context.Context, fn func(ctx context.Context, t *tx) error) error {
	stx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return dbErr("legacy: begin", err)
	}
	defer stx.Rollback()
	exists, err := legacyTables(ctx, stx)
	if err != nil || !exists {
		return err
	}
	return fn(ctx, &tx{tx: stx}) // read once per patient: not worth caching
}

// DeleteLegacyPatient deletes a patient's plaintext rows from the tables of
// schema 1, in one transaction. It refuses (KindConflict) while the patient
// has no sealed row, so plaintext is never deleted before its sealed copy
// exists; it does nothing if the patient has no plaintext rows. Deleted
// pages are overwritten (secure_delete).
func (db *DB) DeleteLegacyPatient(ctx context.Context, patientID string) error {
	return db.runWriter(ctx, func(t *tx) error {
		exists, err := legacyTables(ctx, t.tx)
		if err != nil || !exists {
			return err
		}
		var sealed bool
		if err := t.get(ctx, "patient", "delete legacy patient",
			`SELECT EXISTS (SELECT 1 FROM patients WHERE id = ?)`, []any{patientID}, &sealed); err != nil {
			return err
		}
		if !sealed {
			return conflict("patient_not_sealed", "The patient's records have not been encrypted yet; their plaintext is kept.")
		}
		for _, q := range []string{
			`DELETE FROM v1_attachment_chunks WHERE attachment_id IN (SELECT id FROM v1_attachments WHERE patient_id = ?)`,
			`DELETE FROM v1_attachments WHERE patient_id = ?`,
			`DELETE FROM v1_measure_answers WHERE measure_id IN (SELECT id FROM v1_measures WHERE patient_id = ?)`,
			`DELETE FROM v1_measures WHERE patient_id = ?`,
			`DELETE FROM v1_plans WHERE patient_id = ?`,
			`DELETE FROM v1_diagnoses WHERE patient_id = ?`,
			`DELETE FROM v1_process_notes WHERE patient_id = ?`,
			`DELETE FROM v1_note_versions WHERE note_id IN (SELECT id FROM v1_notes WHERE patient_id = ?)`,
			`DELETE FROM v1_notes WHERE patient_id = ?`,
			`DELETE FROM v1_patients WHERE id = ?`,
		} {
			if _, err := t.exec(ctx, "delete legacy patient", q, patientID); err != nil {
				return err
			}
		}
		return nil
	})
}
