package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/confidanthealth/confidant"
)

// The incident register (docs/INCIDENTS.md). There is no method that
// deletes an incident, a history entry or a letter; triggers refuse it
// (and any change of a history entry) from any other path.

const incidentColumns = `id, status, opened_by, opened_at, first_alert_at, awareness_at, awareness_set_by, closed_at, closed_by,
	scope_size, history_seq, history_mac, data, fact_mac`

func scanIncident(sc interface{ Scan(...any) error }, i *confidant.SealedIncident) error {
	var size int64
	err := sc.Scan(&i.ID, &i.Status, &i.OpenedBy, tm(&i.OpenedAt), tm(&i.FirstAlertAt), tm(&i.AwarenessAt), &i.AwarenessSetBy,
		tm(&i.ClosedAt), &i.ClosedBy, &size, &i.HistorySeq, &i.HistoryMAC, &i.Data, &i.FactMAC)
	i.ScopeSize = uint64(size)
	return err
}

func incidentArgs(i confidant.SealedIncident) []any {
	return []any{i.ID, string(i.Status), i.OpenedBy, micros(i.OpenedAt), micros(i.FirstAlertAt), micros(i.AwarenessAt),
		i.AwarenessSetBy, micros(i.ClosedAt), i.ClosedBy, int64(i.ScopeSize), i.HistorySeq, nonNil(i.HistoryMAC),
		nonNil(i.Data), nonNil(i.FactMAC)}
}

func (t *tx) CreateIncident(ctx context.Context, i confidant.SealedIncident) error {
	_, err := t.exec(ctx, "create incident",
		`INSERT INTO incidents (`+incidentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, incidentArgs(i)...)
	return err
}

func (t *tx) UpdateIncident(ctx context.Context, i confidant.SealedIncident, prevSeq int) error {
	n, err := t.exec(ctx, "update incident", `
		UPDATE incidents SET status = ?, awareness_at = ?, awareness_set_by = ?, closed_at = ?, closed_by = ?,
			scope_size = ?, history_seq = ?, history_mac = ?, data = ?, fact_mac = ?
		WHERE id = ? AND history_seq = ?`,
		string(i.Status), micros(i.AwarenessAt), i.AwarenessSetBy, micros(i.ClosedAt), i.ClosedBy,
		int64(i.ScopeSize), i.HistorySeq, nonNil(i.HistoryMAC), nonNil(i.Data), nonNil(i.FactMAC), i.ID, prevSeq)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := t.Incident(ctx, i.ID); err != nil {
			return err
		}
		return conflict("incident_changed", "The incident was changed meanwhile; reload it and try again.")
	}
	return nil
}

func (t *tx) Incident(ctx context.Context, id string) (confidant.SealedIncident, error) {
	var i confidant.SealedIncident
	err := scanIncident(t.queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id), &i)
	if errors.Is(err, sql.ErrNoRows) {
		return i, notFound("incident")
	}
	return i, dbErr("get incident", err)
}

func (t *tx) ListIncidents(ctx context.Context, f confidant.IncidentFilter) ([]confidant.SealedIncident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	q += ` ORDER BY opened_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []confidant.SealedIncident
	err := t.list(ctx, "list incidents", q, args, func(r *sql.Rows) error {
		var i confidant.SealedIncident
		err := scanIncident(r, &i)
		out = append(out, i)
		return err
	})
	return out, err
}

func (t *tx) AppendIncidentEvent(ctx context.Context, ev confidant.SealedIncidentEvent) error {
	_, err := t.exec(ctx, "append incident history", `
		INSERT INTO incident_history (incident_id, seq, at, by_id, kind, data, mac) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ev.IncidentID, ev.Seq, micros(ev.At), ev.By, ev.Kind, nonNil(ev.Data), nonNil(ev.MAC))
	if confidant.CodeOf(err) == "already_exists" {
		return conflict("incident_changed", "The incident was changed meanwhile; reload it and try again.")
	}
	return err
}

func (t *tx) IncidentEvents(ctx context.Context, incidentID string) ([]confidant.SealedIncidentEvent, error) {
	var out []confidant.SealedIncidentEvent
	err := t.list(ctx, "incident history", `
		SELECT incident_id, seq, at, by_id, kind, data, mac FROM incident_history WHERE incident_id = ? ORDER BY seq`,
		[]any{incidentID}, func(r *sql.Rows) error {
			var e confidant.SealedIncidentEvent
			err := r.Scan(&e.IncidentID, &e.Seq, tm(&e.At), &e.By, &e.Kind, &e.Data, &e.MAC)
			out = append(out, e)
			return err
		})
	return out, err
}

const letterColumns = `id, incident_id, patient_id, phase, created_at, created_by, mailed, data`

func (t *tx) CreateIncidentLetter(ctx context.Context, l confidant.SealedIncidentLetter) error {
	_, err := t.exec(ctx, "create incident letter", `INSERT INTO incident_letters (`+letterColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.IncidentID, l.PatientID, l.Phase, micros(l.CreatedAt), l.CreatedBy, l.Mailed, nonNil(l.Data))
	return err
}

func (t *tx) IncidentLetters(ctx context.Context, f confidant.IncidentLetterFilter) ([]confidant.SealedIncidentLetter, error) {
	q := `SELECT ` + letterColumns + ` FROM incident_letters WHERE 1 = 1`
	var args []any
	if f.IncidentID != "" {
		q += ` AND incident_id = ?`
		args = append(args, f.IncidentID)
	}
	if f.PatientID != "" {
		q += ` AND patient_id = ?`
		args = append(args, f.PatientID)
	}
	q += ` ORDER BY created_at, id`
	var out []confidant.SealedIncidentLetter
	err := t.list(ctx, "list incident letters", q, args, func(r *sql.Rows) error {
		var l confidant.SealedIncidentLetter
		err := r.Scan(&l.ID, &l.IncidentID, &l.PatientID, &l.Phase, tm(&l.CreatedAt), &l.CreatedBy, &l.Mailed, &l.Data)
		out = append(out, l)
		return err
	})
	return out, err
}
