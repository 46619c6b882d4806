package seal_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
)

// The barrier: what is stored is ciphertext that is bound to its place.
// These tests go through every real backend (see forEachBackend) and a real
// file KEK, write through seal.Store and tamper through the underlying
// SealedTx.

// place is where a sealed blob lives: its owner and its (kind, id, sub).
type place struct {
	PatientID string
	blobKey
}

func (p place) String() string { return fmt.Sprintf("%s %s/%d", p.Kind, p.ID[:8], p.Sub) }

// Places of a fixture's blobs: the i-th record of each kind.
func (f *fixture) pk() place { return f.at(confidant.BlobPatient, f.patient.ID, 0) }
func (f *fixture) nv(i, v int) place {
	return f.at(confidant.BlobNoteVersion, f.notes[i].ID, v)
}
func (f *fixture) pn(i int) place { return f.at(confidant.BlobProcessNote, f.process[i].ID, 0) }
func (f *fixture) dg(i int) place { return f.at(confidant.BlobDiagnosis, f.diagnoses[i].ID, 0) }
func (f *fixture) pl(i int) place { return f.at(confidant.BlobPlan, f.plans[i].ID, 0) }
func (f *fixture) ms(i int) place { return f.at(confidant.BlobMeasure, f.measures[i].ID, 0) }
func (f *fixture) att(i int) place {
	return f.at(confidant.BlobAttachment, f.attachments[i].ID, 0)
}
func (f *fixture) ch(i, c int) place {
	return f.at(confidant.BlobAttachmentChunk, f.attachments[i].ID, c)
}
func (f *fixture) at(kind confidant.BlobKind, id string, sub int) place {
	return place{f.patient.ID, blobKey{kind, id, sub}}
}

// kinds is one place of every blob kind of f.
func (f *fixture) kinds() []place {
	return []place{f.pk(), f.nv(0, 2), f.pn(0), f.dg(0), f.pl(0), f.ms(0), f.att(0), f.ch(0, 1)}
}

// readPlace reads the record at p through the sealing store and returns
// what it returned, whether or not it failed. It turns a panic into an
// error.
func readPlace(ctx context.Context, st *seal.Store, authorID string, p place) (got any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	err = st.View(ctx, func(tx confidant.Tx) error {
		var err error
		switch p.Kind {
		case confidant.BlobPatient:
			got, err = tx.Patient(ctx, p.ID)
		case confidant.BlobNoteVersion:
			got, err = tx.Note(ctx, p.ID)
		case confidant.BlobProcessNote:
			got, err = tx.ListProcessNotes(ctx, p.PatientID, authorID)
		case confidant.BlobDiagnosis:
			got, err = tx.Diagnosis(ctx, p.ID)
		case confidant.BlobPlan:
			got, err = tx.ListPlans(ctx, p.PatientID)
		case confidant.BlobMeasure:
			got, err = tx.ListMeasures(ctx, p.PatientID)
		case confidant.BlobAttachment:
			got, err = tx.Attachment(ctx, p.ID)
		case confidant.BlobAttachmentChunk:
			got, err = tx.AttachmentChunk(ctx, p.PatientID, p.ID, p.Sub)
		default:
			err = fmt.Errorf("no reader for %s", p.Kind)
		}
		return err
	})
	return got, err
}

// mustFailIntegrity reads p and fails t unless the read fails with an
// integrity error and returns none of the secrets.
func mustFailIntegrity(t *testing.T, st *seal.Store, e *env, p place, secrets []string, what string) {
	t.Helper()
	got, err := readPlace(context.Background(), st, e.therapist.ID, p)
	if err == nil {
		t.Errorf("%s: read of %s succeeded: %+v", what, p, got)
		return
	}
	if !seal.IsIntegrityError(err) {
		t.Errorf("%s: read of %s = %v, want an integrity error", what, p, err)
	}
	if confidant.KindOf(err) != confidant.KindInternal || confidant.CodeOf(err) != "integrity_error" {
		t.Errorf("%s: error kind %v code %q, want internal integrity_error", what, confidant.KindOf(err), confidant.CodeOf(err))
	}
	shown := fmt.Sprintf("%+v %v", got, err)
	for _, s := range secrets {
		if strings.Contains(shown, s) {
			t.Errorf("%s: failed read of %s returned or printed %q", what, p, s)
		}
	}
}

