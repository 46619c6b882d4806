package postgres

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
)

// sealLegacy adapts the Legacy methods to internal/seal's interface, as
// cmd/confidant does.
type sealLegacy struct{ *DB }

func (l sealLegacy) LegacyRecords(ctx context.Context, id string) (seal.LegacyRecords, error) {
	r, err := l.DB.LegacyRecords(ctx, id)
	return seal.LegacyRecords(r), err
}

// TestSealUpgrade runs the real upgrade (internal/seal with a file KEK)
// over a schema-1 database: every patient is sealed, verified through
// decryption and deleted from the v1_ tables, and the records then read
// back in plaintext through the sealing store equal the schema-1 ones.
func TestSealUpgrade(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	db := openTest(t, Options{Schema: newSchema(t, dsn), NoMigrate: true})
	ctx := t.Context()
	if err := db.migrateTo(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	w := writeV1(t, db)
	if err := db.Migrate(ctx, nil); !errors.Is(err, ErrLegacyPending) {
		t.Fatalf("Migrate = %v, want ErrLegacyPending", err)
	}

	kekFile := filepath.Join(t.TempDir(), "kek.json")
	if err := keys.CreateFile(kekFile, nil); err != nil {
		t.Fatal(err)
	}
	kr, err := keys.Open(keys.Config{File: kekFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	if err := seal.Prepare(ctx, db, kr); err != nil {
		t.Fatalf("seal.Prepare: %v", err)
	}
	st := seal.New(db, kr)
	n, err := seal.Upgrade(ctx, sealLegacy{db}, st, nil)
	if err != nil || n != len(w.patients) {
		t.Fatalf("seal.Upgrade = %d, %v; want %d", n, err, len(w.patients))
	}
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("Migrate after the upgrade: %v", err)
	}
	checkFinalSchema(t, db)

	// Nothing identifying is left in the clear in the patients table.
	var plain bool
	err = db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE position($1::bytea IN data) > 0)`,
		[]byte("Mannerheimintie")).Scan(&plain)
	if err != nil || plain {
		t.Errorf("sealed patients hold an address in the clear (%v)", err)
	}

	err = st.View(ctx, func(tx confidant.Tx) error {
		for _, p := range w.patients {
			got, err := tx.Patient(ctx, p.ID)
			if err != nil {
				return err
			}
			if d := cmp.Diff(p, got, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Patient after the upgrade (-want +got):\n%s", d)
			}
			want := w.records[p.ID]
			notes, err := tx.ListNotes(ctx, p.ID, confidant.NoteFilter{})
			if err != nil {
				return err
			}
			if d := cmp.Diff(want.Notes, notes, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListNotes after the upgrade (-want +got):\n%s", d)
			}
			pns, err := tx.ListProcessNotes(ctx, p.ID, w.therapist.ID)
			if err != nil {
				return err
			}
			var mine []confidant.ProcessNote
			for _, n := range want.ProcessNotes {
				if n.AuthorID == w.therapist.ID {
					mine = append(mine, n)
				}
			}
			if d := cmp.Diff(mine, pns, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListProcessNotes after the upgrade (-want +got):\n%s", d)
			}
			ds, err := tx.ListDiagnoses(ctx, p.ID)
			if err != nil {
				return err
			}
			if d := cmp.Diff(want.Diagnoses, ds, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListDiagnoses after the upgrade (-want +got):\n%s", d)
			}
			pls, err := tx.ListPlans(ctx, p.ID)
			if err != nil {
				return err
			}
			if d := cmp.Diff(want.Plans, pls, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListPlans after the upgrade (-want +got):\n%s", d)
			}
			ms, err := tx.ListMeasures(ctx, p.ID)
			if err != nil {
				return err
			}
			if d := cmp.Diff(want.Measures, ms, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListMeasures after the upgrade (-want +got):\n%s", d)
			}
			as, err := tx.ListAttachments(ctx, p.ID)
			if err != nil {
				return err
			}
			if d := cmp.Diff(want.Attachments, as, timeCmp, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListAttachments after the upgrade (-want +got):\n%s", d)
			}
			for id, chunks := range want.Chunks {
				for i, c := range chunks {
					got, err := tx.AttachmentChunk(ctx, p.ID, id, i)
					if err != nil {
						return err
					}
					if string(got) != string(c) {
						t.Errorf("attachment chunk %d after the upgrade differs", i)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
