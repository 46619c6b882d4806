package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// newIncident returns an open incident row opened at base+d with its first
// history entry.
func newIncident(openedBy string, d int) (confidant.SealedIncident, confidant.SealedIncidentEvent) {
	id := confidant.NewID()
	i := confidant.SealedIncident{
		ID: id, Status: confidant.IncidentOpen, OpenedBy: openedBy, OpenedAt: at(hours(d)), FirstAlertAt: at(hours(d - 1)),
		ScopeSize: 42, HistorySeq: 1, HistoryMAC: randomBytes(32), Data: sealed(), FactMAC: randomBytes(32),
	}
	ev := confidant.SealedIncidentEvent{IncidentID: id, Seq: 1, At: i.OpenedAt, By: openedBy, Kind: confidant.IncidentEventOpened,
		Data: sealed(), MAC: i.HistoryMAC}
	return i, ev
}

// SeedIncident stores an incident with two history entries and a letter to
// a patient, for the stores' own tests of their triggers; it returns the
// incident's id.
func SeedIncident(t *testing.T, s confidant.SealedStore) string {
	f := seed(t, s)
	i, ev := newIncident(f.therapist.ID, 1)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateIncident(ctx, i); err != nil {
			return err
		}
		if err := tx.AppendIncidentEvent(ctx, ev); err != nil {
			return err
		}
		ev2 := confidant.SealedIncidentEvent{IncidentID: i.ID, Seq: 2, At: at(hours(2)), By: f.therapist.ID, Kind: confidant.IncidentEventDecision, Data: sealed(), MAC: randomBytes(32)}
		if err := tx.AppendIncidentEvent(ctx, ev2); err != nil {
			return err
		}
		return tx.CreateIncidentLetter(ctx, confidant.SealedIncidentLetter{ID: confidant.NewID(), IncidentID: i.ID, PatientID: f.patient.ID,
			Phase: "1", CreatedAt: at(hours(3)), CreatedBy: f.therapist.ID, Data: sealed()})
	})
	return i.ID
}

