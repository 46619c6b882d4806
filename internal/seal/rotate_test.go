package seal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/google/go-cmp/cmp"
)

// openKeyring opens a keyring over the KEK file at path.
func openKeyring(t testing.TB, path string) *keys.Keyring {
	t.Helper()
	k, err := keys.Open(keys.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkReadable reads every patient and both fixtures through a sealing
// store over backend with keyring k and compares them with what was
// written.
func checkReadable(t *testing.T, what string, backend confidant.SealedStore, k seal.Keyring, e *env, patients []confidant.Patient, fixtures []*fixture, want []records) {
	t.Helper()
	ctx := context.Background()
	err := seal.New(backend, k).View(ctx, func(tx confidant.Tx) error {
		for _, p := range patients {
			got, err := tx.Patient(ctx, p.ID)
			if err != nil {
				return fmt.Errorf("patient %s: %w", p.ID, err)
			}
			if got.FamilyName != p.FamilyName || got.IdentityCode != p.IdentityCode {
				return fmt.Errorf("patient %s read back differently", p.ID)
			}
		}
		for i, f := range fixtures {
			got, err := readAll(ctx, tx, f.patient.ID, e.therapist.ID)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want[i], got, equateEmpty); diff != "" {
				t.Errorf("%s: records of fixture %d (-want +got):\n%s", what, i, diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mustUnavailable fails t unless err says that the KEK key needed is not
// held: a key wrapped by a KEK the keyring does not have.
func mustUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if confidant.KindOf(err) != confidant.KindUnavailable || confidant.CodeOf(err) != "kek_unavailable" {
		t.Errorf("%s: %v, want Unavailable kek_unavailable", what, err)
	}
}

// TestKEKRotation rotates the KEK of a file provider over 1202 patients:
// keys.RotateFile, a keyring reopened over the rotated file, seal.RewrapAll
// in batches of 100 interrupted after the third batch and then resumed,
// and keys.RetireFile with seal.KEKInUse. What is checked about backups:
//
//   - a keyring over a copy of the KEK file taken before the rotation
//     cannot unwrap the re-wrapped patient keys or the re-wrapped
//     blind-index key (kek_unavailable);
//   - a copy of the database taken before the rotation (every key wrapped
//     by the old KEK key) cannot be read with the KEK file once the old key
//     is retired from it (kek_unavailable);
//   - that same database copy is still read by the KEK file copy from
//     before the rotation: retiring a KEK key protects backups only if the
//     copies of the KEK file that hold it are gone too.
func TestKEKRotation(t *testing.T) { forEachBackend(t, testKEKRotation) }

func testKEKRotation(t *testing.T, be backend) {
	if testing.Short() {
		t.Skip("1202 patients")
	}
	ctx := context.Background()
	dir := t.TempDir()
	kekPath := filepath.Join(dir, "kek.json")
	if err := keys.CreateFile(kekPath, nil); err != nil {
		t.Fatal(err)
	}
	kr1 := openKeyring(t, kekPath)
	e := newEnvKeys(t, be, kr1, nil)
	fixtures := []*fixture{e.addFixture(t, "Rotated", 11), e.addFixture(t, "Rewrapped", 12)}
	var people []person
	for i := range 1200 {
		people = append(people, person{given: fmt.Sprint("G", i), family: surnames[i%len(surnames)],
			birth: time.Date(1940+i%60, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)})
	}
	patients := e.register(t, people)
	for _, f := range fixtures {
		patients = append(patients, f.patient)
	}
	var want []records
	for _, f := range fixtures {
		want = append(want, e.readAll(t, f.patient.ID))
	}
	oldKEK := kr1.KEKID()

	// Backups before the rotation: the database (see env.backup) and the
	// KEK file.
	dbBackup, kekBackup := e.backup(t), filepath.Join(dir, "kek-backup.json")
	copyFile(t, kekPath, kekBackup)
	backend := e.backend

	// Rotate the file, open a new keyring over it.
	newKEK, err := keys.RotateFile(kekPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	kr2 := openKeyring(t, kekPath)
	if kr2.KEKID() != newKEK || newKEK == oldKEK {
		t.Fatalf("KEK ids: old %s, rotated %s, reopened keyring %s", oldKEK, newKEK, kr2.KEKID())
	}
	if err := seal.Prepare(ctx, backend, kr2); err != nil {
		t.Fatal(err)
	}
	counts := func() (total, other int, system string) {
		t.Helper()
		err := backend.View(ctx, func(tx confidant.SealedTx) error {
			var err error
			if total, other, err = tx.CountPatientKeys(ctx, newKEK); err != nil {
				return err
			}
			wk, err := tx.SystemKey(ctx, seal.IndexKeyName)
			system = wk.KEKID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return total, other, system
	}
	n := len(patients)

	// Interrupted: the progress callback cancels after the third batch.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var calls [][2]int
	done, err := seal.RewrapAll(cctx, backend, kr2, 100, func(done, total int) {
		calls = append(calls, [2]int{done, total})
		if len(calls) == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || done != 300 {
		t.Fatalf("interrupted RewrapAll = %d, %v; want 300, context.Canceled", done, err)
	}
	if want := [][2]int{{100, n}, {200, n}, {300, n}}; !slices.Equal(calls, want) {
		t.Errorf("progress %v, want %v", calls, want)
	}
	if total, other, system := counts(); total != n || other != n-300 || system != oldKEK {
		t.Errorf("after the interruption: %d keys, %d not under the new KEK, index key under %s; want %d, %d, %s",
			total, other, system, n, n-300, oldKEK)
	}
	checkReadable(t, "after the interruption, reopened keyring", backend, kr2, e, patients, fixtures, want)
	// The old key is still in use: retiring removes nothing.
	inUse := func(id string) (bool, error) { return seal.KEKInUse(ctx, backend, id) }
	if removed, err := keys.RetireFile(kekPath, nil, inUse); err != nil || len(removed) != 0 {
		t.Errorf("RetireFile half-way = %v, %v; want nothing removed", removed, err)
	}
	// A keyring opened before the rotation (a server not restarted) knows
	// only the old KEK key: it cannot unwrap a re-wrapped patient key.
	var rewrapped string
	if err := backend.View(ctx, func(tx confidant.SealedTx) error {
		wks, err := tx.ListPatientKeys(ctx, confidant.KeyFilter{NotKEK: oldKEK, Limit: 1})
		if err == nil && len(wks) == 1 {
			rewrapped = wks[0].Owner
		}
		return err
	}); err != nil || rewrapped == "" {
		t.Fatalf("no re-wrapped key (%v)", err)
	}
	err = seal.New(backend, kr1).View(ctx, func(tx confidant.Tx) error {
		_, err := tx.Patient(ctx, rewrapped)
		return err
	})
	mustUnavailable(t, "re-wrapped key with the keyring opened before the rotation", err)

	// Resumed: the rest, then the blind-index key.
	calls = nil
	done, err = seal.RewrapAll(ctx, backend, kr2, 100, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil || done != n-300 {
		t.Fatalf("resumed RewrapAll = %d, %v; want %d", done, err, n-300)
	}
	if len(calls) != 10 || calls[len(calls)-1] != [2]int{n - 300, n - 300} {
		t.Errorf("resumed progress %v", calls)
	}
	if total, other, system := counts(); total != n || other != 0 || system != newKEK {
		t.Errorf("after the resumed run: %d keys, %d not under the new KEK, index key under %s; want %d, 0, %s",
			total, other, system, n, newKEK)
	}
	// Nothing left to do.
	if done, err := seal.RewrapAll(ctx, backend, kr2, 100, nil); err != nil || done != 0 {
		t.Errorf("third RewrapAll = %d, %v; want 0", done, err)
	}
	checkReadable(t, "after the rotation", backend, kr2, e, patients, fixtures, want)

	// Retire the old KEK key.
	removed, err := keys.RetireFile(kekPath, nil, inUse)
	if err != nil || !slices.Equal(removed, []string{oldKEK}) {
		t.Fatalf("RetireFile = %v, %v; want [%s]", removed, err, oldKEK)
	}
	kr3 := openKeyring(t, kekPath)
	if err := seal.Prepare(ctx, backend, kr3); err != nil {
		t.Fatalf("Prepare with the retired file: %v", err)
	}
	checkReadable(t, "with the retired file", backend, kr3, e, patients, fixtures, want)
	err = seal.New(backend, kr3).View(ctx, func(tx confidant.Tx) error {
		got, err := tx.ListPatients(ctx, confidant.PatientFilter{IdentityCode: patients[700].IdentityCode})
		if err == nil && (len(got) != 1 || got[0].ID != patients[700].ID) {
			err = fmt.Errorf("found %v", ids(got))
		}
		return err
	})
	if err != nil {
		t.Errorf("search by identity code with the retired file: %v", err)
	}

	// The KEK file from before the rotation cannot unwrap what was
	// re-wrapped.
	krOld := openKeyring(t, kekBackup)
	mustUnavailable(t, "Prepare with the pre-rotation KEK file", seal.Prepare(ctx, backend, krOld))
	for _, p := range []confidant.Patient{patients[0], patients[n-1]} {
		err := seal.New(backend, krOld).View(ctx, func(tx confidant.Tx) error { _, err := tx.Patient(ctx, p.ID); return err })
		mustUnavailable(t, "patient with the pre-rotation KEK file", err)
	}

	// The database from before the rotation cannot be read with the
	// retired KEK file...
	old := dbBackup.open(t)
	mustUnavailable(t, "Prepare of the old database with the retired file", seal.Prepare(ctx, old, kr3))
	for _, p := range []confidant.Patient{patients[0], patients[n-1]} {
		err := seal.New(old, kr3).View(ctx, func(tx confidant.Tx) error { _, err := tx.Patient(ctx, p.ID); return err })
		mustUnavailable(t, "old database with the retired file", err)
	}
	// ...but still with the KEK file from before the rotation.
	if err := seal.Prepare(ctx, old, krOld); err != nil {
		t.Fatal(err)
	}
	checkReadable(t, "old database with the pre-rotation KEK file", old, krOld, e, patients, fixtures, want)
}

// hookStore calls before(n) before the n-th Update (from 1), to write
// between the transactions of a rotation.
type hookStore struct {
	confidant.SealedStore
	before func(n int)
	n      int
}

func (h *hookStore) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	h.n++
	if h.before != nil {
		h.before(h.n)
	}
	return h.SealedStore.Update(ctx, fn)
}

// keyIDs counts a patient's stored blobs by the Tink key id that made them.
func (e *env) keyIDs(t testing.TB, patientID string) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	for _, b := range e.blobs(t, patientID) {
		out[keyID(t, b.Data)]++
	}
	return out
}

func (e *env) primary(t testing.TB, patientID string) uint32 {
	t.Helper()
	var id uint32
	err := e.backend.View(context.Background(), func(tx confidant.SealedTx) error {
		wk, err := tx.PatientKey(context.Background(), patientID)
		if err != nil {
			return err
		}
		id, err = e.keys.PatientPrimaryKeyID(wk)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRotatePatient rotates a patient's key: every blob is then under the
// new primary key, the old key is gone from the keyset (an old ciphertext
// put back no longer opens), the records read back identical, and other
// patients are untouched.
func TestRotatePatient(t *testing.T) { forEachBackend(t, testRotatePatient) }

func testRotatePatient(t *testing.T, be backend) {
	e := newEnv(t, be)
	f, other := e.addFixture(t, "Rotating", 13), e.addFixture(t, "Bystander", 14)
	ctx := context.Background()
	pid := f.patient.ID
	before, otherBefore := e.readAll(t, pid), e.blobs(t, other.patient.ID)
	oldBlobs := e.blobs(t, pid)
	oldKey := e.primary(t, pid)
	if ids := e.keyIDs(t, pid); len(ids) != 1 || ids[oldKey] != len(oldBlobs) {
		t.Fatalf("before the rotation: key ids %v, primary %d", ids, oldKey)
	}
	var calls [][2]int
	if err := seal.RotatePatient(ctx, e.backend, e.keys, pid, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{len(oldBlobs), len(oldBlobs)}}; !slices.Equal(calls, want) {
		t.Errorf("progress %v, want %v", calls, want)
	}
	newKey := e.primary(t, pid)
	if newKey == oldKey {
		t.Fatalf("primary key %d unchanged", newKey)
	}
	if ids := e.keyIDs(t, pid); len(ids) != 1 || ids[newKey] != len(oldBlobs) {
		t.Errorf("after the rotation: key ids %v, want all %d blobs under %d", ids, len(oldBlobs), newKey)
	}
	if diff := cmp.Diff(before, e.readAll(t, pid), equateEmpty); diff != "" {
		t.Errorf("records after the rotation (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(otherBefore, e.blobs(t, other.patient.ID)); diff != "" {
		t.Errorf("another patient's blobs changed:\n%s", diff)
	}
	// The old key was pruned: its ciphertexts, put back, no longer open
	// (they would if it were still in the keyset, even not primary).
	e.tamper(t, func(stx confidant.SealedTx, st *seal.Store) error {
		for _, p := range f.kinds() {
			if err := stx.RewriteBlob(ctx, oldBlobs[p.blobKey]); err != nil {
				return err
			}
			mustFailIntegrity(t, st, e, p, f.secrets(), "old ciphertext after pruning")
		}
		return nil
	})
	n, err := seal.VerifyPatient(ctx, e.backend, e.keys, pid)
	if err != nil || n != len(oldBlobs) {
		t.Errorf("VerifyPatient = %d, %v; want %d", n, err, len(oldBlobs))
	}
}

// TestRotatePatientResume interrupts a rotation after its first batch
// (the records stay readable, under two keys) and runs it again: the
// second run carries on with the key the first one added, re-encrypts
// only what is left, and prunes.
func TestRotatePatientResume(t *testing.T) { forEachBackend(t, testRotatePatientResume) }

func testRotatePatientResume(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Interrupted", 15)
	ctx := context.Background()
	pid := f.patient.ID
	// Enough blobs for three batches of 200: an attachment of 450 chunks.
	big := confidant.Attachment{ID: confidant.NewID(), PatientID: pid, Filename: "scan.tiff", ContentType: "image/tiff", Chunks: 450, UploadedBy: e.therapist.ID, CreatedAt: t0}
	e.update(t, func(tx confidant.Tx) error {
		for i := range big.Chunks {
			if err := tx.PutAttachmentChunk(ctx, pid, big.ID, i, fmt.Appendf(nil, "chunk %d of the scan", i)); err != nil {
				return err
			}
		}
		return tx.CreateAttachment(ctx, big)
	})
	before := e.readAll(t, pid)
	total := len(e.blobs(t, pid))
	oldKey := e.primary(t, pid)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := seal.RotatePatient(cctx, e.backend, e.keys, pid, func(done, total int) {
		if done >= 200 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted RotatePatient: %v, want context.Canceled", err)
	}
	added := e.primary(t, pid)
	if ids := e.keyIDs(t, pid); added == oldKey || ids[added] != 200 || ids[oldKey] != total-200 {
		t.Fatalf("after the interruption: key ids %v (old %d, added %d), want 200 under the added key", ids, oldKey, added)
	}
	if diff := cmp.Diff(before, e.readAll(t, pid), equateEmpty); diff != "" {
		t.Errorf("records after the interruption (-before +after):\n%s", diff)
	}
	if n, err := seal.VerifyPatient(ctx, e.backend, e.keys, pid); err != nil || n != total {
		t.Errorf("VerifyPatient half-way = %d, %v; want %d", n, err, total)
	}

	var calls [][2]int
	if err := seal.RotatePatient(ctx, e.backend, e.keys, pid, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatalf("resumed RotatePatient: %v", err)
	}
	left := total - 200
	if want := [][2]int{{200, left}, {left, left}}; !slices.Equal(calls, want) {
		t.Errorf("resumed progress %v, want %v (only what was left)", calls, want)
	}
	if got := e.primary(t, pid); got != added {
		t.Errorf("primary after resuming %d, want the key added by the interrupted run %d", got, added)
	}
	if ids := e.keyIDs(t, pid); len(ids) != 1 || ids[added] != total {
		t.Errorf("after resuming: key ids %v, want all %d under %d", ids, total, added)
	}
	if diff := cmp.Diff(before, e.readAll(t, pid), equateEmpty); diff != "" {
		t.Errorf("records after resuming (-before +after):\n%s", diff)
	}
}

// TestRotatePatientConcurrentWrite saves a draft and updates the patient
// after the rotation listed the patient's blobs and before it rewrites
// them: the rotation must not write the listed (older) values back.
func TestRotatePatientConcurrentWrite(t *testing.T) {
	forEachBackend(t, testRotatePatientConcurrentWrite)
}

func testRotatePatientConcurrentWrite(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Busy", 16)
	ctx := context.Background()
	pid := f.patient.ID
	p := f.patient
	p.Phone = "+358 50 999 9999"
	draft := f.notes[1]
	const body = "Draft note saved during the rotation"
	hook := &hookStore{SealedStore: e.backend, before: func(n int) {
		if n != 2 { // 1: the new key; 2: the first batch
			return
		}
		e.update(t, func(tx confidant.Tx) error {
			if err := tx.UpdatePatient(ctx, p); err != nil {
				return err
			}
			return tx.UpdateDraft(ctx, draft.ID, 1, draft.Versions[0].Template, body, t0.Add(time.Minute))
		})
	}}
	if err := seal.RotatePatient(ctx, hook, e.keys, pid, nil); err != nil {
		t.Fatal(err)
	}
	got := e.readAll(t, pid)
	if got.Patient.Phone != p.Phone {
		t.Errorf("patient update during the rotation lost: phone %q, want %q", got.Patient.Phone, p.Phone)
	}
	for _, n := range got.Notes {
		if n.ID == draft.ID && n.Versions[0].Body != body {
			t.Errorf("draft saved during the rotation lost: body %q", n.Versions[0].Body)
		}
	}
	if ids := e.keyIDs(t, pid); len(ids) != 1 {
		t.Errorf("after the rotation: key ids %v, want one", ids)
	}
}

// TestVerifyPatient counts a patient's blobs and reports a flipped byte in
// any of them as an integrity error.
func TestVerifyPatient(t *testing.T) { forEachBackend(t, testVerifyPatient) }

func testVerifyPatient(t *testing.T, be backend) {
	e := newEnv(t, be)
	f := e.addFixture(t, "Verified", 17)
	ctx := context.Background()
	pid := f.patient.ID
	stored := e.blobs(t, pid)
	// 1 patient, 3 note versions, 2 process notes, diagnoses, plans,
	// measures and attachments, 4 chunks.
	if n, err := seal.VerifyPatient(ctx, e.backend, e.keys, pid); err != nil || n != 18 || len(stored) != 18 {
		t.Fatalf("VerifyPatient = %d, %v; want 18 (%d stored)", n, err, len(stored))
	}
	for _, p := range f.kinds() {
		e.tamper(t, func(stx confidant.SealedTx, _ *seal.Store) error {
			b := stored[p.blobKey]
			b.Data = slices.Clone(b.Data)
			b.Data[len(b.Data)/2] ^= 0x10
			if err := stx.RewriteBlob(ctx, b); err != nil {
				return err
			}
			if _, err := seal.VerifyPatient(ctx, inTx{stx}, e.keys, pid); !seal.IsIntegrityError(err) {
				t.Errorf("VerifyPatient with a flipped byte in %s: %v, want an integrity error", p, err)
			}
			return nil
		})
	}
}