// TestConfidentiality checks that every kind of blob is stored as
// ciphertext: its bytes contain none of the patient's identifying or
// clinical values (nor those of another patient), and neither does the
// database: the SQLite file, or a pg_dump of the PostgreSQL schema.
func TestConfidentiality(t *testing.T) { forEachBackend(t, testConfidentiality) }

func testConfidentiality(t *testing.T, be backend) {
	e := newEnv(t, be)
	a, b := e.addFixture(t, "Aaltonen", 1), e.addFixture(t, "Backman", 2)
	secrets := append(a.secrets(), b.secrets()...)
	blobs := map[place]confidant.Blob{}
	for _, f := range []*fixture{a, b} {
		for k, bl := range e.blobs(t, f.patient.ID) {
			blobs[place{f.patient.ID, k}] = bl
		}
	}
	for _, p := range a.kinds() {
		t.Run(string(p.Kind), func(t *testing.T) {
			n := 0
			for pl, bl := range blobs {
				if pl.Kind != p.Kind {
					continue
				}
				n++
				if len(bl.Data) < 1+5+12+16 || bl.Data[0] != 1 {
					t.Errorf("%s: %d bytes starting % x: not a sealed value", pl, len(bl.Data), bl.Data[:min(len(bl.Data), 6)])
				}
				for _, s := range secrets {
					if bytes.Contains(bl.Data, []byte(s)) {
						t.Errorf("%s: stored bytes contain %q", pl, s)
					}
				}
			}
			// Two fixtures, two records of each kind but the patient row, two
			// versions of a note plus a draft, two chunks per attachment.
			want := map[confidant.BlobKind]int{confidant.BlobPatient: 2, confidant.BlobNoteVersion: 6, confidant.BlobAttachmentChunk: 8}[p.Kind]
			if want == 0 {
				want = 4
			}
			if n != want {
				t.Errorf("%d stored blobs of kind %s, want %d", n, p.Kind, want)
			}
		})
	}

	// Nothing is in the database either: on SQLite, the file and its WAL;
	// on PostgreSQL, a pg_dump of the schema. The therapist's username,
	// which is not sealed, shows that the scan would see text.
	var stored []byte
	switch e.db.kind {
	case sqliteKind:
		e.backend.Close()
		for _, name := range []string{e.db.path, e.db.path + "-wal"} {
			b, err := os.ReadFile(name)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			stored = append(stored, b...)
		}
	case postgresKind:
		stored = pgDump(t, e.db)
	}
	if !bytes.Contains(stored, []byte(e.therapist.Username)) {
		t.Fatalf("the %s database does not contain the clear username %q: the scan sees nothing", e.db.kind, e.therapist.Username)
	}
	for _, s := range secrets {
		if bytes.Contains(stored, []byte(s)) {
			t.Errorf("the %s database contains %q", e.db.kind, s)
		}
	}
}

// TestFlippedByte changes every byte of a stored blob of every kind in
// turn (low bit and high bit), truncates and extends it, and checks that
// reading the record through seal fails with an integrity error, returns
// no plaintext and does not panic.
func TestFlippedByte(t *testing.T) { forEachBackend(t, testFlippedByte) }

