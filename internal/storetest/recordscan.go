package storetest

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/confidanthealth/confidant"
)

// ScanRecords: every record of every patient, once, with its kind, id,
// patient, version (a note's latest) and the SHA-256 of its sealed value
// as stored; fn's error stops the scan and comes back unchanged.
func testScanRecords(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	a := createRecords(t, s, f.clinic.ID, f.therapist.ID)
	b := createRecords(t, s, f.clinic.ID, f.therapist.ID)
	var want []confidant.RecordState
	for _, r := range []patientRecords{a, b} {
		p := r.patient.ID
		want = append(want,
			confidant.RecordState{Kind: confidant.RecordNote, ID: r.note.ID, PatientID: p, Version: 2, Digest: confidant.RecordDigestOf(r.note.Versions[1].Data)},
			confidant.RecordState{Kind: confidant.RecordProcessNote, ID: r.processNote.ID, PatientID: p, Version: 1, Digest: confidant.RecordDigestOf(r.processNote.Data)},
			confidant.RecordState{Kind: confidant.RecordDiagnosis, ID: r.diagnosis.ID, PatientID: p, Version: 1, Digest: confidant.RecordDigestOf(r.diagnosis.Data)},
			confidant.RecordState{Kind: confidant.RecordPlan, ID: r.plan.ID, PatientID: p, Version: 1, Digest: confidant.RecordDigestOf(r.plan.Data)},
			confidant.RecordState{Kind: confidant.RecordMeasure, ID: r.measure.ID, PatientID: p, Version: 1, Digest: confidant.RecordDigestOf(r.measure.Data)},
			confidant.RecordState{Kind: confidant.RecordAttachment, ID: r.attachment.ID, PatientID: p, Version: 1, Digest: confidant.RecordDigestOf(r.attachment.Data)},
		)
	}
	scan := func() []confidant.RecordState {
		var got []confidant.RecordState
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.ScanRecords(ctx, func(st confidant.RecordState) error {
				got = append(got, st)
				return nil
			})
		})
		return got
	}
	byID := func(l []confidant.RecordState) { sort.Slice(l, func(i, j int) bool { return l[i].ID < l[j].ID }) }
	got := scan()
	byID(want)
	byID(got)
	diff(t, "ScanRecords", want, got)

	// An amendment moves the note's version and digest.
	v3 := confidant.SealedNoteVersion{Version: 3, Template: confidant.TemplateFree, Status: confidant.NoteDraft,
		AuthorID: f.therapist.ID, CreatedAt: base, UpdatedAt: base, Data: sealed()}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.SignNote(ctx, a.note.ID, 2, f.therapist.ID, base); err != nil {
			return err
		}
		return tx.AddNoteVersion(ctx, a.note.ID, v3)
	})
	for _, st := range scan() {
		if st.ID == a.note.ID && (st.Version != 3 || st.Digest != confidant.RecordDigestOf(v3.Data)) {
			t.Errorf("after an amendment: version %d, digest %x", st.Version, st.Digest)
		}
	}

	stop := errors.New("stop")
	n := 0
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ScanRecords(ctx, func(confidant.RecordState) error {
			n++
			return stop
		})
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn's error: scan returned %v after %d calls", err, n)
	}
}
