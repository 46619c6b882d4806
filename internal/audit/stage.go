package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Staging: a request's work runs outside the sequencer.
//
// Update first runs the caller's function in a read-only snapshot (the
// backend's View) through a stageTx: reads go to the snapshot, and each is
// remembered with a digest of what it answered; writes and events are
// captured, in order, and not performed. Decrypting, authorizing and
// sealing, which the function does between its reads and its writes, thus
// happen on the caller's goroutine, in parallel with other requests and
// with the sequencer's batches.
//
// The sequencer then applies the staged request in its batch, which holds
// the log's lock (LogTx.LockLog) from its start, so that no other writer
// (another request, another process, another server) commits in between:
// it runs every recorded read again in the batch's transaction and
// compares digests, and only if every answer is unchanged does it replay
// the captured writes and events. That is the re-check: the function's
// decisions were taken on exactly the state the writes are applied to, so
// the result is the same as if the function had run inside the batch.
//
// If any answer changed, or a replayed write fails, the savepoint is rolled
// back and the function runs again inside the batch on the current state,
// as every function did before staging; the same happens when a function
// cannot be staged at all: it reads after it has written (the snapshot
// cannot show its own writes), or uses a method that is not a plain read
// or write (see stageTx). Either way the request has exactly one outcome:
// the staged writes or the inline run's, never both.
//
// A function may therefore run twice, and must not keep state across runs
// other than by assigning (not appending to) variables it returns through;
// and it must not change a value after passing it to a write (a staged
// write keeps the value until the batch replays it).

// errUnstaged stops a staged run that cannot go on: the function runs
// inside the batch instead. A function that returns it, or another error
// after it, is not answered with it.
var errUnstaged = errors.New("audit: this request runs inside the sequencer")

// staged is a request's work as run in a snapshot, to be re-checked and
// replayed by the sequencer.
type staged struct {
	reads  []stagedRead
	writes []func(confidant.SealedTx) error
	events []confidant.AuditEvent
}

// stagedRead is one read of a staged run: how to run it again, and the
// digest of what it answered in the snapshot.
type stagedRead struct {
	again  func(confidant.SealedTx) ([32]byte, bool)
	digest [32]byte
}

// apply re-checks the staged reads in tx and, if each answers as in the
// snapshot, replays the writes and returns the events. stale reports that
// something changed (or a write failed): nothing applied is kept, as the
// caller's savepoint is rolled back on any error.
func (s *staged) apply(tx confidant.SealedTx) ([]confidant.AuditEvent, error) {
	for _, r := range s.reads {
		if d, ok := r.again(tx); !ok || d != r.digest {
			return nil, errStale
		}
	}
	for _, w := range s.writes {
		if err := w(tx); err != nil {
			return nil, errStale
		}
	}
	return s.events, nil
}

// errStale rolls back a staged request whose reads no longer answer as in
// its snapshot, or whose write failed: it runs inside the batch instead.
var errStale = errors.New("audit: a staged request's reads changed")

// digest fingerprints a read's answer: its value (as JSON, which is
// canonical for the store's types) or its error's kind and code. ok is
// false for an answer that cannot be fingerprinted.
func digest(v any, err error) ([32]byte, bool) {
	if err != nil {
		return sha256.Sum256(fmt.Appendf(nil, "error\x00%d\x00%s", confidant.KindOf(err), confidant.CodeOf(err))), true
	}
	b, jerr := json.Marshal(v)
	if jerr != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(append([]byte("value\x00"), b...)), true
}

// stageTx is the transaction a function sees while it is staged. It
// implements every method of confidant.SealedTx explicitly (it embeds
// none), so that a method added to the interface must be classified here
// before it compiles: a read, a write, or one that stops the staging.
type stageTx struct {
	view    confidant.SealedTx
	s       staged
	unstage bool // the function must run inside the batch
}

var _ confidant.SealedTx = (*stageTx)(nil)

// read runs a read in the snapshot and records it, unless the function has
// written (it would not see its own writes) or staging has stopped.
func read[T any](t *stageTx, f func(confidant.SealedTx) (T, error)) (T, error) {
	var zero T
	if t.unstage || len(t.s.writes) > 0 {
		t.unstage = true
		return zero, errUnstaged
	}
	v, err := f(t.view)
	d, ok := digest(v, err)
	if !ok {
		t.unstage = true
		return zero, errUnstaged
	}
	t.s.reads = append(t.s.reads, stagedRead{digest: d, again: func(tx confidant.SealedTx) ([32]byte, bool) {
		return digest(f(tx))
	}})
	return v, err
}

