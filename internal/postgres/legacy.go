package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// The upgrade from schema 1. Migration 0002_sealed keeps schema 1's
// plaintext patient records in v1_ tables; internal/seal reads them with
// LegacyPatients and LegacyRecords, writes them sealed through Update (with
// the same ids: care relationships and patient accounts refer to them, and
// the associated data of each ciphertext binds it to its ids), and then
// deletes them with DeleteLegacyPatient. When LegacyPending is 0, Migrate
// applies 0003_drop_legacy, which drops the v1_ tables.
//
// The methods behave as internal/sqlite's do. Before 0002 they fail (the
// plaintext is still in schema 1's tables: call Migrate first); after 0003
// there are no legacy records.

// LegacyRecords are the plaintext records of one patient of schema 1.
// Chunks holds each attachment's content by attachment id, chunk by chunk.
type LegacyRecords struct {
	Notes        []confidant.Note
	ProcessNotes []confidant.ProcessNote
	Diagnoses    []confidant.Diagnosis
	Plans        []confidant.TreatmentPlan
	Measures     []confidant.Measure
	Attachments  []confidant.Attachment
	Chunks       map[string][][]byte
}

// querier is what pgx.Tx and *pgxpool.Pool have in common here.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// errBeforeSealed is returned by the Legacy methods on a database that
// Migrate has not brought to the sealed schema (0002) yet.
var errBeforeSealed = errors.New("postgres: the database is at schema version 1; run Migrate first")

// hasLegacy reports whether the v1_ tables exist; it fails on a database
// older than 0002.
func hasLegacy(ctx context.Context, q querier) (bool, error) {
	var migrated, legacy bool
	err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('v1_patients') IS NOT NULL`).Scan(&migrated, &legacy)
	if err != nil {
		return false, fmt.Errorf("postgres: look for schema-1 records: %w", redact(err))
	}
	v := 0
	if migrated {
		if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return false, fmt.Errorf("postgres: look for schema-1 records: %w", redact(err))
		}
	}
	if v < sealedVersion {
		return false, errBeforeSealed
	}
	return legacy, nil
}

// sealedVersion is the version of 0002_sealed, which moved schema 1's
// tables aside.
const sealedVersion = 2

// legacyPending counts the patients of schema 1 still to be sealed.
func legacyPending(ctx context.Context, q querier) (int, error) {
	ok, err := hasLegacy(ctx, q)
	if err != nil || !ok {
		return 0, err
	}
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM v1_patients`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count schema-1 patients: %w", redact(err))
	}
	return n, nil
}

// LegacyPending returns the number of patients of schema 1 that remain to be
// sealed; Migrate drops the v1_ tables only when it is 0. It is 0 after
// 0003 and fails before 0002.
func (db *DB) LegacyPending(ctx context.Context) (int, error) {
	return legacyPending(ctx, db.pool)
}

// LegacyPatients returns up to limit (0: no limit) patients of schema 1 with
// id > after, ordered by id (bytewise), in plaintext. ErasedAt is always
// zero: schema 1 had no erasure. Page by passing the last id returned.
func (db *DB) LegacyPatients(ctx context.Context, after string, limit int) ([]confidant.Patient, error) {
	if limit < 0 {
		return nil, invalid("invalid_limit", "The limit must not be negative.")
	}
	var ps []confidant.Patient
	err := db.legacyView(ctx, func(tx pgx.Tx) error {
		var q query
		q.where(`p.id COLLATE "C" > ` + q.arg(after))
		rows, _ := tx.Query(ctx, `SELECT p.id, p.clinic_id, p.given_name, p.family_name, p.identity_code,
			p.birth_date, p.phone, p.email, p.address, p.created_at
			FROM v1_patients p`+q.whereSQL()+` ORDER BY p.id COLLATE "C"`+q.limitSQL(limit, 0), q.args...)
		var err error
		ps, err = collect(rows, scanLegacyPatient)
		return mapErr(err, "list schema-1 patients", "")
	})
	return ps, err
}

func scanLegacyPatient(row pgx.CollectableRow) (confidant.Patient, error) {
	var p confidant.Patient
	err := row.Scan(&p.ID, &p.ClinicID, &p.GivenName, &p.FamilyName, txt(&p.IdentityCode), tm(&p.BirthDate),
		&p.Phone, &p.Email, &p.Address, tm(&p.CreatedAt))
	return p, err
}

