package postgres

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// The access log (confidant.LogTx; schema in migrations/0004_audit_log.sql).
//
// The log's size is kept in the one row of audit_log_head. AppendEvents
// moves it forward with UPDATE ... WHERE size = <first new index>, in the
// same statement that inserts the events: the UPDATE locks the row, and a
// concurrent appender waits for it and then (READ COMMITTED re-checks the
// condition on the committed row) finds the size moved and appends nothing,
// which is reported as KindConflict. So the check and the insert are one
// round trip and cannot interleave with another writer's.

var _ confidant.LogTx = (*tx)(nil)

// MaxEventQuery is the largest EventFilter.Limit QueryEvents accepts.
const MaxEventQuery = 1000

// tileWidth is the number of hashes in a full tile (C2SP tlog-tiles).
const tileWidth = 256

// u64 converts a log index to a bigint; PostgreSQL has no unsigned type.
func u64(v uint64) (int64, bool) {
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

func invalidIndex() error {
	return invalid("invalid_index", "The log index is out of range.")
}

const eventCols = `idx, "time", actor_id, role, clinic_id, action, patient_id, record_id, outcome,
	session_id, patient_seq, patient_prev, nonce, sealed, leaf`

func scanEvent(row pgx.CollectableRow) (confidant.StoredEvent, error) {
	var e confidant.StoredEvent
	var idx, seq int64
	var role string
	err := row.Scan(&idx, &e.Time, &e.ActorID, &role, &e.ClinicID, &e.Action, &e.PatientID, &e.RecordID,
		&e.Outcome, &e.SessionID, &seq, &e.PatientPrev, &e.Nonce, &e.Sealed, &e.Leaf)
	e.Index, e.PatientSeq, e.Role, e.Time = uint64(idx), uint64(seq), confidant.Role(role), e.Time.UTC()
	return e, err
}

// LogSize returns the number of events in the log.
func (t *tx) LogSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := t.tx.QueryRow(t.c(ctx), `SELECT size FROM audit_log_head`).Scan(&n); err != nil {
		return 0, mapErr(err, "log size", "Log head")
	}
	return uint64(n), nil
}

// LockLog implements confidant.LogTx with a row lock on the log's head
// (SELECT ... FOR UPDATE): appenders in every process and server queue
// there, each reading the size the previous one committed (READ
// COMMITTED: each statement sees what committed before it began). The
// lock is held until the transaction ends.
func (t *tx) LockLog(ctx context.Context) (uint64, error) {
	var n int64
	if err := t.tx.QueryRow(t.c(ctx), `SELECT size FROM audit_log_head FOR UPDATE`).Scan(&n); err != nil {
		return 0, mapErr(err, "lock log", "Log head")
	}
	return uint64(n), nil
}

// appendEventsSQL moves the head and inserts the events in one statement.
// The data-modifying CTE runs exactly once; the INSERT inserts nothing
// unless it moved the head. The events come as one array per column
// (unnest zips them), so the statement text, and hence its prepared plan,
// is the same for every batch size.
//
// It also keeps the head's max_time and lateness_us up to date (see the
// migration): $17 is the batch's own lateness, $18 its earliest time and
// $19 its latest; in SET, columns are their values before the update.
const appendEventsSQL = `
	WITH head AS (
		UPDATE audit_log_head SET size = $1 + cardinality($2::bigint[]),
			lateness_us = greatest(lateness_us, $17::bigint, (extract(epoch FROM max_time - $18::timestamptz) * 1000000)::bigint),
			max_time = greatest(max_time, $19::timestamptz)
		WHERE size = $1 RETURNING size
	)
	INSERT INTO audit_events (` + eventCols + `)
	SELECT * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[],
		$14::bytea[], $15::bytea[], $16::bytea[])
	WHERE EXISTS (SELECT FROM head)`

// checkEvent applies StoredEvent's rules (also CHECK constraints of
// audit_events, but a failed statement would abort the transaction).
func checkEvent(e confidant.StoredEvent) error {
	bad := func(msg string) error { return invalid("invalid_event", msg) }
	switch {
	case e.Time.IsZero():
		return bad("The event has no time.")
	case (e.PatientID == "") != (e.PatientSeq == 0):
		return bad("An event about a patient, and only such an event, has a patient sequence number.")
	case e.PatientSeq > math.MaxInt64:
		return bad("The event's patient sequence number is out of range.")
	case e.PatientPrev < -1 || e.PatientPrev >= 0 && uint64(e.PatientPrev) >= e.Index:
		return bad("The event's link to the patient's previous event is out of range.")
	case e.PatientID == "" && e.PatientPrev != -1:
		return bad("An event without a patient has no link to a previous event.")
	}
	return nil
}

