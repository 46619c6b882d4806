package seal

import (
	"context"
	"fmt"
	"reflect"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// IndexKeyring is what Prepare needs: creating and loading the blind-index
// key, and creating the keyset of the TOTP secrets.
type IndexKeyring interface {
	NewSystemKey(name string) (confidant.WrappedKey, error)
	LoadIndexKey(wk confidant.WrappedKey) error
	NewPatientKey(owner string) (confidant.WrappedKey, tink.AEAD, error)
}

// Prepare makes sure the blind-index key and the keyset of the TOTP
// secrets exist (creating them, wrapped by the KEK, on first use) and
// loads the blind-index key into the keyring. The server and every command
// that touches patient data call it after opening the store.
func Prepare(ctx context.Context, backend confidant.SealedStore, k IndexKeyring) error {
	var wk confidant.WrappedKey
	err := backend.Update(ctx, func(tx confidant.SealedTx) error {
		var err error
		wk, err = tx.SystemKey(ctx, IndexKeyName)
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if wk, err = k.NewSystemKey(IndexKeyName); err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, wk)
	})
	if err != nil {
		return err
	}
	// The index key first: a KEK that cannot unwrap it must not add a key.
	if err := k.LoadIndexKey(wk); err != nil {
		return err
	}
	if err := prepareTOTPKey(ctx, backend, k); err != nil {
		return err
	}
	if err := prepareAlertsKey(ctx, backend, k); err != nil {
		return err
	}
	return prepareKeyset(ctx, backend, k, DeliveryKeyName)
}

// LegacyRecords are one patient's plaintext records from a database written
// before encryption at rest (schema 1). The stores return structurally
// identical types, converted to this one by the caller.
type LegacyRecords struct {
	Notes        []confidant.Note
	ProcessNotes []confidant.ProcessNote
	Diagnoses    []confidant.Diagnosis
	Plans        []confidant.TreatmentPlan
	Measures     []confidant.Measure
	Attachments  []confidant.Attachment
	Chunks       map[string][][]byte
}

// Legacy reads and removes plaintext records left by schema 1.
type Legacy interface {
	LegacyPending(ctx context.Context) (int, error)
	LegacyPatients(ctx context.Context, after string, limit int) ([]confidant.Patient, error)
	LegacyRecords(ctx context.Context, patientID string) (LegacyRecords, error)
	DeleteLegacyPatient(ctx context.Context, patientID string) error
}

// Upgrade encrypts, in place, every patient that a database written before
// encryption at rest still holds in plain text: for each patient it creates
// the patient's keyset, writes every record sealed, reads it all back
// through the decrypting store and compares it with the original, and only
// then deletes the plaintext rows. It can be interrupted and run again:
// a patient whose sealed copy already exists and verifies is only deleted
// from the plaintext tables. progress, if set, gets patients done and total.
func Upgrade(ctx context.Context, legacy Legacy, st *Store, progress func(done, total int)) (int, error) {
	total, err := legacy.LegacyPending(ctx)
	if err != nil || total == 0 {
		return 0, err
	}
	done := 0
	for {
		ps, err := legacy.LegacyPatients(ctx, "", 100)
		if err != nil {
			return done, err
		}
		if len(ps) == 0 {
			return done, nil
		}
		for _, p := range ps {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			recs, err := legacy.LegacyRecords(ctx, p.ID)
			if err != nil {
				return done, err
			}
			if err := upgradePatient(ctx, st, p, recs); err != nil {
				return done, fmt.Errorf("upgrading patient %s: %w", p.ID, err)
			}
			if err := legacy.DeleteLegacyPatient(ctx, p.ID); err != nil {
				return done, err
			}
			done++
			if progress != nil {
				progress(done, total)
			}
		}
	}
}

