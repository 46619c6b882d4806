package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// sameAnswer fails unless a and b are the same refusal: the same kind,
// code and message, so that the caller cannot tell them apart.
func sameAnswer(t *testing.T, what string, a, b error) {
	t.Helper()
	if a == nil || b == nil {
		t.Errorf("%s: not refused (%v, %v)", what, a, b)
		return
	}
	var ea, eb *confidant.Error
	if !errors.As(a, &ea) || !errors.As(b, &eb) {
		t.Errorf("%s: not *confidant.Error: %v, %v", what, a, b)
		return
	}
	if ea.Kind != eb.Kind || ea.Code != eb.Code || ea.Message != eb.Message {
		t.Errorf("%s: the existing record is refused with %v (%s, %q), a nonexistent one with %v (%s, %q): an oracle", what, ea.Kind, ea.Code, ea.Message, eb.Kind, eb.Code, eb.Message)
	}
}

// TestPatientCannotReadAnotherPatient: a patient's portal account asking
// for another patient's record, notes, attachments, access history or
// proofs gets not found, the same answer as for an id that does not exist.
func TestPatientCannotReadAnotherPatient(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	// Patient B has a released note and an attachment.
	tb := w.As(w.TherapistB)
	n, err := svc.CreateNote(tb, w.PatientB.ID, service.NoteInput{Template: confidant.TemplateFree, Body: "B's note"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignNote(tb, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReleaseNote(tb, n.ID); err != nil {
		t.Fatal(err)
	}
	att, err := svc.UploadAttachment(tb, w.PatientB.ID, "b.txt", strings.NewReader("B's file"))
	if err != nil {
		t.Fatal(err)
	}
	// Patient A's own released note reads (the account works).
	pa := w.As(w.PatientUser)
	if _, err := svc.Patient(pa, w.PatientA.ID); err != nil {
		t.Fatalf("own record: %v", err)
	}
	none := confidant.NewID()
	for _, c := range []struct {
		what     string
		notFound bool // a patient-facing read: must be not found
		read     func(ctx context.Context, id string) error
		id       string
	}{
		{"record", true, func(ctx context.Context, id string) error { _, err := svc.Patient(ctx, id); return err }, w.PatientB.ID},
		{"notes", true, func(ctx context.Context, id string) error { _, err := svc.Notes(ctx, id); return err }, w.PatientB.ID},
		{"released note", true, func(ctx context.Context, id string) error { _, err := svc.Note(ctx, id); return err }, n.ID},
		{"attachment", false, func(ctx context.Context, id string) error { _, _, err := svc.OpenAttachment(ctx, id); return err }, att.ID},
		{"chart", false, func(ctx context.Context, id string) error { _, err := svc.Chart(ctx, id); return err }, w.PatientB.ID},
		{"process notes", false, func(ctx context.Context, id string) error { _, err := svc.ProcessNotes(ctx, id); return err }, w.PatientB.ID},
	} {
		other, missing := c.read(pa, c.id), c.read(pa, none)
		sameAnswer(t, c.what, other, missing)
		if c.notFound && !confidant.IsKind(other, confidant.KindNotFound) {
			t.Errorf("%s of another patient: %v, want not found", c.what, other)
		}
	}

	// Access history: nothing about patient B, and B's entries have no
	// proof for A (the same answer as an index past the end).
	entries, err := svc.MyAccessLog(pa, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.PatientID != w.PatientA.ID {
			t.Errorf("patient A's access history has an entry of patient %q", e.PatientID)
		}
	}
	evs, err := testfix.Log(w.Store).Query(t.Context(), confidant.EventFilter{PatientID: w.PatientB.ID, Limit: 10})
	if err != nil || len(evs) == 0 {
		t.Fatalf("patient B's events: %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		_, other := svc.AccessProof(pa, ev.Index)
		_, missing := svc.AccessProof(pa, 1<<40)
		sameAnswer(t, "access proof", other, missing)
		if !confidant.IsKind(other, confidant.KindNotFound) {
			t.Errorf("proof of patient B's event %d: %v, want not found", ev.Index, other)
		}
	}
}

// TestRefuseByRoleFirst: a role that can never take a clinical action
// (a manager, the security officer, a patient) learns nothing about
// whether a patient exists: asking about a patient of its own clinic,
// of another clinic and about an id that does not exist gets the same
// permission_denied.
func TestRefuseByRoleFirst(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	none := confidant.NewID()
	actions := []struct {
		what string
		do   func(ctx context.Context, id string) error
	}{
		{"chart", func(ctx context.Context, id string) error { _, err := svc.Chart(ctx, id); return err }},
		{"process notes", func(ctx context.Context, id string) error { _, err := svc.ProcessNotes(ctx, id); return err }},
		{"new note", func(ctx context.Context, id string) error {
			_, err := svc.CreateNote(ctx, id, service.NoteInput{Template: confidant.TemplateFree, Body: "x"})
			return err
		}},
		{"new process note", func(ctx context.Context, id string) error { _, err := svc.CreateProcessNote(ctx, id, "x"); return err }},
		{"diagnosis", func(ctx context.Context, id string) error {
			_, err := svc.AddDiagnosis(ctx, id, "F32.1", "")
			return err
		}},
		{"attachment", func(ctx context.Context, id string) error {
			_, err := svc.UploadAttachment(ctx, id, "a.txt", strings.NewReader("x"))
			return err
		}},
	}
	for _, who := range []confidant.User{w.Manager, w.Security, w.PatientUser} {
		ctx := w.As(who)
		for _, a := range actions {
			missing := a.do(ctx, none)
			if confidant.CodeOf(missing) != "permission_denied" {
				t.Errorf("%s, %s of a nonexistent patient: %v, want permission_denied", who.Role, a.what, missing)
			}
			for _, p := range []confidant.Patient{w.PatientA, w.PatientB, w.PatientC} {
				sameAnswer(t, string(who.Role)+", "+a.what, a.do(ctx, p.ID), missing)
			}
		}
	}
}

// TestOtherRecordsAnswerAsNonexistent: a therapist of another clinic asking
// for a note, an attachment or a diagnosis of a patient not in their care
// gets the same answer as for an id that does not exist (the store's
// not-found named the kind of record, and so told the two apart).
func TestOtherRecordsAnswerAsNonexistent(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	ta := w.As(w.Therapist)
	n, err := svc.CreateNote(ta, w.PatientA.ID, service.NoteInput{Template: confidant.TemplateFree, Body: "A's note"})
	if err != nil {
		t.Fatal(err)
	}
	att, err := svc.UploadAttachment(ta, w.PatientA.ID, "a.txt", strings.NewReader("A's file"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.AddDiagnosis(ta, w.PatientA.ID, "F32.1", "")
	if err != nil {
		t.Fatal(err)
	}
	none := confidant.NewID()
	for _, who := range []confidant.User{w.TherapistB, w.OtherTherapist} {
		ctx := w.As(who)
		for _, c := range []struct {
			what string
			id   string
			do   func(id string) error
		}{
			{"note", n.ID, func(id string) error { _, err := svc.Note(ctx, id); return err }},
			{"sign note", n.ID, func(id string) error { _, err := svc.SignNote(ctx, id); return err }},
			{"attachment", att.ID, func(id string) error { _, _, err := svc.OpenAttachment(ctx, id); return err }},
			{"diagnosis status", d.ID, func(id string) error {
				_, err := svc.SetDiagnosisStatus(ctx, id, confidant.DiagnosisResolved)
				return err
			}},
		} {
			other := c.do(c.id)
			sameAnswer(t, who.Username+", "+c.what, other, c.do(none))
			if !confidant.IsKind(other, confidant.KindNotFound) {
				t.Errorf("%s, %s of a patient not in care: %v, want not found", who.Username, c.what, other)
			}
		}
	}
}
