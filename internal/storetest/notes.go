package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func testNotes(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	n := newNote(f.patient.ID, f.therapist.ID, at(-day))
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, n) })
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, n.ID)
	})
	diff(t, "Note", n, got)
	if !got.ReleasedAt.IsZero() {
		t.Errorf("new note is released")
	}

	// A note created already signed (e.g. by an import) keeps its signature.
	signed := newNote(f.patient.ID, f.therapist.ID, at(-2*day))
	signed.Versions[0].Status = confidant.NoteSigned
	signed.Versions[0].SignedAt = at(-2*day + time.Hour)
	signed.Versions[0].SignedBy = f.therapist.ID
	signed.Versions[0].Template = confidant.TemplateFree
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, signed) })
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, signed.ID)
	})
	diff(t, "signed Note", signed, got)
}

// testNoteWithHistory checks that CreateNote stores a note with several
// versions, as an import or an upgrade does.
func testNoteWithHistory(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	amender := newUser(confidant.RoleTherapist, f.clinic.ID)
	n := newNote(f.patient.ID, f.therapist.ID, at(-day))
	n.ReleasedAt, n.ReleasedBy = at(-day+5*time.Hour), f.therapist.ID
	v1 := &n.Versions[0]
	v1.Status, v1.SignedAt, v1.SignedBy = confidant.NoteSigned, at(-day+2*time.Hour), f.therapist.ID
	n.Versions = append(n.Versions,
		confidant.SealedNoteVersion{
			Version: 2, Template: confidant.TemplateDAP, Status: confidant.NoteSigned, AuthorID: amender.ID,
			CreatedAt: at(-day + 3*time.Hour), UpdatedAt: at(-day + 3*time.Hour),
			SignedAt: at(-day + 4*time.Hour), SignedBy: amender.ID, Data: sealed(),
		},
		confidant.SealedNoteVersion{
			Version: 3, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: f.therapist.ID,
			CreatedAt: at(-time.Hour), UpdatedAt: at(-time.Minute), Data: sealed(),
		})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, amender); err != nil {
			return err
		}
		return tx.CreateNote(ctx, n)
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, n.ID)
	})
	diff(t, "Note with three versions", n, got)
	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedNote, error) {
		return tx.ListNotes(ctx, f.patient.ID, confidant.NoteFilter{})
	})
	diff(t, "ListNotes", []confidant.SealedNote{n}, list)

	// The imported draft is the current version, as if written here.
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.AddNoteVersion(ctx, n.ID, confidant.SealedNoteVersion{Version: 4, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base, Data: sealed()})
	})
	wantKind(t, "AddNoteVersion on an imported draft", err, confidant.KindConflict)
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 2, f.therapist.ID, base)
	})
	wantKind(t, "SignNote of an imported signed version", err, confidant.KindConflict)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 3, f.therapist.ID, base)
	})

	// A note without versions, or with a draft that is not the last
	// version, is refused.
	empty := newNote(f.patient.ID, f.therapist.ID, base)
	empty.Versions = nil
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, empty) })
	wantKind(t, "CreateNote without versions", err, confidant.KindInvalid)
	early := newNote(f.patient.ID, f.therapist.ID, base)
	early.Versions = append(early.Versions, confidant.SealedNoteVersion{
		Version: 2, Template: confidant.TemplateFree, Status: confidant.NoteSigned, AuthorID: f.therapist.ID,
		CreatedAt: base, UpdatedAt: base, SignedAt: base, SignedBy: f.therapist.ID, Data: sealed(),
	})
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, early) })
	wantKind(t, "CreateNote with a draft before the last version", err, confidant.KindInvalid)
	// Sealed data is bound to its version number, so the numbers given must
	// be 1, 2, 3...
	misnumbered := newNote(f.patient.ID, f.therapist.ID, base)
	misnumbered.Versions[0].Version = 0
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, misnumbered) })
	wantKind(t, "CreateNote with version 0", err, confidant.KindInvalid)
	gap := newNote(f.patient.ID, f.therapist.ID, base)
	gap.Versions[0].Status, gap.Versions[0].SignedAt, gap.Versions[0].SignedBy = confidant.NoteSigned, base, f.therapist.ID
	gap.Versions = append(gap.Versions, confidant.SealedNoteVersion{
		Version: 3, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: f.therapist.ID,
		CreatedAt: base, UpdatedAt: base, Data: sealed(),
	})
	err = tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateNote(ctx, gap) })
	wantKind(t, "CreateNote with versions 1 and 3", err, confidant.KindInvalid)
	for _, id := range []string{empty.ID, early.ID, misnumbered.ID, gap.ID} {
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error { _, err := tx.Note(ctx, id); return err })
		wantKind(t, "Note after a refused CreateNote", err, confidant.KindNotFound)
	}
}

