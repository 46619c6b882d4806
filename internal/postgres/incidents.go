package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// The incident register (docs/INCIDENTS.md). There is no method that
// deletes an incident, a history entry or a letter; triggers refuse it
// (and any change of a history entry) from any other path.

const incidentColumns = `id, status, opened_by, opened_at, first_alert_at, awareness_at, awareness_set_by, closed_at, closed_by,
	scope_size, history_seq, history_mac, data, fact_mac`

func scanIncident(sc interface{ Scan(...any) error }) (confidant.SealedIncident, error) {
	var i confidant.SealedIncident
	var size int64
	err := sc.Scan(&i.ID, &i.Status, &i.OpenedBy, tm(&i.OpenedAt), tm(&i.FirstAlertAt), tm(&i.AwarenessAt), &i.AwarenessSetBy,
		tm(&i.ClosedAt), &i.ClosedBy, &size, &i.HistorySeq, &i.HistoryMAC, &i.Data, &i.FactMAC)
	i.ScopeSize = uint64(size)
	return i, err
}

var errIncidentChanged = conflict("incident_changed", "The incident was changed meanwhile; reload it and try again.")

// CreateIncident stores a new incident row.
func (t *tx) CreateIncident(ctx context.Context, i confidant.SealedIncident) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO incidents (`+incidentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		i.ID, string(i.Status), i.OpenedBy, ts(i.OpenedAt), ts(i.FirstAlertAt), ts(i.AwarenessAt), i.AwarenessSetBy,
		ts(i.ClosedAt), i.ClosedBy, int64(i.ScopeSize), i.HistorySeq, nonNil(i.HistoryMAC), nonNil(i.Data), nonNil(i.FactMAC))
	return mapErr(err, "create incident", "Incident")
}

// UpdateIncident changes an incident whose history still has prevSeq
// entries.
func (t *tx) UpdateIncident(ctx context.Context, i confidant.SealedIncident, prevSeq int) error {
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE incidents SET status = $2, awareness_at = $3, awareness_set_by = $4, closed_at = $5, closed_by = $6,
			scope_size = $7, history_seq = $8, history_mac = $9, data = $10, fact_mac = $11
		WHERE id = $1 AND history_seq = $12`,
		i.ID, string(i.Status), ts(i.AwarenessAt), i.AwarenessSetBy, ts(i.ClosedAt), i.ClosedBy,
		int64(i.ScopeSize), i.HistorySeq, nonNil(i.HistoryMAC), nonNil(i.Data), nonNil(i.FactMAC), prevSeq)
	if err != nil {
		return mapErr(err, "update incident", "Incident")
	}
	if tag.RowsAffected() == 0 {
		if _, err := t.Incident(ctx, i.ID); err != nil {
			return err
		}
		return errIncidentChanged
	}
	return nil
}

// Incident returns an incident row.
func (t *tx) Incident(ctx context.Context, id string) (confidant.SealedIncident, error) {
	i, err := scanIncident(t.tx.QueryRow(t.c(ctx), `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
	return i, mapErr(err, "get incident", "Incident")
}

// ListIncidents returns incidents matching f, newest first.
func (t *tx) ListIncidents(ctx context.Context, f confidant.IncidentFilter) ([]confidant.SealedIncident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents WHERE true`
	var args []any
	if f.Status != "" {
		args = append(args, string(f.Status))
		q += ` AND status = $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY opened_at DESC, id DESC`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, _ := t.tx.Query(t.c(ctx), q, args...)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedIncident, error) { return scanIncident(row) })
	return out, mapErr(err, "list incidents", "")
}

// AppendIncidentEvent inserts a history entry.
func (t *tx) AppendIncidentEvent(ctx context.Context, ev confidant.SealedIncidentEvent) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO incident_history (incident_id, seq, at, by_id, kind, data, mac) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ev.IncidentID, ev.Seq, ts(ev.At), ev.By, ev.Kind, nonNil(ev.Data), nonNil(ev.MAC))
	err = mapErr(err, "append incident history", "Incident")
	if confidant.IsKind(err, confidant.KindConflict) {
		return errIncidentChanged
	}
	return err
}

// IncidentEvents returns an incident's history rows by seq.
func (t *tx) IncidentEvents(ctx context.Context, incidentID string) ([]confidant.SealedIncidentEvent, error) {
	rows, _ := t.tx.Query(t.c(ctx), `
		SELECT incident_id, seq, at, by_id, kind, data, mac FROM incident_history WHERE incident_id = $1 ORDER BY seq`, incidentID)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedIncidentEvent, error) {
		var e confidant.SealedIncidentEvent
		err := row.Scan(&e.IncidentID, &e.Seq, tm(&e.At), &e.By, &e.Kind, &e.Data, &e.MAC)
		return e, err
	})
	return out, mapErr(err, "incident history", "")
}

const letterColumns = `id, incident_id, patient_id, phase, created_at, created_by, mailed, data`

// CreateIncidentLetter stores a letter.
func (t *tx) CreateIncidentLetter(ctx context.Context, l confidant.SealedIncidentLetter) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO incident_letters (`+letterColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		l.ID, l.IncidentID, l.PatientID, l.Phase, ts(l.CreatedAt), l.CreatedBy, l.Mailed, nonNil(l.Data))
	return mapErr(err, "create incident letter", "Letter")
}

// IncidentLetters returns letters matching f, oldest first.
func (t *tx) IncidentLetters(ctx context.Context, f confidant.IncidentLetterFilter) ([]confidant.SealedIncidentLetter, error) {
	q := `SELECT ` + letterColumns + ` FROM incident_letters WHERE true`
	var args []any
	if f.IncidentID != "" {
		args = append(args, f.IncidentID)
		q += ` AND incident_id = $` + strconv.Itoa(len(args))
	}
	if f.PatientID != "" {
		args = append(args, f.PatientID)
		q += ` AND patient_id = $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY created_at, id`
	rows, _ := t.tx.Query(t.c(ctx), q, args...)
	out, err := collect(rows, func(row pgx.CollectableRow) (confidant.SealedIncidentLetter, error) {
		var l confidant.SealedIncidentLetter
		err := row.Scan(&l.ID, &l.IncidentID, &l.PatientID, &l.Phase, tm(&l.CreatedAt), &l.CreatedBy, &l.Mailed, &l.Data)
		return l, err
	})
	return out, mapErr(err, "list incident letters", "")
}