// write captures a write for the sequencer to replay.
func (t *stageTx) write(f func(confidant.SealedTx) error) error {
	if t.unstage {
		return errUnstaged
	}
	t.s.writes = append(t.s.writes, f)
	return nil
}

// stop ends staging: the function runs inside the batch.
func (t *stageTx) stop() error {
	t.unstage = true
	return errUnstaged
}

// Audit captures an event to commit with the writes.
func (t *stageTx) Audit(ev confidant.AuditEvent) error {
	if t.unstage {
		return errUnstaged
	}
	t.s.events = append(t.s.events, clean(ev))
	return nil
}

// The access log's own methods are not for requests' functions: any use
// runs the function inside the batch, where they behave as they always
// have.

func (t *stageTx) LogSize(context.Context) (uint64, error) { return 0, t.stop() }
func (t *stageTx) LockLog(context.Context) (uint64, error) { return 0, t.stop() }
func (t *stageTx) AppendEvents(context.Context, []confidant.StoredEvent) error {
	return t.stop()
}
func (t *stageTx) Events(context.Context, uint64, int) ([]confidant.StoredEvent, error) {
	return nil, t.stop()
}
func (t *stageTx) ScanEvents(context.Context, uint64, int, func(*confidant.EventRow) error) error {
	return t.stop()
}
func (t *stageTx) QueryEvents(context.Context, confidant.EventFilter) ([]confidant.StoredEvent, error) {
	return nil, t.stop()
}
func (t *stageTx) PatientHeads(context.Context, []string) (map[string]confidant.ChainHead, error) {
	return nil, t.stop()
}
func (t *stageTx) PutTile(context.Context, uint64, uint64, int, []byte) error { return t.stop() }
func (t *stageTx) Tile(context.Context, uint64, uint64, int) ([]byte, error) {
	return nil, t.stop()
}
func (t *stageTx) PutEntryBundle(context.Context, uint64, int, []byte) error { return t.stop() }
func (t *stageTx) EntryBundle(context.Context, uint64, int) ([]byte, error) {
	return nil, t.stop()
}
func (t *stageTx) PutCheckpoint(context.Context, confidant.LogCheckpoint) error { return t.stop() }
func (t *stageTx) LatestCheckpoint(context.Context) (confidant.LogCheckpoint, error) {
	return confidant.LogCheckpoint{}, t.stop()
}
func (t *stageTx) Checkpoints(context.Context, uint64, int) ([]confidant.LogCheckpoint, error) {
	return nil, t.stop()
}
func (t *stageTx) Savepoint(context.Context, func() error) error { return t.stop() }

// Reads.

func (t *stageTx) Organisation(ctx context.Context) (confidant.Organisation, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.Organisation, error) { return tx.Organisation(ctx) })
}
func (t *stageTx) Clinic(ctx context.Context, id string) (confidant.Clinic, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.Clinic, error) { return tx.Clinic(ctx, id) })
}
func (t *stageTx) ListClinics(ctx context.Context) ([]confidant.Clinic, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.Clinic, error) { return tx.ListClinics(ctx) })
}
func (t *stageTx) User(ctx context.Context, id string) (confidant.User, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.User, error) { return tx.User(ctx, id) })
}
func (t *stageTx) UserByUsername(ctx context.Context, username string) (confidant.User, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.User, error) { return tx.UserByUsername(ctx, username) })
}
func (t *stageTx) ListUsers(ctx context.Context, f confidant.UserFilter) ([]confidant.User, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.User, error) { return tx.ListUsers(ctx, f) })
}
func (t *stageTx) SessionByTokenHash(ctx context.Context, hash []byte) (confidant.Session, error) {
	hash = append([]byte(nil), hash...)
	return read(t, func(tx confidant.SealedTx) (confidant.Session, error) { return tx.SessionByTokenHash(ctx, hash) })
}
func (t *stageTx) ListUserSessions(ctx context.Context, userID string, kinds ...string) ([]confidant.Session, error) {
	kinds = append([]string(nil), kinds...)
	return read(t, func(tx confidant.SealedTx) ([]confidant.Session, error) {
		return tx.ListUserSessions(ctx, userID, kinds...)
	})
}

// knownClient is KnownClient's answer, as one value to digest.
type knownClient struct{ Known, Any bool }