func testNoteLifecycle(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	supervisor := newUser(confidant.RoleTherapist, f.clinic.ID)
	n := newNote(f.patient.ID, f.therapist.ID, at(-day))
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, supervisor); err != nil {
			return err
		}
		return tx.CreateNote(ctx, n)
	})
	check := func(what string) {
		t.Helper()
		got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
			return tx.Note(ctx, n.ID)
		})
		diff(t, what, n, got)
	}
	// fails runs op in its own transaction and wants a conflict that changes
	// nothing.
	fails := func(what string, op func(ctx context.Context, tx confidant.SealedTx) error) {
		t.Helper()
		wantKind(t, what, tryUpdate(t, s, op), confidant.KindConflict)
		check("Note after " + what)
	}

	// Edit the draft.
	draft := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateDraft(ctx, n.ID, 1, confidant.TemplateDAP, draft, at(-day+2*time.Hour))
	})
	n.Versions[0].Template, n.Versions[0].Data, n.Versions[0].UpdatedAt = confidant.TemplateDAP, draft, at(-day+2*time.Hour)
	check("Note after UpdateDraft")

	fails("UpdateDraft of a version that does not exist", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateDraft(ctx, n.ID, 2, confidant.TemplateFree, sealed(), base)
	})
	fails("AddNoteVersion on a draft", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.AddNoteVersion(ctx, n.ID, confidant.SealedNoteVersion{Version: 2, Template: confidant.TemplateFree, Data: sealed(), Status: confidant.NoteDraft, AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base})
	})
	fails("SignNote of a version that does not exist", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 2, f.therapist.ID, base)
	})

	// Sign it.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 1, f.therapist.ID, at(-day+3*time.Hour))
	})
	n.Versions[0].Status, n.Versions[0].SignedBy, n.Versions[0].SignedAt = confidant.NoteSigned, f.therapist.ID, at(-day+3*time.Hour)
	check("Note after SignNote")

	fails("SignNote of a signed note", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 1, supervisor.ID, base)
	})
	fails("UpdateDraft of a signed note", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateDraft(ctx, n.ID, 1, confidant.TemplateFree, sealed(), base)
	})

	// Amend. The new version must carry the next number: sealed data is
	// bound to it.
	v2 := confidant.SealedNoteVersion{
		Template: confidant.TemplateDAP, Status: confidant.NoteDraft,
		AuthorID: supervisor.ID, CreatedAt: base, UpdatedAt: base, Data: sealed(),
	}
	for _, wrong := range []int{0, 1, 3, 9} {
		fails(fmt.Sprintf("AddNoteVersion numbered %d", wrong), func(ctx context.Context, tx confidant.SealedTx) error {
			v := v2
			v.Version = wrong
			return tx.AddNoteVersion(ctx, n.ID, v)
		})
	}
	v2.Version = 2
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.AddNoteVersion(ctx, n.ID, v2) })
	n.Versions = append(n.Versions, v2)
	check("Note after AddNoteVersion")
	fails("AddNoteVersion while the amendment is a draft", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.AddNoteVersion(ctx, n.ID, confidant.SealedNoteVersion{Version: 3, Template: confidant.TemplateFree, Data: sealed(), Status: confidant.NoteDraft, AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base})
	})
	fails("SignNote of the superseded version", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SignNote(ctx, n.ID, 1, supervisor.ID, base)
	})
	fails("UpdateDraft of the superseded version", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateDraft(ctx, n.ID, 1, confidant.TemplateFree, sealed(), base)
	})

	amended := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.UpdateDraft(ctx, n.ID, 2, confidant.TemplateSOAP, amended, at(time.Minute)); err != nil {
			return err
		}
		return tx.SignNote(ctx, n.ID, 2, supervisor.ID, at(2*time.Minute))
	})
	n.Versions[1].Template, n.Versions[1].Data, n.Versions[1].UpdatedAt = confidant.TemplateSOAP, amended, at(time.Minute)
	n.Versions[1].Status, n.Versions[1].SignedBy, n.Versions[1].SignedAt = confidant.NoteSigned, supervisor.ID, at(2*time.Minute)
	check("Note after signing the amendment")

	// An amendment may be added already signed.
	v3 := confidant.SealedNoteVersion{
		Version: 3, Template: confidant.TemplateFree, Status: confidant.NoteSigned,
		AuthorID: f.therapist.ID, CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour),
		SignedAt: at(time.Hour), SignedBy: f.therapist.ID, Data: sealed(),
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.AddNoteVersion(ctx, n.ID, v3) })
	n.Versions = append(n.Versions, v3)
	check("Note after adding a signed version")
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, n.ID)
	})
	for i, v := range got.Versions {
		if v.Version != i+1 {
			t.Errorf("Versions[%d].Version = %d, want %d", i, v.Version, i+1)
		}
	}

	// Release, once.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReleaseNote(ctx, n.ID, supervisor.ID, at(3*time.Hour))
	})
	n.ReleasedAt, n.ReleasedBy = at(3*time.Hour), supervisor.ID
	check("Note after ReleaseNote")
	fails("ReleaseNote twice", func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReleaseNote(ctx, n.ID, f.therapist.ID, at(4*time.Hour))
	})
}

