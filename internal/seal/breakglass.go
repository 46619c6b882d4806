package seal

import (
	"context"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Break-the-glass grants: the reason (and later the reviewer's comment)
// may hold clinical details, so they are sealed under the patient's key,
// bound to the grant (kind break_glass, sub 0).

func (t *tx) CreateBreakGlass(ctx context.Context, g confidant.BreakGlass) error {
	a, err := t.aead(ctx, g.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, breakGlassData{Reason: g.Reason, Comment: g.ReviewComment}, confidant.BlobBreakGlass, g.PatientID, g.ID, 0)
	if err != nil {
		return err
	}
	sg := confidant.SealedBreakGlass{
		ID: g.ID, TherapistID: g.TherapistID, PatientID: g.PatientID, ClinicID: g.ClinicID, Category: g.Category,
		CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt, Status: g.Status, ReviewedBy: g.ReviewedBy, ReviewedAt: g.ReviewedAt,
		Data: data,
	}
	if sg.FactMAC, err = t.s.factMAC(grantFacts(sg)); err != nil {
		return err
	}
	return t.SealedTx.CreateBreakGlass(ctx, sg)
}

// openBreakGlass decrypts a grant. An erased patient's grant keeps its
// metadata; its reason can no longer be read and is left empty.
func (t *tx) openBreakGlass(ctx context.Context, r confidant.SealedBreakGlass) (confidant.BreakGlass, error) {
	g := confidant.BreakGlass{
		ID: r.ID, TherapistID: r.TherapistID, PatientID: r.PatientID, ClinicID: r.ClinicID, Category: r.Category,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, Status: r.Status, ReviewedBy: r.ReviewedBy, ReviewedAt: r.ReviewedAt,
	}
	a, err := t.aead(ctx, r.PatientID)
	if confidant.CodeOf(err) == "patient_erased" {
		return g, nil
	}
	if err != nil {
		return g, err
	}
	var d breakGlassData
	if err := openJSON(a, r.Data, &d, confidant.BlobBreakGlass, r.PatientID, r.ID, 0); err != nil {
		return g, err
	}
	g.Reason, g.ReviewComment = d.Reason, d.Comment
	return g, nil
}

func (t *tx) BreakGlass(ctx context.Context, id string) (confidant.BreakGlass, error) {
	r, err := t.SealedTx.BreakGlass(ctx, id)
	if err != nil {
		return confidant.BreakGlass{}, err
	}
	return t.openBreakGlass(ctx, r)
}

func (t *tx) ListBreakGlass(ctx context.Context, f confidant.BreakGlassFilter) ([]confidant.BreakGlass, error) {
	rows, err := t.SealedTx.ListBreakGlass(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.BreakGlass, len(rows))
	for i, r := range rows {
		if out[i], err = t.openBreakGlass(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReviewBreakGlass reseals the reason with the reviewer's comment. For an
// erased patient the sealed value stays as it is (nothing can be sealed for
// a patient without a key) and the comment is not kept.
func (t *tx) ReviewBreakGlass(ctx context.Context, id string, status confidant.BreakGlassStatus, by string, at time.Time, comment string) error {
	r, err := t.SealedTx.BreakGlass(ctx, id)
	if err != nil {
		return err
	}
	a, err := t.aead(ctx, r.PatientID)
	if confidant.CodeOf(err) == "patient_erased" {
		return t.SealedTx.ReviewBreakGlass(ctx, id, status, by, at, nil)
	}
	if err != nil {
		return err
	}
	var d breakGlassData
	if err := openJSON(a, r.Data, &d, confidant.BlobBreakGlass, r.PatientID, r.ID, 0); err != nil {
		return err
	}
	d.Comment = comment
	data, err := sealJSON(a, d, confidant.BlobBreakGlass, r.PatientID, r.ID, 0)
	if err != nil {
		return err
	}
	return t.SealedTx.ReviewBreakGlass(ctx, id, status, by, at, data)
}