func (t *stageTx) KnownClient(ctx context.Context, userID string, key []byte) (bool, bool, error) {
	key = append([]byte(nil), key...)
	k, err := read(t, func(tx confidant.SealedTx) (knownClient, error) {
		known, anyClient, err := tx.KnownClient(ctx, userID, key)
		return knownClient{known, anyClient}, err
	})
	return k.Known, k.Any, err
}
func (t *stageTx) IdentityUser(ctx context.Context, issuer, subject string) (string, error) {
	return read(t, func(tx confidant.SealedTx) (string, error) { return tx.IdentityUser(ctx, issuer, subject) })
}
func (t *stageTx) ListNotices(ctx context.Context, userID string, limit int) ([]confidant.Notice, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.Notice, error) { return tx.ListNotices(ctx, userID, limit) })
}
func (t *stageTx) LatestNotice(ctx context.Context, userID, kind string) (time.Time, error) {
	return read(t, func(tx confidant.SealedTx) (time.Time, error) { return tx.LatestNotice(ctx, userID, kind) })
}
func (t *stageTx) Care(ctx context.Context, id string) (confidant.CareRelationship, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.CareRelationship, error) { return tx.Care(ctx, id) })
}
func (t *stageTx) ListCare(ctx context.Context, f confidant.CareFilter) ([]confidant.CareRelationship, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.CareRelationship, error) { return tx.ListCare(ctx, f) })
}
func (t *stageTx) HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error) {
	return read(t, func(tx confidant.SealedTx) (bool, error) { return tx.HasActiveCare(ctx, therapistID, patientID, at) })
}
func (t *stageTx) Patient(ctx context.Context, id string) (confidant.SealedPatient, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedPatient, error) { return tx.Patient(ctx, id) })
}
func (t *stageTx) ListPatients(ctx context.Context, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedPatient, error) { return tx.ListPatients(ctx, f) })
}
func (t *stageTx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedPatient, error) {
		return tx.ListPatientsForTherapist(ctx, therapistID, at, f)
	})
}
func (t *stageTx) PatientKey(ctx context.Context, patientID string) (confidant.WrappedKey, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.WrappedKey, error) { return tx.PatientKey(ctx, patientID) })
}
func (t *stageTx) ListPatientKeys(ctx context.Context, f confidant.KeyFilter) ([]confidant.WrappedKey, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.WrappedKey, error) { return tx.ListPatientKeys(ctx, f) })
}
func (t *stageTx) CountPatientKeys(ctx context.Context, notKEK string) (total, other int, err error) {
	n, err := read(t, func(tx confidant.SealedTx) ([2]int, error) {
		total, other, err := tx.CountPatientKeys(ctx, notKEK)
		return [2]int{total, other}, err
	})
	return n[0], n[1], err
}
func (t *stageTx) SystemKey(ctx context.Context, name string) (confidant.WrappedKey, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.WrappedKey, error) { return tx.SystemKey(ctx, name) })
}
func (t *stageTx) Note(ctx context.Context, id string) (confidant.SealedNote, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedNote, error) { return tx.Note(ctx, id) })
}
func (t *stageTx) ListNotes(ctx context.Context, patientID string, f confidant.NoteFilter) ([]confidant.SealedNote, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedNote, error) { return tx.ListNotes(ctx, patientID, f) })
}
func (t *stageTx) ListProcessNotes(ctx context.Context, patientID, authorID string) ([]confidant.SealedProcessNote, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedProcessNote, error) {
		return tx.ListProcessNotes(ctx, patientID, authorID)
	})
}
func (t *stageTx) Diagnosis(ctx context.Context, id string) (confidant.SealedDiagnosis, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedDiagnosis, error) { return tx.Diagnosis(ctx, id) })
}
func (t *stageTx) ListDiagnoses(ctx context.Context, patientID string) ([]confidant.SealedDiagnosis, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedDiagnosis, error) {
		return tx.ListDiagnoses(ctx, patientID)
	})
}
func (t *stageTx) ListPlans(ctx context.Context, patientID string) ([]confidant.SealedPlan, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedPlan, error) { return tx.ListPlans(ctx, patientID) })
}
func (t *stageTx) ListMeasures(ctx context.Context, patientID string) ([]confidant.SealedMeasure, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedMeasure, error) { return tx.ListMeasures(ctx, patientID) })
}
func (t *stageTx) Attachment(ctx context.Context, id string) (confidant.SealedAttachment, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedAttachment, error) { return tx.Attachment(ctx, id) })
}
func (t *stageTx) AttachmentChunk(ctx context.Context, attachmentID string, index int) ([]byte, error) {
	return read(t, func(tx confidant.SealedTx) ([]byte, error) { return tx.AttachmentChunk(ctx, attachmentID, index) })
}
func (t *stageTx) ListAttachments(ctx context.Context, patientID string) ([]confidant.SealedAttachment, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedAttachment, error) {
		return tx.ListAttachments(ctx, patientID)
	})
}
func (t *stageTx) SessionFailures(ctx context.Context, id string) (int, error) {
	return read(t, func(tx confidant.SealedTx) (int, error) { return tx.SessionFailures(ctx, id) })
}
func (t *stageTx) TOTP(ctx context.Context, userID string) (confidant.SealedTOTP, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedTOTP, error) { return tx.TOTP(ctx, userID) })
}
func (t *stageTx) PatientBlobs(ctx context.Context, patientID string) ([]confidant.Blob, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.Blob, error) { return tx.PatientBlobs(ctx, patientID) })
}

