package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

const noteCols = `n.id, n.patient_id, n.author_id, n.session_at, n.created_at, n.released_at, n.released_by`

func scanNote(row pgx.CollectableRow) (confidant.SealedNote, error) {
	var n confidant.SealedNote
	err := row.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.SessionAt), tm(&n.CreatedAt), tm(&n.ReleasedAt), &n.ReleasedBy)
	return n, err
}

const versionCols = `v.note_id, v.version, v.template, v.status, v.author_id,
	v.created_at, v.updated_at, v.signed_at, v.signed_by, v.data`

type noteVersion struct {
	noteID string
	confidant.SealedNoteVersion
}

func scanVersion(row pgx.CollectableRow) (noteVersion, error) {
	var v noteVersion
	var template, status string
	err := row.Scan(&v.noteID, &v.Version, &template, &status, &v.AuthorID,
		tm(&v.CreatedAt), tm(&v.UpdatedAt), tm(&v.SignedAt), &v.SignedBy, &v.Data)
	v.Template, v.Status = confidant.NoteTemplate(template), confidant.NoteStatus(status)
	return v, err
}

// CreateNote stores a note with its versions, which must be numbered 1, 2,
// ... in order (sealed data is bound to its version number); a version
// without status is a draft. A note must have at least one version, and only
// the last may be a draft (else KindInvalid, code "invalid_note"). Notes are
// usually created with one version; several come from importing or
// upgrading older records.
func (t *tx) CreateNote(ctx context.Context, n confidant.SealedNote) error {
	if len(n.Versions) == 0 {
		return invalid("invalid_note", "A new note must have a version.")
	}
	for i, v := range n.Versions {
		if v.Version != i+1 {
			return invalid("invalid_note", "The versions of a note must be numbered 1, 2, ... in order.")
		}
		if i < len(n.Versions)-1 && v.Status != confidant.NoteSigned {
			return invalid("invalid_note", "Only the last version of a note may be a draft.")
		}
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO notes (id, patient_id, author_id, session_at, created_at, released_at, released_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		n.ID, n.PatientID, n.AuthorID, ts(n.SessionAt), ts(n.CreatedAt), ts(n.ReleasedAt), n.ReleasedBy)
	if err != nil {
		return mapErr(err, "create note", "Note")
	}
	for i, v := range n.Versions {
		if err := t.insertVersion(ctx, n.PatientID, n.ID, i+1, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) insertVersion(ctx context.Context, patientID, noteID string, version int, v confidant.SealedNoteVersion) error {
	if v.Status == "" {
		v.Status = confidant.NoteDraft
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO note_versions (patient_id, note_id, version, template, status, author_id,
		                           created_at, updated_at, signed_at, signed_by, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		patientID, noteID, version, string(v.Template), string(v.Status), v.AuthorID,
		ts(v.CreatedAt), ts(v.UpdatedAt), ts(v.SignedAt), v.SignedBy, nonNil(v.Data))
	return mapErr(err, "create note version", "Note version")
}

// Note returns a note with all its versions, oldest first.
func (t *tx) Note(ctx context.Context, id string) (confidant.SealedNote, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+noteCols+` FROM notes n WHERE n.id = $1`, id)
	n, err := pgx.CollectExactlyOneRow(rows, scanNote)
	if err != nil {
		return confidant.SealedNote{}, mapErr(err, "get note", "Note")
	}
	notes := []confidant.SealedNote{n}
	if err := t.loadVersions(ctx, n.PatientID, notes); err != nil {
		return confidant.SealedNote{}, err
	}
	return notes[0], nil
}

// loadVersions fills in the versions of notes, which all belong to
// patientID, in one query.
func (t *tx) loadVersions(ctx context.Context, patientID string, notes []confidant.SealedNote) error {
	if len(notes) == 0 {
		return nil
	}
	ids := make([]string, len(notes))
	byID := make(map[string]*confidant.SealedNote, len(notes))
	for i := range notes {
		ids[i] = notes[i].ID
		byID[notes[i].ID] = &notes[i]
	}
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+versionCols+` FROM note_versions v
		WHERE v.patient_id = $1 AND v.note_id = ANY($2) ORDER BY v.note_id, v.version`, patientID, ids)
	vs, err := collect(rows, scanVersion)
	if err != nil {
		return mapErr(err, "list note versions", "")
	}
	for _, v := range vs {
		if n := byID[v.noteID]; n != nil {
			n.Versions = append(n.Versions, v.SealedNoteVersion)
		}
	}
	return nil
}

// ListNotes returns a patient's notes, newest session first, with all
// versions.
func (t *tx) ListNotes(ctx context.Context, patientID string, f confidant.NoteFilter) ([]confidant.SealedNote, error) {
	if f.Limit < 0 {
		return nil, invalid("invalid_limit", "The limit must not be negative.")
	}
	var q query
	q.where(`n.patient_id = ` + q.arg(patientID))
	if f.ReleasedOnly {
		q.where(`n.released_at IS NOT NULL`)
	}
	sql := `SELECT ` + noteCols + ` FROM notes n` + q.whereSQL() +
		` ORDER BY n.session_at DESC NULLS LAST, n.created_at DESC NULLS LAST, n.id` + q.limitSQL(f.Limit, 0)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	notes, err := collect(rows, scanNote)
	if err != nil {
		return nil, mapErr(err, "list notes", "")
	}
	if err := t.loadVersions(ctx, patientID, notes); err != nil {
		return nil, err
	}
	return notes, nil
}

// current locks the note (so that concurrent changes to it queue up behind
// this transaction) and returns its patient and current version.
func (t *tx) current(ctx context.Context, noteID string) (patientID string, version int, status confidant.NoteStatus, err error) {
	err = t.tx.QueryRow(t.c(ctx), `SELECT patient_id FROM notes WHERE id = $1 FOR UPDATE`, noteID).Scan(&patientID)
	if err != nil {
		return "", 0, "", mapErr(err, "lock note", "Note")
	}
	var s string
	err = t.tx.QueryRow(t.c(ctx), `SELECT version, status FROM note_versions
		WHERE patient_id = $1 AND note_id = $2 ORDER BY version DESC LIMIT 1`, patientID, noteID).Scan(&version, &s)
	if err != nil {
		return "", 0, "", mapErr(err, "get current note version", "Note version")
	}
	return patientID, version, confidant.NoteStatus(s), nil
}

// checkDraft returns nil if the current version is the draft `version`.
func checkDraft(version, cur int, status confidant.NoteStatus) error {
	switch {
	case version == cur && status == confidant.NoteDraft:
		return nil
	case version <= cur && version >= 1:
		return conflict("note_signed", "This version of the note is signed and cannot be changed.")
	default:
		return conflict("note_version_mismatch", "The note has no such version.")
	}
}

// UpdateDraft replaces template and sealed data of the current version,
// which must be the draft `version`, and sets its UpdatedAt.
func (t *tx) UpdateDraft(ctx context.Context, noteID string, version int, template confidant.NoteTemplate, data []byte, at time.Time) error {
	patientID, cur, status, err := t.current(ctx, noteID)
	if err != nil {
		return err
	}
	if err := checkDraft(version, cur, status); err != nil {
		return err
	}
	_, err = t.tx.Exec(t.c(ctx), `UPDATE note_versions SET template = $4, data = $5, updated_at = $6
		WHERE patient_id = $1 AND note_id = $2 AND version = $3`,
		patientID, noteID, version, string(template), nonNil(data), ts(at))
	return mapErr(err, "update draft", "Note")
}

// SignNote signs the current version, which must be the draft `version`.
func (t *tx) SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error {
	patientID, cur, status, err := t.current(ctx, noteID)
	if err != nil {
		return err
	}
	if err := checkDraft(version, cur, status); err != nil {
		return err
	}
	_, err = t.tx.Exec(t.c(ctx), `UPDATE note_versions SET status = 'signed', signed_by = $4, signed_at = $5
		WHERE patient_id = $1 AND note_id = $2 AND version = $3`,
		patientID, noteID, version, by, ts(at))
	return mapErr(err, "sign note", "Note")
}

// AddNoteVersion appends v as the next version, which v.Version must name
// (sealed data is bound to its version number; else KindConflict, code
// "note_version_mismatch"). The current version must be signed.
func (t *tx) AddNoteVersion(ctx context.Context, noteID string, v confidant.SealedNoteVersion) error {
	patientID, cur, status, err := t.current(ctx, noteID)
	if err != nil {
		return err
	}
	if status != confidant.NoteSigned {
		return conflict("note_draft_open", "The note has an unsigned draft; sign or edit it instead.")
	}
	if v.Version != cur+1 {
		return conflict("note_version_mismatch", "The new version must be numbered after the current one.")
	}
	return t.insertVersion(ctx, patientID, noteID, cur+1, v)
}

// ReleaseNote marks the note as released to the patient.
func (t *tx) ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error {
	if at.IsZero() {
		return invalid("invalid_release", "The release time is required.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE notes SET released_at = $2, released_by = $3 WHERE id = $1 AND released_at IS NULL`,
		noteID, at.UTC(), by)
	if err != nil {
		return mapErr(err, "release note", "Note")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := t.tx.QueryRow(t.c(ctx), `SELECT EXISTS (SELECT 1 FROM notes WHERE id = $1)`, noteID).Scan(&exists); err != nil {
		return mapErr(err, "release note", "Note")
	}
	if !exists {
		return notFound("Note")
	}
	return conflict("note_released", "The note has already been released.")
}
