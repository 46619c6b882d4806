package web

import (
	"net/http"
	"strconv"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// newNoteView is the form for a new session note.
type newNoteView struct {
	page
	Patient   confidant.Patient
	Templates []confidant.NoteTemplate
	Template  confidant.NoteTemplate
	Body      string
	SessionAt string // <input type=datetime-local> value
}

func (s *server) newNoteView(r *http.Request, patientID string) (*newNoteView, error) {
	p, err := s.patientForTherapist(r, patientID)
	if err != nil {
		return nil, err
	}
	v := &newNoteView{
		page:      s.page(r, "New session note", crumbPatients, crumb{p.Name(), "/patients/" + p.ID}),
		Patient:   p,
		Templates: confidant.Templates,
	}
	v.Section = "patients"
	return v, nil
}

// newNoteForm offers a note template chosen by ?template= (a plain GET form,
// so that it works without JavaScript) and prefills its skeleton.
func (s *server) newNoteForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.newNoteView(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Template = confidant.NoteTemplate(r.URL.Query().Get("template"))
	if !v.Template.Valid() {
		v.Template = confidant.TemplateFree
	}
	v.Body = v.Template.Skeleton()
	v.SessionAt = s.now().In(s.loc).Format("2006-01-02T15:04")
	s.render(w, r, http.StatusOK, "note-new", v)
}

func (s *server) createNote(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.newNoteView(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	v.Template, v.Body, v.SessionAt = confidant.NoteTemplate(f.Get("template")), f.Get("body"), f.Get("session_at")
	at, err := s.parseDateTime(v.SessionAt, "The session time")
	if err == nil {
		var n confidant.Note
		n, err = s.svc.CreateNote(r.Context(), v.Patient.ID, service.NoteInput{Template: v.Template, Body: v.Body, SessionAt: at})
		if err == nil {
			redirect(w, r, "/notes/"+n.ID, "note-created")
			return
		}
	}
	if !v.Template.Valid() {
		v.Template = confidant.TemplateFree
	}
	s.formFail(w, r, err, "note-new", v)
}

// noteView is one session note with its full history.
type noteView struct {
	page
	Note      confidant.Note
	Current   confidant.NoteVersion
	Patient   confidant.Patient
	Names     map[string]string
	Templates []confidant.NoteTemplate
	MayEdit   bool // the current version is the viewer's own draft

	// Form state: the draft editor and the amendment form.
	Template    confidant.NoteTemplate
	Body        string
	AmendBody   string
	AmendReason string
}

func (s *server) noteView(r *http.Request) (*noteView, error) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		return nil, err
	}
	if a.Role != confidant.RoleTherapist {
		// Patients read their released notes on /record; this page is the
		// therapist's workbench. Managers and security officers are refused
		// by the service as well.
		return nil, confidant.ErrPermission
	}
	n, err := s.svc.Note(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Patient(r.Context(), n.PatientID)
	if err != nil {
		return nil, err
	}
	ids := []string{n.AuthorID, n.ReleasedBy}
	for _, ver := range n.Versions {
		ids = append(ids, ver.AuthorID, ver.SignedBy)
	}
	names, err := s.svc.UserNames(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	cur := n.Current()
	v := &noteView{
		page:      s.page(r, "Session note, "+s.date(n.SessionAt), crumbPatients, crumb{p.Name(), "/patients/" + p.ID}),
		Note:      n,
		Current:   cur,
		Patient:   p,
		Names:     names,
		Templates: confidant.Templates,
		MayEdit:   cur.Status == confidant.NoteDraft && cur.AuthorID == a.UserID,
		Template:  cur.Template,
		Body:      cur.Body,
		AmendBody: cur.Body,
	}
	v.Section = "patients"
	return v, nil
}

// note shows a note. The service refuses anyone not in care of the patient
// (and managers and security officers always) before any text is loaded.
func (s *server) note(w http.ResponseWriter, r *http.Request) {
	v, err := s.noteView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "note", v)
}

// noteFail re-renders the note page after a refused change, keeping what
// the user typed. Text meant for a draft that turned out to be signed goes
// into the amendment form, so it is not lost.
func (s *server) noteFail(w http.ResponseWriter, r *http.Request, err error, keep func(*noteView)) {
	v, e := s.noteView(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	keep(v)
	if !v.MayEdit && v.Body != v.Current.Body && confidant.CodeOf(err) == "note_signed" {
		v.AmendBody = v.Body
	}
	s.formFail(w, r, err, "note", v)
}

// draftInput reads the draft editor's fields.
func draftInput(r *http.Request) (version int, tmpl confidant.NoteTemplate, body string, err error) {
	f := r.PostForm
	version, err = strconv.Atoi(f.Get("version"))
	if err != nil || version < 1 {
		return 0, "", "", invalid("invalid_version", "The form is out of date. Reload the page and try again.")
	}
	return version, confidant.NoteTemplate(f.Get("template")), f.Get("body"), nil
}

// saveDraft updates the viewer's own draft. The version field makes a stale
// form fail instead of overwriting a newer state.
func (s *server) saveDraft(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	version, tmpl, body, err := draftInput(r)
	if err == nil {
		_, err = s.svc.UpdateDraft(r.Context(), id, version, tmpl, body)
	}
	if err != nil {
		s.noteFail(w, r, err, func(v *noteView) { v.Body = r.PostForm.Get("body"); v.keepTemplate(tmpl) })
		return
	}
	redirect(w, r, "/notes/"+id, "draft-saved")
}

func (v *noteView) keepTemplate(t confidant.NoteTemplate) {
	if t.Valid() {
		v.Template = t
	}
}

// signNote signs the current draft. When it comes from the editor (with
// the text), the text is saved first, so that what is signed is what the
// therapist sees.
func (s *server) signNote(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	var err error
	var tmpl confidant.NoteTemplate
	if r.PostForm.Has("body") {
		var version int
		var body string
		version, tmpl, body, err = draftInput(r)
		if err == nil {
			_, err = s.svc.UpdateDraft(r.Context(), id, version, tmpl, body)
		}
	}
	if err == nil {
		_, err = s.svc.SignNote(r.Context(), id)
	}
	if err != nil {
		s.noteFail(w, r, err, func(v *noteView) {
			if r.PostForm.Has("body") {
				v.Body = r.PostForm.Get("body")
				v.keepTemplate(tmpl)
			}
		})
		return
	}
	redirect(w, r, "/notes/"+id, "signed")
}

// amendNote adds a signed amendment; every earlier version stays visible.
func (s *server) amendNote(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	body, reason := r.PostForm.Get("body"), r.PostForm.Get("reason")
	if _, err := s.svc.AmendNote(r.Context(), id, body, reason); err != nil {
		s.noteFail(w, r, err, func(v *noteView) { v.AmendBody, v.AmendReason = body, reason })
		return
	}
	redirect(w, r, "/notes/"+id, "amended")
}

// releaseNote makes the note's signed versions readable by the patient.
func (s *server) releaseNote(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.svc.ReleaseNote(r.Context(), id); err != nil {
		s.noteFail(w, r, err, func(*noteView) {})
		return
	}
	redirect(w, r, "/notes/"+id, "released")
}
