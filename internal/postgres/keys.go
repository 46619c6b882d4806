package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// Wrapped keys. The store keeps them as opaque bytes; only internal/keys can
// unwrap them. Owners are compared and ordered bytewise (the key columns are
// COLLATE "C"), like Go strings.

func scanKey(row pgx.CollectableRow) (confidant.WrappedKey, error) {
	var k confidant.WrappedKey
	err := row.Scan(&k.Owner, &k.KEKID, &k.Wrapped, tm(&k.UpdatedAt))
	return k, err
}

// PatientKey returns a patient's wrapped keyset; KindNotFound if there is
// none (never stored, or erased).
func (t *tx) PatientKey(ctx context.Context, patientID string) (confidant.WrappedKey, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT patient_id, kek_id, wrapped, updated_at FROM patient_keys WHERE patient_id = $1`, patientID)
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	return k, mapErr(err, "get patient key", "Patient key")
}

// PutPatientKey inserts or replaces a patient's wrapped keyset. The patient
// may be created later in the same transaction (else the commit fails with
// KindNotFound). An erased patient gets no key back (KindConflict, code
// "patient_erased"), even from a rotation that read the key before the
// erasure: the patient row is locked while the key is written, so the two
// queue up.
func (t *tx) PutPatientKey(ctx context.Context, k confidant.WrappedKey) error {
	if k.Owner == "" {
		return invalid("invalid_key", "The key's owner is required.")
	}
	var erased bool
	err := t.tx.QueryRow(t.c(ctx), `SELECT erased_at IS NOT NULL FROM patients WHERE id = $1 FOR SHARE`, k.Owner).Scan(&erased)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Not created yet; the deferred foreign key checks at commit.
	case err != nil:
		return mapErr(err, "lock patient", "Patient")
	case erased:
		return conflict("patient_erased", "The patient's records have been erased.")
	}
	_, err = t.tx.Exec(t.c(ctx), `
		INSERT INTO patient_keys (patient_id, kek_id, wrapped, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (patient_id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped, updated_at = excluded.updated_at`,
		k.Owner, k.KEKID, nonNil(k.Wrapped), ts(k.UpdatedAt))
	return mapErr(err, "put patient key", "Patient key")
}

// ListPatientKeys returns wrapped patient keysets whose KEKID differs from
// f.NotKEK (all when empty), with Owner > f.After, ordered by Owner, at most
// f.Limit (0: no limit).
func (t *tx) ListPatientKeys(ctx context.Context, f confidant.KeyFilter) ([]confidant.WrappedKey, error) {
	if f.Limit < 0 {
		return nil, invalid("invalid_limit", "The limit must not be negative.")
	}
	var q query
	if f.NotKEK != "" {
		q.where(`kek_id <> ` + q.arg(f.NotKEK))
	}
	if f.After != "" {
		q.where(`patient_id > ` + q.arg(f.After))
	}
	sql := `SELECT patient_id, kek_id, wrapped, updated_at FROM patient_keys` + q.whereSQL() +
		` ORDER BY patient_id` + q.limitSQL(f.Limit, 0)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	ks, err := collect(rows, scanKey)
	return ks, mapErr(err, "list patient keys", "")
}

// CountPatientKeys counts wrapped patient keysets, and those whose KEKID
// differs from notKEK (all of them when notKEK is empty, as in
// ListPatientKeys).
func (t *tx) CountPatientKeys(ctx context.Context, notKEK string) (total, other int, err error) {
	err = t.tx.QueryRow(t.c(ctx), `SELECT count(*), count(*) FILTER (WHERE $1 = '' OR kek_id <> $1) FROM patient_keys`,
		notKEK).Scan(&total, &other)
	if err != nil {
		return 0, 0, mapErr(err, "count patient keys", "")
	}
	return total, other, nil
}

// SystemKey returns the wrapped system key called name; KindNotFound if
// there is none.
func (t *tx) SystemKey(ctx context.Context, name string) (confidant.WrappedKey, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT name, kek_id, wrapped, updated_at FROM system_keys WHERE name = $1`, name)
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	return k, mapErr(err, "get system key", "System key")
}

// PutSystemKey inserts or replaces the wrapped system key called k.Owner.
func (t *tx) PutSystemKey(ctx context.Context, k confidant.WrappedKey) error {
	if k.Owner == "" {
		return invalid("invalid_key", "The key's name is required.")
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO system_keys (name, kek_id, wrapped, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped, updated_at = excluded.updated_at`,
		k.Owner, k.KEKID, nonNil(k.Wrapped), ts(k.UpdatedAt))
	return mapErr(err, "put system key", "System key")
}