// AppendEvents stores evs, whose indexes must continue the log exactly:
// the first equals LogSize and each next one is one more (else
// KindConflict), and which must follow StoredEvent's rules (a time; a
// patient sequence number exactly when there is a patient; a link to the
// patient's previous event that is -1 or earlier; else KindInvalid).
// Nothing of a refused batch is written. An empty evs is a no-op.
func (t *tx) AppendEvents(ctx context.Context, evs []confidant.StoredEvent) error {
	if len(evs) == 0 {
		return nil
	}
	first, ok := u64(evs[0].Index)
	if !ok || evs[0].Index+uint64(len(evs)) > math.MaxInt64 {
		return invalidIndex()
	}
	n := len(evs)
	var (
		idx      = make([]int64, n)
		times    = make([]time.Time, n)
		actor    = make([]string, n)
		role     = make([]string, n)
		clinic   = make([]string, n)
		action   = make([]string, n)
		patient  = make([]string, n)
		record   = make([]string, n)
		outcome  = make([]string, n)
		session  = make([]string, n)
		seq      = make([]int64, n)
		prev     = make([]int64, n)
		nonce    = make([][]byte, n)
		sealedBs = make([][]byte, n)
		leaf     = make([][]byte, n)

		earliest, latest time.Time // of the batch
		late             int64     // the batch's lateness, µs
	)
	for i, e := range evs {
		if e.Index != evs[0].Index+uint64(i) {
			return conflict("log_not_contiguous", "The events do not continue the log.")
		}
		if err := checkEvent(e); err != nil {
			return err
		}
		s, _ := u64(e.PatientSeq)
		// Stored with microseconds, truncated: the lateness is computed
		// from what is stored.
		at := e.Time.UTC().Truncate(time.Microsecond)
		if i == 0 || at.After(latest) {
			latest = at
		}
		if i == 0 || at.Before(earliest) {
			earliest = at
		}
		late = max(late, latest.Sub(at).Microseconds())
		idx[i], times[i], seq[i], prev[i] = first+int64(i), at, s, e.PatientPrev
		actor[i], role[i], clinic[i], action[i] = e.ActorID, string(e.Role), e.ClinicID, e.Action
		patient[i], record[i], outcome[i], session[i] = e.PatientID, e.RecordID, e.Outcome, e.SessionID
		nonce[i], sealedBs[i], leaf[i] = nonNil(e.Nonce), nonNil(e.Sealed), nonNil(e.Leaf)
	}
	tag, err := t.tx.Exec(t.c(ctx), appendEventsSQL, first, idx, times, actor, role, clinic, action,
		patient, record, outcome, session, seq, prev, nonce, sealedBs, leaf, late, earliest, latest)
	if err != nil {
		return mapErr(err, "append events", "Event")
	}
	if tag.RowsAffected() != int64(n) {
		// The head was not at first: the log is longer or shorter.
		return conflict("log_not_contiguous", "The events do not continue the log.")
	}
	return nil
}

// Events returns at most limit (> 0) events with Index >= from, in index
// order.
func (t *tx) Events(ctx context.Context, from uint64, limit int) ([]confidant.StoredEvent, error) {
	if limit <= 0 {
		return nil, invalid("invalid_limit", "A positive limit is required.")
	}
	f, ok := u64(from)
	if !ok {
		return nil, nil
	}
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+eventCols+` FROM audit_events WHERE idx >= $1 ORDER BY idx LIMIT $2`, f, limit)
	es, err := collect(rows, scanEvent)
	return es, mapErr(err, "read events", "")
}

