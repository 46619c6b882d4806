package sqlite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/google/go-cmp/cmp"
)

// sealLegacy adapts the Legacy methods to internal/seal's interface, as
// cmd/confidant does.
type sealLegacy struct{ *DB }

func (l sealLegacy) LegacyRecords(ctx context.Context, id string) (seal.LegacyRecords, error) {
	r, err := l.DB.LegacyRecords(ctx, id)
	return seal.LegacyRecords(r), err
}

// TestSealUpgrade runs the real upgrade (internal/seal with a file KEK) over
// a schema-1 database: afterwards Migrate finishes, the records read back
// through the sealing store equal the schema-1 ones, and no plaintext is
// left in the database file.
func TestSealUpgrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	db, err := Open(ctx, path, Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.migrateTo(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	d := makeV1Data()
	writeV1(t, db, d)
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
	if n, err := seal.Upgrade(ctx, sealLegacy{db}, st, nil); err != nil || n != len(d.patients) {
		t.Fatalf("seal.Upgrade = %d, %v; want %d", n, err, len(d.patients))
	}
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("Migrate after the upgrade: %v", err)
	}

	err = st.View(ctx, func(tx confidant.Tx) error {
		for _, p := range d.patients {
			got, err := tx.Patient(ctx, p.ID)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(p, got, legacyCmp); diff != "" {
				t.Errorf("Patient after the upgrade (-want +got):\n%s", diff)
			}
			want := d.records[p.ID]
			var got2 LegacyRecords
			if got2.Notes, err = tx.ListNotes(ctx, p.ID, confidant.NoteFilter{}); err != nil {
				return err
			}
			if got2.ProcessNotes, err = tx.ListProcessNotes(ctx, p.ID, d.therapist.ID); err != nil {
				return err
			}
			if got2.Diagnoses, err = tx.ListDiagnoses(ctx, p.ID); err != nil {
				return err
			}
			if got2.Plans, err = tx.ListPlans(ctx, p.ID); err != nil {
				return err
			}
			if got2.Measures, err = tx.ListMeasures(ctx, p.ID); err != nil {
				return err
			}
			if got2.Attachments, err = tx.ListAttachments(ctx, p.ID); err != nil {
				return err
			}
			for _, a := range got2.Attachments {
				for i := range a.Chunks {
					c, err := tx.AttachmentChunk(ctx, p.ID, a.ID, i)
					if err != nil {
						return err
					}
					if got2.Chunks == nil {
						got2.Chunks = map[string][][]byte{}
					}
					got2.Chunks[a.ID] = append(got2.Chunks[a.ID], c)
				}
			}
			if diff := cmp.Diff(want, got2, legacyCmp); diff != "" {
				t.Errorf("records after the upgrade (-want +got):\n%s", diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, secret := range []string{secretBody, secretSurname, d.patients[0].IdentityCode, "Mannerheimintie"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds plaintext %q after the upgrade", filepath.Base(f), secret)
			}
		}
	}
}
