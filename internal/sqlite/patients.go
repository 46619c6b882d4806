package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/confidanthealth/confidant"
)

// Patients.

const patientColumns = `p.id, p.clinic_id, p.given_name, p.family_name, p.identity_code,
	p.birth_date, p.phone, p.email, p.address, p.created_at`

func scanPatient(s interface{ Scan(...any) error }, p *confidant.Patient) error {
	return s.Scan(&p.ID, &p.ClinicID, &p.GivenName, &p.FamilyName, &p.IdentityCode,
		tm(&p.BirthDate), &p.Phone, &p.Email, &p.Address, tm(&p.CreatedAt))
}

func errIdentityCodeTaken() error {
	return conflict("identity_code_taken", "A patient with this identity code already exists.")
}

func (t *tx) CreatePatient(ctx context.Context, p confidant.Patient) error {
	_, err := t.exec(ctx, "create patient",
		`INSERT INTO patients (id, clinic_id, given_name, family_name, given_norm, family_norm,
			identity_code, birth_date, phone, email, address, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.ClinicID, p.GivenName, p.FamilyName,
		confidant.NormalizeName(p.GivenName), confidant.NormalizeName(p.FamilyName),
		p.IdentityCode, micros(p.BirthDate), p.Phone, p.Email, p.Address, micros(p.CreatedAt))
	if isUnique(err) {
		return errIdentityCodeTaken()
	}
	return err
}

// UpdatePatient changes everything but the id and CreatedAt.
func (t *tx) UpdatePatient(ctx context.Context, p confidant.Patient) error {
	err := t.execOne(ctx, "patient", "update patient",
		`UPDATE patients SET clinic_id = ?, given_name = ?, family_name = ?, given_norm = ?,
			family_norm = ?, identity_code = ?, birth_date = ?, phone = ?, email = ?, address = ?
		WHERE id = ?`,
		p.ClinicID, p.GivenName, p.FamilyName,
		confidant.NormalizeName(p.GivenName), confidant.NormalizeName(p.FamilyName),
		p.IdentityCode, micros(p.BirthDate), p.Phone, p.Email, p.Address, p.ID)
	if isUnique(err) {
		return errIdentityCodeTaken()
	}
	return err
}

func (t *tx) Patient(ctx context.Context, id string) (confidant.Patient, error) {
	var p confidant.Patient
	err := scanPatient(t.tx.QueryRowContext(ctx, `SELECT `+patientColumns+` FROM patients p WHERE p.id = ?`, id), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("patient")
	}
	return p, dbErr("patient", err)
}

// patientFilter turns f into conditions on the patients table p.
func patientFilter(f confidant.PatientFilter) *filter {
	w := new(filter)
	if f.ClinicID != "" {
		w.add(`p.clinic_id = ?`, f.ClinicID)
	}
	if f.IdentityCode != "" {
		w.add(`p.identity_code = ?`, f.IdentityCode)
	}
	namePrefix(w, "p.given_norm", "p.family_norm", f.Name)
	return w
}

// ListPatients returns the patients matching f ordered by family name, then
// given name.
func (t *tx) ListPatients(ctx context.Context, f confidant.PatientFilter) ([]confidant.Patient, error) {
	w := patientFilter(f)
	return t.patients(ctx, "list patients",
		`SELECT `+patientColumns+` FROM patients p`+w.where()+
			` ORDER BY p.family_norm, p.given_norm, p.id LIMIT ? OFFSET ?`,
		append(w.args, limit(f.Limit, f.Offset)...))
}

func (t *tx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.PatientFilter) ([]confidant.Patient, error) {
	w := patientFilter(f)
	a := at.UnixMicro()
	args := append([]any{therapistID, a, a}, w.args...)
	return t.patients(ctx, "list patients for therapist",
		`SELECT `+patientColumns+` FROM patients p
		WHERE p.id IN (
			SELECT c.patient_id FROM care c
			WHERE c.therapist_id = ? AND c.from_at <= ? AND (c.to_at IS NULL OR c.to_at > ?)
		)`+w.and()+`
		ORDER BY p.family_norm, p.given_norm, p.id LIMIT ? OFFSET ?`,
		append(args, limit(f.Limit, f.Offset)...))
}

func (t *tx) patients(ctx context.Context, op, query string, args []any) ([]confidant.Patient, error) {
	var out []confidant.Patient
	err := t.list(ctx, op, query, args, func(r *sql.Rows) error {
		var p confidant.Patient
		err := scanPatient(r, &p)
		out = append(out, p)
		return err
	})
	return out, err
}

// Care relationships.

const careColumns = `id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by`

func scanCare(s interface{ Scan(...any) error }, c *confidant.CareRelationship) error {
	return s.Scan(&c.ID, &c.PatientID, &c.TherapistID, &c.ClinicID, tm(&c.From), tm(&c.To),
		&c.CreatedBy, tm(&c.CreatedAt), &c.EndedBy)
}

func (t *tx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	_, err := t.exec(ctx, "create care",
		`INSERT INTO care (`+careColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PatientID, c.TherapistID, c.ClinicID, micros(c.From), micros(c.To),
		c.CreatedBy, micros(c.CreatedAt), c.EndedBy)
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
	err := scanCare(t.tx.QueryRowContext(ctx, `SELECT `+careColumns+` FROM care WHERE id = ?`, id), &c)
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
	err := t.tx.QueryRowContext(ctx,
		`SELECT EXISTS (
			SELECT 1 FROM care
			WHERE therapist_id = ? AND patient_id = ? AND from_at <= ? AND (to_at IS NULL OR to_at > ?)
		)`, therapistID, patientID, a, a).Scan(&ok)
	return ok, dbErr("has active care", err)
}