// Writes.

func (t *stageTx) CreateOrganisation(ctx context.Context, o confidant.Organisation) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateOrganisation(ctx, o) })
}
func (t *stageTx) CreateClinic(ctx context.Context, c confidant.Clinic) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateClinic(ctx, c) })
}
func (t *stageTx) UpdateClinic(ctx context.Context, c confidant.Clinic) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdateClinic(ctx, c) })
}
func (t *stageTx) CreateUser(ctx context.Context, u confidant.User) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateUser(ctx, u) })
}
func (t *stageTx) UpdateUser(ctx context.Context, u confidant.User) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdateUser(ctx, u) })
}
func (t *stageTx) SetPassword(ctx context.Context, userID, hash string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.SetPassword(ctx, userID, hash) })
}
func (t *stageTx) RecordLogin(ctx context.Context, userID string, ok bool, lockedUntil time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.RecordLogin(ctx, userID, ok, lockedUntil) })
}
func (t *stageTx) CreateSession(ctx context.Context, s confidant.Session) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateSession(ctx, s) })
}
func (t *stageTx) TouchSession(ctx context.Context, id string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.TouchSession(ctx, id, at) })
}
func (t *stageTx) DeleteSession(ctx context.Context, id string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteSession(ctx, id) })
}
func (t *stageTx) DeleteUserSessions(ctx context.Context, userID string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteUserSessions(ctx, userID) })
}
func (t *stageTx) PutClient(ctx context.Context, userID string, key []byte, at time.Time) error {
	key = append([]byte(nil), key...)
	return t.write(func(tx confidant.SealedTx) error { return tx.PutClient(ctx, userID, key, at) })
}
func (t *stageTx) LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.LinkIdentity(ctx, issuer, subject, userID, at) })
}
func (t *stageTx) DeleteUserIdentities(ctx context.Context, userID string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteUserIdentities(ctx, userID) })
}
func (t *stageTx) CreateNotice(ctx context.Context, n confidant.Notice) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateNotice(ctx, n) })
}
func (t *stageTx) ReadNotices(ctx context.Context, userID string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ReadNotices(ctx, userID, at) })
}
func (t *stageTx) FailSession(ctx context.Context, id string, max int) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.FailSession(ctx, id, max) })
}
func (t *stageTx) PutTOTPPending(ctx context.Context, userID string, pending []byte, at time.Time) error {
	pending = append([]byte(nil), pending...)
	return t.write(func(tx confidant.SealedTx) error { return tx.PutTOTPPending(ctx, userID, pending, at) })
}

// ConfirmTOTP and UseTOTPStep are conditional updates: when a replay finds
// the step taken meanwhile, it fails, and the function runs again inside
// the batch, where the store's error answers the request.
func (t *stageTx) ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ConfirmTOTP(ctx, userID, step, at) })
}
func (t *stageTx) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UseTOTPStep(ctx, userID, step) })
}

// DeleteExpiredSessions answers with a count only the batch knows.
func (t *stageTx) DeleteExpiredSessions(context.Context, time.Time) (int, error) {
	return 0, t.stop()
}
func (t *stageTx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateCare(ctx, c) })
}
func (t *stageTx) SetFactMAC(ctx context.Context, table, id string, mac []byte) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.SetFactMAC(ctx, table, id, mac) })
}