// ScanEvents calls fn with each of at most limit (> 0) events with
// Index >= from, in index order; it stops at fn's first error and returns
// it unchanged. The row's buffers are reused from one event to the next.
func (t *tx) ScanEvents(ctx context.Context, from uint64, limit int, fn func(*confidant.EventRow) error) error {
	if limit <= 0 {
		return invalid("invalid_limit", "A positive limit is required.")
	}
	f, ok := u64(from)
	if !ok {
		return nil
	}
	rows, err := t.tx.Query(t.c(ctx), `SELECT `+eventCols+` FROM audit_events WHERE idx >= $1 ORDER BY idx LIMIT $2`, f, limit)
	if err != nil {
		return mapErr(err, "read events", "")
	}
	defer rows.Close()
	var r confidant.EventRow
	var idx, seq int64
	for rows.Next() {
		if err := rows.Scan(&idx, &r.Time, &r.ActorID, &r.Role, &r.ClinicID, &r.Action, &r.PatientID, &r.RecordID,
			&r.Outcome, &r.SessionID, &seq, &r.PatientPrev, &r.Nonce, &r.Sealed, &r.Leaf); err != nil {
			return mapErr(err, "read events", "")
		}
		r.Index, r.PatientSeq, r.Time = uint64(idx), uint64(seq), r.Time.UTC()
		if err := fn(&r); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "read events", "")
}

// QueryEvents returns events matching f, newest (highest index) first.
// f.Limit is required and at most MaxEventQuery (else KindInvalid).
func (t *tx) QueryEvents(ctx context.Context, f confidant.EventFilter) ([]confidant.StoredEvent, error) {
	if f.Limit <= 0 || f.Limit > MaxEventQuery {
		return nil, invalid("invalid_limit", "The limit must be between 1 and "+strconv.Itoa(MaxEventQuery)+".")
	}
	var q query
	if f.PatientID != "" {
		q.where("patient_id = " + q.arg(f.PatientID))
	}
	if f.ActorID != "" {
		q.where("actor_id = " + q.arg(f.ActorID))
	}
	if f.Action != "" {
		q.where("action = " + q.arg(f.Action))
	}
	// A time window also bounds the indexes (see audit_log_head in the
	// migration), by one probe of the time index at each end, so that the
	// scan of the primary key newest first starts and ends near the window
	// wherever it is in the log, instead of walking from the newest event.
	const lateness = `(SELECT lateness_us FROM audit_log_head) * interval '1 microsecond'`
	if !f.From.IsZero() {
		from := q.arg(f.From.UTC())
		q.where(`"time" >= ` + from)
		q.where(`idx > coalesce((SELECT idx FROM audit_events WHERE "time" < ` + from + ` - ` + lateness +
			` ORDER BY "time" DESC LIMIT 1), -1)`)
	}
	if !f.To.IsZero() {
		to := q.arg(f.To.UTC())
		q.where(`"time" < ` + to)
		q.where(`idx < coalesce((SELECT idx FROM audit_events WHERE "time" >= ` + to + ` + ` + lateness +
			` ORDER BY "time" LIMIT 1), 9223372036854775807)`)
	}
	if b, ok := u64(f.Before); ok && f.Before > 0 {
		q.where("idx < " + q.arg(b))
	}
	sql := `SELECT ` + eventCols + ` FROM audit_events` + q.whereSQL() + ` ORDER BY idx DESC` + q.limitSQL(f.Limit, 0)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	es, err := collect(rows, scanEvent)
	return es, mapErr(err, "query events", "")
}

// PatientHeads returns the last event of each given patient that has one,
// in one statement: one probe of audit_events_patient_idx per patient.
// Empty ids and duplicates are ignored.
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
	rows, _ := t.tx.Query(t.c(ctx), `
		SELECT p.id, e.patient_seq, e.idx
		FROM (SELECT DISTINCT unnest($1::text[]) AS id) p
		CROSS JOIN LATERAL (
			SELECT patient_seq, idx FROM audit_events WHERE patient_id = p.id ORDER BY idx DESC LIMIT 1
		) e`, ids)
	var (
		id       string
		seq, idx int64
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &seq, &idx}, func() error {
		heads[id] = confidant.ChainHead{Seq: uint64(seq), Index: idx}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "patient heads", "")
	}
	return heads, nil
}

// Tiles and entry bundles. Every width is stored apart and read back
// exactly; writing the full width deletes the partial ones of that tile in
// the same statement (see the migration).

func checkWidth(width int) error {
	if width < 1 || width > tileWidth {
		return invalid("invalid_tile", "The tile width must be between 1 and "+strconv.Itoa(tileWidth)+".")
	}
	return nil
}

