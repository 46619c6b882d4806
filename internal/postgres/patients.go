package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

const patientCols = `p.id, p.clinic_id, p.created_at, p.erased_at, p.data,
	p.identity_index, p.surname_index, p.surname_year_index, p.address_index`

// patientColsBefore18 are patientCols without the address index, for a
// database between migrations 2 and 18 (see addressColumn).
const patientColsBefore18 = `p.id, p.clinic_id, p.created_at, p.erased_at, p.data,
	p.identity_index, p.surname_index, p.surname_year_index, NULL::bytea`

// addressColumn reports whether patients.address_index exists. It does
// from migration 18 on; a database written before encryption at rest is
// sealed by internal/seal between migrations 2 and 3 (ErrLegacyPending),
// when it does not, and its patients get their address index from the
// backfill after migration 18 listed them. Once seen, the column is
// remembered (it is never dropped).
func (t *tx) addressColumn(ctx context.Context) (bool, error) {
	if t.addr == nil || t.addr.Load() {
		return true, nil
	}
	var ok bool
	err := t.tx.QueryRow(t.c(ctx), `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'patients' AND column_name = 'address_index')`).Scan(&ok)
	if err != nil {
		return false, mapErr(err, "patient columns", "")
	}
	if ok {
		t.addr.Store(true)
	}
	return ok, nil
}

// cols returns the columns to select patients with.
func (t *tx) cols(ctx context.Context) (string, error) {
	ok, err := t.addressColumn(ctx)
	if err != nil || ok {
		return patientCols, err
	}
	return patientColsBefore18, nil
}

func scanPatient(row pgx.CollectableRow) (confidant.SealedPatient, error) {
	var p confidant.SealedPatient
	err := row.Scan(&p.ID, &p.ClinicID, tm(&p.CreatedAt), tm(&p.ErasedAt), &p.Data,
		&p.IdentityIndex, &p.SurnameIndex, &p.SurnameYearIndex, &p.AddressIndex)
	return p, err
}

