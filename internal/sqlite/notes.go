package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Session notes: one row in notes, one per version in note_versions, whose
// data seals the body and the amendment reason.

const noteColumns = `n.id, n.patient_id, n.author_id, n.session_at, n.created_at, n.released_at, n.released_by`

func scanNote(s interface{ Scan(...any) error }, n *confidant.SealedNote) error {
	return s.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.SessionAt), tm(&n.CreatedAt),
		tm(&n.ReleasedAt), &n.ReleasedBy)
}

const versionColumns = `v.note_id, v.version, v.template, v.status, v.author_id,
	v.created_at, v.updated_at, v.signed_at, v.signed_by, v.data`

func (t *tx) insertVersion(ctx context.Context, noteID, patientID string, v confidant.SealedNoteVersion) error {
	_, err := t.exec(ctx, "insert note version",
		`INSERT INTO note_versions (note_id, patient_id, version, template, status, author_id,
			created_at, updated_at, signed_at, signed_by, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		noteID, patientID, v.Version, string(v.Template), string(v.Status), v.AuthorID,
		micros(v.CreatedAt), micros(v.UpdatedAt), micros(v.SignedAt), v.SignedBy, nonNil(v.Data))
	return err
}

// CreateNote stores a note with its versions: one for a new note, several
// for an import or an upgrade. Versions must be numbered 1, 2, 3... (their
// sealed data is bound to the number) and only the last may be a draft,
// else KindInvalid.
func (t *tx) CreateNote(ctx context.Context, n confidant.SealedNote) error {
	if len(n.Versions) == 0 {
		return confidant.Errorf(confidant.KindInvalid, "invalid_note", "A note must have at least one version.")
	}
	for i, v := range n.Versions {
		if v.Version != i+1 {
			return confidant.Errorf(confidant.KindInvalid, "invalid_note", "A note's versions must be numbered from 1 without gaps.")
		}
		if i < len(n.Versions)-1 && v.Status != confidant.NoteSigned {
			return confidant.Errorf(confidant.KindInvalid, "invalid_note", "Only the last version of a note may be a draft.")
		}
	}
	_, err := t.exec(ctx, "create note",
		`INSERT INTO notes (id, patient_id, author_id, session_at, created_at, released_at, released_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.PatientID, n.AuthorID, micros(n.SessionAt), micros(n.CreatedAt), micros(n.ReleasedAt), n.ReleasedBy)
	if err != nil {
		return err
	}
	for _, v := range n.Versions {
		if err := t.insertVersion(ctx, n.ID, n.PatientID, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Note(ctx context.Context, id string) (confidant.SealedNote, error) {
	var n confidant.SealedNote
	err := scanNote(t.queryRow(ctx, `SELECT `+noteColumns+` FROM notes n WHERE n.id = ?`, id), &n)
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("note")
	}
	if err != nil {
		return n, dbErr("note", err)
	}
	notes := []confidant.SealedNote{n}
	err = t.loadVersions(ctx, notes, `SELECT `+versionColumns+` FROM note_versions v WHERE v.note_id = ? ORDER BY v.version`, id)
	return notes[0], err
}

func (t *tx) ListNotes(ctx context.Context, patientID string, f confidant.NoteFilter) ([]confidant.SealedNote, error) {
	// The same selection of notes picks the notes and their versions.
	sel := `SELECT n.id FROM notes n WHERE n.patient_id = ?`
	if f.ReleasedOnly {
		sel += ` AND n.released_at IS NOT NULL`
	}
	sel += ` ORDER BY n.session_at DESC, n.id` + limitOne
	lim := limitArg(f.Limit)

	var out []confidant.SealedNote
	err := t.list(ctx, "list notes",
		`SELECT `+noteColumns+` FROM notes n WHERE n.id IN (`+sel+`) ORDER BY n.session_at DESC, n.id`,
		[]any{patientID, lim},
		func(r *sql.Rows) error {
			var n confidant.SealedNote
			err := scanNote(r, &n)
			out = append(out, n)
			return err
		})
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = t.loadVersions(ctx, out,
		`SELECT `+versionColumns+` FROM note_versions v WHERE v.note_id IN (`+sel+`) ORDER BY v.note_id, v.version`,
		patientID, lim)
	return out, err
}

// loadVersions appends the versions selected by query (ordered by version)
// to the notes they belong to.
func (t *tx) loadVersions(ctx context.Context, notes []confidant.SealedNote, query string, args ...any) error {
	idx := make(map[string]int, len(notes))
	for i, n := range notes {
		idx[n.ID] = i
	}
	return t.list(ctx, "note versions", query, args, func(r *sql.Rows) error {
		var noteID string
		var v confidant.SealedNoteVersion
		if err := r.Scan(&noteID, &v.Version, &v.Template, &v.Status, &v.AuthorID,
			tm(&v.CreatedAt), tm(&v.UpdatedAt), tm(&v.SignedAt), &v.SignedBy, &v.Data); err != nil {
			return err
		}
		if i, ok := idx[noteID]; ok {
			notes[i].Versions = append(notes[i].Versions, v)
		}
		return nil
	})
}

// current returns the number and status of a note's current version.
func (t *tx) current(ctx context.Context, op, noteID string) (int, confidant.NoteStatus, error) {
	var version int
	var status confidant.NoteStatus
	err := t.get(ctx, "note", op,
		`SELECT version, status FROM note_versions WHERE note_id = ? ORDER BY version DESC LIMIT 1`,
		[]any{noteID}, &version, &status)
	return version, status, err
}

// currentDraft checks that version is the note's current version and a
// draft.
func (t *tx) currentDraft(ctx context.Context, op, noteID string, version int) error {
	cur, status, err := t.current(ctx, op, noteID)
	if err != nil {
		return err
	}
	switch {
	case version != cur:
		return conflict("note_version_stale", "This is not the current version of the note.")
	case status != confidant.NoteDraft:
		return conflict("note_signed", "The note is signed and can no longer be changed.")
	}
	return nil
}

func (t *tx) UpdateDraft(ctx context.Context, noteID string, version int, template confidant.NoteTemplate, data []byte, at time.Time) error {
	if err := t.currentDraft(ctx, "update draft", noteID, version); err != nil {
		return err
	}
	_, err := t.exec(ctx, "update draft",
		`UPDATE note_versions SET template = ?, data = ?, updated_at = ? WHERE note_id = ? AND version = ?`,
		string(template), nonNil(data), micros(at), noteID, version)
	return err
}

func (t *tx) SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error {
	if err := t.currentDraft(ctx, "sign note", noteID, version); err != nil {
		return err
	}
	_, err := t.exec(ctx, "sign note",
		`UPDATE note_versions SET status = 'signed', signed_at = ?, signed_by = ? WHERE note_id = ? AND version = ?`,
		micros(at), by, noteID, version)
	return err
}

// AddNoteVersion appends v, which must be numbered as the next version
// (its sealed data is bound to the number) after a signed current version;
// else KindConflict.
func (t *tx) AddNoteVersion(ctx context.Context, noteID string, v confidant.SealedNoteVersion) error {
	var patientID string
	var cur int
	var status confidant.NoteStatus
	err := t.get(ctx, "note", "add note version",
		`SELECT n.patient_id, v.version, v.status FROM notes n JOIN note_versions v ON v.note_id = n.id
		WHERE n.id = ? ORDER BY v.version DESC LIMIT 1`,
		[]any{noteID}, &patientID, &cur, &status)
	if err != nil {
		return err
	}
	if status != confidant.NoteSigned {
		return conflict("note_has_draft", "The note has an unsigned draft; edit or sign it instead.")
	}
	if v.Version != cur+1 {
		return conflict("note_version_stale", "The note was amended meanwhile; reload it.")
	}
	return t.insertVersion(ctx, noteID, patientID, v)
}

func (t *tx) ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error {
	var released sql.NullInt64
	if err := t.get(ctx, "note", "release note",
		`SELECT released_at FROM notes WHERE id = ?`, []any{noteID}, &released); err != nil {
		return err
	}
	if released.Valid {
		return conflict("note_released", "The note has already been released.")
	}
	_, err := t.exec(ctx, "release note",
		`UPDATE notes SET released_at = ?, released_by = ? WHERE id = ?`, micros(at), by, noteID)
	return err
}

// Private process notes.

func (t *tx) CreateProcessNote(ctx context.Context, n confidant.SealedProcessNote) error {
	_, err := t.exec(ctx, "create process note",
		`INSERT INTO process_notes (id, patient_id, author_id, created_at, data) VALUES (?, ?, ?, ?, ?)`,
		n.ID, n.PatientID, n.AuthorID, micros(n.CreatedAt), nonNil(n.Data))
	return err
}

// ListProcessNotes returns authorID's process notes about patientID, oldest
// first. The author is part of the query, so no one else's can leak.
func (t *tx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.SealedProcessNote, error) {
	var out []confidant.SealedProcessNote
	err := t.list(ctx, "list process notes",
		`SELECT id, patient_id, author_id, created_at, data FROM process_notes
		WHERE patient_id = ? AND author_id = ? ORDER BY created_at, id`,
		[]any{patientID, authorID},
		func(r *sql.Rows) error {
			var n confidant.SealedProcessNote
			err := r.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.CreatedAt), &n.Data)
			out = append(out, n)
			return err
		})
	return out, err
}
