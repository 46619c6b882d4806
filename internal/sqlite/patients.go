package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Patients. Ids, clinic and times are in the clear; data is sealed; the
// blind indexes are NULL when empty or erased.

const patientColumns = `p.id, p.clinic_id, p.created_at, p.erased_at, p.data,
	p.identity_index, p.surname_index, p.surname_year_index, p.address_index`

// patientColumnsBefore17 are patientColumns without the address index,
// for a database between migrations 2 and 17 (see addressColumn).
const patientColumnsBefore17 = `p.id, p.clinic_id, p.created_at, p.erased_at, p.data,
	p.identity_index, p.surname_index, p.surname_year_index, NULL`

// addressColumn reports whether patients.address_index exists. It does
// from migration 17 on; a database written before encryption at rest is
// sealed by internal/seal between migrations 2 and 3 (ErrLegacyPending),
// when it does not, and its patients get their address index from the
// backfill after migration 17 listed them. Once seen, the column is
// remembered (it is never dropped).
func (t *tx) addressColumn(ctx context.Context) (bool, error) {
	if t.addr == nil || t.addr.Load() {
		return true, nil
	}
	var n int
	if err := t.queryRow(ctx, `SELECT count(*) FROM pragma_table_info('patients') WHERE name = 'address_index'`).Scan(&n); err != nil {
		return false, dbErr("patient columns", err)
	}
	if n > 0 {
		t.addr.Store(true)
	}
	return n > 0, nil
}

// patientCols returns the columns to select patients with.
func (t *tx) patientCols(ctx context.Context) (string, error) {
	ok, err := t.addressColumn(ctx)
	if err != nil || ok {
		return patientColumns, err
	}
	return patientColumnsBefore17, nil
}

func scanPatient(s interface{ Scan(...any) error }, p *confidant.SealedPatient) error {
	return s.Scan(&p.ID, &p.ClinicID, tm(&p.CreatedAt), tm(&p.ErasedAt), &p.Data,
		&p.IdentityIndex, &p.SurnameIndex, &p.SurnameYearIndex, &p.AddressIndex)
}

func errPatientErased() error {
	return conflict("patient_erased", "The patient's records have been erased.")
}

