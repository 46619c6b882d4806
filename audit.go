package confidant

import (
	"context"
	"time"
)

// StoredEvent is one entry of the access log as a database stores it. Ids,
// role, action, outcome and time are in the clear, in indexed columns, so
// that security queries are fast; free text (the purpose or
// break-the-glass reason) and the client address are sealed under the audit
// key in Sealed. Leaf is the event's hiding commitment (internal/auditlog),
// the value the Merkle tree is built over.
type StoredEvent struct {
	Index       uint64 // position in the log, from 0, contiguous
	Time        time.Time
	ActorID     string
	Role        Role
	ClinicID    string
	Action      string
	PatientID   string // empty for events not about a patient (sign-in, admin)
	RecordID    string
	Outcome     string // "ok", "denied", "failed"
	SessionID   string
	PatientSeq  uint64 // the patient's own event number, from 1; 0 without a patient
	PatientPrev int64  // log index of the patient's previous event; -1 for the first or none
	Nonce       []byte // 32 random bytes of the commitment
	Sealed      []byte // purpose and client address, sealed under the audit key
	Leaf        []byte // 32-byte leaf commitment
}

// PatientAccess is one patient in the breach scope of an account: the
// account's access-log events about the patient in a period, how many of
// them were refused, and the first and the last.
type PatientAccess struct {
	PatientID   string
	Events      int
	Denied      int
	First, Last time.Time
}

// EventRow is a StoredEvent as LogTx.ScanEvents passes it: the same
// columns, with the text as bytes (PatientID empty for none).
type EventRow struct {
	Index       uint64
	Time        time.Time
	ActorID     []byte
	Role        []byte
	ClinicID    []byte
	Action      []byte
	PatientID   []byte
	RecordID    []byte
	Outcome     []byte
	SessionID   []byte
	PatientSeq  uint64
	PatientPrev int64
	Nonce       []byte
	Sealed      []byte
	Leaf        []byte
}

// EventFilter selects access-log events for a query. Zero fields do not
// filter. Results are newest first; Before pages backwards (events with
// Index < Before; 0 means from the newest).
type EventFilter struct {
	PatientID string
	ActorID   string
	Action    string
	From, To  time.Time // From inclusive, To exclusive
	Before    uint64
	Limit     int // required, at most 1000
}

// ChainHead is the last event of one patient: its sequence number and log
// index, for the per-patient hash-free chain (gap detection).
type ChainHead struct {
	Seq   uint64
	Index int64
}

// LogCheckpoint is a signed checkpoint of the access log: the tree size,
// root hash and the signed note text (C2SP tlog-checkpoint).
type LogCheckpoint struct {
	Size      uint64
	Root      []byte
	Note      []byte
	CreatedAt time.Time
}

