package seal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// t0 is the time every fixture record is stamped with (UTC, microseconds,
// as the stores keep times).
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)

// env is the full storage path of the product: a sealing store over a
// fresh database of one backend (which the test knows, to look into it or
// copy it) and a fresh file KEK, with a clinic and a therapist to own
// records.
type env struct {
	db        *testDB               // where the backend keeps its data
	backend   confidant.SealedStore // the open backend under store
	keys      *keys.Keyring
	ring      seal.Keyring // the store's Keyring: keys, unless replaced
	store     *seal.Store
	clinic    confidant.Clinic
	therapist confidant.User
}

func newEnv(t testing.TB, be backend) *env {
	t.Helper()
	return newEnvKeys(t, be, testfix.Keyring(t), nil)
}

// newEnvKeys builds an env on a fresh database of be and k; ring, if set,
// replaces k as the store's Keyring (k still prepares the blind-index key).
func newEnvKeys(t testing.TB, be backend, k *keys.Keyring, ring seal.Keyring) *env {
	t.Helper()
	e := &env{db: be.newDB(t), keys: k, ring: k}
	e.backend = e.db.open(t)
	e.store = testfix.Seal(t, e.backend, k)
	if ring != nil {
		e.ring = ring
		e.store = seal.New(e.backend, ring)
	}
	e.clinic = confidant.Clinic{ID: confidant.NewID(), Name: "Kallio", City: "Helsinki", CreatedAt: t0}
	e.therapist = confidant.User{
		ID: confidant.NewID(), Username: "terapeutti", DisplayName: "Tea", Role: confidant.RoleTherapist,
		ClinicIDs: []string{e.clinic.ID}, PasswordHash: "x", CreatedAt: t0,
	}
	e.update(t, func(tx confidant.Tx) error {
		if err := tx.CreateClinic(context.Background(), e.clinic); err != nil {
			return err
		}
		return tx.CreateUser(context.Background(), e.therapist)
	})
	return e
}

// backup copies e's database as it is now and returns the copy, which
// later writes through e do not change. On SQLite it closes the database
// (so that the WAL is in the file), copies the file and reopens e's
// backend and store; on PostgreSQL it restores a pg_dump of e's schema
// into a fresh schema.
func (e *env) backup(t testing.TB) *testDB {
	t.Helper()
	switch e.db.kind {
	case sqliteKind:
		e.backend.Close()
		cp := &testDB{kind: sqliteKind, path: filepath.Join(t.TempDir(), "backup.db")}
		copyFile(t, e.db.path, cp.path)
		e.backend = e.db.open(t)
		e.store = seal.New(e.backend, e.ring)
		return cp
	case postgresKind:
		cp := &testDB{kind: postgresKind, dsn: e.db.dsn, schema: newSchema(t, e.db.dsn)}
		// The schema names are random and have letters that are not hex
		// digits, so e's occurs in the dump only where it names the schema.
		dump := bytes.ReplaceAll(pgDump(t, e.db), []byte(e.db.schema), []byte(cp.schema))
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Fatalf("psql not found (needed to restore a dump): %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1", "--dbname", e.db.dsn)
		cmd.Stdin = bytes.NewReader(dump)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restore the dump of %s into %s: %v\n%s", e.db.schema, cp.schema, err, out)
		}
		return cp
	}
	t.Fatalf("backup: unknown backend %q", e.db.kind)
	return nil
}

