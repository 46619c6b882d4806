package confidant

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// RecordKind names a kind of clinical record whose writes the access log
// pins by digest (docs/AUDIT.md, "Records").
type RecordKind string

// Record kinds.
const (
	RecordNote        RecordKind = "note"
	RecordProcessNote RecordKind = "process_note"
	RecordDiagnosis   RecordKind = "diagnosis"
	RecordPlan        RecordKind = "plan"
	RecordMeasure     RecordKind = "measure"
	RecordAttachment  RecordKind = "attachment"
)

// RecordState is a record as a database holds it, without its content: its
// kind, id and patient, its version (a note's latest version number, 0 for
// a note without a version; 1 for the other kinds) and the SHA-256 of its
// sealed value as stored (RecordDigestOf: a note's latest version, the
// metadata of an attachment, which seals the file's digest).
type RecordState struct {
	Kind      RecordKind
	ID        string
	PatientID string
	Version   int
	Digest    [32]byte
}

// RecordDigestOf is the digest of a record's sealed value that the access
// log holds for its writes: SHA-256 of the bytes as stored. It needs no
// key to compute.
func RecordDigestOf(sealed []byte) [32]byte { return sha256.Sum256(sealed) }

// RecordScanner is the read-only scan of every record, which `confidant
// audit verify --records` compares with the access log. Both stores
// implement it as part of SealedTx.
type RecordScanner interface {
	// ScanRecords calls fn with the state of every note, process note,
	// diagnosis, plan, measure and attachment, in no particular order, and
	// stops at fn's first error, which it returns unchanged. fn must not
	// use the transaction.
	ScanRecords(ctx context.Context, fn func(RecordState) error) error
}

// Kinds of findings of the records check (docs/AUDIT.md, "Records").
const (
	// FindingMissing: the log says the record exists; the table has not.
	FindingMissing = "missing"
	// FindingReverted: the table holds an older version than the log's
	// latest write.
	FindingReverted = "reverted"
	// FindingChanged: the table's version or sealed value differs from
	// the log's latest write otherwise (another value at the same version,
	// a version the log never wrote, or a record of another kind).
	FindingChanged = "changed"
	// FindingUnlogged: the table holds a record the log never recorded a
	// write of.
	FindingUnlogged = "unlogged"
)

// RecordFinding is one contradiction between the log and the records.
type RecordFinding struct {
	Finding   string     `json:"finding"`
	Kind      RecordKind `json:"kind"`
	RecordID  string     `json:"record_id"`
	PatientID string     `json:"patient_id,omitempty"`
	// LogIndex is the index of the latest event that wrote the record,
	// which the table contradicts; -1 for an unlogged record (no event).
	LogIndex int64 `json:"log_index"`
	// LoggedVersion and StoredVersion are the record's version in the log
	// and in the table (0 where it has none).
	LoggedVersion int `json:"logged_version,omitempty"`
	StoredVersion int `json:"stored_version,omitempty"`
}

// String describes the finding with ids only.
func (f RecordFinding) String() string {
	switch f.Finding {
	case FindingMissing:
		return fmt.Sprintf("%s %s %s: MISSING from its table; log index %d wrote it (version %d)", f.Finding, f.Kind, f.RecordID, f.LogIndex, f.LoggedVersion)
	case FindingUnlogged:
		return fmt.Sprintf("%s %s %s: in its table (version %d) but never written according to the log", f.Finding, f.Kind, f.RecordID, f.StoredVersion)
	default:
		return fmt.Sprintf("%s %s %s: the table holds version %d with another sealed value than log index %d wrote (version %d)",
			f.Finding, f.Kind, f.RecordID, f.StoredVersion, f.LogIndex, f.LoggedVersion)
	}
}

// RecordsReport is the outcome of a records check.
type RecordsReport struct {
	CheckedAt time.Time `json:"checked_at"`
	LogSize   uint64    `json:"log_size"` // events read
	Logged    int       `json:"logged"`   // records the log says exist
	Stored    int       `json:"stored"`   // records in the tables
	Verified  int       `json:"verified"` // stored as the log's latest write says
	// Unverifiable counts records whose latest write's event predates
	// record digests (event version 3): present, but neither confirmed
	// nor contradicted.
	Unverifiable int             `json:"unverifiable"`
	Findings     []RecordFinding `json:"findings"`
	Elapsed      time.Duration   `json:"elapsed_ns"`
}

// OK reports whether nothing contradicts the log.
func (r *RecordsReport) OK() bool { return len(r.Findings) == 0 }