// PutTile stores a hash tile: C2SP tlog-tiles level, index and width
// (1..256), data width hashes of 32 bytes (else KindInvalid). A second
// write of the same name replaces the first. Writing the full tile (width
// 256) deletes its partial versions.
func (t *tx) PutTile(ctx context.Context, level, index uint64, width int, data []byte) error {
	if err := checkWidth(width); err != nil {
		return err
	}
	if len(data) != width*32 {
		return invalid("invalid_tile", "A hash tile holds 32 bytes per hash.")
	}
	l, ok1 := u64(level)
	i, ok2 := u64(index)
	if !ok1 || !ok2 {
		return invalidIndex()
	}
	_, err := t.tx.Exec(t.c(ctx), `
		WITH partial AS (
			DELETE FROM audit_tiles WHERE $3 = 256 AND level = $1 AND idx = $2 AND width < 256
		)
		INSERT INTO audit_tiles (level, idx, width, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (level, idx, width) DO UPDATE SET data = excluded.data`, l, i, width, data)
	return mapErr(err, "put tile", "Tile")
}

// Tile returns the hash tile of exactly that level, index and width, as
// written; KindNotFound if there is none (never written, or a partial tile
// whose full version has been written).
func (t *tx) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	if err := checkWidth(width); err != nil {
		return nil, err
	}
	l, ok1 := u64(level)
	i, ok2 := u64(index)
	if !ok1 || !ok2 {
		return nil, notFound("Tile")
	}
	var data []byte
	err := t.tx.QueryRow(t.c(ctx), `SELECT data FROM audit_tiles WHERE level = $1 AND idx = $2 AND width = $3`, l, i, width).Scan(&data)
	if err != nil {
		return nil, mapErr(err, "get tile", "Tile")
	}
	return data, nil
}

// PutEntryBundle stores an entry bundle, as PutTile does a tile. The store
// does not look inside data.
func (t *tx) PutEntryBundle(ctx context.Context, index uint64, width int, data []byte) error {
	if err := checkWidth(width); err != nil {
		return err
	}
	i, ok := u64(index)
	if !ok {
		return invalidIndex()
	}
	_, err := t.tx.Exec(t.c(ctx), `
		WITH partial AS (
			DELETE FROM audit_entries WHERE $2 = 256 AND idx = $1 AND width < 256
		)
		INSERT INTO audit_entries (idx, width, data) VALUES ($1, $2, $3)
		ON CONFLICT (idx, width) DO UPDATE SET data = excluded.data`, i, width, nonNil(data))
	return mapErr(err, "put entry bundle", "Entry bundle")
}

// EntryBundle returns an entry bundle, as Tile does a tile.
func (t *tx) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if err := checkWidth(width); err != nil {
		return nil, err
	}
	i, ok := u64(index)
	if !ok {
		return nil, notFound("Entry bundle")
	}
	var data []byte
	err := t.tx.QueryRow(t.c(ctx), `SELECT data FROM audit_entries WHERE idx = $1 AND width = $2`, i, width).Scan(&data)
	if err != nil {
		return nil, mapErr(err, "get entry bundle", "Entry bundle")
	}
	return data, nil
}

// putCheckpointSQL records the checkpoint's size in audit_checkpoint_head
// unless a larger checkpoint is there (locking the row, so concurrent
// writers queue up), and only then inserts the checkpoint, or replaces the
// note of the one of the same size if the root is the same. Refusals insert
// nothing rather than fail, which would abort the transaction.
const putCheckpointSQL = `
	WITH head AS (
		UPDATE audit_checkpoint_head SET size = $1 WHERE size IS NULL OR size <= $1 RETURNING 1
	)
	INSERT INTO audit_checkpoints (size, root, note, created_at)
	SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT FROM head)
	ON CONFLICT (size) DO UPDATE SET note = excluded.note, created_at = excluded.created_at
	WHERE audit_checkpoints.root = excluded.root`