// CreatePatient stores p. Blind indexes are not unique; an empty index is
// stored as absent (NULL) and matches no filter.
func (t *tx) CreatePatient(ctx context.Context, p confidant.SealedPatient) error {
	if ok, err := t.addressColumn(ctx); err != nil || !ok {
		if err == nil {
			_, err = t.tx.Exec(t.c(ctx), `
				INSERT INTO patients (id, clinic_id, created_at, erased_at, data,
				                      identity_index, surname_index, surname_year_index)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				p.ID, p.ClinicID, ts(p.CreatedAt), ts(p.ErasedAt), nonNil(p.Data),
				nullBytes(p.IdentityIndex), nullBytes(p.SurnameIndex), nullBytes(p.SurnameYearIndex))
		}
		return mapErr(err, "create patient", "Patient")
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO patients (id, clinic_id, created_at, erased_at, data,
		                      identity_index, surname_index, surname_year_index, address_index)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, p.ClinicID, ts(p.CreatedAt), ts(p.ErasedAt), nonNil(p.Data),
		nullBytes(p.IdentityIndex), nullBytes(p.SurnameIndex), nullBytes(p.SurnameYearIndex), nullBytes(p.AddressIndex))
	return mapErr(err, "create patient", "Patient")
}

// UpdatePatient replaces the patient's clinic, Data and blind indexes;
// CreatedAt and ErasedAt are kept. An erased patient cannot be updated
// (KindConflict, code "patient_erased"): its indexes stay cleared.
func (t *tx) UpdatePatient(ctx context.Context, p confidant.SealedPatient) error {
	q := `UPDATE patients SET clinic_id = $2, data = $3, identity_index = $4, surname_index = $5, surname_year_index = $6, address_index = $7
		WHERE id = $1 AND erased_at IS NULL`
	args := []any{p.ID, p.ClinicID, nonNil(p.Data), nullBytes(p.IdentityIndex), nullBytes(p.SurnameIndex), nullBytes(p.SurnameYearIndex), nullBytes(p.AddressIndex)}
	if ok, err := t.addressColumn(ctx); err != nil {
		return err
	} else if !ok {
		q = `UPDATE patients SET clinic_id = $2, data = $3, identity_index = $4, surname_index = $5, surname_year_index = $6
		WHERE id = $1 AND erased_at IS NULL`
		args = args[:6]
	}
	tag, err := t.tx.Exec(t.c(ctx), q, args...)
	if err != nil {
		return mapErr(err, "update patient", "Patient")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return t.erasedOrMissing(ctx, p.ID)
}

// erasedOrMissing explains why a change of a non-erased patient changed
// nothing: KindNotFound, or KindConflict (code "patient_erased").
func (t *tx) erasedOrMissing(ctx context.Context, id string) error {
	var exists bool
	if err := t.tx.QueryRow(t.c(ctx), `SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)`, id).Scan(&exists); err != nil {
		return mapErr(err, "check patient", "Patient")
	}
	if !exists {
		return notFound("Patient")
	}
	return conflict("patient_erased", "The patient's records have been erased.")
}

// Patient returns a patient, erased or not.
func (t *tx) Patient(ctx context.Context, id string) (confidant.SealedPatient, error) {
	cols, err := t.cols(ctx)
	if err != nil {
		return confidant.SealedPatient{}, err
	}
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+cols+` FROM patients p WHERE p.id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanPatient)
	return p, mapErr(err, "get patient", "Patient")
}

// ListPatients returns patients matching f, erased ones excluded unless
// f.IncludeErased, ordered by CreatedAt, then ID.
func (t *tx) ListPatients(ctx context.Context, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	return t.listPatients(ctx, nil, f)
}

// ListPatientsForTherapist returns the non-erased patients with a care
// relationship to therapistID active at `at`, matching f, each once, ordered
// by CreatedAt, then ID. The care condition is part of the SQL, so no other
// patient can leak into the result. f.IncludeErased is ignored.
func (t *tx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	f.IncludeErased = false
	return t.listPatients(ctx, func(q *query) {
		at := q.arg(at.UTC())
		q.where(`EXISTS (SELECT 1 FROM care_relationships c WHERE c.patient_id = p.id AND c.therapist_id = ` +
			q.arg(therapistID) + ` AND ` + activeAt("c", at) + `)`)
	}, f)
}

// activeAt is the SQL condition "care relationship alias is active at the
// time bound to placeholder at" (see confidant.CareRelationship.ActiveAt).
func activeAt(alias, at string) string {
	return `(` + alias + `.from_at IS NULL OR ` + alias + `.from_at <= ` + at + `) AND (` +
		alias + `.to_at IS NULL OR ` + alias + `.to_at > ` + at + `)`
}

func (t *tx) listPatients(ctx context.Context, scope func(*query), f confidant.SealedPatientFilter) ([]confidant.SealedPatient, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, invalid("invalid_limit", "The limit and offset must not be negative.")
	}
	var q query
	if scope != nil {
		scope(&q)
	}
	if !f.IncludeErased {
		q.where(`p.erased_at IS NULL`)
	}
	if f.ClinicID != "" {
		q.where(`p.clinic_id = ` + q.arg(f.ClinicID))
	}
	// Blind indexes match exactly; each has its own index.
	for _, ix := range []struct {
		col string
		v   []byte
	}{
		{"p.identity_index", f.IdentityIndex},
		{"p.surname_index", f.SurnameIndex},
		{"p.surname_year_index", f.SurnameYearIndex},
	} {
		if len(ix.v) > 0 {
			q.where(ix.col + ` = ` + q.arg(ix.v))
		}
	}
	cols, err := t.cols(ctx)
	if err != nil {
		return nil, err
	}
	sql := `SELECT ` + cols + ` FROM patients p` + q.whereSQL() +
		` ORDER BY p.created_at NULLS FIRST, p.id` + q.limitSQL(f.Limit, f.Offset)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	ps, err := collect(rows, scanPatient)
	return ps, mapErr(err, "list patients", "")
}