func (t *stageTx) EndCare(ctx context.Context, id string, to time.Time, by string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.EndCare(ctx, id, to, by) })
}
func (t *stageTx) CreatePatient(ctx context.Context, p confidant.SealedPatient) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreatePatient(ctx, p) })
}
func (t *stageTx) UpdatePatient(ctx context.Context, p confidant.SealedPatient) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdatePatient(ctx, p) })
}
func (t *stageTx) ErasePatient(ctx context.Context, id string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ErasePatient(ctx, id, at) })
}
func (t *stageTx) SetUserClose(ctx context.Context, userID string, identity, address []byte) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.SetUserClose(ctx, userID, identity, address) })
}

// The address-index backfill runs on the store, not through requests.
func (t *stageTx) AddressIndexPending(context.Context, int) ([]string, error) { return nil, t.stop() }
func (t *stageTx) SetAddressIndex(context.Context, string, []byte) error      { return t.stop() }

func (t *stageTx) PutPatientKey(ctx context.Context, k confidant.WrappedKey) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.PutPatientKey(ctx, k) })
}
func (t *stageTx) PutSystemKey(ctx context.Context, k confidant.WrappedKey) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.PutSystemKey(ctx, k) })
}
func (t *stageTx) CreateNote(ctx context.Context, n confidant.SealedNote) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateNote(ctx, n) })
}
func (t *stageTx) UpdateDraft(ctx context.Context, noteID string, version int, template confidant.NoteTemplate, data []byte, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdateDraft(ctx, noteID, version, template, data, at) })
}
func (t *stageTx) SignNote(ctx context.Context, noteID string, version int, by string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.SignNote(ctx, noteID, version, by, at) })
}
func (t *stageTx) AddNoteVersion(ctx context.Context, noteID string, v confidant.SealedNoteVersion) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.AddNoteVersion(ctx, noteID, v) })
}
func (t *stageTx) ReleaseNote(ctx context.Context, noteID, by string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ReleaseNote(ctx, noteID, by, at) })
}
func (t *stageTx) CreateProcessNote(ctx context.Context, n confidant.SealedProcessNote) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateProcessNote(ctx, n) })
}
func (t *stageTx) CreateDiagnosis(ctx context.Context, d confidant.SealedDiagnosis) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateDiagnosis(ctx, d) })
}
func (t *stageTx) SetDiagnosisStatus(ctx context.Context, id string, s confidant.DiagnosisStatus) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.SetDiagnosisStatus(ctx, id, s) })
}
func (t *stageTx) CreatePlan(ctx context.Context, p confidant.SealedPlan) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreatePlan(ctx, p) })
}
func (t *stageTx) CreateMeasure(ctx context.Context, m confidant.SealedMeasure) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateMeasure(ctx, m) })
}
func (t *stageTx) PutAttachmentChunk(ctx context.Context, attachmentID string, index int, data []byte) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.PutAttachmentChunk(ctx, attachmentID, index, data) })
}
func (t *stageTx) CreateAttachment(ctx context.Context, a confidant.SealedAttachment) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateAttachment(ctx, a) })
}
func (t *stageTx) RewriteBlob(ctx context.Context, b confidant.Blob) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.RewriteBlob(ctx, b) })
}

// ScanRecords is a scan of every record for the records check, not a
// request's read: it stops staging.
func (t *stageTx) ScanRecords(ctx context.Context, fn func(confidant.RecordState) error) error {
	return t.stop()
}

// Sign-in throttling: counts are reads, their changes writes (FailLogin
// increments in one statement, so a replay counts the failure once).
func (t *stageTx) LoginFailures(ctx context.Context, clientKey []byte, account string) (confidant.LoginFailures, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.LoginFailures, error) {
		return tx.LoginFailures(ctx, clientKey, account)
	})
}
func (t *stageTx) ListLoginFailures(ctx context.Context, limit int) ([]confidant.ThrottledAccount, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.ThrottledAccount, error) {
		return tx.ListLoginFailures(ctx, limit)
	})
}
func (t *stageTx) FailLogin(ctx context.Context, clientKey []byte, account string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.FailLogin(ctx, clientKey, account, at) })
}
func (t *stageTx) ClearLoginFailures(ctx context.Context, clientKey []byte, account string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ClearLoginFailures(ctx, clientKey, account) })
}
func (t *stageTx) ClearAccountFailures(ctx context.Context, account string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ClearAccountFailures(ctx, account) })
}

// DeleteLoginFailures answers with a count only the batch knows.
func (t *stageTx) DeleteLoginFailures(context.Context, time.Time) (int, error) {
	return 0, t.stop()
}