func testFlippedByte(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Flipper", 3)
	secrets := f.secrets()
	stored := e.blobs(t, f.patient.ID)
	for _, p := range f.kinds() {
		t.Run(string(p.Kind), func(t *testing.T) {
			orig := stored[p.blobKey]
			if orig.Data == nil {
				t.Fatalf("no stored blob at %s", p)
			}
			var mutants [][]byte
			for i := range orig.Data {
				for _, mask := range []byte{0x01, 0x80} {
					m := bytes.Clone(orig.Data)
					m[i] ^= mask
					mutants = append(mutants, m)
				}
			}
			for _, n := range []int{0, 1, 2, 6, 1 + 5 + 12, len(orig.Data) - 16, len(orig.Data) - 1} {
				mutants = append(mutants, bytes.Clone(orig.Data[:n]))
			}
			mutants = append(mutants, append(bytes.Clone(orig.Data), 0))
			e.tamper(t, func(stx confidant.SealedTx, st *seal.Store) error {
				for i, m := range mutants {
					b := orig
					b.Data = m
					if err := stx.RewriteBlob(context.Background(), b); err != nil {
						return err
					}
					mustFailIntegrity(t, st, e, p, secrets, fmt.Sprintf("mutant %d", i))
					if t.Failed() {
						return nil
					}
				}
				// The untouched blob still reads: the failures were the
				// mutations.
				if err := stx.RewriteBlob(context.Background(), orig); err != nil {
					return err
				}
				if _, err := readPlace(context.Background(), st, e.therapist.ID, p); err != nil {
					t.Errorf("original blob after restoring: %v", err)
				}
				return nil
			})
		})
	}
}

// TestMovedCiphertext copies a stored ciphertext over another place and
// checks that reading that place fails with an integrity error: another
// row of the same kind, another kind of record, another version of a note,
// another chunk index, another patient's row.
func TestMovedCiphertext(t *testing.T) { forEachBackend(t, testMovedCiphertext) }

func testMovedCiphertext(t *testing.T, be backend) {
	e := newEnv(t, be)
	a, b := e.addFixture(t, "Mover", 4), e.addFixture(t, "Target", 5)
	secrets := append(a.secrets(), b.secrets()...)
	stored := map[place][]byte{}
	for _, f := range []*fixture{a, b} {
		for k, bl := range e.blobs(t, f.patient.ID) {
			stored[place{f.patient.ID, k}] = bl.Data
		}
	}
	tests := []struct {
		name     string
		from, to place
	}{
		// Same kind, another row of the same patient.
		{"note version to another note", a.nv(0, 1), a.nv(1, 1)},
		{"process note to another", a.pn(0), a.pn(1)},
		{"diagnosis to another", a.dg(0), a.dg(1)},
		{"plan to another", a.pl(0), a.pl(1)},
		{"measure to another", a.ms(0), a.ms(1)},
		{"attachment to another", a.att(0), a.att(1)},
		{"chunk to another attachment", a.ch(0, 0), a.ch(1, 0)},
		// Another version, another chunk.
		{"note version 1 to version 2", a.nv(0, 1), a.nv(0, 2)},
		{"note version 2 to version 1", a.nv(0, 2), a.nv(0, 1)},
		{"chunk 0 to chunk 1", a.ch(0, 0), a.ch(0, 1)},
		{"chunk 1 to chunk 0", a.ch(0, 1), a.ch(0, 0)},
		// Another kind of record (process and session notes seal the same
		// JSON shape, so only the associated data tells them apart).
		{"note version to process note", a.nv(1, 1), a.pn(0)},
		{"process note to note version", a.pn(0), a.nv(1, 1)},
		{"diagnosis to plan", a.dg(0), a.pl(0)},
		{"plan to diagnosis", a.pl(0), a.dg(0)},
		{"measure to diagnosis", a.ms(0), a.dg(1)},
		{"patient to attachment", a.pk(), a.att(0)},
		{"attachment to chunk", a.att(0), a.ch(0, 0)},
		{"chunk to attachment", a.ch(1, 1), a.att(1)},
		// Another patient's row of the same kind and place.
		{"patient row to another patient", a.pk(), b.pk()},
		{"note version to another patient", a.nv(0, 1), b.nv(0, 1)},
		{"process note to another patient", a.pn(0), b.pn(0)},
		{"diagnosis to another patient", a.dg(0), b.dg(0)},
		{"plan to another patient", a.pl(0), b.pl(0)},
		{"measure to another patient", a.ms(0), b.ms(0)},
		{"attachment to another patient", a.att(0), b.att(0)},
		{"chunk to another patient", a.ch(0, 0), b.ch(0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := stored[tc.from]
			if data == nil || stored[tc.to] == nil {
				t.Fatalf("no stored blob at %s or %s", tc.from, tc.to)
			}
			e.tamper(t, func(stx confidant.SealedTx, st *seal.Store) error {
				if _, err := readPlace(context.Background(), st, e.therapist.ID, tc.to); err != nil {
					t.Errorf("before the move: %v", err)
					return nil
				}
				err := stx.RewriteBlob(context.Background(), confidant.Blob{
					PatientID: tc.to.PatientID, Kind: tc.to.Kind, ID: tc.to.ID, Sub: tc.to.Sub, Data: data,
				})
				if err != nil {
					return err
				}
				mustFailIntegrity(t, st, e, tc.to, secrets, "moved")
				return nil
			})
		})
	}
}