// ErasePatient crypto-shreds a patient: it deletes the patient's wrapped
// keyset, clears the blind indexes and sets ErasedAt to at. The sealed rows
// stay. It returns KindConflict (code "patient_erased") if the patient was
// already erased.
func (t *tx) ErasePatient(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return invalid("invalid_erasure", "The erasure time is required.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `
		UPDATE patients SET erased_at = $2, identity_index = NULL, surname_index = NULL, surname_year_index = NULL, address_index = NULL
		WHERE id = $1 AND erased_at IS NULL`, id, at.UTC())
	if err != nil {
		return mapErr(err, "erase patient", "Patient")
	}
	if tag.RowsAffected() == 0 {
		return t.erasedOrMissing(ctx, id)
	}
	if _, err := t.tx.Exec(t.c(ctx), `DELETE FROM patient_keys WHERE patient_id = $1`, id); err != nil {
		return mapErr(err, "erase patient key", "")
	}
	return nil
}

// Care relationships.

const careCols = `c.id, c.patient_id, c.therapist_id, c.clinic_id, c.from_at, c.to_at,
	c.created_by, c.created_at, c.ended_by, c.fact_mac`

func scanCare(row pgx.CollectableRow) (confidant.CareRelationship, error) {
	var c confidant.CareRelationship
	err := row.Scan(&c.ID, &c.PatientID, &c.TherapistID, &c.ClinicID, tm(&c.From), tm(&c.To),
		&c.CreatedBy, tm(&c.CreatedAt), &c.EndedBy, &c.FactMAC)
	return c, err
}

func (t *tx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO care_relationships (id, patient_id, therapist_id, clinic_id, from_at, to_at,
		                                created_by, created_at, ended_by, fact_mac)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.ID, c.PatientID, c.TherapistID, c.ClinicID, ts(c.From), ts(c.To), c.CreatedBy, ts(c.CreatedAt), c.EndedBy, c.FactMAC)
	return mapErr(err, "create care relationship", "Care relationship")
}

// EndCare sets To and EndedBy on an open relationship. It returns
// KindConflict (code "care_ended") if To is already set.
func (t *tx) EndCare(ctx context.Context, id string, to time.Time, by string) error {
	if to.IsZero() {
		return invalid("invalid_end", "The end time of the care relationship is required.")
	}
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE care_relationships SET to_at = $2, ended_by = $3 WHERE id = $1 AND to_at IS NULL`,
		id, to.UTC(), by)
	if err != nil {
		return mapErr(err, "end care relationship", "Care relationship")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := t.Care(ctx, id); err != nil {
		return err
	}
	return conflict("care_ended", "The care relationship has already ended.")
}

func (t *tx) Care(ctx context.Context, id string) (confidant.CareRelationship, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+careCols+` FROM care_relationships c WHERE c.id = $1`, id)
	c, err := pgx.CollectExactlyOneRow(rows, scanCare)
	return c, mapErr(err, "get care relationship", "Care relationship")
}

// ListCare returns relationships matching f, oldest start first.
func (t *tx) ListCare(ctx context.Context, f confidant.CareFilter) ([]confidant.CareRelationship, error) {
	var q query
	if f.PatientID != "" {
		q.where(`c.patient_id = ` + q.arg(f.PatientID))
	}
	if f.TherapistID != "" {
		q.where(`c.therapist_id = ` + q.arg(f.TherapistID))
	}
	if f.ClinicID != "" {
		q.where(`c.clinic_id = ` + q.arg(f.ClinicID))
	}
	if !f.ActiveAt.IsZero() {
		q.where(activeAt("c", q.arg(f.ActiveAt.UTC())))
	}
	sql := `SELECT ` + careCols + ` FROM care_relationships c` + q.whereSQL() +
		` ORDER BY c.from_at NULLS FIRST, c.created_at NULLS FIRST, c.id`
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	cs, err := collect(rows, scanCare)
	return cs, mapErr(err, "list care relationships", "")
}

func (t *tx) HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(t.c(ctx), `SELECT EXISTS (SELECT 1 FROM care_relationships c
		WHERE c.therapist_id = $1 AND c.patient_id = $2 AND `+activeAt("c", "$3")+`)`,
		therapistID, patientID, at.UTC()).Scan(&ok)
	return ok, mapErr(err, "check care relationship", "")
}

// AddressIndexPending returns up to limit ids of patients still waiting
// for their address index (migration 0018).
func (t *tx) AddressIndexPending(ctx context.Context, limit int) ([]string, error) {
	rows, err := t.tx.Query(t.c(ctx), `SELECT patient_id FROM address_index_pending ORDER BY patient_id LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err, "address index pending", "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err, "address index pending", "")
}

// SetAddressIndex sets a non-erased patient's address index and takes the
// patient off the pending list.
func (t *tx) SetAddressIndex(ctx context.Context, patientID string, index []byte) error {
	if _, err := t.tx.Exec(t.c(ctx), `UPDATE patients SET address_index = $2 WHERE id = $1 AND erased_at IS NULL`,
		patientID, nullBytes(index)); err != nil {
		return mapErr(err, "set address index", "Patient")
	}
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM address_index_pending WHERE patient_id = $1`, patientID)
	return mapErr(err, "set address index", "")
}