// LegacyRecords returns every plaintext record of schema 1 about a patient,
// read in one snapshot, in the orders of the Tx list methods: notes with all
// versions (newest session first, versions oldest first), every author's
// process notes (oldest first), diagnoses and plans (newest first), measures
// (oldest first), attachments (newest first) and their content. A patient
// without records (or unknown) has none.
func (db *DB) LegacyRecords(ctx context.Context, patientID string) (LegacyRecords, error) {
	var r LegacyRecords
	err := db.legacyView(ctx, func(tx pgx.Tx) error {
		var err error
		if r.Notes, err = legacyNotes(ctx, tx, patientID); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT id, patient_id, author_id, body, created_at FROM v1_process_notes
			WHERE patient_id = $1 ORDER BY created_at NULLS FIRST, id`, patientID)
		r.ProcessNotes, err = collect(rows, func(row pgx.CollectableRow) (confidant.ProcessNote, error) {
			var n confidant.ProcessNote
			err := row.Scan(&n.ID, &n.PatientID, &n.AuthorID, &n.Body, tm(&n.CreatedAt))
			return n, err
		})
		if err != nil {
			return mapErr(err, "list schema-1 process notes", "")
		}
		rows, _ = tx.Query(ctx, `SELECT id, patient_id, code, title, note, status, recorded_by, recorded_at
			FROM v1_diagnoses WHERE patient_id = $1 ORDER BY recorded_at DESC NULLS LAST, id`, patientID)
		r.Diagnoses, err = collect(rows, func(row pgx.CollectableRow) (confidant.Diagnosis, error) {
			var d confidant.Diagnosis
			var status string
			err := row.Scan(&d.ID, &d.PatientID, &d.Code, &d.Title, &d.Note, &status, &d.RecordedBy, tm(&d.RecordedAt))
			d.Status = confidant.DiagnosisStatus(status)
			return d, err
		})
		if err != nil {
			return mapErr(err, "list schema-1 diagnoses", "")
		}
		rows, _ = tx.Query(ctx, `SELECT id, patient_id, goals, interventions, review_on, author_id, created_at
			FROM v1_treatment_plans WHERE patient_id = $1 ORDER BY created_at DESC NULLS LAST, id`, patientID)
		r.Plans, err = collect(rows, func(row pgx.CollectableRow) (confidant.TreatmentPlan, error) {
			var p confidant.TreatmentPlan
			err := row.Scan(&p.ID, &p.PatientID, &p.Goals, &p.Interventions, tm(&p.ReviewOn), &p.AuthorID, tm(&p.CreatedAt))
			return p, err
		})
		if err != nil {
			return mapErr(err, "list schema-1 treatment plans", "")
		}
		rows, _ = tx.Query(ctx, `SELECT id, patient_id, instrument, answers, score, severity, recorded_by, taken_at
			FROM v1_measures WHERE patient_id = $1 ORDER BY taken_at NULLS FIRST, id`, patientID)
		r.Measures, err = collect(rows, func(row pgx.CollectableRow) (confidant.Measure, error) {
			var m confidant.Measure
			var instrument string
			err := row.Scan(&m.ID, &m.PatientID, &instrument, &m.Answers, &m.Score, &m.Severity, &m.RecordedBy, tm(&m.TakenAt))
			m.Instrument = confidant.Instrument(instrument)
			return m, err
		})
		if err != nil {
			return mapErr(err, "list schema-1 measures", "")
		}
		rows, _ = tx.Query(ctx, `SELECT id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at
			FROM v1_attachments WHERE patient_id = $1 ORDER BY created_at DESC NULLS LAST, id`, patientID)
		r.Attachments, err = collect(rows, func(row pgx.CollectableRow) (confidant.Attachment, error) {
			var a confidant.Attachment
			err := row.Scan(&a.ID, &a.PatientID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks, &a.UploadedBy, tm(&a.CreatedAt))
			return a, err
		})
		if err != nil {
			return mapErr(err, "list schema-1 attachments", "")
		}
		r.Chunks, err = legacyChunks(ctx, tx, patientID)
		return err
	})
	if err != nil {
		return LegacyRecords{}, err
	}
	return r, nil
}

// legacyNotes returns a schema-1 patient's notes with their versions.
func legacyNotes(ctx context.Context, tx pgx.Tx, patientID string) ([]confidant.Note, error) {
	rows, _ := tx.Query(ctx, `SELECT id, patient_id, author_id, session_at, created_at, released_at, released_by
		FROM v1_notes WHERE patient_id = $1 ORDER BY session_at DESC NULLS LAST, created_at DESC NULLS LAST, id`, patientID)
	notes, err := collect(rows, func(row pgx.CollectableRow) (confidant.Note, error) {
		var n confidant.Note
		err := row.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.SessionAt), tm(&n.CreatedAt), tm(&n.ReleasedAt), &n.ReleasedBy)
		return n, err
	})
	if err != nil {
		return nil, mapErr(err, "list schema-1 notes", "")
	}
	byID := make(map[string]*confidant.Note, len(notes))
	for i := range notes {
		byID[notes[i].ID] = &notes[i]
	}
	rows, _ = tx.Query(ctx, `SELECT note_id, version, template, body, status, author_id,
			created_at, updated_at, signed_at, signed_by, reason
		FROM v1_note_versions WHERE patient_id = $1 ORDER BY note_id, version`, patientID)
	var noteID string
	var v confidant.NoteVersion
	var template, status string
	_, err = pgx.ForEachRow(rows, []any{&noteID, &v.Version, &template, &v.Body, &status, &v.AuthorID,
		tm(&v.CreatedAt), tm(&v.UpdatedAt), tm(&v.SignedAt), &v.SignedBy, &v.Reason}, func() error {
		v.Template, v.Status = confidant.NoteTemplate(template), confidant.NoteStatus(status)
		if n := byID[noteID]; n != nil {
			n.Versions = append(n.Versions, v)
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "list schema-1 note versions", "")
	}
	return notes, nil
}

// legacyChunks returns the content of a schema-1 patient's attachments by
// attachment id, chunk by chunk in index order; nil when there are none.
func legacyChunks(ctx context.Context, tx pgx.Tx, patientID string) (map[string][][]byte, error) {
	rows, _ := tx.Query(ctx, `SELECT c.attachment_id, c.data FROM v1_attachment_chunks c
		JOIN v1_attachments a ON a.id = c.attachment_id
		WHERE a.patient_id = $1 ORDER BY c.attachment_id, c.idx`, patientID)
	var chunks map[string][][]byte
	var id string
	var data []byte
	_, err := pgx.ForEachRow(rows, []any{&id, &data}, func() error {
		if chunks == nil {
			chunks = map[string][][]byte{}
		}
		chunks[id] = append(chunks[id], data)
		data = nil // the next row scans into a new slice
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "list schema-1 attachment chunks", "")
	}
	return chunks, nil
}

// DeleteLegacyPatient deletes a patient's plaintext rows from the tables of
// schema 1, in one transaction. It refuses (KindConflict, code
// "patient_not_sealed") while there is no sealed patient row with the same
// id, so that plaintext is never deleted before its sealed copy exists; it
// does nothing if the patient has no plaintext rows (deleting twice, or
// after 0003).
func (db *DB) DeleteLegacyPatient(ctx context.Context, patientID string) error {
	return db.legacyUpdate(ctx, func(tx pgx.Tx) error {
		var sealed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)`, patientID).Scan(&sealed); err != nil {
			return mapErr(err, "check sealed patient", "")
		}
		if !sealed {
			return conflict("patient_not_sealed", "The patient's records have not been encrypted yet; their plaintext is kept.")
		}
		for _, sql := range []string{
			`DELETE FROM v1_attachment_chunks WHERE attachment_id IN (SELECT id FROM v1_attachments WHERE patient_id = $1)`,
			`DELETE FROM v1_attachments WHERE patient_id = $1`,
			`DELETE FROM v1_measures WHERE patient_id = $1`,
			`DELETE FROM v1_treatment_plans WHERE patient_id = $1`,
			`DELETE FROM v1_diagnoses WHERE patient_id = $1`,
			`DELETE FROM v1_process_notes WHERE patient_id = $1`,
			`DELETE FROM v1_note_versions WHERE patient_id = $1`,
			`DELETE FROM v1_notes WHERE patient_id = $1`,
			`DELETE FROM v1_patients WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, sql, patientID); err != nil {
				return mapErr(err, "delete schema-1 patient", "")
			}
		}
		return nil
	})
}

// legacyView runs fn in a read-only snapshot if the v1_ tables exist.
func (db *DB) legacyView(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.legacyTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// legacyUpdate runs fn in a read-write transaction if the v1_ tables exist.
func (db *DB) legacyUpdate(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.legacyTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}, fn)
}

// legacyTx runs fn in a transaction if the v1_ tables exist; without them
// (after 0003) there is nothing to do, and before 0002 it fails. The
// migration lock is taken shared, so that 0003_drop_legacy cannot drop the
// tables while fn works on them.
func (db *DB) legacyTx(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, db.pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSharedSQL, db.schema); err != nil {
			return err
		}
		ok, err := hasLegacy(ctx, tx)
		if err != nil || !ok {
			return err
		}
		return fn(tx)
	})
	if errors.Is(err, errBeforeSealed) {
		return err
	}
	return mapErr(err, "schema-1 records", "")
}
