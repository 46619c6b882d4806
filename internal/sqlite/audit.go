package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/confidanthealth/confidant"
)

// The access log (confidant.LogTx); the schema is in
// migrations/0004_audit_log.sql.

var _ confidant.LogTx = (*tx)(nil)

// tileWidth is the width of a full hash tile or entry bundle (C2SP
// tlog-tiles).
const tileWidth = 256

// maxQueryLimit is the largest EventFilter.Limit.
const maxQueryLimit = 1000

// eventColumns are the columns of audit_events in the order of
// eventPlaceholders and scanEvent.
const eventColumns = `idx, time, actor_id, role, clinic_id, action, patient_id, record_id, outcome, session_id, patient_seq, patient_prev, nonce, sealed, leaf`

const numEventColumns = 15

// selectEvent selects eventColumns for scanEvent.
const selectEvent = `SELECT idx, time, actor_id, role, clinic_id, action, coalesce(patient_id, ''), record_id, outcome, session_id, patient_seq, patient_prev, nonce, sealed, leaf FROM audit_events`

// appendChunks are the numbers of rows AppendEvents inserts with one
// statement, largest first: a batch is split greedily into chunks of these
// sizes, so only this many distinct INSERT statements exist and all of them
// stay in the statement cache (256 rows are 3,840 parameters, far below
// SQLite's limit). Multi-row statements took about a fifth less CPU per
// event than one INSERT per event for batches of 256, and no more for
// small ones (BenchmarkAppendEvents). A variable for that benchmark.
var appendChunks = []int{256, 64, 16, 4, 1}

// insertEvents[n] inserts n events; built for the sizes in appendChunks.
var insertEvents = map[int]string{}

func init() { buildInsertEvents() }