// Invitations and approvals.
func (t *stageTx) Invitation(ctx context.Context, tokenHash []byte) (confidant.Invitation, error) {
	tokenHash = append([]byte(nil), tokenHash...)
	return read(t, func(tx confidant.SealedTx) (confidant.Invitation, error) { return tx.Invitation(ctx, tokenHash) })
}
func (t *stageTx) CreateInvitation(ctx context.Context, inv confidant.Invitation) error {
	inv.TokenHash = append([]byte(nil), inv.TokenHash...)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateInvitation(ctx, inv) })
}
func (t *stageTx) UseInvitation(ctx context.Context, tokenHash []byte, at time.Time) error {
	tokenHash = append([]byte(nil), tokenHash...)
	return t.write(func(tx confidant.SealedTx) error { return tx.UseInvitation(ctx, tokenHash, at) })
}
func (t *stageTx) RevokeInvitations(ctx context.Context, userID string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.RevokeInvitations(ctx, userID, at) })
}
func (t *stageTx) ApproveUser(ctx context.Context, userID, by string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.ApproveUser(ctx, userID, by, at) })
}
func (t *stageTx) DeleteTOTP(ctx context.Context, userID string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteTOTP(ctx, userID) })
}

// Break-the-glass grants. ReviewBreakGlass is a conditional update: a
// replay that finds the grant reviewed meanwhile fails, and the function
// runs again inside the batch.
func (t *stageTx) BreakGlass(ctx context.Context, id string) (confidant.SealedBreakGlass, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedBreakGlass, error) { return tx.BreakGlass(ctx, id) })
}
func (t *stageTx) ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (confidant.ActiveGrant, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.ActiveGrant, error) {
		return tx.ActiveBreakGlass(ctx, therapistID, patientID, at)
	})
}
func (t *stageTx) ListBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) ([]confidant.SealedBreakGlass, error) {
	if f.Reviewed != nil {
		r := *f.Reviewed
		f.Reviewed = &r
	}
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedBreakGlass, error) { return tx.ListBreakGlass(ctx, f) })
}
func (t *stageTx) CountBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) (int, error) {
	if f.Reviewed != nil {
		r := *f.Reviewed
		f.Reviewed = &r
	}
	return read(t, func(tx confidant.SealedTx) (int, error) { return tx.CountBreakGlass(ctx, f) })
}
func (t *stageTx) CreateBreakGlass(ctx context.Context, g confidant.SealedBreakGlass) error {
	g.Data = append([]byte(nil), g.Data...)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateBreakGlass(ctx, g) })
}
func (t *stageTx) ReviewBreakGlass(ctx context.Context, id string, status confidant.BreakGlassStatus, by string, at time.Time, data []byte) error {
	if data != nil {
		data = append([]byte(nil), data...)
	}
	return t.write(func(tx confidant.SealedTx) error { return tx.ReviewBreakGlass(ctx, id, status, by, at, data) })
}