// LogTx is the part of SealedTx that keeps the access log: events, the
// Merkle tree as C2SP tlog-tiles, and checkpoints. internal/audit is its
// only writer: one sequencer per process, any number of processes, which
// serialise at LockLog.
type LogTx interface {
	// LogSize is the number of events in the log.
	LogSize(ctx context.Context) (uint64, error)
	// LockLog takes the log's append lock for the rest of a read-write
	// transaction and returns the number of events in the log, read under
	// the lock: until the transaction ends, no other transaction of any
	// process can append, so the size cannot change except by this
	// transaction's own appends. Every appender calls it before reading
	// anything it appends after (patient heads, tiles). It waits for a
	// transaction of another writer that holds the lock (PostgreSQL: a
	// row lock on the log's head; SQLite: the write lock every read-write
	// transaction already holds).
	LockLog(ctx context.Context) (uint64, error)
	// AppendEvents stores events whose indexes continue the log exactly
	// (the first equals LogSize, the rest follow); else KindConflict.
	AppendEvents(ctx context.Context, evs []StoredEvent) error
	// Events returns at most limit events with Index >= from, in index order.
	Events(ctx context.Context, from uint64, limit int) ([]StoredEvent, error)
	// ScanEvents calls fn with each of at most limit (> 0) events with
	// Index >= from, in index order, and stops at fn's first error, which
	// it returns unchanged. It is the read-only iteration that verifying
	// the whole log needs, without a copy of each event: the row and every
	// slice in it belong to the store and are valid only until fn returns.
	// fn must not use the transaction (a cursor may be open).
	ScanEvents(ctx context.Context, from uint64, limit int, fn func(*EventRow) error) error
	// QueryEvents returns events matching f, newest first.
	QueryEvents(ctx context.Context, f EventFilter) ([]StoredEvent, error)
	// PatientHeads returns the last event of each given patient that has one.
	PatientHeads(ctx context.Context, patientIDs []string) (map[string]ChainHead, error)
	// PutTile stores (or replaces) a hash tile: C2SP tlog-tiles level,
	// index and width (1..256; 256 is a full tile).
	PutTile(ctx context.Context, level, index uint64, width int, data []byte) error
	// Tile returns a stored hash tile; KindNotFound if absent.
	Tile(ctx context.Context, level, index uint64, width int) ([]byte, error)
	// PutEntryBundle and EntryBundle do the same for entry bundles (the leaf
	// commitments of a data tile).
	PutEntryBundle(ctx context.Context, index uint64, width int, data []byte) error
	EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error)
	// PutCheckpoint stores a signed checkpoint; LatestCheckpoint returns the
	// one with the largest size (KindNotFound before the first).
	PutCheckpoint(ctx context.Context, c LogCheckpoint) error
	LatestCheckpoint(ctx context.Context) (LogCheckpoint, error)
	// Checkpoints returns at most limit (1 to 1000) stored checkpoints with
	// a size larger than after, in ascending order of size (KindInvalid
	// for another limit).
	Checkpoints(ctx context.Context, after uint64, limit int) ([]LogCheckpoint, error)
	// Savepoint runs fn inside a nested savepoint of the transaction: if fn
	// returns an error, what it wrote is undone and the transaction goes on.
	// The sequencer uses it to commit many requests in one transaction.
	Savepoint(ctx context.Context, fn func() error) error
}

// AuditEvent is one access to patient data, sign-in or administrative
// change, as the service reports it to the access log. The log assigns the
// index, the patient's sequence number and link, and the commitment.
type AuditEvent struct {
	Time      time.Time
	ActorID   string
	Role      Role
	ClinicID  string
	Action    string // e.g. "chart.read", "note.sign", "login.failed"; see internal/service
	PatientID string
	RecordID  string
	Purpose   string // why: free text, break-the-glass reason; sealed under the audit key
	Outcome   string // OutcomeOK, OutcomeDenied, OutcomeFailed
	SessionID string
	Client    string // client address; sealed under the audit key
	// RecordVersion and RecordDigest name what a record write wrote: the
	// record's version (a note's version number, else 1) and the SHA-256
	// of its sealed value as stored (RecordDigestOf). internal/seal fills
	// them in for the record it wrote in the transaction; a zero digest is
	// none. They are sealed in the event's free text and committed to by
	// its leaf (event version 3).
	RecordVersion int
	RecordDigest  [32]byte
}

// Outcomes of an audited action.
// ActionKeyUnwrap is the action of the events internal/audit records when a
// patient's key (or a system key) is unwrapped with the key-encryption key.
const ActionKeyUnwrap = "key.unwrap"

const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeFailed = "failed"
)

// ErrNoAccessLog is returned when an action must be recorded but no access
// log is attached: Confidant fails closed.
var ErrNoAccessLog = &Error{Kind: KindUnavailable, Code: "audit_unavailable",
	Message: "The access log is unavailable, so nothing can be read or changed. Try again shortly."}

// Activity summarises the access log over a period for the security
// dashboard: events about patients per clinic and time bucket, and the
// accounts that reached the most distinct patients. Metadata only.
type Activity struct {
	From, To time.Time
	Bucket   time.Duration
	// Buckets are the starts of the buckets in [From, To), in order.
	Buckets []time.Time
	// ByClinic maps a clinic id ("" for none) to its counts, one per bucket.
	ByClinic map[string][]int
	// TopAccounts are the accounts with the most distinct patients in the
	// period, most first (ties by account id), at most the limit asked.
	TopAccounts []AccountReach
	Events      int // events about patients in the period
}

// AccountReach is one account's reach in a period.
type AccountReach struct {
	ActorID  string
	Role     Role
	Patients int // distinct patients
	Events   int
}
