package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

func (t *tx) Organisation(ctx context.Context) (confidant.Organisation, error) {
	var o confidant.Organisation
	err := t.tx.QueryRow(t.c(ctx), `SELECT id, name, created_at FROM organisation LIMIT 1`).
		Scan(&o.ID, &o.Name, tm(&o.CreatedAt))
	return o, mapErr(err, "get organisation", "Organisation")
}

func (t *tx) CreateOrganisation(ctx context.Context, o confidant.Organisation) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO organisation (id, name, created_at) VALUES ($1, $2, $3)`,
		o.ID, o.Name, ts(o.CreatedAt))
	return mapErr(err, "create organisation", "Organisation")
}

func (t *tx) CreateClinic(ctx context.Context, c confidant.Clinic) error {
	_, err := t.tx.Exec(t.c(ctx), `INSERT INTO clinics (id, name, city, created_at) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Name, c.City, ts(c.CreatedAt))
	return mapErr(err, "create clinic", "Clinic")
}

// UpdateClinic changes name and city.
func (t *tx) UpdateClinic(ctx context.Context, c confidant.Clinic) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE clinics SET name = $2, city = $3 WHERE id = $1`, c.ID, c.Name, c.City)
	if err != nil {
		return mapErr(err, "update clinic", "Clinic")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Clinic")
	}
	return nil
}

const clinicCols = `id, name, city, created_at`

func scanClinic(row pgx.CollectableRow) (confidant.Clinic, error) {
	var c confidant.Clinic
	err := row.Scan(&c.ID, &c.Name, &c.City, tm(&c.CreatedAt))
	return c, err
}

func (t *tx) Clinic(ctx context.Context, id string) (confidant.Clinic, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+clinicCols+` FROM clinics WHERE id = $1`, id)
	c, err := pgx.CollectExactlyOneRow(rows, scanClinic)
	return c, mapErr(err, "get clinic", "Clinic")
}

// ListClinics returns all clinics ordered by name.
func (t *tx) ListClinics(ctx context.Context) ([]confidant.Clinic, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+clinicCols+` FROM clinics ORDER BY name, id`)
	cs, err := collect(rows, scanClinic)
	return cs, mapErr(err, "list clinics", "")
}