// Passkeys, ceremonies and recovery codes. DeleteWebAuthnCeremony and
// UseRecoveryCode are conditional: a replay that finds the ceremony or the
// code used fails, and the function runs again inside the batch, where it
// sees the conflict. DeleteExpiredWebAuthnCeremonies answers with a count
// only the batch knows.
func (t *stageTx) WebAuthnHandle(ctx context.Context, userID string) ([]byte, error) {
	return read(t, func(tx confidant.SealedTx) ([]byte, error) { return tx.WebAuthnHandle(ctx, userID) })
}
func (t *stageTx) CreateWebAuthnHandle(ctx context.Context, userID string, handle []byte, at time.Time) error {
	handle = append([]byte(nil), handle...)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateWebAuthnHandle(ctx, userID, handle, at) })
}
func (t *stageTx) UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	handle = append([]byte(nil), handle...)
	return read(t, func(tx confidant.SealedTx) (string, error) { return tx.UserByWebAuthnHandle(ctx, handle) })
}
func (t *stageTx) WebAuthnCredentials(ctx context.Context, userID string) ([]confidant.SealedWebAuthnCredential, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedWebAuthnCredential, error) {
		return tx.WebAuthnCredentials(ctx, userID)
	})
}
func (t *stageTx) CreateWebAuthnCredential(ctx context.Context, c confidant.SealedWebAuthnCredential) error {
	c.CredentialID = append([]byte(nil), c.CredentialID...)
	c.Data = append([]byte(nil), c.Data...)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateWebAuthnCredential(ctx, c) })
}
func (t *stageTx) UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error {
		return tx.UseWebAuthnCredential(ctx, userID, id, signCount, backupState, at)
	})
}
func (t *stageTx) DeleteWebAuthnCredential(ctx context.Context, userID, id string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteWebAuthnCredential(ctx, userID, id) })
}
func (t *stageTx) DeleteWebAuthnCredentials(ctx context.Context, userID string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteWebAuthnCredentials(ctx, userID) })
}
func (t *stageTx) PutWebAuthnCeremony(ctx context.Context, c confidant.WebAuthnCeremony) error {
	c.Data = append([]byte(nil), c.Data...)
	return t.write(func(tx confidant.SealedTx) error { return tx.PutWebAuthnCeremony(ctx, c) })
}
func (t *stageTx) WebAuthnCeremony(ctx context.Context, id string) (confidant.WebAuthnCeremony, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.WebAuthnCeremony, error) { return tx.WebAuthnCeremony(ctx, id) })
}
func (t *stageTx) DeleteWebAuthnCeremony(ctx context.Context, id string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.DeleteWebAuthnCeremony(ctx, id) })
}
func (t *stageTx) DeleteExpiredWebAuthnCeremonies(context.Context, time.Time) (int, error) {
	return 0, t.stop()
}
func (t *stageTx) RecoveryCodes(ctx context.Context, userID string) ([]confidant.RecoveryCode, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.RecoveryCode, error) { return tx.RecoveryCodes(ctx, userID) })
}
func (t *stageTx) SetRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	hashes = append([]string(nil), hashes...)
	return t.write(func(tx confidant.SealedTx) error { return tx.SetRecoveryCodes(ctx, userID, hashes, at) })
}
func (t *stageTx) UseRecoveryCode(ctx context.Context, userID string, n int, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UseRecoveryCode(ctx, userID, n, at) })
}

// Alerts and honeytokens. CreateAlert answers whether its key was new,
// which only the batch knows: it stops the staging. SetAlertStatus is a
// conditional update: a replay that finds the status changed meanwhile
// fails, and the function runs again inside the batch.
func (t *stageTx) CreateAlert(context.Context, confidant.SealedAlert) (bool, error) {
	return false, t.stop()
}
func (t *stageTx) Alert(ctx context.Context, id string) (confidant.SealedAlert, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedAlert, error) { return tx.Alert(ctx, id) })
}
func (t *stageTx) ListAlerts(ctx context.Context, f confidant.AlertFilter) ([]confidant.SealedAlert, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedAlert, error) { return tx.ListAlerts(ctx, f) })
}
func (t *stageTx) SetAlertStatus(ctx context.Context, id string, from confidant.AlertStatus, c confidant.SealedAlertChange) error {
	c.Data = append([]byte(nil), c.Data...)
	c.FactMAC = append([]byte(nil), c.FactMAC...)
	return t.write(func(tx confidant.SealedTx) error { return tx.SetAlertStatus(ctx, id, from, c) })
}
func (t *stageTx) CountAlerts(ctx context.Context, since, until time.Time) (map[string]int, error) {
	return read(t, func(tx confidant.SealedTx) (map[string]int, error) { return tx.CountAlerts(ctx, since, until) })
}
func (t *stageTx) CreateHoneytoken(ctx context.Context, h confidant.SealedHoneytoken) error {
	h.Tag = append([]byte(nil), h.Tag...)
	h.Data = append([]byte(nil), h.Data...)
	h.FactMAC = append([]byte(nil), h.FactMAC...)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateHoneytoken(ctx, h) })
}
func (t *stageTx) ListHoneytokens(ctx context.Context) ([]confidant.SealedHoneytoken, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedHoneytoken, error) { return tx.ListHoneytokens(ctx) })
}
func (t *stageTx) HoneytokenByTag(ctx context.Context, tag []byte) (confidant.SealedHoneytoken, error) {
	tag = append([]byte(nil), tag...)
	return read(t, func(tx confidant.SealedTx) (confidant.SealedHoneytoken, error) { return tx.HoneytokenByTag(ctx, tag) })
}

// Detector watermarks: the state is read in the snapshot; advancing it is
// a conditional update whose answer (moved or not) a replay could not
// give back, so it stops the staging and runs inside the batch.
func (t *stageTx) DetectorState(ctx context.Context, name string) (uint64, time.Time, error) {
	type state struct {
		next uint64
		at   time.Time
	}
	s, err := read(t, func(tx confidant.SealedTx) (state, error) {
		n, at, err := tx.DetectorState(ctx, name)
		return state{n, at}, err
	})
	return s.next, s.at, err
}
func (t *stageTx) AdvanceDetector(context.Context, string, uint64, uint64, time.Time) (bool, error) {
	return false, t.stop()
}

