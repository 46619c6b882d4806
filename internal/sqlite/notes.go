package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Session notes: one row in notes, one per version in note_versions.

const noteColumns = `n.id, n.patient_id, n.author_id, n.session_at, n.created_at, n.released_at, n.released_by`

func scanNote(s interface{ Scan(...any) error }, n *confidant.Note) error {
	return s.Scan(&n.ID, &n.PatientID, &n.AuthorID, tm(&n.SessionAt), tm(&n.CreatedAt),
		tm(&n.ReleasedAt), &n.ReleasedBy)
}

const versionColumns = `v.note_id, v.version, v.template, v.body, v.status, v.author_id,
	v.created_at, v.updated_at, v.signed_at, v.signed_by, v.reason`

func (t *tx) insertVersion(ctx context.Context, noteID string, number int, v confidant.NoteVersion) error {
	_, err := t.exec(ctx, "insert note version",
		`INSERT INTO note_versions (note_id, version, template, body, status, author_id,
			created_at, updated_at, signed_at, signed_by, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		noteID, number, string(v.Template), v.Body, string(v.Status), v.AuthorID,
		micros(v.CreatedAt), micros(v.UpdatedAt), micros(v.SignedAt), v.SignedBy, v.Reason)
	return err
}

func (t *tx) CreateNote(ctx context.Context, n confidant.Note) error {
	if len(n.Versions) != 1 {
		return confidant.Errorf(confidant.KindInvalid, "invalid_note", "A new note must have exactly one version.")
	}
	_, err := t.exec(ctx, "create note",
		`INSERT INTO notes (id, patient_id, author_id, session_at, created_at, released_at, released_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.PatientID, n.AuthorID, micros(n.SessionAt), micros(n.CreatedAt), micros(n.ReleasedAt), n.ReleasedBy)
	if err != nil {
		return err
	}
	return t.insertVersion(ctx, n.ID, 1, n.Versions[0])
}

func (t *tx) Note(ctx context.Context, id string) (confidant.Note, error) {
	var n confidant.Note
	err := scanNote(t.tx.QueryRowContext(ctx, `SELECT `+noteColumns+` FROM notes n WHERE n.id = ?`, id), &n)
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("note")
	}
	if err != nil {
		return n, dbErr("note", err)
	}
	notes := []confidant.Note{n}
	err = t.loadVersions(ctx, notes, `SELECT `+versionColumns+` FROM note_versions v WHERE v.note_id = ? ORDER BY v.version`, id)
	return notes[0], err
}

func (t *tx) ListNotes(ctx context.Context, patientID string, f confidant.NoteFilter) ([]confidant.Note, error) {
	// The same selection of notes picks the notes and their versions.
	sel := `SELECT n.id FROM notes n WHERE n.patient_id = ?`
	if f.ReleasedOnly {
		sel += ` AND n.released_at IS NOT NULL`
	}
	sel += ` ORDER BY n.session_at DESC, n.id LIMIT ?`
	lim := limitArg(f.Limit)

	var out []confidant.Note
	err := t.list(ctx, "list notes",
		`SELECT `+noteColumns+` FROM notes n WHERE n.id IN (`+sel+`) ORDER BY n.session_at DESC, n.id`,
		[]any{patientID, lim},
		func(r *sql.Rows) error {
			var n confidant.Note
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
func (t *tx) loadVersions(ctx context.Context, notes []confidant.Note, query string, args ...any) error {
	idx := make(map[string]int, len(notes))
	for i, n := range notes {
		idx[n.ID] = i
	}
	return t.list(ctx, "note versions", query, args, func(r *sql.Rows) error {
		var noteID string
		var v confidant.NoteVersion
		if err := r.Scan(&noteID, &v.Version, &v.Template, &v.Body, &v.Status, &v.AuthorID,
			tm(&v.CreatedAt), tm(&v.UpdatedAt), tm(&v.SignedAt), &v.SignedBy, &v.Reason); err != nil {
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

func (t *tx) UpdateDraft(ctx context.Context, noteID string, version int, template confidant.NoteTemplate, body string, at time.Time) error {
	if err := t.currentDraft(ctx, "update draft", noteID, version); err != nil {
		return err
	}
	_, err := t.exec(ctx, "update draft",
		`UPDATE note_versions SET template = ?, body = ?, updated_at = ? WHERE note_id = ? AND version = ?`,
		string(template), body, micros(at), noteID, version)
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

// AddNoteVersion appends v as the next version; v.Version is ignored.
func (t *tx) AddNoteVersion(ctx context.Context, noteID string, v confidant.NoteVersion) error {
	cur, status, err := t.current(ctx, "add note version", noteID)
	if err != nil {
		return err
	}
	if status != confidant.NoteSigned {
		return conflict("note_has_draft", "The note has an unsigned draft; edit or sign it instead.")
	}
	return t.insertVersion(ctx, noteID, cur+1, v)
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

func (t *tx) CreateProcessNote(ctx context.Context, n confidant.ProcessNote) error {
	_, err := t.exec(ctx, "create process note",
		`INSERT INTO process_notes (id, patient_id, author_id, body, created_at) VALUES (?, ?, ?, ?, ?)`,
		n.ID, n.PatientID, n.AuthorID, n.Body, micros(n.CreatedAt))
	return err
}

// ListProcessNotes returns authorID's process notes about patientID, oldest
// first. The author is part of the query, so no one else's can leak.
func (t *tx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.ProcessNote, error) {
	var out []confidant.ProcessNote
	err := t.list(ctx, "list process notes",
		`SELECT id, patient_id, author_id, body, created_at FROM process_notes
		WHERE patient_id = ? AND author_id = ? ORDER BY created_at, id`,
		[]any{patientID, authorID},
		func(r *sql.Rows) error {
			var n confidant.ProcessNote
			err := r.Scan(&n.ID, &n.PatientID, &n.AuthorID, &n.Body, tm(&n.CreatedAt))
			out = append(out, n)
			return err
		})
	return out, err
}