func testListNotes(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	p2 := newPatient(f.clinic.ID)
	n1 := newNote(f.patient.ID, f.therapist.ID, at(-3*day))
	n2 := newNote(f.patient.ID, f.therapist.ID, at(-day))
	n3 := newNote(f.patient.ID, f.therapist.ID, at(-2*day))
	n4 := newNote(f.patient.ID, f.therapist.ID, base)
	other := newNote(p2.ID, f.therapist.ID, at(-day/2))
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, n := range []confidant.SealedNote{n1, n2, n3, n4, other} {
			if err := tx.CreateNote(ctx, n); err != nil {
				return err
			}
		}
		// n3 gets a second version; n1 and n3 are released.
		if err := tx.SignNote(ctx, n3.ID, 1, f.therapist.ID, at(-2*day+time.Hour)); err != nil {
			return err
		}
		if err := tx.AddNoteVersion(ctx, n3.ID, confidant.SealedNoteVersion{Version: 2, Template: confidant.TemplateFree, Status: confidant.NoteDraft, AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base, Data: sealed()}); err != nil {
			return err
		}
		if err := tx.ReleaseNote(ctx, n1.ID, f.therapist.ID, base); err != nil {
			return err
		}
		if err := tx.ReleaseNote(ctx, n3.ID, f.therapist.ID, base); err != nil {
			return err
		}
		return tx.ReleaseNote(ctx, other.ID, f.therapist.ID, base)
	})
	n3 = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedNote, error) {
		return tx.Note(ctx, n3.ID)
	})
	if len(n3.Versions) != 2 {
		t.Fatalf("note has %d versions, want 2", len(n3.Versions))
	}
	n1.ReleasedAt, n1.ReleasedBy = base, f.therapist.ID

	tests := []struct {
		name   string
		filter confidant.NoteFilter
		want   []confidant.SealedNote
	}{
		{"all, newest session first", confidant.NoteFilter{}, []confidant.SealedNote{n4, n2, n3, n1}},
		{"released only", confidant.NoteFilter{ReleasedOnly: true}, []confidant.SealedNote{n3, n1}},
		{"limit", confidant.NoteFilter{Limit: 2}, []confidant.SealedNote{n4, n2}},
		{"released only with limit", confidant.NoteFilter{ReleasedOnly: true, Limit: 1}, []confidant.SealedNote{n3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedNote, error) {
				return tx.ListNotes(ctx, f.patient.ID, tc.filter)
			})
			diff(t, "ListNotes", tc.want, got)
		})
	}
	t.Run("unknown patient", func(t *testing.T) {
		got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedNote, error) {
			return tx.ListNotes(ctx, confidant.NewID(), confidant.NoteFilter{})
		})
		diff(t, "ListNotes", []confidant.SealedNote(nil), got)
	})
}

func testProcessNotes(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	colleague := newUser(confidant.RoleTherapist, f.clinic.ID)
	p2 := newPatient(f.clinic.ID)
	mk := func(patientID, authorID string, d time.Duration) confidant.SealedProcessNote {
		return confidant.SealedProcessNote{ID: confidant.NewID(), PatientID: patientID, AuthorID: authorID, CreatedAt: at(d), Data: sealed()}
	}
	mine1 := mk(f.patient.ID, f.therapist.ID, -day)
	mine2 := mk(f.patient.ID, f.therapist.ID, 0)
	theirs := mk(f.patient.ID, colleague.ID, 0)
	mineOther := mk(p2.ID, f.therapist.ID, 0)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, colleague); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		for _, n := range []confidant.SealedProcessNote{mine1, mine2, theirs, mineOther} {
			if err := tx.CreateProcessNote(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name    string
		patient string
		author  string
		want    []confidant.SealedProcessNote
	}{
		{"mine", f.patient.ID, f.therapist.ID, []confidant.SealedProcessNote{mine1, mine2}},
		{"colleague's", f.patient.ID, colleague.ID, []confidant.SealedProcessNote{theirs}},
		{"mine about another patient", p2.ID, f.therapist.ID, []confidant.SealedProcessNote{mineOther}},
		{"colleague has none about another patient", p2.ID, colleague.ID, nil},
		{"unknown author", f.patient.ID, confidant.NewID(), nil},
		{"empty author", f.patient.ID, "", nil},
	}
	byID := sortByID[confidant.SealedProcessNote](func(n confidant.SealedProcessNote) string { return n.ID })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedProcessNote, error) {
				return tx.ListProcessNotes(ctx, tc.patient, tc.author)
			})
			diff(t, "ListProcessNotes", tc.want, got, byID)
		})
	}
}