// The incident register. UpdateIncident is a conditional update (on the
// history's length): a replay that finds the incident changed meanwhile
// fails, and the function runs again inside the batch.
func (t *stageTx) CreateIncident(ctx context.Context, i confidant.SealedIncident) error {
	i.HistoryMAC, i.Data, i.FactMAC = bytes.Clone(i.HistoryMAC), bytes.Clone(i.Data), bytes.Clone(i.FactMAC)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateIncident(ctx, i) })
}
func (t *stageTx) UpdateIncident(ctx context.Context, i confidant.SealedIncident, prevSeq int) error {
	i.HistoryMAC, i.Data, i.FactMAC = bytes.Clone(i.HistoryMAC), bytes.Clone(i.Data), bytes.Clone(i.FactMAC)
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdateIncident(ctx, i, prevSeq) })
}
func (t *stageTx) Incident(ctx context.Context, id string) (confidant.SealedIncident, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedIncident, error) { return tx.Incident(ctx, id) })
}
func (t *stageTx) ListIncidents(ctx context.Context, f confidant.IncidentFilter) ([]confidant.SealedIncident, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedIncident, error) { return tx.ListIncidents(ctx, f) })
}
func (t *stageTx) AppendIncidentEvent(ctx context.Context, ev confidant.SealedIncidentEvent) error {
	ev.Data, ev.MAC = bytes.Clone(ev.Data), bytes.Clone(ev.MAC)
	return t.write(func(tx confidant.SealedTx) error { return tx.AppendIncidentEvent(ctx, ev) })
}
func (t *stageTx) IncidentEvents(ctx context.Context, incidentID string) ([]confidant.SealedIncidentEvent, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedIncidentEvent, error) {
		return tx.IncidentEvents(ctx, incidentID)
	})
}
func (t *stageTx) CreateIncidentLetter(ctx context.Context, l confidant.SealedIncidentLetter) error {
	l.Data = bytes.Clone(l.Data)
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateIncidentLetter(ctx, l) })
}
func (t *stageTx) IncidentLetters(ctx context.Context, f confidant.IncidentLetterFilter) ([]confidant.SealedIncidentLetter, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedIncidentLetter, error) {
		return tx.IncidentLetters(ctx, f)
	})
}

// Recipients and the outbox. ClaimOutbox is an update whose answer the
// function uses: it runs inside the batch.
func (t *stageTx) Recipient(ctx context.Context, id string) (confidant.SealedRecipient, error) {
	return read(t, func(tx confidant.SealedTx) (confidant.SealedRecipient, error) { return tx.Recipient(ctx, id) })
}
func (t *stageTx) ListRecipients(ctx context.Context) ([]confidant.SealedRecipient, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedRecipient, error) { return tx.ListRecipients(ctx) })
}
func (t *stageTx) CreateRecipient(ctx context.Context, r confidant.SealedRecipient) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.CreateRecipient(ctx, r) })
}
func (t *stageTx) UpdateRecipient(ctx context.Context, r confidant.SealedRecipient, from confidant.RecipientStatus) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.UpdateRecipient(ctx, r, from) })
}
func (t *stageTx) EnqueueOutbox(ctx context.Context, items []confidant.SealedOutboxItem) error {
	// Skipping a queued item is part of the write: it cannot fail.
	items = append([]confidant.SealedOutboxItem(nil), items...)
	return t.write(func(tx confidant.SealedTx) error { return tx.EnqueueOutbox(ctx, items) })
}
func (t *stageTx) ClaimOutbox(context.Context, string, time.Time, time.Time, int) ([]confidant.SealedOutboxItem, error) {
	return nil, t.stop()
}
func (t *stageTx) FinishOutbox(ctx context.Context, id, owner string, at time.Time) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.FinishOutbox(ctx, id, owner, at) })
}
func (t *stageTx) FailOutbox(ctx context.Context, id, owner string, next time.Time, code string) error {
	return t.write(func(tx confidant.SealedTx) error { return tx.FailOutbox(ctx, id, owner, next, code) })
}
func (t *stageTx) ListOutbox(ctx context.Context, f confidant.OutboxFilter) ([]confidant.SealedOutboxItem, error) {
	return read(t, func(tx confidant.SealedTx) ([]confidant.SealedOutboxItem, error) { return tx.ListOutbox(ctx, f) })
}
