package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// v1Data is what a database written with schema 1 holds, as the domain
// records LegacyPatients and LegacyRecords must return.
type v1Data struct {
	clinic    confidant.Clinic
	therapist confidant.User
	account   confidant.User // a patient's account
	care      []confidant.CareRelationship
	session   confidant.Session
	patients  []confidant.Patient // ordered by id
	records   map[string]LegacyRecords
}

// Distinctive plaintext, looked for in the database file after the upgrade.
const (
	secretBody    = "Plaintext note body QZXW that must not survive"
	secretSurname = "Plaintextsurname"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

// makeV1Data returns three patients: one with a record of every kind, one
// with a note only, one with nothing.
func makeV1Data() v1Data {
	d := v1Data{records: map[string]LegacyRecords{}}
	d.clinic = confidant.Clinic{ID: confidant.NewID(), Name: "Kallio", City: "Helsinki", CreatedAt: t0}
	d.therapist = confidant.User{
		ID: confidant.NewID(), Username: "terapeutti", DisplayName: "Tea Terapeutti", Role: confidant.RoleTherapist,
		ClinicIDs: []string{d.clinic.ID}, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: t0,
	}
	for i, family := range []string{secretSurname, "Virtanen", "Äijälä"} {
		birth := time.Date(1970+i, time.Month(2+i), 3+i, 0, 0, 0, 0, time.UTC)
		code, err := confidant.MakeIdentityCode(birth, 234+i)
		if err != nil {
			panic(err)
		}
		p := confidant.Patient{
			ID: confidant.NewID(), ClinicID: d.clinic.ID, GivenName: "Aino", FamilyName: family,
			IdentityCode: code, BirthDate: birth, Phone: "+358 40 123 456" + string(rune('0'+i)),
			Email: "aino@example.org", Address: "Mannerheimintie 1\n00100 Helsinki", CreatedAt: t0.Add(time.Duration(i) * time.Hour),
		}
		if i == 2 {
			p.Phone, p.Email, p.Address, p.BirthDate = "", "", "", time.Time{}
		}
		d.patients = append(d.patients, p)
		d.care = append(d.care, confidant.CareRelationship{
			ID: confidant.NewID(), PatientID: p.ID, TherapistID: d.therapist.ID, ClinicID: d.clinic.ID,
			From: t0, CreatedBy: d.therapist.ID, CreatedAt: t0,
		})
	}
	full, noteOnly := d.patients[0], d.patients[1]
	d.account = confidant.User{
		ID: confidant.NewID(), Username: "aino", Role: confidant.RolePatient, PatientID: full.ID,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: t0,
	}
	d.session = confidant.Session{
		ID: confidant.NewID(), TokenHash: bytes.Repeat([]byte{0xAB}, 32), UserID: d.account.ID, Kind: "web",
		CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
	d.care[2].To, d.care[2].EndedBy = t0.Add(time.Hour), d.therapist.ID

	th := d.therapist.ID
	amended := confidant.Note{
		ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, SessionAt: t0.Add(48 * time.Hour),
		CreatedAt: t0.Add(49 * time.Hour), ReleasedAt: t0.Add(72 * time.Hour), ReleasedBy: th,
		Versions: []confidant.NoteVersion{
			{Version: 1, Template: confidant.TemplateSOAP, Body: secretBody, Status: confidant.NoteSigned, AuthorID: th,
				CreatedAt: t0.Add(49 * time.Hour), UpdatedAt: t0.Add(50 * time.Hour), SignedAt: t0.Add(50 * time.Hour), SignedBy: th},
			{Version: 2, Template: confidant.TemplateFree, Body: "Amended: 'quotes' and \"more\"\nand ümlauts", Status: confidant.NoteDraft,
				AuthorID: th, CreatedAt: t0.Add(60 * time.Hour), UpdatedAt: t0.Add(61 * time.Hour), Reason: "Wrong dose"},
		},
	}
	draft := confidant.Note{
		ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, SessionAt: t0.Add(24 * time.Hour), CreatedAt: t0.Add(25 * time.Hour),
		Versions: []confidant.NoteVersion{{Version: 1, Template: confidant.TemplateDAP, Body: "Data:\n", Status: confidant.NoteDraft,
			AuthorID: th, CreatedAt: t0.Add(25 * time.Hour), UpdatedAt: t0.Add(25 * time.Hour)}},
	}
	score, severity, _ := confidant.PHQ9.Score([]int{3, 2, 1, 0, 3, 2, 1, 0, 3})
	chunk0 := append([]byte{0, 0xFF, 'P', 'D', 'F'}, bytes.Repeat([]byte{1, 2, 3}, 1000)...)
	chunk1 := []byte{0, 1, 0}
	d.records[full.ID] = LegacyRecords{
		Notes: []confidant.Note{amended, draft}, // newest session first
		ProcessNotes: []confidant.ProcessNote{
			{ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, Body: "Private: countertransference.", CreatedAt: t0},
			{ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, Body: "Second thought.", CreatedAt: t0.Add(time.Hour)},
		},
		Diagnoses: []confidant.Diagnosis{
			{ID: confidant.NewID(), PatientID: full.ID, Code: "F41.1", Title: "Generalized anxiety disorder", Status: confidant.DiagnosisActive, RecordedBy: th, RecordedAt: t0.Add(time.Hour)},
			{ID: confidant.NewID(), PatientID: full.ID, Code: "F32.1", Title: "Moderate depressive episode", Note: "After bereavement.", Status: confidant.DiagnosisResolved, RecordedBy: th, RecordedAt: t0},
		},
		Plans: []confidant.TreatmentPlan{
			{ID: confidant.NewID(), PatientID: full.ID, Goals: "Sleep.", Interventions: "CBT-I", ReviewOn: time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), AuthorID: th, CreatedAt: t0.Add(time.Hour)},
			{ID: confidant.NewID(), PatientID: full.ID, Goals: "Work.", AuthorID: th, CreatedAt: t0},
		},
		Measures: []confidant.Measure{
			{ID: confidant.NewID(), PatientID: full.ID, Instrument: confidant.PHQ9, Answers: []int{3, 2, 1, 0, 3, 2, 1, 0, 3}, Score: score, Severity: severity, RecordedBy: th, TakenAt: t0},
			{ID: confidant.NewID(), PatientID: full.ID, Instrument: confidant.GAD7, Answers: []int{0, 0, 0, 0, 0, 0, 1}, Score: 1, Severity: "minimal", RecordedBy: th, TakenAt: t0.Add(time.Hour)},
		},
		Attachments: []confidant.Attachment{
			{ID: confidant.NewID(), PatientID: full.ID, Filename: "lähete.pdf", ContentType: "application/pdf", Size: int64(len(chunk0) + len(chunk1)),
				SHA256: bytes.Repeat([]byte{7}, 32), Chunks: 2, UploadedBy: th, CreatedAt: t0},
		},
	}
	r := d.records[full.ID]
	r.Chunks = map[string][][]byte{r.Attachments[0].ID: {chunk0, chunk1}}
	d.records[full.ID] = r
	d.records[noteOnly.ID] = LegacyRecords{Notes: []confidant.Note{{
		ID: confidant.NewID(), PatientID: noteOnly.ID, AuthorID: th, SessionAt: t0, CreatedAt: t0,
		Versions: []confidant.NoteVersion{{Version: 1, Template: confidant.TemplateFree, Body: "Only note.", Status: confidant.NoteSigned,
			AuthorID: th, CreatedAt: t0, UpdatedAt: t0, SignedAt: t0, SignedBy: th}},
	}}}
	slices.SortFunc(d.patients, func(a, b confidant.Patient) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return d
}

// writeV1 inserts d with plain SQL into a database at schema 1.
func writeV1(t *testing.T, db *DB, d v1Data) {
	t.Helper()
	ctx := t.Context()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO organisation (id, name, created_at) VALUES (?, ?, ?)`, confidant.NewID(), "Mieli Oy", t0.UnixMicro())
	exec(`INSERT INTO clinics (id, name, city, created_at) VALUES (?, ?, ?, ?)`, d.clinic.ID, d.clinic.Name, d.clinic.City, micros(d.clinic.CreatedAt))
	for _, p := range d.patients {
		exec(`INSERT INTO patients (id, clinic_id, given_name, family_name, given_norm, family_norm, identity_code,
			birth_date, phone, email, address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.ClinicID, p.GivenName, p.FamilyName, confidant.NormalizeName(p.GivenName), confidant.NormalizeName(p.FamilyName),
			p.IdentityCode, micros(p.BirthDate), p.Phone, p.Email, p.Address, micros(p.CreatedAt))
	}
	for _, u := range []confidant.User{d.therapist, d.account} {
		exec(`INSERT INTO users (id, username, display_name, role, patient_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.DisplayName, string(u.Role), u.PatientID, u.PasswordHash, micros(u.CreatedAt))
		for _, c := range u.ClinicIDs {
			exec(`INSERT INTO user_clinics (user_id, clinic_id) VALUES (?, ?)`, u.ID, c)
		}
	}
	s := d.session
	exec(`INSERT INTO sessions (id, token_hash, user_id, kind, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.UserID, s.Kind, micros(s.CreatedAt), micros(s.LastSeen), micros(s.ExpiresAt))
	for _, c := range d.care {
		exec(`INSERT INTO care (id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.PatientID, c.TherapistID, c.ClinicID, micros(c.From), micros(c.To), c.CreatedBy, micros(c.CreatedAt), c.EndedBy)
	}
	for _, r := range d.records {
		for _, n := range r.Notes {
			exec(`INSERT INTO notes (id, patient_id, author_id, session_at, created_at, released_at, released_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				n.ID, n.PatientID, n.AuthorID, micros(n.SessionAt), micros(n.CreatedAt), micros(n.ReleasedAt), n.ReleasedBy)
			for _, v := range n.Versions {
				exec(`INSERT INTO note_versions (note_id, version, template, body, status, author_id, created_at, updated_at, signed_at, signed_by, reason)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					n.ID, v.Version, string(v.Template), v.Body, string(v.Status), v.AuthorID,
					micros(v.CreatedAt), micros(v.UpdatedAt), micros(v.SignedAt), v.SignedBy, v.Reason)
			}
		}
		for _, n := range r.ProcessNotes {
			exec(`INSERT INTO process_notes (id, patient_id, author_id, body, created_at) VALUES (?, ?, ?, ?, ?)`,
				n.ID, n.PatientID, n.AuthorID, n.Body, micros(n.CreatedAt))
		}
		for _, x := range r.Diagnoses {
			exec(`INSERT INTO diagnoses (id, patient_id, code, title, note, status, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				x.ID, x.PatientID, x.Code, x.Title, x.Note, string(x.Status), x.RecordedBy, micros(x.RecordedAt))
		}
		for _, p := range r.Plans {
			exec(`INSERT INTO plans (id, patient_id, goals, interventions, review_on, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.PatientID, p.Goals, p.Interventions, micros(p.ReviewOn), p.AuthorID, micros(p.CreatedAt))
		}
		for _, m := range r.Measures {
			exec(`INSERT INTO measures (id, patient_id, instrument, score, severity, recorded_by, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				m.ID, m.PatientID, string(m.Instrument), m.Score, m.Severity, m.RecordedBy, micros(m.TakenAt))
			for i, a := range m.Answers {
				exec(`INSERT INTO measure_answers (measure_id, item, answer) VALUES (?, ?, ?)`, m.ID, i, a)
			}
		}
		for _, a := range r.Attachments {
			for i, c := range r.Chunks[a.ID] {
				exec(`INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?, ?, ?)`, a.ID, i, c)
			}
			exec(`INSERT INTO attachments (id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.ID, a.PatientID, a.Filename, a.ContentType, a.Size, a.SHA256, a.Chunks, a.UploadedBy, micros(a.CreatedAt))
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

var legacyCmp = cmp.Options{cmpopts.EquateEmpty()}

// references returns the tables that table's foreign keys point at.
func references(t *testing.T, db *DB, table string) []string {
	t.Helper()
	rows, err := db.reader.QueryContext(t.Context(), `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?) ORDER BY 1`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func tableExists(t *testing.T, db *DB, name string) bool {
	t.Helper()
	var ok bool
	err := db.reader.QueryRowContext(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?)`, name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestLegacyUpgrade takes a database written with schema 1 through the
// sealed schema as internal/seal does: Migrate stops before dropping the
// plaintext, the Legacy* methods read it back exactly, the patients are
// sealed and their plaintext deleted, and Migrate then finishes.
func TestLegacyUpgrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "confidant.db")
	db, err := Open(ctx, path, Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.migrateTo(ctx, 1, nil); err != nil {
		t.Fatalf("migrating to schema 1: %v", err)
	}
	if _, err := db.LegacyPending(ctx); !errors.Is(err, errBeforeSealed) {
		t.Errorf("LegacyPending at schema 1 = %v, want errBeforeSealed", err)
	}
	d := makeV1Data()
	writeV1(t, db, d)

	// Migrate applies 0002 and stops before 0003.
	var applied []string
	err = db.Migrate(ctx, func(_, _ int, name string) { applied = append(applied, name) })
	if !errors.Is(err, ErrLegacyPending) {
		t.Fatalf("Migrate = %v, want ErrLegacyPending", err)
	}
	if want := []string{"0002_sealed"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
	// Open refuses to serve such a database.
	if other, err := Open(ctx, path, Options{}); !errors.Is(err, ErrLegacyPending) {
		if err == nil {
			other.Close()
		}
		t.Errorf("Open of a database with pending plaintext = %v, want ErrLegacyPending", err)
	}

	// References: kept tables point at the new tables, v1_ tables at each
	// other.
	for table, want := range map[string][]string{
		"care":                 {"clinics", "patients", "users"},
		"notes":                {"patients", "users"},
		"note_versions":        {"notes"},
		"attachment_chunks":    {"attachments"},
		"patient_keys":         {"patients"},
		"v1_notes":             {"users", "v1_patients"},
		"v1_note_versions":     {"v1_notes"},
		"v1_process_notes":     {"users", "v1_patients"},
		"v1_measure_answers":   {"v1_measures"},
		"v1_attachment_chunks": {"v1_attachments"},
		"v1_patients":          {"clinics"},
	} {
		if got := references(t, db, table); !slices.Equal(got, want) {
			t.Errorf("%s references %v, want %v", table, got, want)
		}
	}

	// Tables without patient data kept their rows (users are read through
	// the store once every migration has run: later ones add columns).
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		c, err := tx.Clinic(ctx, d.clinic.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(d.clinic, c); diff != "" {
			t.Errorf("clinic after 0002 (-want +got):\n%s", diff)
		}
		care, err := careBeforeFactMAC(ctx, tx)
		if err != nil {
			return err
		}
		byID := cmpopts.SortSlices(func(a, b confidant.CareRelationship) bool { return a.ID < b.ID })
		if diff := cmp.Diff(d.care, care, byID); diff != "" {
			t.Errorf("care after 0002 (-want +got):\n%s", diff)
		}
		if ps, err := tx.ListPatients(ctx, confidant.SealedPatientFilter{IncludeErased: true}); err != nil || len(ps) != 0 {
			t.Errorf("ListPatients after 0002 = %d patients, %v; want none yet", len(ps), err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	// The care reference is to the new, still empty patients table.
	err = db.Update(ctx, func(stx confidant.SealedTx) error {
		c := d.care[0]
		_, err := stx.(*tx).exec(ctx, "create care",
			`INSERT INTO care (id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			confidant.NewID(), c.PatientID, c.TherapistID, c.ClinicID, micros(c.From), micros(c.To),
			c.CreatedBy, micros(c.CreatedAt), c.EndedBy)
		return err
	})
	if !confidant.IsKind(err, confidant.KindNotFound) {
		t.Errorf("CreateCare for a patient not sealed yet = %v, want KindNotFound", err)
	}

	// The plaintext reads back exactly.
	if n, err := db.LegacyPending(ctx); err != nil || n != len(d.patients) {
		t.Fatalf("LegacyPending = %d, %v; want %d", n, err, len(d.patients))
	}
	var got []confidant.Patient
	for after := ""; ; {
		page, err := db.LegacyPatients(ctx, after, 2)
		if err != nil {
			t.Fatalf("LegacyPatients: %v", err)
		}
		if len(page) > 2 {
			t.Fatalf("LegacyPatients with limit 2 returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(d.patients, got, legacyCmp); diff != "" {
		t.Errorf("LegacyPatients (-want +got):\n%s", diff)
	}
	for _, p := range d.patients {
		r, err := db.LegacyRecords(ctx, p.ID)
		if err != nil {
			t.Fatalf("LegacyRecords: %v", err)
		}
		if diff := cmp.Diff(d.records[p.ID], r, legacyCmp); diff != "" {
			t.Errorf("LegacyRecords (-want +got):\n%s", diff)
		}
	}

	// Plaintext is not deleted before its sealed copy exists.
	err = db.DeleteLegacyPatient(ctx, d.patients[0].ID)
	if !confidant.IsKind(err, confidant.KindConflict) {
		t.Errorf("DeleteLegacyPatient of a patient not sealed = %v, want KindConflict", err)
	}

	// Seal (here: any bytes) and delete, one patient at a time; Migrate
	// still stops while any is left.
	for i, p := range d.patients {
		err := db.Update(ctx, func(tx confidant.SealedTx) error {
			return tx.CreatePatient(ctx, confidant.SealedPatient{ID: p.ID, ClinicID: p.ClinicID, CreatedAt: p.CreatedAt, Data: []byte{1, 2, 3}})
		})
		if err != nil {
			t.Fatalf("CreatePatient: %v", err)
		}
		if err := db.DeleteLegacyPatient(ctx, p.ID); err != nil {
			t.Fatalf("DeleteLegacyPatient: %v", err)
		}
		if err := db.DeleteLegacyPatient(ctx, p.ID); err != nil {
			t.Errorf("DeleteLegacyPatient again: %v", err)
		}
		r, err := db.LegacyRecords(ctx, p.ID)
		if err != nil {
			t.Fatalf("LegacyRecords after deleting: %v", err)
		}
		if diff := cmp.Diff(LegacyRecords{}, r, legacyCmp); diff != "" {
			t.Errorf("LegacyRecords after deleting (-want +got):\n%s", diff)
		}
		if n, err := db.LegacyPending(ctx); err != nil || n != len(d.patients)-i-1 {
			t.Errorf("LegacyPending = %d, %v; want %d", n, err, len(d.patients)-i-1)
		}
		if i < len(d.patients)-1 {
			if err := db.Migrate(ctx, nil); !errors.Is(err, ErrLegacyPending) {
				t.Errorf("Migrate with %d patients left = %v, want ErrLegacyPending", len(d.patients)-i-1, err)
			}
		}
	}

	// Now 0003 drops the v1_ tables, and the later migrations follow.
	applied = nil
	if err := db.Migrate(ctx, func(_, _ int, name string) { applied = append(applied, name) }); err != nil {
		t.Fatalf("Migrate after the upgrade: %v", err)
	}
	var want []string
	for _, m := range migrations[dropsLegacy-1:] {
		want = append(want, m.name)
	}
	if want[0] != "0003_drop_v1" || !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != LatestVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		// The session survived every migration (it has no client yet).
		s, err := tx.SessionByTokenHash(ctx, d.session.TokenHash)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(d.session, s); diff != "" {
			t.Errorf("session after the upgrade (-want +got):\n%s", diff)
		}
		for _, u := range []confidant.User{d.therapist, d.account} {
			got, err := tx.User(ctx, u.ID)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(u, got, legacyCmp); diff != "" {
				t.Errorf("user after the upgrade (-want +got):\n%s", diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	for _, table := range []string{"v1_patients", "v1_notes", "v1_note_versions", "v1_process_notes", "v1_diagnoses",
		"v1_plans", "v1_measures", "v1_measure_answers", "v1_attachments", "v1_attachment_chunks"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s still exists", table)
		}
	}
	if n, err := db.LegacyPending(ctx); err != nil || n != 0 {
		t.Errorf("LegacyPending after 0003 = %d, %v", n, err)
	}
	if ps, err := db.LegacyPatients(ctx, "", 0); err != nil || len(ps) != 0 {
		t.Errorf("LegacyPatients after 0003 = %d, %v", len(ps), err)
	}

	// The access log works on the upgraded database.
	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		l := tx.(confidant.LogTx)
		ev := confidant.StoredEvent{Index: 0, Time: t0, ActorID: d.therapist.ID, Role: confidant.RoleTherapist,
			Action: "note.read", PatientID: d.patients[0].ID, PatientSeq: 1, PatientPrev: -1,
			Nonce: make([]byte, 32), Sealed: []byte{1}, Leaf: make([]byte, 32)}
		if err := l.AppendEvents(ctx, []confidant.StoredEvent{ev}); err != nil {
			return err
		}
		heads, err := l.PatientHeads(ctx, []string{d.patients[0].ID})
		if err != nil {
			return err
		}
		if heads[d.patients[0].ID] != (confidant.ChainHead{Seq: 1, Index: 0}) {
			t.Errorf("PatientHeads after the upgrade = %v", heads)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("access log after the upgrade: %v", err)
	}

	// Care works on the sealed patients.
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		ps, err := tx.ListPatientsForTherapist(ctx, d.therapist.ID, t0.Add(time.Minute), confidant.SealedPatientFilter{})
		if len(ps) != len(d.patients) {
			t.Errorf("ListPatientsForTherapist after the upgrade: %d patients, want %d", len(ps), len(d.patients))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// No plaintext is left in the files.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, secret := range []string{secretBody, secretSurname, d.patients[0].IdentityCode} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s still contains plaintext %q", filepath.Base(p), secret)
			}
		}
	}
}

// TestFreshMigration checks that a new database goes straight to the
// latest schema, without v1_ tables.
func TestFreshMigration(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != LatestVersion() || v < dropsLegacy {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	if tableExists(t, db, "v1_patients") {
		t.Errorf("a fresh database has v1_patients")
	}
	if n, err := db.LegacyPending(ctx); err != nil || n != 0 {
		t.Errorf("LegacyPending = %d, %v", n, err)
	}
	if _, err := db.writer.ExecContext(ctx, `PRAGMA foreign_key_check`); err != nil {
		t.Error(err)
	}
	var fk bool
	if err := db.writer.QueryRowContext(context.Background(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || !fk {
		t.Errorf("foreign_keys on the writer after migrating = %v, %v; want on", fk, err)
	}
}

// careBeforeFactMAC lists care rows of a schema from before the fact_mac
// column (0011), which ListCare selects.
func careBeforeFactMAC(ctx context.Context, stx confidant.SealedTx) ([]confidant.CareRelationship, error) {
	var out []confidant.CareRelationship
	err := stx.(*tx).list(ctx, "list care",
		`SELECT id, patient_id, therapist_id, clinic_id, from_at, to_at, created_by, created_at, ended_by FROM care`, nil,
		func(r *sql.Rows) error {
			var c confidant.CareRelationship
			err := r.Scan(&c.ID, &c.PatientID, &c.TherapistID, &c.ClinicID, tm(&c.From), tm(&c.To),
				&c.CreatedBy, tm(&c.CreatedAt), &c.EndedBy)
			out = append(out, c)
			return err
		})
	return out, err
}
