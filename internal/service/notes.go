package service

import (
	"context"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// maxNoteRunes bounds a note body.
const maxNoteRunes = 100_000

// NoteInput is what a therapist submits for a new session note.
type NoteInput struct {
	Template  confidant.NoteTemplate
	Body      string
	SessionAt time.Time // zero: now
}

// CreateNote starts a draft session note for a patient in the acting
// therapist's care.
func (s *Service) CreateNote(ctx context.Context, patientID string, in NoteInput) (confidant.Note, error) {
	ctx = withEmergency(ctx)
	if in.Template == "" {
		in.Template = confidant.TemplateFree
	}
	if !in.Template.Valid() {
		return confidant.Note{}, confidant.Errorf(confidant.KindInvalid, "invalid_template", "Unknown note template.")
	}
	if err := checkText("body", "The note", in.Body, 1, maxNoteRunes); err != nil {
		return confidant.Note{}, err
	}
	now := s.clock()
	at := in.SessionAt.UTC().Truncate(time.Microsecond)
	if at.IsZero() {
		at = now
	}
	if at.After(now.Add(24*time.Hour)) || at.Before(now.AddDate(-10, 0, 0)) {
		return confidant.Note{}, confidant.Errorf(confidant.KindInvalid, "invalid_session_time", "The session time must be within the last ten years and not in the future.")
	}
	var n confidant.Note
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WriteNote)
		if err != nil {
			return err
		}
		n = confidant.Note{
			ID: confidant.NewID(), PatientID: p.ID, AuthorID: a.UserID, SessionAt: at, CreatedAt: now,
			Versions: []confidant.NoteVersion{{
				Version: 1, Template: in.Template, Body: in.Body, Status: confidant.NoteDraft,
				AuthorID: a.UserID, CreatedAt: now, UpdatedAt: now,
			}},
		}
		if err := tx.CreateNote(ctx, n); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActNoteCreate, p.ID, n.ID)
	})
	if err := s.wrote(ctx, ActNoteCreate, patientID, "", err); err != nil {
		return confidant.Note{}, err
	}
	return n, nil
}

// Notes returns a patient's session notes, newest session first: all of them
// to a therapist in care; to the patient, only released notes and only
// their signed versions.
func (s *Service) Notes(ctx context.Context, patientID string) ([]confidant.Note, error) {
	ctx = withEmergency(ctx)
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	act := policy.ReadChart
	if a.Role == confidant.RolePatient {
		act = policy.ReadOwnReleased
	}
	var ns []confidant.Note
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		if _, _, err := s.authorizePatient(ctx, tx, patientID, act); err != nil {
			return err
		}
		ns, err = tx.ListNotes(ctx, patientID, confidant.NoteFilter{ReleasedOnly: act == policy.ReadOwnReleased})
		return err
	})
	if err := s.done(ctx, ActNotesRead, patientID, "", err); err != nil {
		return nil, err
	}
	if act == policy.ReadOwnReleased {
		ns = releasedView(ns)
	}
	return ns, nil
}

// releasedView keeps, in place, what a patient may see of their notes (see
// patientView).
func releasedView(ns []confidant.Note) []confidant.Note {
	out := ns[:0]
	for _, n := range ns {
		if n, ok := patientView(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// patientView strips what a patient must not see from a released note:
// unsigned versions.
func patientView(n confidant.Note) (confidant.Note, bool) {
	var vs []confidant.NoteVersion
	for _, v := range n.Versions {
		if v.Status == confidant.NoteSigned {
			vs = append(vs, v)
		}
	}
	n.Versions = vs
	return n, n.Released() && len(vs) > 0
}

// Note returns one session note with its versions, under the same rules as
// Notes.
func (s *Service) Note(ctx context.Context, id string) (confidant.Note, error) {
	ctx = withEmergency(ctx)
	a, err := actor(ctx)
	if err != nil {
		return confidant.Note{}, err
	}
	act := policy.ReadChart
	if a.Role == confidant.RolePatient {
		act = policy.ReadOwnReleased
	}
	var n confidant.Note
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		n, err = s.loadNote(ctx, tx, id, act)
		return err
	})
	if err == nil && act == policy.ReadOwnReleased {
		var ok bool
		if n, ok = patientView(n); !ok {
			err = confidant.ErrNotFound
		}
	}
	if err := s.done(ctx, ActNoteRead, n.PatientID, id, err); err != nil {
		return confidant.Note{}, err
	}
	return n, nil
}

// loadNote loads a note and authorizes act on its patient. Roles that may
// never perform act are refused before the note is looked up.
func (s *Service) loadNote(ctx context.Context, tx confidant.Tx, id string, act policy.Action) (confidant.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.Note{}, err
	}
	if err := checkID(id); err != nil {
		return confidant.Note{}, err
	}
	if !roleMayEver(a.Role, act) {
		return confidant.Note{}, confidant.ErrPermission
	}
	n, err := tx.Note(ctx, id)
	if err != nil {
		return confidant.Note{}, sameNotFound(err)
	}
	p, err := tx.Patient(ctx, n.PatientID)
	if err != nil {
		return confidant.Note{}, err
	}
	if p.Erased() {
		return confidant.Note{}, errErased
	}
	f, err := s.patientFacts(ctx, tx, a, p)
	if err != nil {
		return confidant.Note{}, err
	}
	f.Author = n.Current().AuthorID == a.UserID
	f.Released = n.Released()
	if err := policy.Check(a, act, f); err != nil {
		return confidant.Note{}, err
	}
	return n, nil
}