// Incidents: stored byte-exact, listed newest first by status, changed
// only while their history has the expected length, history entries kept
// in order and never twice at one place, letters stored and found by
// incident and patient and among the patient's blobs.
func testIncidents(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	i1, e1 := newIncident(f.therapist.ID, 1)
	i2, e2 := newIncident(f.therapist.ID, 2)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, r := range []struct {
			i confidant.SealedIncident
			e confidant.SealedIncidentEvent
		}{{i1, e1}, {i2, e2}} {
			if err := tx.CreateIncident(ctx, r.i); err != nil {
				return err
			}
			if err := tx.AppendIncidentEvent(ctx, r.e); err != nil {
				return err
			}
		}
		return nil
	})
	got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedIncident, error) {
		return tx.Incident(ctx, i1.ID)
	})
	diff(t, "incident", i1, got)
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.Incident(ctx, confidant.NewID())
		return err
	})
	wantKind(t, "Incident of an unknown id", err, confidant.KindNotFound)
	wantKind(t, "CreateIncident twice", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateIncident(ctx, i1)
	}), confidant.KindConflict)
	wantKind(t, "a second history entry at seq 1", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.AppendIncidentEvent(ctx, e1)
	}), confidant.KindConflict)

	// Close i1: one more entry and the row changed, only from seq 1.
	closed := i1
	closed.Status, closed.ClosedAt, closed.ClosedBy = confidant.IncidentClosed, at(hours(5)), f.therapist.ID
	closed.AwarenessAt, closed.AwarenessSetBy = at(hours(3)), f.therapist.ID
	closed.HistorySeq, closed.HistoryMAC, closed.Data, closed.FactMAC = 2, randomBytes(32), sealed(), randomBytes(32)
	e1b := confidant.SealedIncidentEvent{IncidentID: i1.ID, Seq: 2, At: at(hours(5)), By: f.therapist.ID, Kind: confidant.IncidentEventClosed,
		Data: sealed(), MAC: closed.HistoryMAC}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.AppendIncidentEvent(ctx, e1b); err != nil {
			return err
		}
		return tx.UpdateIncident(ctx, closed, 1)
	})
	wantKind(t, "UpdateIncident from a stale seq", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateIncident(ctx, closed, 1)
	}), confidant.KindConflict)
	wantKind(t, "UpdateIncident of an unknown incident", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		u := closed
		u.ID = confidant.NewID()
		return tx.UpdateIncident(ctx, u, 1)
	}), confidant.KindNotFound)
	got = read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.SealedIncident, error) {
		return tx.Incident(ctx, i1.ID)
	})
	diff(t, "closed incident", closed, got)
	hist := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedIncidentEvent, error) {
		return tx.IncidentEvents(ctx, i1.ID)
	})
	diff(t, "history", []confidant.SealedIncidentEvent{e1, e1b}, hist)

	list := func(f confidant.IncidentFilter) []string {
		is := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedIncident, error) {
			return tx.ListIncidents(ctx, f)
		})
		return ids(is, func(i confidant.SealedIncident) string { return i.ID })
	}
	diffOrdered(t, "all incidents", []string{i2.ID, i1.ID}, list(confidant.IncidentFilter{}))
	diffOrdered(t, "open incidents", []string{i2.ID}, list(confidant.IncidentFilter{Status: confidant.IncidentOpen}))
	diffOrdered(t, "closed incidents", []string{i1.ID}, list(confidant.IncidentFilter{Status: confidant.IncidentClosed}))
	diffOrdered(t, "limit", []string{i2.ID}, list(confidant.IncidentFilter{Limit: 1}))

	// Letters.
	p2 := newPatient(f.clinic.ID)
	l1 := confidant.SealedIncidentLetter{ID: confidant.NewID(), IncidentID: i2.ID, PatientID: f.patient.ID, Phase: "1",
		CreatedAt: at(hours(6)), CreatedBy: f.therapist.ID, Mailed: true, Data: sealed()}
	l2 := confidant.SealedIncidentLetter{ID: confidant.NewID(), IncidentID: i2.ID, PatientID: p2.ID, Phase: "2",
		CreatedAt: at(hours(7)), CreatedBy: f.therapist.ID, Data: sealed()}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreatePatient(ctx, p2); err != nil {
			return err
		}
		if err := tx.CreateIncidentLetter(ctx, l1); err != nil {
			return err
		}
		return tx.CreateIncidentLetter(ctx, l2)
	})
	letters := func(f confidant.IncidentLetterFilter) []confidant.SealedIncidentLetter {
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.SealedIncidentLetter, error) {
			return tx.IncidentLetters(ctx, f)
		})
	}
	diff(t, "letters of the incident", []confidant.SealedIncidentLetter{l1, l2}, letters(confidant.IncidentLetterFilter{IncidentID: i2.ID}))
	diff(t, "letters of a patient", []confidant.SealedIncidentLetter{l2}, letters(confidant.IncidentLetterFilter{PatientID: p2.ID}))
	if n := len(letters(confidant.IncidentLetterFilter{IncidentID: i1.ID})); n != 0 {
		t.Errorf("letters of an incident without any: %d", n)
	}
	wantKind(t, "a letter to an unknown patient", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		l := l1
		l.ID, l.PatientID = confidant.NewID(), confidant.NewID()
		return tx.CreateIncidentLetter(ctx, l)
	}), confidant.KindNotFound)
	blobs := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.Blob, error) {
		return tx.PatientBlobs(ctx, p2.ID)
	})
	var found bool
	for _, b := range blobs {
		if b.Kind == confidant.BlobIncidentLetter && b.ID == l2.ID {
			found = string(b.Data) == string(l2.Data)
		}
	}
	if !found {
		t.Errorf("the letter is not among the patient's blobs: %+v", blobs)
	}
	nd := sealed()
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.RewriteBlob(ctx, confidant.Blob{Kind: confidant.BlobIncidentLetter, PatientID: p2.ID, ID: l2.ID, Data: nd})
	})
	l2.Data = nd
	diff(t, "rewritten letter", []confidant.SealedIncidentLetter{l2}, letters(confidant.IncidentLetterFilter{PatientID: p2.ID}))
}

func hours(n int) time.Duration { return time.Duration(n) * time.Hour }