func buildInsertEvents() {
	row := "(" + strings.Repeat("?, ", numEventColumns-1) + "?)"
	for _, n := range appendChunks {
		if _, ok := insertEvents[n]; ok {
			continue
		}
		var b strings.Builder
		b.WriteString("INSERT INTO audit_events (" + eventColumns + ") VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		insertEvents[n] = b.String()
	}
}

func invalid(code, format string, args ...any) error {
	return confidant.Errorf(confidant.KindInvalid, code, format, args...)
}

// LogSize implements confidant.LogTx. The log is contiguous from 0, so its
// size is one past the largest index (a lookup, not a count).
func (t *tx) LogSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := t.queryRow(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_events`).Scan(&n); err != nil {
		return 0, dbErr("log size", err)
	}
	return uint64(n), nil
}

// LockLog implements confidant.LogTx. Every read-write transaction is
// BEGIN IMMEDIATE and so already holds SQLite's write lock, which every
// other writer, in this process or another, waits for (busy_timeout): the
// log's size read here stays the size until this transaction ends.
func (t *tx) LockLog(ctx context.Context) (uint64, error) {
	return t.LogSize(ctx)
}

// AppendEvents implements confidant.LogTx. Contiguity is checked against
// the log's size read in the same transaction; on the single writer
// connection nothing can append in between (and the schema's trigger
// audit_events_next_index checks it again, row by row). The batch goes in
// with as few multi-row INSERTs as appendChunks allows, inside a savepoint
// when there is more than one, so that a failure leaves nothing of the
// batch behind.
func (t *tx) AppendEvents(ctx context.Context, evs []confidant.StoredEvent) error {
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		if err := checkEvent(&evs[i]); err != nil {
			return err
		}
	}
	size, err := t.LogSize(ctx)
	if err != nil {
		return err
	}
	for i := range evs {
		if evs[i].Index != size+uint64(i) {
			return conflict("log_not_contiguous", "The events do not continue the access log; another writer may have appended.")
		}
	}
	insert := func() error {
		args := make([]any, 0, numEventColumns*min(len(evs), appendChunks[0]))
		for rest := evs; len(rest) > 0; {
			n := appendChunks[len(appendChunks)-1]
			for _, c := range appendChunks {
				if c <= len(rest) {
					n = c
					break
				}
			}
			args = args[:0]
			for i := range rest[:n] {
				args = appendEventArgs(args, &rest[i])
			}
			if _, err := t.execContext(ctx, insertEvents[n], args...); err != nil {
				return dbErr("append events", err)
			}
			rest = rest[n:]
		}
		return nil
	}
	if isChunk(len(evs)) {
		return insert() // one statement: atomic by itself
	}
	return t.Savepoint(ctx, insert)
}

// isChunk reports whether n is one of appendChunks.
func isChunk(n int) bool {
	for _, c := range appendChunks {
		if c == n {
			return true
		}
	}
	return false
}

// checkEvent checks what the schema's constraints would refuse, so that the
// caller gets a precise error and no statement fails half-way.
func checkEvent(e *confidant.StoredEvent) error {
	switch {
	case e.Index > math.MaxInt64:
		return invalid("invalid_event", "The event's log index is out of range.")
	case e.Time.IsZero():
		return invalid("invalid_event", "The event has no time.")
	case e.PatientSeq > math.MaxInt64:
		return invalid("invalid_event", "The event's patient sequence number is out of range.")
	case (e.PatientID == "") != (e.PatientSeq == 0):
		return invalid("invalid_event", "An event has a patient sequence number exactly when it is about a patient.")
	case e.PatientPrev < -1 || (e.PatientID == "" && e.PatientPrev != -1):
		return invalid("invalid_event", "The event's link to the patient's previous event is out of range.")
	case e.PatientPrev >= 0 && uint64(e.PatientPrev) >= e.Index:
		return invalid("invalid_event", "The event's link to the patient's previous event does not point back.")
	}
	return nil
}

func appendEventArgs(args []any, e *confidant.StoredEvent) []any {
	var patient any
	if e.PatientID != "" {
		patient = e.PatientID
	}
	return append(args,
		int64(e.Index), micros(e.Time), e.ActorID, string(e.Role), e.ClinicID, e.Action,
		patient, e.RecordID, e.Outcome, e.SessionID, int64(e.PatientSeq), e.PatientPrev,
		nonNil(e.Nonce), nonNil(e.Sealed), nonNil(e.Leaf))
}

func scanEvent(rows *sql.Rows) (confidant.StoredEvent, error) {
	var e confidant.StoredEvent
	var idx, seq int64
	err := rows.Scan(&idx, tm(&e.Time), &e.ActorID, &e.Role, &e.ClinicID, &e.Action, &e.PatientID,
		&e.RecordID, &e.Outcome, &e.SessionID, &seq, &e.PatientPrev, &e.Nonce, &e.Sealed, &e.Leaf)
	e.Index, e.PatientSeq = uint64(idx), uint64(seq)
	return e, err
}

func (t *tx) events(ctx context.Context, op, query string, args []any) ([]confidant.StoredEvent, error) {
	var evs []confidant.StoredEvent
	err := t.list(ctx, op, query, args, func(rows *sql.Rows) error {
		e, err := scanEvent(rows)
		evs = append(evs, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evs, nil
}

// Events implements confidant.LogTx. limit must be positive.
func (t *tx) Events(ctx context.Context, from uint64, limit int) ([]confidant.StoredEvent, error) {
	if limit <= 0 {
		return nil, invalid("invalid_limit", "The number of events to read must be positive.")
	}
	if from > math.MaxInt64 {
		return nil, nil
	}
	return t.events(ctx, "read events", selectEvent+` WHERE idx >= ? ORDER BY idx`+limitOne, []any{int64(from), limit})
}

// scanEvents selects the columns of confidant.EventRow for ScanEvents. The
// text columns are cast to BLOB: the driver then hands their bytes over as
// they are, where it would allocate a string for each TEXT value.
const scanEvents = `SELECT idx, time, CAST(actor_id AS BLOB), CAST(role AS BLOB), CAST(clinic_id AS BLOB),
	CAST(action AS BLOB), CAST(coalesce(patient_id, '') AS BLOB), CAST(record_id AS BLOB), CAST(outcome AS BLOB),
	CAST(session_id AS BLOB), patient_seq, patient_prev, nonce, sealed, leaf
	FROM audit_events WHERE idx >= ? ORDER BY idx` + limitOne

// ScanEvents implements confidant.LogTx, scanning into sql.RawBytes so that
// nothing is copied or allocated per event.
func (t *tx) ScanEvents(ctx context.Context, from uint64, limit int, fn func(*confidant.EventRow) error) error {
	if limit <= 0 {
		return invalid("invalid_limit", "The number of events to read must be positive.")
	}
	if from > math.MaxInt64 {
		return nil
	}
	rows, err := t.queryContext(ctx, scanEvents, int64(from), limit)
	if err != nil {
		return dbErr("read events", err)
	}
	defer rows.Close()
	var r confidant.EventRow
	var idx, us, seq int64
	dest := []any{&idx, &us, (*sql.RawBytes)(&r.ActorID), (*sql.RawBytes)(&r.Role), (*sql.RawBytes)(&r.ClinicID),
		(*sql.RawBytes)(&r.Action), (*sql.RawBytes)(&r.PatientID), (*sql.RawBytes)(&r.RecordID), (*sql.RawBytes)(&r.Outcome),
		(*sql.RawBytes)(&r.SessionID), &seq, &r.PatientPrev, (*sql.RawBytes)(&r.Nonce), (*sql.RawBytes)(&r.Sealed), (*sql.RawBytes)(&r.Leaf)}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return dbErr("read events", err)
		}
		r.Index, r.Time, r.PatientSeq = uint64(idx), time.UnixMicro(us).UTC(), uint64(seq)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return dbErr("read events", rows.Err())
}

// QueryEvents implements confidant.LogTx. From and To are truncated to
// microseconds, like every stored time.
//
// The statement names the index it must use, since SQLite without
// statistics cannot tell a selective filter from a broad one (see
// migrations/0004_audit_log.sql):
//
//   - with a patient, the patient index; else with an actor, the actor
//     index: read backwards from the page boundary, stopping after a page;
//     the actor index checks a time window itself, and an old window costs
//     a read of the actor's index entries since then;
//   - else with an action and a time window, the (action, time) index, or
//     with a time window only, the time index: the window's row ids are
//     sorted and a page of rows fetched;
//   - else with an action, the action index, read like the actor index;
//   - else the table, backwards from the page boundary.
func (t *tx) QueryEvents(ctx context.Context, f confidant.EventFilter) ([]confidant.StoredEvent, error) {
	if f.Limit <= 0 || f.Limit > maxQueryLimit {
		return nil, invalid("invalid_limit", "The number of events to return must be between 1 and %d.", maxQueryLimit)
	}
	query, args := eventQuery(f)
	return t.events(ctx, "query events", query, args)
}

// eventQuery returns the statement QueryEvents runs for f.
func eventQuery(f confidant.EventFilter) (string, []any) {
	var w filter
	if f.PatientID != "" {
		w.add("patient_id = ?", f.PatientID)
	}
	if f.ActorID != "" {
		w.add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	window := !f.From.IsZero() || !f.To.IsZero()
	if !f.From.IsZero() {
		w.add("time >= ?", micros(f.From))
	}
	if !f.To.IsZero() {
		w.add("time < ?", micros(f.To))
	}
	if f.Before > 0 && f.Before <= math.MaxInt64 {
		w.add("idx < ?", int64(f.Before))
	}
	args := append(w.args, f.Limit)

	var index string
	switch {
	case f.PatientID != "":
		index = "audit_events_patient"
	case f.ActorID != "":
		index = "audit_events_actor"
	case window:
		index = "audit_events_time"
		if f.Action != "" {
			index = "audit_events_action_time"
		}
		// Sort the window's row ids, then fetch a page of rows.
		return selectEvent + ` WHERE idx IN (SELECT idx FROM audit_events INDEXED BY ` + index + w.where() +
			` ORDER BY idx DESC` + limitOne + `) ORDER BY idx DESC`, args
	case f.Action != "":
		index = "audit_events_action"
	default:
		return selectEvent + w.where() + ` ORDER BY idx DESC` + limitOne, args
	}
	from := " FROM audit_events INDEXED BY " + index
	query := strings.Replace(selectEvent, " FROM audit_events", from, 1) + w.where() + ` ORDER BY idx DESC` + limitOne
	return query, args
}

// patientHeads selects the last event of each patient in a JSON array of
// ids: its largest log index, read from the end of the patient index, then
// that row.
const patientHeads = `SELECT e.patient_id, e.patient_seq, e.idx FROM audit_events AS e WHERE e.idx IN (
	SELECT (SELECT max(idx) FROM audit_events WHERE patient_id = p.value) FROM json_each(?) AS p)`

// PatientHeads implements confidant.LogTx with one statement for all the
// ids (a batch of the sequencer has up to hundreds), which go in as a JSON
// array.
func (t *tx) PatientHeads(ctx context.Context, patientIDs []string) (map[string]confidant.ChainHead, error) {
	heads := make(map[string]confidant.ChainHead)
	ids := make([]string, 0, len(patientIDs))
	for _, id := range patientIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return heads, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "internal", "Internal error.")
	}
	err = t.list(ctx, "patient heads", patientHeads, []any{string(list)}, func(rows *sql.Rows) error {
		var id string
		var seq, idx int64
		if err := rows.Scan(&id, &seq, &idx); err != nil {
			return err
		}
		heads[id] = confidant.ChainHead{Seq: uint64(seq), Index: idx}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return heads, nil
}

// checkTileName checks a tile's or bundle's coordinates.
func checkTileName(level, index uint64, width int) error {
	if level > math.MaxInt64 || index > math.MaxInt64 {
		return invalid("invalid_tile", "The tile's level or index is out of range.")
	}
	if width < 1 || width > tileWidth {
		return invalid("invalid_tile", "The tile's width must be between 1 and %d.", tileWidth)
	}
	return nil
}

// PutTile implements confidant.LogTx. Every width of a tile is kept until
// the full tile is written, which deletes the partial ones; see
// migrations/0004_audit_log.sql.
func (t *tx) PutTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	if err := checkTileName(level, index, width); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "put tile",
		`INSERT INTO audit_tiles (level, idx, width, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (level, idx, width) DO UPDATE SET data = excluded.data`,
		int64(level), int64(index), width, nonNil(data)); err != nil {
		return err
	}
	if width == tileWidth {
		_, err := t.exec(ctx, "put tile", `DELETE FROM audit_tiles WHERE level = ? AND idx = ? AND width < 256`, int64(level), int64(index))
		return err
	}
	return nil
}

// Tile implements confidant.LogTx.
func (t *tx) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	if err := checkTileName(level, index, width); err != nil {
		return nil, err
	}
	var data []byte
	err := t.get(ctx, "tile", "read tile", `SELECT data FROM audit_tiles WHERE level = ? AND idx = ? AND width = ?`,
		[]any{int64(level), int64(index), width}, &data)
	return data, err
}

// PutEntryBundle implements confidant.LogTx, keeping bundles like PutTile.
func (t *tx) PutEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	if err := checkTileName(0, index, width); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "put entry bundle",
		`INSERT INTO audit_entries (idx, width, data) VALUES (?, ?, ?)
		ON CONFLICT (idx, width) DO UPDATE SET data = excluded.data`,
		int64(index), width, nonNil(data)); err != nil {
		return err
	}
	if width == tileWidth {
		_, err := t.exec(ctx, "put entry bundle", `DELETE FROM audit_entries WHERE idx = ? AND width < 256`, int64(index))
		return err
	}
	return nil
}

// EntryBundle implements confidant.LogTx.
func (t *tx) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if err := checkTileName(0, index, width); err != nil {
		return nil, err
	}
	var data []byte
	err := t.get(ctx, "entry bundle", "read entry bundle", `SELECT data FROM audit_entries WHERE idx = ? AND width = ?`,
		[]any{int64(index), width}, &data)
	return data, err
}

// PutCheckpoint implements confidant.LogTx. A checkpoint smaller than the
// latest is refused (KindConflict), so the stored checkpoint cannot be
// rolled back; one of the same size replaces it (for example with more
// cosignatures) only if it has the same root.
func (t *tx) PutCheckpoint(ctx context.Context, c confidant.LogCheckpoint) error {
	if c.Size > math.MaxInt64 {
		return invalid("invalid_checkpoint", "The checkpoint's size is out of range.")
	}
	if c.CreatedAt.IsZero() {
		return invalid("invalid_checkpoint", "The checkpoint has no creation time.")
	}
	latest, err := t.LatestCheckpoint(ctx)
	switch {
	case confidant.KindOf(err) == confidant.KindNotFound:
	case err != nil:
		return err
	case c.Size < latest.Size:
		return conflict("checkpoint_rollback", "A checkpoint of a larger log is already stored.")
	case c.Size == latest.Size && !bytes.Equal(c.Root, latest.Root):
		return conflict("checkpoint_fork", "A checkpoint of the same size with a different root is already stored.")
	}
	_, err = t.exec(ctx, "put checkpoint",
		`INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (size) DO UPDATE SET note = excluded.note, created_at = excluded.created_at`,
		int64(c.Size), nonNil(c.Root), nonNil(c.Note), micros(c.CreatedAt))
	return err
}

// LatestCheckpoint implements confidant.LogTx.
func (t *tx) LatestCheckpoint(ctx context.Context) (confidant.LogCheckpoint, error) {
	var c confidant.LogCheckpoint
	var size int64
	err := t.get(ctx, "checkpoint", "read checkpoint",
		`SELECT size, root, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`, nil,
		&size, &c.Root, &c.Note, tm(&c.CreatedAt))
	c.Size = uint64(size)
	return c, err
}

// Checkpoints implements confidant.LogTx.
func (t *tx) Checkpoints(ctx context.Context, after uint64, limit int) ([]confidant.LogCheckpoint, error) {
	if limit < 1 || limit > maxQueryLimit {
		return nil, invalid("invalid_limit", "The number of checkpoints to return must be between 1 and %d.", maxQueryLimit)
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	var out []confidant.LogCheckpoint
	err := t.list(ctx, "list checkpoints",
		`SELECT size, root, note, created_at FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?`, []any{int64(after), limit},
		func(rows *sql.Rows) error {
			var c confidant.LogCheckpoint
			var size int64
			if err := rows.Scan(&size, &c.Root, &c.Note, tm(&c.CreatedAt)); err != nil {
				return err
			}
			c.Size = uint64(size)
			out = append(out, c)
			return nil
		})
	return out, err
}

// Savepoint implements confidant.LogTx with SAVEPOINT sp_N, N the nesting
// depth. If fn returns an error, ROLLBACK TO and RELEASE undo what it wrote
// and its error is returned unchanged. If fn panics, the same happens and
// the panic continues (Update then rolls back the whole transaction). If
// the savepoint cannot be rolled back, the transaction is marked so that it
// cannot commit: it would keep what fn wrote.
func (t *tx) Savepoint(ctx context.Context, fn func() error) error {
	if t.broken != nil {
		return t.broken
	}
	t.depth++
	name := "sp_" + strconv.Itoa(t.depth)
	if _, err := t.execContext(ctx, "SAVEPOINT "+name); err != nil {
		t.depth--
		return dbErr("savepoint", err)
	}
	done := false
	defer func() {
		if !done { // fn panicked
			t.rollbackTo(context.WithoutCancel(ctx), name)
		}
		t.depth--
	}()
	err := fn()
	done = true
	if err != nil {
		if rerr := t.rollbackTo(ctx, name); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if _, err := t.execContext(ctx, "RELEASE "+name); err != nil {
		return t.fail(dbErr("release savepoint", err))
	}
	return nil
}

// rollbackTo undoes and removes savepoint name.
func (t *tx) rollbackTo(ctx context.Context, name string) error {
	if _, err := t.execContext(ctx, "ROLLBACK TO "+name); err != nil {
		return t.fail(dbErr("roll back to savepoint", err))
	}
	if _, err := t.execContext(ctx, "RELEASE "+name); err != nil {
		return t.fail(dbErr("release savepoint", err))
	}
	return nil
}

// fail marks the transaction as unable to commit and returns err.
func (t *tx) fail(err error) error {
	if t.broken == nil {
		t.broken = err
	}
	return err
}