// CreatePatient stores a new patient; ErasedAt is ignored (a patient is
// created unerased). KindConflict if the id is taken.
func (t *tx) CreatePatient(ctx context.Context, p confidant.SealedPatient) error {
	if ok, err := t.addressColumn(ctx); err != nil || !ok {
		if err == nil {
			_, err = t.exec(ctx, "create patient",
				`INSERT INTO patients (id, clinic_id, created_at, data, identity_index, surname_index, surname_year_index)
				VALUES (?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.ClinicID, micros(p.CreatedAt), nonNil(p.Data),
				index(p.IdentityIndex), index(p.SurnameIndex), index(p.SurnameYearIndex))
		}
		return err
	}
	_, err := t.exec(ctx, "create patient",
		`INSERT INTO patients (id, clinic_id, created_at, data, identity_index, surname_index, surname_year_index, address_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.ClinicID, micros(p.CreatedAt), nonNil(p.Data),
		index(p.IdentityIndex), index(p.SurnameIndex), index(p.SurnameYearIndex), index(p.AddressIndex))
	return err
}

// UpdatePatient replaces clinic, data and blind indexes; the id, CreatedAt
// and ErasedAt stay. KindConflict for an erased patient.
func (t *tx) UpdatePatient(ctx context.Context, p confidant.SealedPatient) error {
	q, args := `UPDATE patients SET clinic_id = ?, data = ?, identity_index = ?, surname_index = ?, surname_year_index = ?, address_index = ?
		WHERE id = ? AND erased_at IS NULL`,
		[]any{p.ClinicID, nonNil(p.Data), index(p.IdentityIndex), index(p.SurnameIndex), index(p.SurnameYearIndex), index(p.AddressIndex), p.ID}
	if ok, err := t.addressColumn(ctx); err != nil {
		return err
	} else if !ok {
		q, args = `UPDATE patients SET clinic_id = ?, data = ?, identity_index = ?, surname_index = ?, surname_year_index = ?
		WHERE id = ? AND erased_at IS NULL`,
			[]any{p.ClinicID, nonNil(p.Data), index(p.IdentityIndex), index(p.SurnameIndex), index(p.SurnameYearIndex), p.ID}
	}
	n, err := t.exec(ctx, "update patient", q, args...)
	if err != nil || n == 1 {
		return err
	}
	if _, err := t.Patient(ctx, p.ID); err != nil {
		return err
	}
	return errPatientErased()
}

func (t *tx) Patient(ctx context.Context, id string) (confidant.SealedPatient, error) {
	var p confidant.SealedPatient
	cols, err := t.patientCols(ctx)
	if err != nil {
		return p, err
	}
	err = scanPatient(t.queryRow(ctx, `SELECT `+cols+` FROM patients p WHERE p.id = ?`, id), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("patient")
	}
	return p, dbErr("patient", err)
}

// patientFilter turns f into conditions on the patients table p. Indexes
// match byte for byte.
func patientFilter(f confidant.SealedPatientFilter) *filter {
	w := new(filter)
	if f.ClinicID != "" {
		w.add(`p.clinic_id = ?`, f.ClinicID)
	}
	if len(f.IdentityIndex) > 0 {
		w.add(`p.identity_index = ?`, f.IdentityIndex)
	}
	if len(f.SurnameIndex) > 0 {
		w.add(`p.surname_index = ?`, f.SurnameIndex)
	}
	if len(f.SurnameYearIndex) > 0 {
		w.add(`p.surname_year_index = ?`, f.SurnameYearIndex)
	}
	return w
}

// ListPatients returns the patients matching f, erased ones only if
// f.IncludeErased, ordered by CreatedAt then ID.
func (t *tx) ListPatients(ctx context.Context, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	w := patientFilter(f)
	if !f.IncludeErased {
		w.add(`p.erased_at IS NULL`)
	}
	cols, err := t.patientCols(ctx)
	if err != nil {
		return nil, err
	}
	return t.patients(ctx, "list patients",
		`SELECT `+cols+` FROM patients p`+w.where()+
			` ORDER BY p.created_at, p.id`+limitOffset,
		append(w.args, limit(f.Limit, f.Offset)...))
}

// ListPatientsForTherapist returns the non-erased patients matching f with
// a care relationship to therapistID active at `at` (each once, however
// many relationships), ordered by CreatedAt then ID. f.IncludeErased is
// ignored: an erased patient has no records to care for.
func (t *tx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	w := patientFilter(f)
	a := at.UnixMicro()
	args := append([]any{therapistID, a, a}, w.args...)
	cols, err := t.patientCols(ctx)
	if err != nil {
		return nil, err
	}
	return t.patients(ctx, "list patients for therapist",
		`SELECT `+cols+` FROM patients p
		WHERE p.id IN (
			SELECT c.patient_id FROM care c
			WHERE c.therapist_id = ? AND c.from_at <= ? AND (c.to_at IS NULL OR c.to_at > ?)
		) AND p.erased_at IS NULL`+w.and()+`
		ORDER BY p.created_at, p.id`+limitOffset,
		append(args, limit(f.Limit, f.Offset)...))
}

func (t *tx) patients(ctx context.Context, op, query string, args []any) ([]confidant.SealedPatient, error) {
	var out []confidant.SealedPatient
	err := t.list(ctx, op, query, args, func(r *sql.Rows) error {
		var p confidant.SealedPatient
		err := scanPatient(r, &p)
		out = append(out, p)
		return err
	})
	return out, err
}

// ErasePatient crypto-shreds a patient: the wrapped keyset is deleted (and,
// with secure_delete, overwritten in the file; the write-ahead log is
// checkpointed after commit), the blind indexes cleared and ErasedAt set.
// The sealed rows stay.
func (t *tx) ErasePatient(ctx context.Context, id string, at time.Time) error {
	var erased sql.NullInt64
	if err := t.get(ctx, "patient", "erase patient",
		`SELECT erased_at FROM patients WHERE id = ?`, []any{id}, &erased); err != nil {
		return err
	}
	if erased.Valid {
		return errPatientErased()
	}
	if _, err := t.exec(ctx, "erase patient", `DELETE FROM patient_keys WHERE patient_id = ?`, id); err != nil {
		return err
	}
	t.shred = true
	_, err := t.exec(ctx, "erase patient",
		`UPDATE patients SET erased_at = ?, identity_index = NULL, surname_index = NULL, surname_year_index = NULL, address_index = NULL
		WHERE id = ?`, at.UnixMicro(), id)
	return err
}

// AddressIndexPending returns up to limit ids of patients still waiting
// for their address index (migration 0017).
func (t *tx) AddressIndexPending(ctx context.Context, limit int) ([]string, error) {
	rows, err := t.queryContext(ctx, `SELECT patient_id FROM address_index_pending ORDER BY patient_id LIMIT ?`, limit)
	if err != nil {
		return nil, dbErr("address index pending", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("address index pending", err)
		}
		out = append(out, id)
	}
	return out, dbErr("address index pending", rows.Err())
}

// SetAddressIndex sets a non-erased patient's address index and takes the
// patient off the pending list.
func (t *tx) SetAddressIndex(ctx context.Context, patientID string, idx []byte) error {
	if _, err := t.exec(ctx, "set address index",
		`UPDATE patients SET address_index = ? WHERE id = ? AND erased_at IS NULL`, index(idx), patientID); err != nil {
		return err
	}
	_, err := t.exec(ctx, "set address index", `DELETE FROM address_index_pending WHERE patient_id = ?`, patientID)
	return err
}

// Wrapped keys.

const keyColumns = `kek_id, wrapped, updated_at`

func (t *tx) PatientKey(ctx context.Context, patientID string) (confidant.WrappedKey, error) {
	k := confidant.WrappedKey{Owner: patientID}
	err := t.get(ctx, "patient key", "patient key",
		`SELECT `+keyColumns+` FROM patient_keys WHERE patient_id = ?`, []any{patientID},
		&k.KEKID, &k.Wrapped, tm(&k.UpdatedAt))
	return k, err
}

// PutPatientKey inserts or replaces a patient's wrapped keyset. The patient
// may be created later in the same transaction (checked at commit), but an
// erased patient's key is never written again (KindConflict): a rotation
// that read the key before the erasure must not bring it back.
func (t *tx) PutPatientKey(ctx context.Context, k confidant.WrappedKey) error {
	var erased bool
	err := t.queryRow(ctx,
		`SELECT erased_at IS NOT NULL FROM patients WHERE id = ?`, k.Owner).Scan(&erased)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return dbErr("put patient key", err)
	}
	if erased {
		return errPatientErased()
	}
	_, err = t.exec(ctx, "put patient key",
		`INSERT INTO patient_keys (patient_id, kek_id, wrapped, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (patient_id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped,
			updated_at = excluded.updated_at`,
		k.Owner, k.KEKID, nonNil(k.Wrapped), micros(k.UpdatedAt))
	return err
}

func (t *tx) ListPatientKeys(ctx context.Context, f confidant.KeyFilter) ([]confidant.WrappedKey, error) {
	var w filter
	w.add(`patient_id > ?`, f.After)
	if f.NotKEK != "" {
		w.add(`kek_id <> ?`, f.NotKEK)
	}
	var out []confidant.WrappedKey
	err := t.list(ctx, "list patient keys",
		`SELECT patient_id, `+keyColumns+` FROM patient_keys`+w.where()+` ORDER BY patient_id`+limitOne,
		append(w.args, limitArg(f.Limit)),
		func(r *sql.Rows) error {
			var k confidant.WrappedKey
			err := r.Scan(&k.Owner, &k.KEKID, &k.Wrapped, tm(&k.UpdatedAt))
			out = append(out, k)
			return err
		})
	return out, err
}

func (t *tx) CountPatientKeys(ctx context.Context, notKEK string) (total, other int, err error) {
	err = t.queryRow(ctx,
		`SELECT count(*), count(*) FILTER (WHERE kek_id <> ?) FROM patient_keys`, notKEK).Scan(&total, &other)
	return total, other, dbErr("count patient keys", err)
}

func (t *tx) SystemKey(ctx context.Context, name string) (confidant.WrappedKey, error) {
	k := confidant.WrappedKey{Owner: name}
	err := t.get(ctx, "system key", "system key",
		`SELECT `+keyColumns+` FROM system_keys WHERE name = ?`, []any{name},
		&k.KEKID, &k.Wrapped, tm(&k.UpdatedAt))
	return k, err
}

// PutSystemKey inserts or replaces a wrapped system key.
func (t *tx) PutSystemKey(ctx context.Context, k confidant.WrappedKey) error {
	_, err := t.exec(ctx, "put system key",
		`INSERT INTO system_keys (name, kek_id, wrapped, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped,
			updated_at = excluded.updated_at`,
		k.Owner, k.KEKID, nonNil(k.Wrapped), micros(k.UpdatedAt))
	return err
}

// Care relationships.

const careColumns = `id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by, fact_mac`

func scanCare(s interface{ Scan(...any) error }, c *confidant.CareRelationship) error {
	return s.Scan(&c.ID, &c.PatientID, &c.TherapistID, &c.ClinicID, tm(&c.From), tm(&c.To),
		&c.CreatedBy, tm(&c.CreatedAt), &c.EndedBy, &c.FactMAC)
}

func (t *tx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	_, err := t.exec(ctx, "create care",
		`INSERT INTO care (`+careColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PatientID, c.TherapistID, c.ClinicID, micros(c.From), micros(c.To),
		c.CreatedBy, micros(c.CreatedAt), c.EndedBy, c.FactMAC)
	return err
}

func (t *tx) EndCare(ctx context.Context, id string, to time.Time, by string) error {
	var ended sql.NullInt64
	if err := t.get(ctx, "care relationship", "end care",
		`SELECT to_at FROM care WHERE id = ?`, []any{id}, &ended); err != nil {
		return err
	}
	if ended.Valid {
		return conflict("care_ended", "The care relationship has already ended.")
	}
	_, err := t.exec(ctx, "end care", `UPDATE care SET to_at = ?, ended_by = ? WHERE id = ?`, micros(to), by, id)
	return err
}

func (t *tx) Care(ctx context.Context, id string) (confidant.CareRelationship, error) {
	var c confidant.CareRelationship
	err := scanCare(t.queryRow(ctx, `SELECT `+careColumns+` FROM care WHERE id = ?`, id), &c)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("care relationship")
	}
	return c, dbErr("care", err)
}

func (t *tx) ListCare(ctx context.Context, f confidant.CareFilter) ([]confidant.CareRelationship, error) {
	var w filter
	if f.PatientID != "" {
		w.add(`patient_id = ?`, f.PatientID)
	}
	if f.TherapistID != "" {
		w.add(`therapist_id = ?`, f.TherapistID)
	}
	if f.ClinicID != "" {
		w.add(`clinic_id = ?`, f.ClinicID)
	}
	if !f.ActiveAt.IsZero() {
		a := f.ActiveAt.UnixMicro()
		w.add(`from_at <= ? AND (to_at IS NULL OR to_at > ?)`, a, a)
	}
	var out []confidant.CareRelationship
	err := t.list(ctx, "list care",
		`SELECT `+careColumns+` FROM care`+w.where()+` ORDER BY from_at, id`, w.args,
		func(r *sql.Rows) error {
			var c confidant.CareRelationship
			err := scanCare(r, &c)
			out = append(out, c)
			return err
		})
	return out, err
}

func (t *tx) HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error) {
	a := at.UnixMicro()
	var ok bool
	err := t.queryRow(ctx,
		`SELECT EXISTS (
			SELECT 1 FROM care
			WHERE therapist_id = ? AND patient_id = ? AND from_at <= ? AND (to_at IS NULL OR to_at > ?)
		)`, therapistID, patientID, a, a).Scan(&ok)
	return ok, dbErr("has active care", err)
}
