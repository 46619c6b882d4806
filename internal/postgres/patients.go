package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

const patientCols = `p.id, p.clinic_id, p.given_name, p.family_name, p.identity_code, p.birth_date,
	p.phone, p.email, p.address, p.created_at`

func scanPatient(row pgx.CollectableRow) (confidant.Patient, error) {
	var p confidant.Patient
	err := row.Scan(&p.ID, &p.ClinicID, &p.GivenName, &p.FamilyName, txt(&p.IdentityCode), tm(&p.BirthDate),
		&p.Phone, &p.Email, &p.Address, tm(&p.CreatedAt))
	return p, err
}

// CreatePatient stores p. It returns KindConflict with code
// "identity_code_taken" if another patient has the same identity code. An
// empty identity code is stored as unknown and never conflicts.
func (t *tx) CreatePatient(ctx context.Context, p confidant.Patient) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO patients (id, clinic_id, given_name, family_name, given_name_norm, family_name_norm,
		                      identity_code, birth_date, phone, email, address, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		p.ID, p.ClinicID, p.GivenName, p.FamilyName,
		confidant.NormalizeName(p.GivenName), confidant.NormalizeName(p.FamilyName),
		nullText(p.IdentityCode), ts(p.BirthDate), p.Phone, p.Email, p.Address, ts(p.CreatedAt))
	return mapErr(err, "create patient", "Patient")
}

// UpdatePatient replaces every field of the patient except ID and CreatedAt.
func (t *tx) UpdatePatient(ctx context.Context, p confidant.Patient) error {
	tag, err := t.tx.Exec(ctx, `
		UPDATE patients SET clinic_id = $2, given_name = $3, family_name = $4,
		       given_name_norm = $5, family_name_norm = $6, identity_code = $7, birth_date = $8,
		       phone = $9, email = $10, address = $11
		WHERE id = $1`,
		p.ID, p.ClinicID, p.GivenName, p.FamilyName,
		confidant.NormalizeName(p.GivenName), confidant.NormalizeName(p.FamilyName),
		nullText(p.IdentityCode), ts(p.BirthDate), p.Phone, p.Email, p.Address)
	if err != nil {
		return mapErr(err, "update patient", "Patient")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Patient")
	}
	return nil
}

func (t *tx) Patient(ctx context.Context, id string) (confidant.Patient, error) {
	rows, _ := t.tx.Query(ctx, `SELECT `+patientCols+` FROM patients p WHERE p.id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanPatient)
	return p, mapErr(err, "get patient", "Patient")
}

// ListPatients returns patients matching f, ordered by family name, then
// given name.
func (t *tx) ListPatients(ctx context.Context, f confidant.PatientFilter) ([]confidant.Patient, error) {
	return t.listPatients(ctx, nil, f)
}

// ListPatientsForTherapist returns the patients with a care relationship to
// therapistID active at `at`, matching f, ordered by family name, then given
// name. The care condition is part of the SQL, so no other patient can leak
// into the result.
func (t *tx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.PatientFilter) ([]confidant.Patient, error) {
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

func (t *tx) listPatients(ctx context.Context, scope func(*query), f confidant.PatientFilter) ([]confidant.Patient, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, invalid("invalid_limit", "The limit and offset must not be negative.")
	}
	var q query
	if scope != nil {
		scope(&q)
	}
	if f.ClinicID != "" {
		q.where(`p.clinic_id = ` + q.arg(f.ClinicID))
	}
	if f.IdentityCode != "" {
		q.where(`p.identity_code = ` + q.arg(strings.ToUpper(strings.TrimSpace(f.IdentityCode))))
	}
	if name := confidant.NormalizeName(f.Name); name != "" {
		lo, hi, ok := prefixRange(name)
		if !ok {
			return nil, nil // no stored name can start with it
		}
		lo = q.arg(lo)
		if hi == "" {
			q.where(`(p.given_name_norm >= ` + lo + ` OR p.family_name_norm >= ` + lo + `)`)
		} else {
			hi = q.arg(hi)
			q.where(`((p.given_name_norm >= ` + lo + ` AND p.given_name_norm < ` + hi + `) OR (p.family_name_norm >= ` +
				lo + ` AND p.family_name_norm < ` + hi + `))`)
		}
	}
	sql := `SELECT ` + patientCols + ` FROM patients p` + q.whereSQL() +
		` ORDER BY p.family_name_norm, p.given_name_norm, p.id` + q.limitSQL(f.Limit, f.Offset)
	rows, _ := t.tx.Query(ctx, sql, q.args...)
	ps, err := collect(rows, scanPatient)
	return ps, mapErr(err, "list patients", "")
}

// Care relationships.

const careCols = `c.id, c.patient_id, c.therapist_id, c.clinic_id, c.from_at, c.to_at,
	c.created_by, c.created_at, c.ended_by`

func scanCare(row pgx.CollectableRow) (confidant.CareRelationship, error) {
	var c confidant.CareRelationship
	err := row.Scan(&c.ID, &c.PatientID, &c.TherapistID, &c.ClinicID, tm(&c.From), tm(&c.To),
		&c.CreatedBy, tm(&c.CreatedAt), &c.EndedBy)
	return c, err
}

func (t *tx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO care_relationships (id, patient_id, therapist_id, clinic_id, from_at, to_at,
		                                created_by, created_at, ended_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.PatientID, c.TherapistID, c.ClinicID, ts(c.From), ts(c.To), c.CreatedBy, ts(c.CreatedAt), c.EndedBy)
	return mapErr(err, "create care relationship", "Care relationship")
}

// EndCare sets To and EndedBy on an open relationship. It returns
// KindConflict (code "care_ended") if To is already set.
func (t *tx) EndCare(ctx context.Context, id string, to time.Time, by string) error {
	if to.IsZero() {
		return invalid("invalid_end", "The end time of the care relationship is required.")
	}
	tag, err := t.tx.Exec(ctx, `UPDATE care_relationships SET to_at = $2, ended_by = $3 WHERE id = $1 AND to_at IS NULL`,
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
	rows, _ := t.tx.Query(ctx, `SELECT `+careCols+` FROM care_relationships c WHERE c.id = $1`, id)
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
	rows, _ := t.tx.Query(ctx, sql, q.args...)
	cs, err := collect(rows, scanCare)
	return cs, mapErr(err, "list care relationships", "")
}

func (t *tx) HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM care_relationships c
		WHERE c.therapist_id = $1 AND c.patient_id = $2 AND `+activeAt("c", "$3")+`)`,
		therapistID, patientID, at.UTC()).Scan(&ok)
	return ok, mapErr(err, "check care relationship", "")
}
