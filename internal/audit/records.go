package audit

import (
	"context"
	"fmt"
	"sort"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// The records check (docs/AUDIT.md, "Records"): every record write's event
// names the record, its version and the SHA-256 of its sealed value as
// stored (event version 3). VerifyRecords replays the log's record writes
// and compares the latest state each record should have with the record
// tables, so that a record deleted, reverted, changed or inserted by
// someone who writes to the database directly is named, with the log
// index that contradicts it.

// RecordActions maps the access-log action of each record write to the kind
// of record it writes. The names are internal/service's (never renamed).
var RecordActions = map[string]confidant.RecordKind{
	"note.create":         confidant.RecordNote,
	"note.edit":           confidant.RecordNote,
	"note.sign":           confidant.RecordNote,
	"note.amend":          confidant.RecordNote,
	"note.release":        confidant.RecordNote,
	"process_note.create": confidant.RecordProcessNote,
	"diagnosis.create":    confidant.RecordDiagnosis,
	"diagnosis.status":    confidant.RecordDiagnosis,
	"plan.create":         confidant.RecordPlan,
	"measure.create":      confidant.RecordMeasure,
	"attachment.create":   confidant.RecordAttachment,
	// A patient key rotation re-seals the patient's records: each
	// record's new sealed value is pinned by a reseal event
	// (`confidant keys rotate-patient`; ResealActions).
	"note.reseal":         confidant.RecordNote,
	"process_note.reseal": confidant.RecordProcessNote,
	"diagnosis.reseal":    confidant.RecordDiagnosis,
	"plan.reseal":         confidant.RecordPlan,
	"measure.reseal":      confidant.RecordMeasure,
	"attachment.reseal":   confidant.RecordAttachment,
}

// ResealActions names, for each kind of record, the action of the event
// that pins its new sealed value after a patient key rotation.
var ResealActions = map[confidant.RecordKind]string{
	confidant.RecordNote: "note.reseal", confidant.RecordProcessNote: "process_note.reseal",
	confidant.RecordDiagnosis: "diagnosis.reseal", confidant.RecordPlan: "plan.reseal",
	confidant.RecordMeasure: "measure.reseal", confidant.RecordAttachment: "attachment.reseal",
}

// PatientRecordStates returns the state (kind, version, digest of the
// sealed value as stored) of every record of a patient, from its blobs.
func PatientRecordStates(blobs []confidant.Blob) []confidant.RecordState {
	kinds := map[confidant.BlobKind]confidant.RecordKind{
		confidant.BlobProcessNote: confidant.RecordProcessNote, confidant.BlobDiagnosis: confidant.RecordDiagnosis,
		confidant.BlobPlan: confidant.RecordPlan, confidant.BlobMeasure: confidant.RecordMeasure,
		confidant.BlobAttachment: confidant.RecordAttachment,
	}
	notes := map[string]int{} // note id -> index in out
	var out []confidant.RecordState
	for _, b := range blobs {
		if b.Kind == confidant.BlobNoteVersion {
			st := confidant.RecordState{Kind: confidant.RecordNote, ID: b.ID, PatientID: b.PatientID, Version: b.Sub, Digest: confidant.RecordDigestOf(b.Data)}
			if i, ok := notes[b.ID]; !ok {
				notes[b.ID] = len(out)
				out = append(out, st)
			} else if b.Sub > out[i].Version {
				out[i] = st
			}
			continue
		}
		if k, ok := kinds[b.Kind]; ok {
			out = append(out, confidant.RecordState{Kind: k, ID: b.ID, PatientID: b.PatientID, Version: 1, Digest: confidant.RecordDigestOf(b.Data)})
		}
	}
	return out
}

// The findings and the report are confidant's (records.go), so that the
// service can hold the latest report for security officers.
type (
	RecordFinding = confidant.RecordFinding
	RecordsReport = confidant.RecordsReport
)

// Kinds of findings.
const (
	FindingMissing  = confidant.FindingMissing
	FindingReverted = confidant.FindingReverted
	FindingChanged  = confidant.FindingChanged
	FindingUnlogged = confidant.FindingUnlogged
)

// loggedRecord is the latest write of a record in the log.
type loggedRecord struct {
	kind    confidant.RecordKind
	patient string
	index   uint64
	version int
	digest  [32]byte // zero: written before record digests
	seen    bool     // found in its table
}

// recordsPage is how many events VerifyRecords reads at a time.
const recordsPage = 4096

// VerifyRecords checks the records against the access log in one snapshot
// (docs/AUDIT.md, "Records"). progress, if not nil, is called with the
// phase ("reading the log", "checking records") and the progress in it.
// It trusts the stored events: run Verify first to know that they are the
// log's (`confidant audit verify --records` does).
func (l *Log) VerifyRecords(ctx context.Context, progress func(phase string, done, total uint64)) (*RecordsReport, error) {
	start := time.Now()
	rep := &RecordsReport{CheckedAt: start.UTC(), Findings: []RecordFinding{}}
	if progress == nil {
		progress = func(string, uint64, uint64) {}
	}
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		size, err := ltx.LogSize(ctx)
		if err != nil {
			return err
		}
		rep.LogSize = size
		logged := map[string]*loggedRecord{}
		var ad []byte
		next := uint64(0)
		progress("reading the log", 0, size)
		for next < size {
			want := next + min(size-next, recordsPage)
			err := ltx.ScanEvents(ctx, next, int(want-next), func(e *confidant.EventRow) error {
				if e.Index != next {
					return fmt.Errorf("the stored events do not continue the log at index %d: run `confidant audit verify`", next)
				}
				next++
				kind, ok := RecordActions[string(e.Action)]
				if !ok || string(e.Outcome) != confidant.OutcomeOK || len(e.RecordID) == 0 {
					return nil
				}
				f, err := l.openFree(e.Sealed, e.Index, &ad)
				if err != nil {
					return fmt.Errorf("the access-log entry at index %d failed its integrity check: run `confidant audit verify`", e.Index)
				}
				id := string(e.RecordID)
				r := logged[id]
				if r == nil {
					r = &loggedRecord{}
					logged[id] = r
				}
				*r = loggedRecord{kind: kind, patient: string(e.PatientID), index: e.Index, version: int(f.Version), digest: [32]byte(f.Digest)}
				return nil
			})
			if err != nil {
				return err
			}
			if next != want {
				return fmt.Errorf("the stored events end at index %d before the log's size %d: run `confidant audit verify`", next, size)
			}
			progress("reading the log", next, size)
		}
		rep.Logged = len(logged)
		total := uint64(len(logged))
		progress("checking records", 0, total)
		var done uint64
		err = tx.ScanRecords(ctx, func(st confidant.RecordState) error {
			rep.Stored++
			done++
			if done%1024 == 0 {
				progress("checking records", min(done, total), total)
			}
			r := logged[st.ID]
			if r == nil {
				rep.Findings = append(rep.Findings, RecordFinding{Finding: FindingUnlogged, Kind: st.Kind, RecordID: st.ID,
					PatientID: st.PatientID, LogIndex: -1, StoredVersion: st.Version})
				return nil
			}
			r.seen = true
			f := RecordFinding{Kind: r.kind, RecordID: st.ID, PatientID: st.PatientID, LogIndex: int64(r.index),
				LoggedVersion: r.version, StoredVersion: st.Version}
			switch {
			case r.kind != st.Kind:
				f.Finding = FindingChanged
			case r.digest == [32]byte{}:
				rep.Unverifiable++
				return nil
			case st.Version < r.version:
				f.Finding = FindingReverted
			case st.Version != r.version || st.Digest != r.digest:
				f.Finding = FindingChanged
			default:
				rep.Verified++
				return nil
			}
			rep.Findings = append(rep.Findings, f)
			return nil
		})
		if err != nil {
			return err
		}
		progress("checking records", total, total)
		for id, r := range logged {
			if !r.seen {
				rep.Findings = append(rep.Findings, RecordFinding{Finding: FindingMissing, Kind: r.kind, RecordID: id,
					PatientID: r.patient, LogIndex: int64(r.index), LoggedVersion: r.version})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.LogIndex != b.LogIndex {
			return a.LogIndex < b.LogIndex
		}
		return a.RecordID < b.RecordID
	})
	rep.Elapsed = time.Since(start)
	return rep, nil
}