// TestSamePlaintextTwice checks that sealing is randomised: the same
// plaintext sealed twice, in the same place (a patient row or a draft
// resealed unchanged) or in two records, gives different ciphertexts.
func TestSamePlaintextTwice(t *testing.T) { forEachBackend(t, testSamePlaintextTwice) }

func testSamePlaintextTwice(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Twice", 6)
	ctx := context.Background()
	pid, th := f.patient.ID, e.therapist.ID
	tests := []struct {
		kind confidant.BlobKind
		// write writes the same plaintext a second time and returns the
		// places of the two ciphertexts (equal for a reseal in place).
		write func(tx confidant.Tx) (place, place, error)
	}{
		{confidant.BlobPatient, func(tx confidant.Tx) (place, place, error) {
			return f.pk(), f.pk(), tx.UpdatePatient(ctx, f.patient)
		}},
		{confidant.BlobNoteVersion, func(tx confidant.Tx) (place, place, error) {
			v := f.notes[1].Versions[0]
			return f.nv(1, 1), f.nv(1, 1), tx.UpdateDraft(ctx, f.notes[1].ID, 1, v.Template, v.Body, v.UpdatedAt)
		}},
		{confidant.BlobProcessNote, func(tx confidant.Tx) (place, place, error) {
			n := f.process[0]
			n.ID = confidant.NewID()
			return f.pn(0), f.at(confidant.BlobProcessNote, n.ID, 0), tx.CreateProcessNote(ctx, n)
		}},
		{confidant.BlobDiagnosis, func(tx confidant.Tx) (place, place, error) {
			d := f.diagnoses[0]
			d.ID = confidant.NewID()
			return f.dg(0), f.at(confidant.BlobDiagnosis, d.ID, 0), tx.CreateDiagnosis(ctx, d)
		}},
		{confidant.BlobPlan, func(tx confidant.Tx) (place, place, error) {
			p := f.plans[0]
			p.ID = confidant.NewID()
			return f.pl(0), f.at(confidant.BlobPlan, p.ID, 0), tx.CreatePlan(ctx, p)
		}},
		{confidant.BlobMeasure, func(tx confidant.Tx) (place, place, error) {
			m := f.measures[0]
			m.ID = confidant.NewID()
			return f.ms(0), f.at(confidant.BlobMeasure, m.ID, 0), tx.CreateMeasure(ctx, m)
		}},
		{confidant.BlobAttachment, func(tx confidant.Tx) (place, place, error) {
			a := f.attachments[0]
			a.ID, a.Chunks, a.Size = confidant.NewID(), 0, 0
			return f.att(0), f.at(confidant.BlobAttachment, a.ID, 0), tx.CreateAttachment(ctx, a)
		}},
		{confidant.BlobAttachmentChunk, func(tx confidant.Tx) (place, place, error) {
			a := f.attachments[0]
			a.ID = confidant.NewID()
			for i, c := range f.chunks[f.attachments[0].ID] {
				if err := tx.PutAttachmentChunk(ctx, pid, a.ID, i, c); err != nil {
					return place{}, place{}, err
				}
			}
			return f.ch(0, 1), f.at(confidant.BlobAttachmentChunk, a.ID, 1), tx.CreateAttachment(ctx, a)
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			before := e.blobs(t, pid)
			var p1, p2 place
			e.update(t, func(tx confidant.Tx) error {
				var err error
				p1, p2, err = tc.write(tx)
				return err
			})
			after := e.blobs(t, pid)
			c1, c2 := before[p1.blobKey].Data, after[p2.blobKey].Data
			if c1 == nil || c2 == nil {
				t.Fatalf("missing ciphertext at %s or %s", p1, p2)
			}
			if len(c1) != len(c2) {
				t.Errorf("ciphertexts of %d and %d bytes: not the same plaintext", len(c1), len(c2))
			}
			if bytes.Equal(c1, c2) {
				t.Errorf("the same plaintext sealed twice gave the same ciphertext")
			}
			// Both still read back to the same plaintext.
			for _, p := range []place{p1, p2} {
				if _, err := readPlace(ctx, e.store, th, p); err != nil {
					t.Errorf("read %s: %v", p, err)
				}
			}
		})
	}
}