// UpdateDraft replaces the text of the acting therapist's own draft. version
// must be the draft's version number (so a stale form cannot overwrite a
// signed note).
func (s *Service) UpdateDraft(ctx context.Context, id string, version int, template confidant.NoteTemplate, body string) (confidant.Note, error) {
	if !template.Valid() {
		return confidant.Note{}, confidant.Errorf(confidant.KindInvalid, "invalid_template", "Unknown note template.")
	}
	if err := checkText("body", "The note", body, 1, maxNoteRunes); err != nil {
		return confidant.Note{}, err
	}
	return s.changeNote(ctx, id, policy.EditDraft, func(tx confidant.Tx, a confidant.Actor, n *confidant.Note, now time.Time) error {
		if n.Status() != confidant.NoteDraft {
			return errSigned
		}
		return tx.UpdateDraft(ctx, n.ID, version, template, body, now)
	})
}

var errSigned = confidant.Errorf(confidant.KindConflict, "note_signed", "This note is signed and locked. Amend it to make a change.")

// SignNote signs and locks the current draft of a note. Only its author may
// sign it, and an empty note cannot be signed.
func (s *Service) SignNote(ctx context.Context, id string) (confidant.Note, error) {
	return s.changeNote(ctx, id, policy.SignNote, func(tx confidant.Tx, a confidant.Actor, n *confidant.Note, now time.Time) error {
		cur := n.Current()
		if cur.Status != confidant.NoteDraft {
			return errSigned
		}
		if strings.TrimSpace(cur.Body) == "" || strings.TrimSpace(cur.Body) == strings.TrimSpace(cur.Template.Skeleton()) {
			return confidant.Errorf(confidant.KindInvalid, "empty_note", "An empty note cannot be signed.")
		}
		return tx.SignNote(ctx, n.ID, cur.Version, a.UserID, now)
	})
}

// AmendNote adds a signed amendment to a signed note: a new version written
// and signed by the acting therapist, with an optional reason. Earlier
// versions stay visible.
func (s *Service) AmendNote(ctx context.Context, id, body, reason string) (confidant.Note, error) {
	if err := checkText("body", "The amended note", body, 1, maxNoteRunes); err != nil {
		return confidant.Note{}, err
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", "The reason", reason, 0, 500); err != nil {
		return confidant.Note{}, err
	}
	return s.changeNote(ctx, id, policy.AmendNote, func(tx confidant.Tx, a confidant.Actor, n *confidant.Note, now time.Time) error {
		cur := n.Current()
		if cur.Status != confidant.NoteSigned {
			return confidant.Errorf(confidant.KindConflict, "note_draft", "This note is still a draft: edit it instead of amending it.")
		}
		return tx.AddNoteVersion(ctx, n.ID, confidant.NoteVersion{
			Version: cur.Version + 1, Template: cur.Template, Body: body, Status: confidant.NoteSigned,
			AuthorID: a.UserID, CreatedAt: now, UpdatedAt: now, SignedAt: now, SignedBy: a.UserID, Reason: reason,
		})
	})
}

// ReleaseNote releases a signed note to the patient, who can then read its
// signed versions in the portal.
func (s *Service) ReleaseNote(ctx context.Context, id string) (confidant.Note, error) {
	return s.changeNote(ctx, id, policy.ReleaseNote, func(tx confidant.Tx, a confidant.Actor, n *confidant.Note, now time.Time) error {
		if _, ok := n.LatestSigned(); !ok {
			return confidant.Errorf(confidant.KindConflict, "note_unsigned", "Sign the note before releasing it.")
		}
		if n.Released() {
			return confidant.Errorf(confidant.KindConflict, "already_released", "This note has already been released.")
		}
		return tx.ReleaseNote(ctx, n.ID, a.UserID, now)
	})
}

// changeNote runs fn on note id in one transaction after authorizing act,
// and returns the note as it is afterwards, read in a snapshot taken after
// the change committed (reading it in the write transaction would keep the
// change from being staged outside the access log's sequencer: see
// Service.update).
func (s *Service) changeNote(ctx context.Context, id string, act policy.Action, fn func(confidant.Tx, confidant.Actor, *confidant.Note, time.Time) error) (confidant.Note, error) {
	ctx = withEmergency(ctx)
	a, err := actor(ctx)
	if err != nil {
		return confidant.Note{}, err
	}
	action := noteActions[act]
	var n confidant.Note
	var patientID string
	err = s.update(ctx, func(tx confidant.Tx) error {
		n, err = s.loadNote(ctx, tx, id, act)
		if err != nil {
			return err
		}
		patientID = n.PatientID
		if err := fn(tx, a, &n, s.clock()); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, action, n.PatientID, n.ID)
	})
	if err := s.wrote(ctx, action, patientID, id, err); err != nil {
		return confidant.Note{}, err
	}
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		n, err = tx.Note(ctx, id)
		return err
	})
	if err != nil {
		return confidant.Note{}, err
	}
	return n, nil
}

// noteActions names the access-log action of each note change.
var noteActions = map[policy.Action]string{
	policy.EditDraft: ActNoteEdit, policy.SignNote: ActNoteSign,
	policy.AmendNote: ActNoteAmend, policy.ReleaseNote: ActNoteRelease,
}
