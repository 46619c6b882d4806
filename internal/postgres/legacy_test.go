package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// v1World is a schema-1 database's content, written with plain SQL.
type v1World struct {
	clinic            confidant.Clinic
	therapist, client confidant.User // client is the patient's account
	careID            string
	patients          []confidant.Patient // ordered by id
	records           map[string]LegacyRecords
}

// ts1 returns a UTC time with microseconds, as PostgreSQL keeps them.
func ts1(day, sec int) time.Time {
	return time.Date(2024, 5, day, 10, 0, sec, 123456000, time.UTC)
}

// writeV1 fills a database at schema version 1.
func writeV1(t *testing.T, db *DB) v1World {
	t.Helper()
	ctx := t.Context()
	w := v1World{
		clinic:    confidant.Clinic{ID: confidant.NewID(), Name: "Keskusta", City: "Helsinki", CreatedAt: ts1(1, 0)},
		therapist: confidant.User{ID: confidant.NewID(), Username: "terapeutti", Role: confidant.RoleTherapist},
		careID:    confidant.NewID(),
		records:   map[string]LegacyRecords{},
	}
	full := confidant.Patient{
		ID: confidant.NewID(), ClinicID: w.clinic.ID, GivenName: "Äijälä", FamilyName: "O'Brien \"Tiny\"",
		IdentityCode: "131052-308T", BirthDate: time.Date(1952, 10, 13, 0, 0, 0, 0, time.UTC),
		Phone: "+358 40 123 4567", Email: "a@example.org", Address: "Mannerheimintie 1 A 2\n00100 Helsinki",
		CreatedAt: ts1(2, 0),
	}
	// Unknown identity code and birth date: NULLs in schema 1.
	bare := confidant.Patient{ID: confidant.NewID(), ClinicID: w.clinic.ID, FamilyName: "Virtanen", CreatedAt: ts1(2, 1)}
	w.client = confidant.User{ID: confidant.NewID(), Username: "potilas", Role: confidant.RolePatient, PatientID: full.ID}
	if bare.ID < full.ID {
		w.patients = []confidant.Patient{bare, full}
	} else {
		w.patients = []confidant.Patient{full, bare}
	}

	th := w.therapist.ID
	note := confidant.Note{
		ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, SessionAt: ts1(3, 0), CreatedAt: ts1(3, 1),
		ReleasedAt: ts1(4, 0), ReleasedBy: th,
		Versions: []confidant.NoteVersion{
			{Version: 1, Template: confidant.TemplateSOAP, Body: "Subjective:\nSleeps poorly; 'quotes' \\ and ümlauts.", Status: confidant.NoteSigned,
				AuthorID: th, CreatedAt: ts1(3, 1), UpdatedAt: ts1(3, 2), SignedAt: ts1(3, 3), SignedBy: th},
			{Version: 2, Template: confidant.TemplateFree, Body: "Amended.", Status: confidant.NoteDraft,
				AuthorID: th, CreatedAt: ts1(3, 4), UpdatedAt: ts1(3, 5), Reason: "Wrong dose"},
		},
	}
	draft := confidant.Note{
		ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, SessionAt: ts1(5, 0), CreatedAt: ts1(5, 1),
		Versions: []confidant.NoteVersion{{Version: 1, Template: confidant.TemplateDAP, Body: "", Status: confidant.NoteDraft,
			AuthorID: th, CreatedAt: ts1(5, 1), UpdatedAt: ts1(5, 1)}},
	}
	att := confidant.Attachment{ID: confidant.NewID(), PatientID: full.ID, Filename: "lähete.pdf", ContentType: "application/pdf",
		Size: 7, SHA256: []byte{0, 1, 2, 0xff}, Chunks: 2, UploadedBy: th, CreatedAt: ts1(6, 0)}
	empty := confidant.Attachment{ID: confidant.NewID(), PatientID: full.ID, Filename: "empty.txt", ContentType: "text/plain",
		UploadedBy: th, CreatedAt: ts1(6, 1)}
	w.records[full.ID] = LegacyRecords{
		Notes: []confidant.Note{draft, note}, // newest session first
		ProcessNotes: []confidant.ProcessNote{
			{ID: confidant.NewID(), PatientID: full.ID, AuthorID: th, Body: "Countertransference.", CreatedAt: ts1(3, 6)},
			{ID: confidant.NewID(), PatientID: full.ID, AuthorID: confidant.NewID(), Body: "A colleague's.", CreatedAt: ts1(3, 7)},
		},
		Diagnoses: []confidant.Diagnosis{
			{ID: confidant.NewID(), PatientID: full.ID, Code: "F32.1", Title: "Moderate depressive episode", Note: "Since spring.",
				Status: confidant.DiagnosisResolved, RecordedBy: th, RecordedAt: ts1(3, 8)},
		},
		Plans: []confidant.TreatmentPlan{ // newest first
			{ID: confidant.NewID(), PatientID: full.ID, Goals: "Sleep better.", AuthorID: th, CreatedAt: ts1(3, 10)},
			{ID: confidant.NewID(), PatientID: full.ID, Goals: "Sleep.", Interventions: "CBT-I.", ReviewOn: time.Date(2024, 6, 20, 0, 0, 0, 0, time.UTC), AuthorID: th, CreatedAt: ts1(3, 9)},
		},
		Measures: []confidant.Measure{
			{ID: confidant.NewID(), PatientID: full.ID, Instrument: confidant.PHQ9, Answers: []int{1, 2, 3, 0, 1, 2, 3, 0, 1},
				Score: 13, Severity: "moderate", RecordedBy: th, TakenAt: ts1(3, 11)},
		},
		Attachments: []confidant.Attachment{empty, att}, // newest first
		Chunks:      map[string][][]byte{att.ID: {{'%', 'P', 0, 'F'}, {0, 0xff, '\n'}}},
	}
	w.records[bare.ID] = LegacyRecords{}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO organisation (id, name, created_at) VALUES ($1, 'Mieli Oy', $2)`, confidant.NewID(), ts1(1, 0))
	exec(`INSERT INTO clinics (id, name, city, created_at) VALUES ($1, $2, $3, $4)`, w.clinic.ID, w.clinic.Name, w.clinic.City, w.clinic.CreatedAt)
	for _, p := range w.patients {
		exec(`INSERT INTO patients (id, clinic_id, given_name, family_name, given_name_norm, family_name_norm,
				identity_code, birth_date, phone, email, address, created_at)
			VALUES ($1, $2, $3, $4, lower($3), lower($4), $5, $6, $7, $8, $9, $10)`,
			p.ID, p.ClinicID, p.GivenName, p.FamilyName, nullText(p.IdentityCode), ts(p.BirthDate), p.Phone, p.Email, p.Address, p.CreatedAt)
	}
	for _, u := range []confidant.User{w.therapist, w.client} {
		exec(`INSERT INTO users (id, username, role, patient_id) VALUES ($1, $2, $3, $4)`, u.ID, u.Username, string(u.Role), nullText(u.PatientID))
	}
	exec(`INSERT INTO user_clinics (user_id, clinic_id, position) VALUES ($1, $2, 1)`, th, w.clinic.ID)
	exec(`INSERT INTO sessions (id, token_hash, user_id, kind) VALUES ($1, '\x01', $2, 'web')`, confidant.NewID(), w.client.ID)
	exec(`INSERT INTO care_relationships (id, patient_id, therapist_id, clinic_id, from_at) VALUES ($1, $2, $3, $4, $5)`,
		w.careID, full.ID, th, w.clinic.ID, ts1(1, 0))
	r := w.records[full.ID]
	for _, n := range r.Notes {
		exec(`INSERT INTO notes (id, patient_id, author_id, session_at, created_at, released_at, released_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, n.ID, n.PatientID, n.AuthorID, n.SessionAt, n.CreatedAt, ts(n.ReleasedAt), n.ReleasedBy)
		for _, v := range n.Versions {
			exec(`INSERT INTO note_versions (patient_id, note_id, version, template, body, status, author_id,
					created_at, updated_at, signed_at, signed_by, reason)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				n.PatientID, n.ID, v.Version, string(v.Template), v.Body, string(v.Status), v.AuthorID,
				v.CreatedAt, v.UpdatedAt, ts(v.SignedAt), v.SignedBy, v.Reason)
		}
	}
	for _, n := range r.ProcessNotes {
		exec(`INSERT INTO process_notes (id, patient_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
			n.ID, n.PatientID, n.AuthorID, n.Body, n.CreatedAt)
	}
	for _, d := range r.Diagnoses {
		exec(`INSERT INTO diagnoses (id, patient_id, code, title, note, status, recorded_by, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.ID, d.PatientID, d.Code, d.Title, d.Note, string(d.Status), d.RecordedBy, d.RecordedAt)
	}
	for _, p := range r.Plans {
		exec(`INSERT INTO treatment_plans (id, patient_id, goals, interventions, review_on, author_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.PatientID, p.Goals, p.Interventions, ts(p.ReviewOn), p.AuthorID, p.CreatedAt)
	}
	for _, m := range r.Measures {
		exec(`INSERT INTO measures (id, patient_id, instrument, answers, score, severity, recorded_by, taken_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.ID, m.PatientID, string(m.Instrument), m.Answers, m.Score, m.Severity, m.RecordedBy, m.TakenAt)
	}
	for _, a := range r.Attachments {
		exec(`INSERT INTO attachments (id, patient_id, filename, content_type, size, sha256, chunks, uploaded_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, a.ID, a.PatientID, a.Filename, a.ContentType, a.Size, a.SHA256, a.Chunks, a.UploadedBy, a.CreatedAt)
		for i, c := range r.Chunks[a.ID] {
			exec(`INSERT INTO attachment_chunks (attachment_id, idx, patient_id, data) VALUES ($1, $2, $3, $4)`, a.ID, i, a.PatientID, c)
		}
	}
	return w
}

// legacyTables are the tables 0002 moves aside and 0003 drops.
var legacyTables = []string{"v1_patients", "v1_notes", "v1_note_versions", "v1_process_notes", "v1_diagnoses",
	"v1_treatment_plans", "v1_measures", "v1_attachments", "v1_attachment_chunks"}

// fkState returns the table a foreign key references and whether it is
// validated; "" when there is no such constraint.
func fkState(t *testing.T, db *DB, table, constraint string) (references string, validated bool) {
	t.Helper()
	err := db.pool.QueryRow(t.Context(), `
		SELECT c.confrelid::regclass::text, c.convalidated FROM pg_constraint c
		WHERE c.conrelid = to_regclass($1) AND c.conname = $2 AND c.contype = 'f'`, table, constraint).Scan(&references, &validated)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return references, validated
}

// checkFinalSchema checks the database after the last migration: no v1_
// tables, and the kept tables' foreign keys validated against patients.
func checkFinalSchema(t *testing.T, db *DB) {
	t.Helper()
	for _, tbl := range legacyTables {
		var exists bool
		if err := db.pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, tbl).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("table %s still exists", tbl)
		}
	}
	for _, fk := range [][2]string{{"users", "users_patient_fkey"}, {"care_relationships", "care_patient_fkey"}} {
		if ref, ok := fkState(t, db, fk[0], fk[1]); ref != "patients" || !ok {
			t.Errorf("%s.%s references %q (validated %v), want patients, validated", fk[0], fk[1], ref, ok)
		}
	}
	if n, err := db.LegacyPending(t.Context()); n != 0 || err != nil {
		t.Errorf("LegacyPending = %d, %v; want 0", n, err)
	}
	if ps, err := db.LegacyPatients(t.Context(), "", 0); ps != nil || err != nil {
		t.Errorf("LegacyPatients = %v, %v; want none", ps, err)
	}
}

// timeCmp compares times as instants.
var timeCmp = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestUpgradeFromSchema1(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	db := openTest(t, Options{Schema: schema, NoMigrate: true})
	ctx := t.Context()
	if err := db.migrateTo(ctx, 1, nil); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	w := writeV1(t, db)
	// Before 0002 the plaintext is in schema 1's own tables.
	if _, err := db.LegacyPending(ctx); !errors.Is(err, errBeforeSealed) {
		t.Errorf("LegacyPending at schema 1 = %v, want errBeforeSealed", err)
	}
	if _, err := db.LegacyPatients(ctx, "", 0); !errors.Is(err, errBeforeSealed) {
		t.Errorf("LegacyPatients at schema 1 = %v, want errBeforeSealed", err)
	}
	full := w.patients[0]
	if full.IdentityCode == "" {
		full = w.patients[1]
	}

	// Migrate applies 0002 and stops before 0003.
	var applied []string
	err := db.Migrate(ctx, func(_, _ int, name string) { applied = append(applied, name) })
	if !errors.Is(err, ErrLegacyPending) {
		t.Fatalf("Migrate = %v, want ErrLegacyPending", err)
	}
	if cmp.Diff([]string{"sealed"}, applied) != "" {
		t.Errorf("applied %v, want [sealed]", applied)
	}
	if v, err := db.SchemaVersion(ctx); v != 2 || err != nil {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
	if n, err := db.LegacyPending(ctx); n != 2 || err != nil {
		t.Fatalf("LegacyPending = %d, %v; want 2", n, err)
	}
	// Open without NoMigrate says so too.
	if db2, err := Open(ctx, dsn, Options{Schema: schema}); !errors.Is(err, ErrLegacyPending) {
		if err == nil {
			db2.Close()
		}
		t.Errorf("Open of a database with legacy records = %v, want ErrLegacyPending", err)
	}
	// The SQL of 0003 refuses on its own too.
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, migrations()[2].sql)
		return err
	})
	if err == nil {
		t.Fatalf("0003's SQL ran with legacy patients left")
	}

	// The kept tables keep their rows; their foreign keys point at the new
	// patients table, not yet validated.
	for _, fk := range [][2]string{{"users", "users_patient_fkey"}, {"care_relationships", "care_patient_fkey"}} {
		if ref, ok := fkState(t, db, fk[0], fk[1]); ref != "patients" || ok {
			t.Errorf("%s.%s references %q (validated %v), want patients, not validated", fk[0], fk[1], ref, ok)
		}
	}
	// Users are read in SQL here: later migrations add columns that the
	// store's user queries read (checked through the store after 0003).
	var gotUser confidant.User
	var gotCare confidant.CareRelationship
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		if err := db.pool.QueryRow(ctx, `SELECT patient_id FROM users WHERE id = $1`, w.client.ID).Scan(&gotUser.PatientID); err != nil {
			return err
		}
		if _, err := tx.Clinic(ctx, w.clinic.ID); err != nil {
			return err
		}
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, w.therapist.ID).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("therapist kept: %d, %v", n, err)
		}
		return db.pool.QueryRow(ctx, `SELECT patient_id FROM care_relationships WHERE id = $1`, w.careID).Scan(&gotCare.PatientID)
	})
	if err != nil {
		t.Fatalf("kept records: %v", err)
	}
	if gotUser.PatientID != full.ID || gotCare.PatientID != full.ID {
		t.Errorf("patient account for %q, care for %q; want %q", gotUser.PatientID, gotCare.PatientID, full.ID)
	}
	// New references are checked already.
	err = db.Update(ctx, func(stx confidant.SealedTx) error {
		_, err := stx.(*tx).tx.Exec(ctx, `INSERT INTO care_relationships (id, patient_id, therapist_id, clinic_id) VALUES ($1, $2, $3, $4)`,
			confidant.NewID(), confidant.NewID(), w.therapist.ID, w.clinic.ID)
		return mapErr(err, "create care relationship", "Care relationship")
	})
	if confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("CreateCare for an unknown patient = %v, want KindNotFound", err)
	}

	// The plaintext records read back exactly.
	ps, err := db.LegacyPatients(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(w.patients, ps, timeCmp); d != "" {
		t.Errorf("LegacyPatients mismatch (-want +got):\n%s", d)
	}
	first, err := db.LegacyPatients(ctx, "", 1)
	if err != nil || len(first) != 1 || first[0].ID != w.patients[0].ID {
		t.Errorf("LegacyPatients(limit 1) = %v, %v", first, err)
	}
	rest, err := db.LegacyPatients(ctx, w.patients[0].ID, 0)
	if err != nil || len(rest) != 1 || rest[0].ID != w.patients[1].ID {
		t.Errorf("LegacyPatients(after the first) = %v, %v", rest, err)
	}
	for _, p := range w.patients {
		got, err := db.LegacyRecords(ctx, p.ID)
		if err != nil {
			t.Fatalf("LegacyRecords: %v", err)
		}
		if d := cmp.Diff(w.records[p.ID], got, timeCmp); d != "" {
			t.Errorf("LegacyRecords mismatch (-want +got):\n%s", d)
		}
	}
	if r, err := db.LegacyRecords(ctx, confidant.NewID()); err != nil || cmp.Diff(LegacyRecords{}, r) != "" {
		t.Errorf("LegacyRecords of an unknown patient = %+v, %v; want none", r, err)
	}

	// A legacy patient is deleted only once sealed (with the same id).
	if err := db.DeleteLegacyPatient(ctx, full.ID); confidant.CodeOf(err) != "patient_not_sealed" {
		t.Errorf("DeleteLegacyPatient before sealing = %v, want patient_not_sealed", err)
	}
	for _, p := range w.patients {
		err := db.Update(ctx, func(tx confidant.SealedTx) error {
			return tx.CreatePatient(ctx, confidant.SealedPatient{ID: p.ID, ClinicID: p.ClinicID, CreatedAt: p.CreatedAt, Data: []byte("sealed")})
		})
		if err != nil {
			t.Fatalf("seal patient: %v", err)
		}
		if err := db.DeleteLegacyPatient(ctx, p.ID); err != nil {
			t.Fatalf("DeleteLegacyPatient: %v", err)
		}
		if r, err := db.LegacyRecords(ctx, p.ID); err != nil || cmp.Diff(LegacyRecords{}, r) != "" {
			t.Errorf("LegacyRecords after DeleteLegacyPatient = %+v, %v; want none", r, err)
		}
	}
	if err := db.DeleteLegacyPatient(ctx, full.ID); err != nil {
		t.Errorf("DeleteLegacyPatient twice: %v", err)
	}
	for _, tbl := range legacyTables {
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{tbl}.Sanitize()).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows (%v) after deleting every legacy patient", tbl, n, err)
		}
	}

	// Now 0003 applies, and what came after it.
	applied = nil
	if err := db.Migrate(ctx, func(_, _ int, name string) { applied = append(applied, name) }); err != nil {
		t.Fatalf("Migrate after the upgrade: %v", err)
	}
	var want []string
	for _, m := range migrations()[2:] {
		want = append(want, m.name)
	}
	if want[0] != legacyDrop || cmp.Diff(want, applied) != "" {
		t.Errorf("applied %v, want %v starting with %s", applied, want, legacyDrop)
	}
	if v, err := db.SchemaVersion(ctx); v != LatestVersion() || err != nil {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	checkFinalSchema(t, db)
	if r, err := db.LegacyRecords(ctx, full.ID); err != nil || cmp.Diff(LegacyRecords{}, r) != "" {
		t.Errorf("LegacyRecords after 0003 = %+v, %v; want none", r, err)
	}
	if err := db.DeleteLegacyPatient(ctx, full.ID); err != nil {
		t.Errorf("DeleteLegacyPatient after 0003: %v", err)
	}
	// The kept rows survived, and the validated foreign key holds.
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		u, err := tx.User(ctx, w.client.ID)
		if err != nil {
			return err
		}
		cs, err := tx.ListCare(ctx, confidant.CareFilter{PatientID: full.ID})
		if err != nil {
			return err
		}
		if u.PatientID != full.ID || len(cs) != 1 || cs[0].ID != w.careID {
			t.Errorf("after 0003: account for %q, care %v", u.PatientID, cs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.pool.Exec(ctx, `UPDATE users SET patient_id = $1 WHERE id = $2`, confidant.NewID(), w.client.ID)
	if err == nil {
		t.Errorf("users.patient_id accepts an unknown patient after 0003")
	}
}

// TestFreshSchema checks that an empty database migrates straight through
// and that the Legacy methods work without v1_ tables.
func TestFreshSchema(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	if v, err := db.SchemaVersion(ctx); v != LatestVersion() || err != nil {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	checkFinalSchema(t, db)
	if r, err := db.LegacyRecords(ctx, confidant.NewID()); err != nil || cmp.Diff(LegacyRecords{}, r) != "" {
		t.Errorf("LegacyRecords = %+v, %v; want none", r, err)
	}
	if err := db.DeleteLegacyPatient(ctx, confidant.NewID()); err != nil {
		t.Errorf("DeleteLegacyPatient: %v", err)
	}
	if _, err := db.LegacyPatients(ctx, "", -1); confidant.KindOf(err) != confidant.KindInvalid {
		t.Errorf("LegacyPatients(limit -1) = %v, want KindInvalid", err)
	}
}

// TestLegacyWaitsForMigration checks that the Legacy methods and migrations
// exclude each other (the shared migration lock), so 0003 cannot drop the
// v1_ tables under a reader.
func TestLegacyWaitsForMigration(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := db.inLockedTx(t.Context(), func(context.Context, pgx.Tx) error {
		_, err := db.LegacyRecords(ctx, confidant.NewID())
		return err
	})
	if err == nil || ctx.Err() == nil {
		t.Errorf("LegacyRecords did not wait for the migration lock: %v", err)
	}
}
