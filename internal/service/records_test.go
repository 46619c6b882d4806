package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/ncruces/go-sqlite3/driver"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// rawSQL runs statements against the database behind a world, as someone
// with write access to the database and nothing else would.
type rawSQL struct {
	exec  func(t *testing.T, q string, args ...any)
	query func(t *testing.T, q string, args []any, dest ...any)
	pg    bool
}

// recordsWorlds builds a world on a fresh database of each store, with raw
// access to that database.
func recordsWorlds(t *testing.T, fn func(t *testing.T, w *testfix.World, db rawSQL)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "confidant.db")
		back, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { back.Close() })
		w := testfix.New(t, testfix.Seal(t, back, testfix.Keyring(t)))
		raw, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		fn(t, w, rawSQL{
			exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				if _, err := raw.Exec(q, args...); err != nil {
					t.Fatal(err)
				}
			},
			query: func(t *testing.T, q string, args []any, dest ...any) {
				t.Helper()
				if err := raw.QueryRow(q, args...).Scan(dest...); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testfix.PostgresDSN(t, "the PostgreSQL records-check tests")
		schema := testfix.PostgresSchema(t, dsn, "test_records_")
		back, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { back.Close() })
		w := testfix.New(t, testfix.Seal(t, back, testfix.Keyring(t)))
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		pgq := func(q string) string { // ? placeholders to $n
			var b bytes.Buffer
			n := 0
			for _, c := range q {
				if c == '?' {
					n++
					fmt.Fprintf(&b, "$%d", n)
					continue
				}
				b.WriteRune(c)
			}
			return b.String()
		}
		fn(t, w, rawSQL{
			pg: true,
			exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				if _, err := conn.Exec(ctx, pgq(q), args...); err != nil {
					t.Fatal(err)
				}
			},
			query: func(t *testing.T, q string, args []any, dest ...any) {
				t.Helper()
				if err := conn.QueryRow(ctx, pgq(q), args...).Scan(dest...); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

// TestRecordsCheck: records written through the service verify against
// the access log; a note deleted, a note's sealed value reverted to an
// older one (a draft's earlier text), a plan reverted by deleting it and
// a measure inserted, all by SQL, are each named with the log index that
// contradicts them.
func TestRecordsCheck(t *testing.T) {
	recordsWorlds(t, func(t *testing.T, w *testfix.World, db rawSQL) {
		svc, th := w.Service, w.As(w.Therapist)
		p := w.PatientA.ID
		lg := testfix.Log(w.Store)
		note := func(body string) confidant.Note {
			n, err := svc.CreateNote(th, p, service.NoteInput{Template: confidant.TemplateSOAP, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// A note written, edited, signed, amended and released.
		full := note("Subjective: first draft")
		must := func(_ any, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(svc.UpdateDraft(th, full.ID, 1, confidant.TemplateSOAP, "Subjective: second draft"))
		must(svc.SignNote(th, full.ID))
		must(svc.AmendNote(th, full.ID, "Subjective: amended", "correction"))
		must(svc.ReleaseNote(th, full.ID))
		// A draft whose text is later reverted by SQL, and one deleted.
		draft := note("Subjective: draft one")
		var draftV1 []byte
		db.query(t, `SELECT data FROM note_versions WHERE note_id = ? AND version = 1`, []any{draft.ID}, &draftV1)
		must(svc.UpdateDraft(th, draft.ID, 1, confidant.TemplateSOAP, "Subjective: draft two"))
		gone := note("Subjective: to be deleted")
		must(svc.CreateProcessNote(th, p, "private thoughts"))
		d, err := svc.AddDiagnosis(th, p, "F32.1", "")
		if err != nil {
			t.Fatal(err)
		}
		must(svc.SetDiagnosisStatus(th, d.ID, confidant.DiagnosisResolved))
		plan, err := svc.SavePlan(th, p, service.PlanInput{Goals: "sleep", Interventions: "CBT-I"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := svc.RecordMeasure(th, p, confidant.PHQ9, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		must(svc.UploadAttachment(th, p, "referral.pdf", bytes.NewReader(append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 100)...))))

		ctx := context.Background()
		rep, err := lg.VerifyRecords(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// 3 notes, a process note, a diagnosis, a plan, a measure, an attachment.
		if !rep.OK() || rep.Verified != 8 || rep.Stored != 8 || rep.Logged != 8 || rep.Unverifiable != 0 {
			t.Fatalf("clean records: %+v", rep)
		}
		lastWrite := func(id string) int64 {
			t.Helper()
			var idx int64
			db.query(t, `SELECT MAX(idx) FROM audit_events WHERE record_id = ? AND outcome = 'ok' AND action NOT LIKE '%.read%'`, []any{id}, &idx)
			return idx
		}
		fullAt, draftAt, goneAt, planAt := lastWrite(full.ID), lastWrite(draft.ID), lastWrite(gone.ID), lastWrite(plan.ID)

		// Revert the amendment (the first signed version is current again),
		// restore the draft's earlier text, delete a note and a plan,
		// insert a measure.
		db.exec(t, `DELETE FROM note_versions WHERE note_id = ? AND version = 2`, full.ID)
		db.exec(t, `UPDATE note_versions SET data = ? WHERE note_id = ? AND version = 1`, draftV1, draft.ID)
		db.exec(t, `DELETE FROM note_versions WHERE note_id = ?`, gone.ID)
		db.exec(t, `DELETE FROM notes WHERE id = ?`, gone.ID)
		planTable := "plans"
		if db.pg {
			planTable = "treatment_plans"
		}
		db.exec(t, `DELETE FROM `+planTable+` WHERE id = ?`, plan.ID)
		inserted := confidant.NewID()
		db.exec(t, `INSERT INTO measures (id, patient_id, instrument, recorded_by, taken_at, data)
			SELECT ?, patient_id, instrument, recorded_by, taken_at, data FROM measures WHERE id = ?`, inserted, m.ID)

		rep, err = lg.VerifyRecords(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]audit.RecordFinding{
			full.ID:  {Finding: audit.FindingReverted, Kind: confidant.RecordNote, RecordID: full.ID, PatientID: p, LogIndex: fullAt, LoggedVersion: 2, StoredVersion: 1},
			draft.ID: {Finding: audit.FindingChanged, Kind: confidant.RecordNote, RecordID: draft.ID, PatientID: p, LogIndex: draftAt, LoggedVersion: 1, StoredVersion: 1},
			gone.ID:  {Finding: audit.FindingMissing, Kind: confidant.RecordNote, RecordID: gone.ID, PatientID: p, LogIndex: goneAt, LoggedVersion: 1},
			plan.ID:  {Finding: audit.FindingMissing, Kind: confidant.RecordPlan, RecordID: plan.ID, PatientID: p, LogIndex: planAt, LoggedVersion: 1},
			inserted: {Finding: audit.FindingUnlogged, Kind: confidant.RecordMeasure, RecordID: inserted, PatientID: p, LogIndex: -1, StoredVersion: 1},
		}
		if len(rep.Findings) != len(want) {
			t.Errorf("%d findings, want %d: %+v", len(rep.Findings), len(want), rep.Findings)
		}
		for _, f := range rep.Findings {
			if f != want[f.RecordID] {
				t.Errorf("finding %+v, want %+v", f, want[f.RecordID])
			}
		}
		if rep.Verified != 4 { // process note, diagnosis, measure, attachment
			t.Errorf("%d verified, want 4", rep.Verified)
		}
	})
}

// BenchmarkVerifyRecords measures the records check over records written
// through the service on SQLite (CONFIDANT_BENCH_RECORDS notes, default
// 300, plus a diagnosis and a measure each tenth note): records/s and
// events/s of the whole check (one scan of the log, one of the tables).
func BenchmarkVerifyRecords(b *testing.B) {
	n := 300
	if v := os.Getenv("CONFIDANT_BENCH_RECORDS"); v != "" {
		fmt.Sscan(v, &n)
	}
	w := testfix.New(b, testfix.SQLite(b))
	th := w.As(w.Therapist)
	for i := range n {
		if _, err := w.Service.CreateNote(th, w.PatientA.ID, service.NoteInput{Template: confidant.TemplateSOAP, Body: fmt.Sprint("Subjective: session ", i)}); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := w.Service.AddDiagnosis(th, w.PatientA.ID, "F32.1", ""); err != nil {
				b.Fatal(err)
			}
			if _, err := w.Service.RecordMeasure(th, w.PatientA.ID, confidant.GAD7, []int{1, 1, 1, 1, 1, 1, 1}, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	lg := testfix.Log(w.Store)
	ctx := context.Background()
	var rep *confidant.RecordsReport
	b.ResetTimer()
	for b.Loop() {
		var err error
		if rep, err = lg.VerifyRecords(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !rep.OK() {
		b.Fatalf("findings: %v", rep.Findings)
	}
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(rep.Stored)/per, "records/s")
	b.ReportMetric(float64(rep.LogSize)/per, "events/s")
}

// TestRecordsCheckBeforeDigests: a record whose only write event carries
// no digest (as every event did before event version 3) is counted
// unverifiable, not reported, even once its sealed value changed.
func TestRecordsCheckBeforeDigests(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	lg := testfix.Log(w.Store)
	d := confidant.Diagnosis{ID: confidant.NewID(), PatientID: w.PatientA.ID, Code: "F32.1", Title: "Depression",
		Status: confidant.DiagnosisActive, RecordedBy: w.Therapist.ID, RecordedAt: time.Now()}
	if err := w.Store.Update(ctx, func(tx confidant.Tx) error { return tx.CreateDiagnosis(ctx, d) }); err != nil {
		t.Fatal(err)
	}
	// The write's event in another transaction, which wrote nothing: no
	// digest, as before version 3.
	ev := confidant.AuditEvent{Time: time.Now(), ActorID: w.Therapist.ID, Role: confidant.RoleTherapist, Action: service.ActDiagnosisCreate,
		PatientID: w.PatientA.ID, RecordID: d.ID, Outcome: confidant.OutcomeOK}
	if err := w.Store.Update(ctx, func(tx confidant.Tx) error { return tx.Audit(ev) }); err != nil {
		t.Fatal(err)
	}
	rep, err := lg.VerifyRecords(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Unverifiable != 1 || rep.Verified != 0 || rep.Stored != 1 {
		t.Fatalf("a record written before digests: %+v", rep)
	}
	if err := lg.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.RewriteBlob(ctx, confidant.Blob{PatientID: d.PatientID, Kind: confidant.BlobDiagnosis, ID: d.ID, Data: []byte("not the ciphertext")})
	}); err != nil {
		t.Fatal(err)
	}
	if rep, err = lg.VerifyRecords(ctx, nil); err != nil || !rep.OK() || rep.Unverifiable != 1 {
		t.Fatalf("a record written before digests, changed: %v %+v", err, rep)
	}
}

// TestRecordActionsAreTheServices: the records check knows every record
// write of the service by its action.
func TestRecordActionsAreTheServices(t *testing.T) {
	want := map[string]confidant.RecordKind{
		service.ActNoteCreate: confidant.RecordNote, service.ActNoteEdit: confidant.RecordNote, service.ActNoteSign: confidant.RecordNote,
		service.ActNoteAmend: confidant.RecordNote, service.ActNoteRelease: confidant.RecordNote,
		service.ActProcessCreate: confidant.RecordProcessNote, service.ActDiagnosisCreate: confidant.RecordDiagnosis,
		service.ActDiagnosisStatus: confidant.RecordDiagnosis, service.ActPlanCreate: confidant.RecordPlan,
		service.ActMeasureCreate: confidant.RecordMeasure, service.ActAttachCreate: confidant.RecordAttachment,
	}
	if len(audit.RecordActions) != len(want)+len(audit.ResealActions) {
		t.Errorf("audit.RecordActions has %d actions, want %d and the reseals", len(audit.RecordActions), len(want))
	}
	for k, a := range audit.ResealActions {
		if audit.RecordActions[a] != k {
			t.Errorf("reseal action %q of %q is not a record action of that kind", a, k)
		}
	}
	for a, k := range want {
		if audit.RecordActions[a] != k {
			t.Errorf("audit.RecordActions[%q] = %q, want %q", a, audit.RecordActions[a], k)
		}
	}
}