// PutCheckpoint stores a signed checkpoint. One smaller than the latest is
// refused (KindConflict, code "checkpoint_old"): the log only grows. One of
// the latest's size replaces its note and time if the root is the same
// (say, the note with more cosignatures), and is refused if the root
// differs (KindConflict, code "checkpoint_fork").
func (t *tx) PutCheckpoint(ctx context.Context, c confidant.LogCheckpoint) error {
	size, ok := u64(c.Size)
	if !ok {
		return invalidIndex()
	}
	tag, err := t.tx.Exec(t.c(ctx), putCheckpointSQL, size, nonNil(c.Root), nonNil(c.Note), ts(c.CreatedAt))
	if err != nil {
		return mapErr(err, "put checkpoint", "Checkpoint")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var latest int64
	if err := t.tx.QueryRow(t.c(ctx), `SELECT size FROM audit_checkpoint_head`).Scan(&latest); err != nil {
		return mapErr(err, "put checkpoint", "Checkpoint")
	}
	if size < latest {
		return conflict("checkpoint_old", "A larger checkpoint is already stored.")
	}
	return conflict("checkpoint_fork", "A checkpoint of this size with another root hash is already stored.")
}

// LatestCheckpoint returns the checkpoint with the largest size;
// KindNotFound before the first.
func (t *tx) LatestCheckpoint(ctx context.Context) (confidant.LogCheckpoint, error) {
	var c confidant.LogCheckpoint
	var size int64
	err := t.tx.QueryRow(t.c(ctx), `SELECT size, root, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).
		Scan(&size, &c.Root, &c.Note, tm(&c.CreatedAt))
	if err != nil {
		return confidant.LogCheckpoint{}, mapErr(err, "latest checkpoint", "Checkpoint")
	}
	c.Size = uint64(size)
	return c, nil
}

// Checkpoints implements confidant.LogTx.
func (t *tx) Checkpoints(ctx context.Context, after uint64, limit int) ([]confidant.LogCheckpoint, error) {
	if limit < 1 || limit > MaxEventQuery {
		return nil, invalid("invalid_limit", "The number of checkpoints to return must be between 1 and 1000.")
	}
	a, ok := u64(after)
	if !ok {
		return nil, nil
	}
	rows, _ := t.tx.Query(t.c(ctx), `SELECT size, root, note, created_at FROM audit_checkpoints WHERE size > $1 ORDER BY size LIMIT $2`, a, limit)
	var out []confidant.LogCheckpoint
	var c confidant.LogCheckpoint
	var size int64
	_, err := pgx.ForEachRow(rows, []any{&size, &c.Root, &c.Note, tm(&c.CreatedAt)}, func() error {
		c.Size = uint64(size)
		out = append(out, c)
		c = confidant.LogCheckpoint{}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "list checkpoints", "Checkpoint")
	}
	return out, nil
}

// Savepoint runs fn inside a savepoint: if fn returns an error, what it
// wrote is rolled back and the transaction goes on (fn's error is
// returned). If fn panics, its writes are rolled back too and the panic
// continues (Update then rolls back the whole transaction).
//
// Each savepoint that writes gets a subtransaction id, and PostgreSQL keeps
// at most 64 of them per transaction in shared memory; beyond that every
// snapshot on the server (and on replicas) must consult pg_subtrans, which
// is slow. A caller that commits many requests in one transaction, each in
// its own savepoint, should keep it to fewer than 64 per transaction.
func (t *tx) Savepoint(ctx context.Context, fn func() error) (err error) {
	t.savepoints++
	name := pgx.Identifier{"confidant_sp_" + strconv.Itoa(t.savepoints)}.Sanitize()
	if _, err := t.tx.Exec(t.c(ctx), `SAVEPOINT `+name); err != nil {
		return mapErr(err, "savepoint", "")
	}
	// undo rolls back to the savepoint and releases it, so that failed
	// savepoints do not nest ever deeper. It runs even when ctx is done.
	undo := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := t.tx.Exec(rctx, `ROLLBACK TO SAVEPOINT `+name+`; RELEASE SAVEPOINT `+name)
		return err
	}
	returned := false
	defer func() {
		if !returned {
			_ = undo() // fn panicked; the panic continues
		}
	}()
	ferr := fn()
	returned = true
	if ferr != nil {
		if uerr := undo(); uerr != nil {
			return errors.Join(ferr, internal("roll back to savepoint", uerr))
		}
		return ferr
	}
	if _, err := t.tx.Exec(t.c(ctx), `RELEASE SAVEPOINT `+name); err != nil {
		return mapErr(err, "release savepoint", "")
	}
	return nil
}