// TestWrappedKeyBinding copies patient A's wrapped keyset into patient B's
// slot (PutPatientKey): B's records then fail to read (the wrapped keyset
// is bound to its owner), even if A's sealed rows are copied over B's too,
// and nothing of A or B is returned. Restoring B's own key restores access.
func TestWrappedKeyBinding(t *testing.T) { forEachBackend(t, testWrappedKeyBinding) }

func testWrappedKeyBinding(t *testing.T, be backend) {
	e := newEnv(t, be)
	a, b := e.addFixture(t, "Keyowner", 7), e.addFixture(t, "Keythief", 8)
	secrets := append(a.secrets(), b.secrets()...)
	ctx := context.Background()
	storedA := e.blobs(t, a.patient.ID)
	var ka, kb confidant.WrappedKey
	if err := e.backend.View(ctx, func(stx confidant.SealedTx) error {
		var err error
		if ka, err = stx.PatientKey(ctx, a.patient.ID); err != nil {
			return err
		}
		kb, err = stx.PatientKey(ctx, b.patient.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, alsoRows := range []bool{false, true} {
		t.Run(fmt.Sprintf("rows copied too=%v", alsoRows), func(t *testing.T) {
			e.tamper(t, func(stx confidant.SealedTx, st *seal.Store) error {
				stolen := confidant.WrappedKey{Owner: b.patient.ID, KEKID: ka.KEKID, Wrapped: ka.Wrapped, UpdatedAt: ka.UpdatedAt}
				if err := stx.PutPatientKey(ctx, stolen); err != nil {
					return err
				}
				if alsoRows {
					for i, from := range a.kinds() {
						to := b.kinds()[i]
						err := stx.RewriteBlob(ctx, confidant.Blob{PatientID: to.PatientID, Kind: to.Kind, ID: to.ID, Sub: to.Sub, Data: storedA[from.blobKey].Data})
						if err != nil {
							return err
						}
					}
				}
				for _, p := range b.kinds() {
					got, err := readPlace(ctx, st, e.therapist.ID, p)
					if err == nil {
						t.Errorf("read of %s under another patient's key succeeded: %+v", p, got)
						continue
					}
					if confidant.KindOf(err) != confidant.KindInternal || confidant.CodeOf(err) != keys.CodeKeyIntegrity {
						t.Errorf("read of %s: %v, want internal %s", p, err, keys.CodeKeyIntegrity)
					}
					shown := fmt.Sprintf("%+v %v", got, err)
					for _, s := range secrets {
						if strings.Contains(shown, s) {
							t.Errorf("failed read of %s returned or printed %q", p, s)
						}
					}
				}
				// A's own records are unaffected; B's own key gives B back.
				if _, err := readAll(ctx, mustTx(t, st), a.patient.ID, e.therapist.ID); err != nil {
					t.Errorf("patient A after the copy: %v", err)
				}
				if err := stx.PutPatientKey(ctx, kb); err != nil {
					return err
				}
				if !alsoRows {
					if _, err := readAll(ctx, mustTx(t, st), b.patient.ID, e.therapist.ID); err != nil {
						t.Errorf("patient B with its own key restored: %v", err)
					}
				}
				return nil
			})
		})
	}
}

// mustTx returns a Tx of st, whose transactions run inside an open one
// (see within), for calls outside View.
func mustTx(t *testing.T, st *seal.Store) confidant.Tx {
	t.Helper()
	var out confidant.Tx
	if err := st.View(context.Background(), func(tx confidant.Tx) error { out = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