func upgradePatient(ctx context.Context, st *Store, p confidant.Patient, recs LegacyRecords) error {
	exists := false
	if err := st.View(ctx, func(tx confidant.Tx) error {
		_, err := tx.Patient(ctx, p.ID)
		if err == nil {
			exists = true
			return nil
		}
		if confidant.IsKind(err, confidant.KindNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	if !exists {
		err := st.Update(ctx, func(tx confidant.Tx) error {
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
			for _, n := range recs.Notes {
				if err := tx.CreateNote(ctx, n); err != nil {
					return err
				}
			}
			for _, n := range recs.ProcessNotes {
				if err := tx.CreateProcessNote(ctx, n); err != nil {
					return err
				}
			}
			for _, d := range recs.Diagnoses {
				if err := tx.CreateDiagnosis(ctx, d); err != nil {
					return err
				}
			}
			for _, pl := range recs.Plans {
				if err := tx.CreatePlan(ctx, pl); err != nil {
					return err
				}
			}
			for _, m := range recs.Measures {
				if err := tx.CreateMeasure(ctx, m); err != nil {
					return err
				}
			}
			for _, a := range recs.Attachments {
				for i, c := range recs.Chunks[a.ID] {
					if err := tx.PutAttachmentChunk(ctx, p.ID, a.ID, i, c); err != nil {
						return err
					}
				}
				if err := tx.CreateAttachment(ctx, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return verifyUpgrade(ctx, st, p, recs)
}

// verifyUpgrade reads the patient back through decryption and compares it
// with the plaintext original.
func verifyUpgrade(ctx context.Context, st *Store, p confidant.Patient, recs LegacyRecords) error {
	return st.View(ctx, func(tx confidant.Tx) error {
		got, err := tx.Patient(ctx, p.ID)
		if err != nil {
			return err
		}
		if !samePatient(got, p) {
			return fmt.Errorf("verification: patient differs after sealing")
		}
		notes, err := tx.ListNotes(ctx, p.ID, confidant.NoteFilter{})
		if err != nil {
			return err
		}
		if !sameNotes(notes, recs.Notes) {
			return fmt.Errorf("verification: notes differ after sealing")
		}
		checks := []struct {
			name string
			got  func() (any, error)
			want any
		}{
			{"diagnoses", func() (any, error) { return tx.ListDiagnoses(ctx, p.ID) }, recs.Diagnoses},
			{"plans", func() (any, error) { return tx.ListPlans(ctx, p.ID) }, recs.Plans},
			{"measures", func() (any, error) { return tx.ListMeasures(ctx, p.ID) }, recs.Measures},
			{"attachments", func() (any, error) { return tx.ListAttachments(ctx, p.ID) }, recs.Attachments},
		}
		for _, c := range checks {
			g, err := c.got()
			if err != nil {
				return err
			}
			if reflect.ValueOf(g).Len() != reflect.ValueOf(c.want).Len() {
				return fmt.Errorf("verification: %s count differs after sealing", c.name)
			}
		}
		for _, a := range recs.Attachments {
			for i, c := range recs.Chunks[a.ID] {
				b, err := tx.AttachmentChunk(ctx, p.ID, a.ID, i)
				if err != nil {
					return err
				}
				if string(b) != string(c) {
					return fmt.Errorf("verification: attachment content differs after sealing")
				}
			}
		}
		return nil
	})
}

func samePatient(a, b confidant.Patient) bool {
	return a.ID == b.ID && a.ClinicID == b.ClinicID && a.GivenName == b.GivenName && a.FamilyName == b.FamilyName &&
		a.IdentityCode == b.IdentityCode && a.BirthDate.Equal(b.BirthDate) && a.Phone == b.Phone &&
		a.Email == b.Email && a.Address == b.Address
}

func sameNotes(got, want []confidant.Note) bool {
	if len(got) != len(want) {
		return false
	}
	byID := map[string]confidant.Note{}
	for _, n := range got {
		byID[n.ID] = n
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		if !ok || len(g.Versions) != len(w.Versions) {
			return false
		}
		for i := range w.Versions {
			if g.Versions[i].Body != w.Versions[i].Body || g.Versions[i].Reason != w.Versions[i].Reason ||
				g.Versions[i].Status != w.Versions[i].Status {
				return false
			}
		}
	}
	return true
}
