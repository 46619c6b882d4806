package seal

import (
	"context"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Record digests in the access log (docs/AUDIT.md, "Records").
//
// The transaction remembers the state (version and digest of the sealed
// value as stored) of every record it read or wrote, and marks those it
// wrote. An event about a record this transaction wrote, with outcome ok,
// gets the record's version and digest (AuditEvent.RecordVersion and
// RecordDigest) as it forwards it to the log: the service needs no
// knowledge of sealed bytes. A write that changes no sealed value (signing,
// releasing, a diagnosis's status) carries the state read before it; if the
// record was not read in the transaction, it is read first (a read before
// the write, as staging needs). The map lives in the transaction, so a
// rerun starts afresh.
type recStates struct {
	state map[string]confidant.RecordState
	wrote map[string]bool
}

func (r *recStates) set(st confidant.RecordState, wrote bool) {
	if r.state == nil {
		r.state, r.wrote = map[string]confidant.RecordState{}, map[string]bool{}
	}
	r.state[st.ID] = st
	if wrote {
		r.wrote[st.ID] = true
	}
}

// pin fills in the version and digest of the record an ok event names, if
// this transaction wrote it.
func (r *recStates) pin(ev confidant.AuditEvent) confidant.AuditEvent {
	if ev.RecordID == "" || ev.Outcome != confidant.OutcomeOK || !r.wrote[ev.RecordID] {
		return ev
	}
	st := r.state[ev.RecordID]
	ev.RecordVersion, ev.RecordDigest = st.Version, st.Digest
	return ev
}

func created(kind confidant.RecordKind, id, patientID string, data []byte) confidant.RecordState {
	return confidant.RecordState{Kind: kind, ID: id, PatientID: patientID, Version: 1, Digest: confidant.RecordDigestOf(data)}
}

func noteState(sn confidant.SealedNote) confidant.RecordState {
	st := confidant.RecordState{Kind: confidant.RecordNote, ID: sn.ID, PatientID: sn.PatientID}
	for _, v := range sn.Versions {
		if v.Version >= st.Version {
			st.Version, st.Digest = v.Version, confidant.RecordDigestOf(v.Data)
		}
	}
	return st
}

func (t *tx) saw(st confidant.RecordState)   { t.recs.set(st, false) }
func (t *tx) wrote(st confidant.RecordState) { t.recs.set(st, true) }
func (t *tx) sawNote(sn confidant.SealedNote) {
	t.saw(noteState(sn))
}
func (t *tx) wroteNote(sn confidant.SealedNote) { t.wrote(noteState(sn)) }

// known returns the state of a record read or written in this transaction,
// reading it with read if there is none.
func (t *tx) known(id string, read func() (confidant.RecordState, error)) (confidant.RecordState, error) {
	if st, ok := t.recs.state[id]; ok {
		return st, nil
	}
	return read()
}

// SignNote signs the current version: the note's sealed value is as read.
func (t *tx) SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error {
	st, err := t.known(noteID, func() (confidant.RecordState, error) {
		sn, err := t.SealedTx.Note(ctx, noteID)
		return noteState(sn), err
	})
	if err != nil {
		return err
	}
	if err := t.SealedTx.SignNote(ctx, noteID, version, by, at); err != nil {
		return err
	}
	t.wrote(st)
	return nil
}

// ReleaseNote releases the note: its sealed value is as read.
func (t *tx) ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error {
	st, err := t.known(noteID, func() (confidant.RecordState, error) {
		sn, err := t.SealedTx.Note(ctx, noteID)
		return noteState(sn), err
	})
	if err != nil {
		return err
	}
	if err := t.SealedTx.ReleaseNote(ctx, noteID, by, at); err != nil {
		return err
	}
	t.wrote(st)
	return nil
}

// SetDiagnosisStatus changes the status (in the clear): the sealed value is
// as read.
func (t *tx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	st, err := t.known(id, func() (confidant.RecordState, error) {
		r, err := t.SealedTx.Diagnosis(ctx, id)
		return created(confidant.RecordDiagnosis, r.ID, r.PatientID, r.Data), err
	})
	if err != nil {
		return err
	}
	if err := t.SealedTx.SetDiagnosisStatus(ctx, id, s); err != nil {
		return err
	}
	t.wrote(st)
	return nil
}
