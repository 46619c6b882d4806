package seal_test

import (
	"context"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestRoundTrip reads every record of a fixture back through the sealing
// store and compares it with what was written.
func TestRoundTrip(t *testing.T) { forEachBackend(t, testRoundTrip) }

func testRoundTrip(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Roundtrip", 18)
	got := e.readAll(t, f.patient.ID)
	want := records{
		Patient: f.patient, Notes: f.notes, ProcessNotes: f.process, Diagnoses: f.diagnoses,
		Plans: f.plans, Measures: f.measures, Attachments: f.attachments, Chunks: f.chunks,
	}
	byID := cmp.Options{
		cmpopts.SortSlices(func(a, b confidant.Note) bool { return a.ID < b.ID }),
		cmpopts.SortSlices(func(a, b confidant.ProcessNote) bool { return a.ID < b.ID }),
		cmpopts.SortSlices(func(a, b confidant.Diagnosis) bool { return a.ID < b.ID }),
		cmpopts.SortSlices(func(a, b confidant.TreatmentPlan) bool { return a.ID < b.ID }),
		cmpopts.SortSlices(func(a, b confidant.Measure) bool { return a.ID < b.ID }),
		cmpopts.SortSlices(func(a, b confidant.Attachment) bool { return a.ID < b.ID }),
	}
	if diff := cmp.Diff(want, got, byID); diff != "" {
		t.Errorf("records read back (-written +read):\n%s", diff)
	}
}

// TestUpdateDraftKeepsReason saves a draft amendment (a version with a
// reason that is not signed yet) and checks that UpdateDraft replaces its
// body and template only: the sealed reason stays.
func TestUpdateDraftKeepsReason(t *testing.T) { forEachBackend(t, testUpdateDraftKeepsReason) }

func testUpdateDraftKeepsReason(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Draftamend", 19)
	ctx := context.Background()
	n := f.notes[0] // two signed versions
	v3 := confidant.NoteVersion{
		Version: 3, Template: confidant.TemplateSOAP, Body: "First draft of the amendment", Status: confidant.NoteDraft,
		AuthorID: e.therapist.ID, CreatedAt: t0, UpdatedAt: t0, Reason: "the dose was wrong",
	}
	e.update(t, func(tx confidant.Tx) error { return tx.AddNoteVersion(ctx, n.ID, v3) })
	e.update(t, func(tx confidant.Tx) error {
		return tx.UpdateDraft(ctx, n.ID, 3, confidant.TemplateDAP, "Second draft of the amendment", t0)
	})
	e.view(t, func(tx confidant.Tx) error {
		got, err := tx.Note(ctx, n.ID)
		if err != nil {
			return err
		}
		cur := got.Current()
		if cur.Version != 3 || cur.Body != "Second draft of the amendment" || cur.Template != confidant.TemplateDAP || cur.Reason != v3.Reason {
			t.Errorf("current version after UpdateDraft: %d %q %s reason %q; want 3, the new body, dap, reason %q",
				cur.Version, cur.Body, cur.Template, cur.Reason, v3.Reason)
		}
		return nil
	})
}
