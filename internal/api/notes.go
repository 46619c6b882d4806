package api

import (
	"context"
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// listNotes: GET /api/v1/patients/{id}/notes. Therapists in care get every
// note with every version; the patient gets released notes, signed versions
// only.
func (h *handler) listNotes(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ns, err := h.svc.Notes(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notesView{Notes: mapSlice(ns, newNoteView)})
	return nil
}

type noteRequest struct {
	Body      string `json:"body"`
	Template  string `json:"template"`   // free (default), soap or dap
	SessionAt string `json:"session_at"` // RFC 3339; default now
}

// createNote: POST /api/v1/patients/{id}/notes starts a draft.
func (h *handler) createNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req noteRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	at, err := parseTime("session_at", req.SessionAt)
	if err != nil {
		return err
	}
	n, err := h.svc.CreateNote(r.Context(), id, service.NoteInput{
		Template: confidant.NoteTemplate(req.Template), Body: req.Body, SessionAt: at,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"notes/"+n.ID)
	writeJSON(w, http.StatusCreated, newNoteView(n))
	return nil
}

// getNote: GET /api/v1/notes/{id}.
func (h *handler) getNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	n, err := h.svc.Note(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newNoteView(n))
	return nil
}

type draftRequest struct {
	Version  int    `json:"version"` // the draft's version number, from GET
	Template string `json:"template"`
	Body     string `json:"body"`
}

// updateDraft: PUT /api/v1/notes/{id}/draft replaces the text of the
// author's own draft. A signed note answers 409 "note_signed".
func (h *handler) updateDraft(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req draftRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Version < 1 {
		return missing("version")
	}
	n, err := h.svc.UpdateDraft(r.Context(), id, req.Version, confidant.NoteTemplate(req.Template), req.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newNoteView(n))
	return nil
}

// signNote: POST /api/v1/notes/{id}/sign signs and locks the current draft.
func (h *handler) signNote(w http.ResponseWriter, r *http.Request) error {
	return h.noteAction(w, r, h.svc.SignNote)
}

// releaseNote: POST /api/v1/notes/{id}/release releases a signed note to the
// patient.
func (h *handler) releaseNote(w http.ResponseWriter, r *http.Request) error {
	return h.noteAction(w, r, h.svc.ReleaseNote)
}

// noteAction runs a body-less state change on a note.
func (h *handler) noteAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, id string) (confidant.Note, error)) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	n, err := act(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newNoteView(n))
	return nil
}

type amendRequest struct {
	Body   string `json:"body"`
	Reason string `json:"reason"`
}

// amendNote: POST /api/v1/notes/{id}/amend adds a signed amendment; earlier
// versions stay visible.
func (h *handler) amendNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req amendRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	n, err := h.svc.AmendNote(r.Context(), id, req.Body, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newNoteView(n))
	return nil
}