func (e *env) update(t testing.TB, fn func(confidant.Tx) error) {
	t.Helper()
	if err := e.store.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func (e *env) view(t testing.TB, fn func(confidant.Tx) error) {
	t.Helper()
	if err := e.store.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// within returns a sealing store whose transactions all run inside stx,
// an open transaction of the backend. Tests tamper with rows through stx
// and read them back through the returned store without committing
// anything: the enclosing Update returns errRollback.
func within(stx confidant.SealedTx, k seal.Keyring) *seal.Store {
	return seal.New(inTx{stx}, k)
}

type inTx struct{ confidant.SealedTx }

func (s inTx) Update(_ context.Context, fn func(confidant.SealedTx) error) error {
	return fn(s.SealedTx)
}
func (s inTx) View(_ context.Context, fn func(confidant.SealedTx) error) error { return fn(s.SealedTx) }
func (inTx) Close() error                                                      { return nil }

var errRollback = errors.New("rollback")

// tamper runs fn in a read-write transaction of the backend that is always
// rolled back.
func (e *env) tamper(t testing.TB, fn func(stx confidant.SealedTx, st *seal.Store) error) {
	t.Helper()
	err := e.backend.Update(context.Background(), func(stx confidant.SealedTx) error {
		if err := fn(stx, within(stx, e.keys)); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
}

// fixture is a patient with two records of every kind, every one holding
// text that names the fixture's tag, so that it can be looked for in the
// stored bytes.
type fixture struct {
	patient     confidant.Patient
	notes       []confidant.Note // notes[0]: signed v1 and amendment v2; notes[1]: a draft
	process     []confidant.ProcessNote
	diagnoses   []confidant.Diagnosis
	plans       []confidant.TreatmentPlan
	measures    []confidant.Measure
	attachments []confidant.Attachment
	chunks      map[string][][]byte // attachment id -> chunk contents
}

// secrets returns every identifying or clinical value of f that is long
// enough (8 bytes or more) to be looked for in ciphertext without chance
// matches.
func (f *fixture) secrets() []string {
	p := f.patient
	s := []string{p.GivenName, p.FamilyName, p.IdentityCode, p.Phone, p.Email, p.Address,
		p.BirthDate.Format(time.RFC3339Nano)}
	for _, n := range f.notes {
		for _, v := range n.Versions {
			s = append(s, v.Body, v.Reason)
		}
	}
	for _, n := range f.process {
		s = append(s, n.Body)
	}
	for _, d := range f.diagnoses {
		s = append(s, d.Title, d.Note)
	}
	for _, pl := range f.plans {
		s = append(s, pl.Goals, pl.Interventions)
	}
	for _, m := range f.measures {
		s = append(s, m.Severity, fmt.Sprint(m.Answers))
	}
	for _, a := range f.attachments {
		s = append(s, a.Filename, string(a.SHA256))
		for _, c := range f.chunks[a.ID] {
			s = append(s, string(c))
		}
	}
	out := s[:0]
	for _, v := range s {
		if len(v) >= 8 {
			out = append(out, v)
		}
	}
	return out
}

// addFixture creates a patient in e's clinic, in the therapist's care,
// with two records of every kind. n distinguishes fixtures (identity code,
// birth year).
func (e *env) addFixture(t testing.TB, tag string, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	birth := time.Date(1960+n%40, time.Month(1+n%12), 1+n%28, 0, 0, 0, 0, time.UTC)
	code, err := confidant.MakeIdentityCode(birth, 2+n%897)
	if err != nil {
		t.Fatal(err)
	}
	th := e.therapist.ID
	f := &fixture{chunks: map[string][][]byte{}}
	f.patient = confidant.Patient{
		ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: "Given-" + tag, FamilyName: "Family-" + tag,
		IdentityCode: code, BirthDate: birth, Phone: "+358 40 " + tag, Email: tag + "@example.invalid",
		Address: "Street of " + tag + "\n00100 Helsinki", CreatedAt: t0.Add(time.Duration(n) * time.Second),
	}
	pid := f.patient.ID
	amended := confidant.Note{
		ID: confidant.NewID(), PatientID: pid, AuthorID: th, SessionAt: t0.Add(-48 * time.Hour), CreatedAt: t0,
		Versions: []confidant.NoteVersion{{
			Version: 1, Template: confidant.TemplateSOAP, Body: "Subjective: original note of " + tag, Status: confidant.NoteSigned,
			AuthorID: th, CreatedAt: t0, UpdatedAt: t0, SignedAt: t0, SignedBy: th,
		}},
	}
	v2 := confidant.NoteVersion{
		Version: 2, Template: confidant.TemplateSOAP, Body: "Subjective: amended note of " + tag, Status: confidant.NoteSigned,
		AuthorID: th, CreatedAt: t0, UpdatedAt: t0, SignedAt: t0, SignedBy: th, Reason: "reason for amending " + tag,
	}
	draft := confidant.Note{
		ID: confidant.NewID(), PatientID: pid, AuthorID: th, SessionAt: t0.Add(-24 * time.Hour), CreatedAt: t0,
		Versions: []confidant.NoteVersion{{
			Version: 1, Template: confidant.TemplateFree, Body: "Draft note of " + tag, Status: confidant.NoteDraft,
			AuthorID: th, CreatedAt: t0, UpdatedAt: t0,
		}},
	}
	for i := range 2 {
		f.process = append(f.process, confidant.ProcessNote{
			ID: confidant.NewID(), PatientID: pid, AuthorID: th, Body: fmt.Sprintf("Process note %d of %s", i, tag), CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		})
		f.diagnoses = append(f.diagnoses, confidant.Diagnosis{
			ID: confidant.NewID(), PatientID: pid, Code: fmt.Sprintf("F3%d.1", i), Title: fmt.Sprintf("Diagnosis title %d of %s", i, tag),
			Note: fmt.Sprintf("Diagnosis comment %d of %s", i, tag), Status: confidant.DiagnosisActive, RecordedBy: th, RecordedAt: t0.Add(time.Duration(i) * time.Minute),
		})
		f.plans = append(f.plans, confidant.TreatmentPlan{
			ID: confidant.NewID(), PatientID: pid, Goals: fmt.Sprintf("Goals %d of %s", i, tag), Interventions: fmt.Sprintf("Interventions %d of %s", i, tag),
			ReviewOn: time.Date(2026, 1, 2+i, 0, 0, 0, 0, time.UTC), AuthorID: th, CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		})
		f.measures = append(f.measures, confidant.Measure{
			ID: confidant.NewID(), PatientID: pid, Instrument: confidant.PHQ9, Answers: []int{3, 2, 1, 0, 3, 2, 1, 0, i},
			Score: 12 + i, Severity: fmt.Sprintf("severity %d of %s", i, tag), RecordedBy: th, TakenAt: t0.Add(time.Duration(i) * time.Minute),
		})
		att := confidant.Attachment{
			ID: confidant.NewID(), PatientID: pid, Filename: fmt.Sprintf("letter-%d-%s.pdf", i, tag), ContentType: "application/pdf",
			Chunks: 2, UploadedBy: th, CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		}
		h := sha256.New()
		for c := range 2 {
			chunk := fmt.Appendf(nil, "%%PDF chunk %d of attachment %d of %s", c, i, tag)
			f.chunks[att.ID] = append(f.chunks[att.ID], chunk)
			h.Write(chunk)
			att.Size += int64(len(chunk))
		}
		att.SHA256 = h.Sum(nil)
		f.attachments = append(f.attachments, att)
	}
	e.update(t, func(tx confidant.Tx) error {
		if err := tx.CreatePatient(ctx, f.patient); err != nil {
			return err
		}
		if err := tx.CreateCare(ctx, confidant.CareRelationship{
			ID: confidant.NewID(), PatientID: pid, TherapistID: th, ClinicID: e.clinic.ID, From: t0.Add(-time.Hour), CreatedBy: th, CreatedAt: t0,
		}); err != nil {
			return err
		}
		for _, n := range []confidant.Note{amended, draft} {
			if err := tx.CreateNote(ctx, n); err != nil {
				return err
			}
		}
		if err := tx.AddNoteVersion(ctx, amended.ID, v2); err != nil {
			return err
		}
		for i := range 2 {
			if err := tx.CreateProcessNote(ctx, f.process[i]); err != nil {
				return err
			}
			if err := tx.CreateDiagnosis(ctx, f.diagnoses[i]); err != nil {
				return err
			}
			if err := tx.CreatePlan(ctx, f.plans[i]); err != nil {
				return err
			}
			if err := tx.CreateMeasure(ctx, f.measures[i]); err != nil {
				return err
			}
			a := f.attachments[i]
			for c, chunk := range f.chunks[a.ID] {
				if err := tx.PutAttachmentChunk(ctx, pid, a.ID, c, chunk); err != nil {
					return err
				}
			}
			if err := tx.CreateAttachment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	amended.Versions = append(amended.Versions, v2)
	f.notes = []confidant.Note{amended, draft}
	return f
}

// records is everything the sealing store returns about a patient.
type records struct {
	Patient      confidant.Patient
	Notes        []confidant.Note
	ProcessNotes []confidant.ProcessNote
	Diagnoses    []confidant.Diagnosis
	Plans        []confidant.TreatmentPlan
	Measures     []confidant.Measure
	Attachments  []confidant.Attachment
	Chunks       map[string][][]byte
}

// readAll reads every record of patient id through tx.
func readAll(ctx context.Context, tx confidant.Tx, id, authorID string) (records, error) {
	var r records
	var err error
	if r.Patient, err = tx.Patient(ctx, id); err != nil {
		return r, err
	}
	if r.Notes, err = tx.ListNotes(ctx, id, confidant.NoteFilter{}); err != nil {
		return r, err
	}
	if r.ProcessNotes, err = tx.ListProcessNotes(ctx, id, authorID); err != nil {
		return r, err
	}
	if r.Diagnoses, err = tx.ListDiagnoses(ctx, id); err != nil {
		return r, err
	}
	if r.Plans, err = tx.ListPlans(ctx, id); err != nil {
		return r, err
	}
	if r.Measures, err = tx.ListMeasures(ctx, id); err != nil {
		return r, err
	}
	if r.Attachments, err = tx.ListAttachments(ctx, id); err != nil {
		return r, err
	}
	r.Chunks = map[string][][]byte{}
	for _, a := range r.Attachments {
		for i := range a.Chunks {
			c, err := tx.AttachmentChunk(ctx, id, a.ID, i)
			if err != nil {
				return r, err
			}
			r.Chunks[a.ID] = append(r.Chunks[a.ID], c)
		}
	}
	return r, nil
}

// readAll reads every record of patient id through the store.
func (e *env) readAll(t testing.TB, id string) records {
	t.Helper()
	var r records
	e.view(t, func(tx confidant.Tx) error {
		var err error
		r, err = readAll(context.Background(), tx, id, e.therapist.ID)
		return err
	})
	return r
}

// blobKey names a sealed blob's place.
type blobKey struct {
	Kind confidant.BlobKind
	ID   string
	Sub  int
}

func keyOf(b confidant.Blob) blobKey { return blobKey{b.Kind, b.ID, b.Sub} }

// blobs returns the stored blobs of a patient by place.
func (e *env) blobs(t testing.TB, patientID string) map[blobKey]confidant.Blob {
	t.Helper()
	out := map[blobKey]confidant.Blob{}
	err := e.backend.View(context.Background(), func(stx confidant.SealedTx) error {
		bs, err := stx.PatientBlobs(context.Background(), patientID)
		for _, b := range bs {
			out[keyOf(b)] = b
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keyID is the Tink key id that made a stored sealed value: after the
// format byte comes Tink's prefix, 0x01 and the 4-byte key id.
func keyID(t testing.TB, sealed []byte) uint32 {
	t.Helper()
	if len(sealed) < 1 {
		t.Fatalf("empty sealed value")
	}
	id, ok := keys.CiphertextKeyID(sealed[1:])
	if !ok {
		t.Fatalf("sealed value without a Tink key id: % x", sealed[:min(len(sealed), 8)])
	}
	return id
}

// equateEmpty makes nil and empty slices and maps equal in diffs.
var equateEmpty = cmpopts.EquateEmpty()
