package seal_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/seal"
)

// TestIncidentsSealed: an incident's body and history are sealed (the
// title is not in the stored bytes) and a database writer who moves a
// clock, closes it, drops or changes a history entry, or rolls the body
// back is found out on the next read (an integrity error, never a quietly
// different incident). Letters are sealed under the patient's key.
func TestIncidentsSealed(t *testing.T) { forEachBackend(t, testIncidentsSealed) }

func testIncidentsSealed(t *testing.T, be backend) {
	ctx := context.Background()
	e := newEnv(t, be)
	f := e.addFixture(t, "Incident", 3)
	title := "Laptop stolen from the Kallio office"
	inc := confidant.Incident{ID: confidant.NewID(), Status: confidant.IncidentOpen, OpenedBy: e.therapist.ID, OpenedAt: t0,
		Title: title, Scope: confidant.IncidentScope{Version: 1, PatientIDs: []string{f.patient.ID}, Checkpoint: confidant.IncidentCheckpoint{Size: 7}}}
	e.update(t, func(tx confidant.Tx) error {
		return tx.CreateIncident(ctx, inc, confidant.IncidentEvent{At: t0, By: e.therapist.ID, Kind: confidant.IncidentEventOpened, Text: title})
	})
	inc.Seq = 1
	var before confidant.SealedIncident
	e.tamper(t, func(stx confidant.SealedTx, _ *seal.Store) error {
		var err error
		before, err = stx.Incident(ctx, inc.ID)
		return err
	})
	inc.AwarenessAt, inc.AwarenessSetBy = t0.Add(time.Hour), e.therapist.ID
	e.update(t, func(tx confidant.Tx) error {
		return tx.UpdateIncident(ctx, inc, confidant.IncidentEvent{At: t0.Add(time.Hour), By: e.therapist.ID, Kind: confidant.IncidentEventAwareness, Time: inc.AwarenessAt})
	})
	e.view(t, func(tx confidant.Tx) error {
		got, err := tx.Incident(ctx, inc.ID)
		if err != nil || got.Title != title || !got.AwarenessAt.Equal(inc.AwarenessAt) || got.Seq != 2 {
			t.Fatalf("incident %+v %v", got, err)
		}
		h, err := tx.IncidentHistory(ctx, inc.ID)
		if err != nil || len(h) != 2 || !h[1].Time.Equal(inc.AwarenessAt) {
			t.Fatalf("history %+v %v", h, err)
		}
		return nil
	})
	// Stale: an update from seq 1 is refused.
	err := e.store.Update(ctx, func(tx confidant.Tx) error {
		stale := inc
		stale.Seq = 1
		return tx.UpdateIncident(ctx, stale, confidant.IncidentEvent{At: t0, By: "x", Kind: confidant.IncidentEventDecision, Text: "late"})
	})
	if confidant.CodeOf(err) != "incident_changed" {
		t.Errorf("stale update: %v", err)
	}
	e.tamper(t, func(stx confidant.SealedTx, _ *seal.Store) error {
		r, err := stx.Incident(ctx, inc.ID)
		if err != nil {
			return err
		}
		if bytes.Contains(r.Data, []byte(title)) {
			t.Error("the title is stored in the clear")
		}
		check := func(what string, r confidant.SealedIncident) {
			if err := stx.UpdateIncident(ctx, r, 2); err != nil {
				t.Fatal(err)
			}
			st := within(stx, e.keys)
			err := st.View(ctx, func(tx confidant.Tx) error {
				_, err := tx.Incident(ctx, inc.ID)
				return err
			})
			if !seal.IsIntegrityError(err) {
				t.Errorf("%s: %v, want an integrity error", what, err)
			}
		}
		moved := r
		moved.AwarenessAt = r.AwarenessAt.Add(48 * time.Hour)
		check("awareness moved", moved)
		closed := r
		closed.Status, closed.ClosedAt, closed.ClosedBy = confidant.IncidentClosed, t0.Add(2*time.Hour), "someone"
		check("closed by a database writer", closed)
		old := r
		old.Data = before.Data
		check("body rolled back", old)
		return nil
	})
	// A history entry dropped: the chain's head no longer matches.
	e.tamper(t, func(stx confidant.SealedTx, _ *seal.Store) error {
		r, err := stx.Incident(ctx, inc.ID)
		if err != nil {
			return err
		}
		r.HistorySeq = 1
		if err := stx.UpdateIncident(ctx, r, 2); err != nil {
			return err
		}
		err = within(stx, e.keys).View(ctx, func(tx confidant.Tx) error {
			_, err := tx.IncidentHistory(ctx, inc.ID)
			return err
		})
		if !seal.IsIntegrityError(err) {
			t.Errorf("history shortened: %v", err)
		}
		return nil
	})
	// Letters: sealed under the patient's key.
	l := confidant.IncidentLetter{ID: confidant.NewID(), IncidentID: inc.ID, PatientID: f.patient.ID, Phase: "1", CreatedAt: t0,
		CreatedBy: e.therapist.ID, Texts: []confidant.LetterText{{Lang: "fi", Subject: "Ilmoitus", Body: "Hyvä vastaanottaja, tietosi"}}}
	e.update(t, func(tx confidant.Tx) error { return tx.CreateIncidentLetter(ctx, l) })
	e.view(t, func(tx confidant.Tx) error {
		ls, err := tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{PatientID: f.patient.ID})
		if err != nil || len(ls) != 1 || ls[0].Texts[0].Body != l.Texts[0].Body {
			t.Fatalf("letters %+v %v", ls, err)
		}
		meta, err := tx.IncidentLetters(ctx, confidant.IncidentLetterFilter{IncidentID: inc.ID, MetaOnly: true})
		if err != nil || len(meta) != 1 || meta[0].Texts != nil || meta[0].PatientID != f.patient.ID || meta[0].Phase != "1" {
			t.Fatalf("letters without texts %+v %v", meta, err)
		}
		return nil
	})
	e.tamper(t, func(stx confidant.SealedTx, _ *seal.Store) error {
		ls, err := stx.IncidentLetters(ctx, confidant.IncidentLetterFilter{PatientID: f.patient.ID})
		if err != nil {
			return err
		}
		if bytes.Contains(ls[0].Data, []byte("vastaanottaja")) {
			t.Error("the letter is stored in the clear")
		}
		return nil
	})
}
