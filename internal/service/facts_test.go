package service_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// forgeStore is a store under test and a raw SQL connection to its
// database, as a database writer (T2) has.
type forgeStore struct {
	st   *seal.Store
	exec func(t *testing.T, q string, args ...any) // q uses ? placeholders and the SQLite table names
}

func forgeStores(t *testing.T) map[string]func(t *testing.T) forgeStore {
	return map[string]func(t *testing.T) forgeStore{
		"sqlite": func(t *testing.T) forgeStore {
			path := filepath.Join(t.TempDir(), "confidant.db")
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			raw, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return forgeStore{st: testfix.Seal(t, db, testfix.Keyring(t)), exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				if _, err := raw.Exec(q, args...); err != nil {
					t.Fatalf("forging by SQL: %v", err)
				}
			}}
		},
		"postgres": func(t *testing.T) forgeStore {
			dsn := testfix.PostgresDSN(t, "the PostgreSQL forgery tests")
			schema := testfix.PostgresSchema(t, dsn, "facts_")
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			if _, err := conn.Exec(context.Background(), `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
				t.Fatal(err)
			}
			return forgeStore{st: testfix.Seal(t, db, testfix.Keyring(t)), exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				q = strings.ReplaceAll(q, "care ", "care_relationships ")
				q = strings.ReplaceAll(q, "awaiting_approval = 0", "awaiting_approval = false")
				var b strings.Builder
				n := 0
				for _, r := range q {
					if r == '?' {
						n++
						b.WriteString("$" + strconv.Itoa(n))
						continue
					}
					b.WriteRune(r)
				}
				for i, a := range args { // times as the PostgreSQL store keeps them
					if tm, ok := a.(time.Time); ok {
						args[i] = tm.UTC()
					}
				}
				if _, err := conn.Exec(context.Background(), b.String(), args...); err != nil {
					t.Fatalf("forging by SQL: %v", err)
				}
			}}
		},
	}
}

// TestForgedFactsRefused forges each authorization fact by SQL (care row
// inserted or its end cleared, role changed, clinic membership added,
// approval set, break-the-glass grant inserted, process-note author
// changed), as a
// database writer would, and shows the access refused and the forgery
// reported in the access log (docs/SECURITY.md, "Authorization facts").
func TestForgedFactsRefused(t *testing.T) {
	for name, open := range forgeStores(t) {
		t.Run(name, func(t *testing.T) {
			fs := open(t)
			w := testfix.New(t, fs.st)
			svc := w.Service
			ctx := context.Background()
			var forged []string
			// The SQLite store keeps times as Unix microseconds; the
			// PostgreSQL exec turns time.Time into timestamptz.
			when := func(tm time.Time) any {
				if name == "sqlite" {
					return tm.UnixMicro()
				}
				return tm
			}
			hour := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)

			// A care row inserted, with a MAC copied from a genuine one.
			var genuine []byte
			err := fs.st.View(ctx, func(tx confidant.Tx) error {
				cs, err := tx.ListCare(ctx, confidant.CareFilter{TherapistID: w.Therapist.ID, PatientID: w.PatientA.ID})
				if err == nil && len(cs) == 1 {
					genuine = cs[0].FactMAC
				}
				return err
			})
			if err != nil || len(genuine) == 0 {
				t.Fatalf("genuine care row: %v (MAC %d bytes)", err, len(genuine))
			}
			careID := confidant.NewID()
			fs.exec(t, `INSERT INTO care (id, patient_id, therapist_id, clinic_id, from_at, created_by, created_at, ended_by, fact_mac)
				VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)`,
				careID, w.PatientA.ID, w.OtherTherapist.ID, w.ClinicA.ID, when(hour), w.Manager.ID, when(hour), genuine)
			forged = append(forged, careID)
			if _, err := svc.Chart(w.As(w.OtherTherapist), w.PatientA.ID); err == nil {
				t.Error("inserted care row: the chart opened")
			}
			if ps, err := svc.MyPatients(w.As(w.OtherTherapist)); err != nil || len(ps) != 0 {
				t.Errorf("inserted care row: MyPatients = %d patients, %v; want none", len(ps), err)
			}

			// A care row whose end was cleared.
			ended := confidant.CareRelationship{ID: confidant.NewID(), PatientID: w.PatientC.ID, TherapistID: w.OtherTherapist.ID,
				ClinicID: w.ClinicA.ID, From: hour, To: hour.Add(time.Minute), CreatedBy: w.Manager.ID, CreatedAt: hour}
			if err := fs.st.Update(ctx, func(tx confidant.Tx) error { return tx.CreateCare(ctx, ended) }); err != nil {
				t.Fatal(err)
			}
			fs.exec(t, `UPDATE care SET to_at = NULL, ended_by = '' WHERE id = ?`, ended.ID)
			forged = append(forged, ended.ID)
			if _, err := svc.Chart(w.As(w.OtherTherapist), w.PatientC.ID); err == nil {
				t.Error("care end cleared: the chart opened")
			}
			// The genuine relationship still works.
			if _, err := svc.Chart(w.As(w.Therapist), w.PatientA.ID); err != nil {
				t.Errorf("genuine care: %v", err)
			}

			// A role changed: the manager's session no longer authenticates.
			tok := w.SignIn(t, w.Manager, service.SessionAPI)
			if _, err := svc.Authenticate(ctx, tok, service.SessionAPI, ""); err != nil {
				t.Fatalf("manager before the forgery: %v", err)
			}
			fs.exec(t, `UPDATE users SET role = 'security' WHERE id = ?`, w.Manager.ID)
			forged = append(forged, w.Manager.ID)
			if a, err := svc.Authenticate(ctx, tok, service.SessionAPI, ""); err == nil {
				t.Errorf("role changed: authenticated as %s", a.Role)
			}

			// A clinic membership added.
			tokB := w.SignIn(t, w.TherapistB, service.SessionAPI)
			if name == "sqlite" {
				fs.exec(t, `INSERT INTO user_clinics (user_id, clinic_id) VALUES (?, ?)`, w.TherapistB.ID, w.ClinicA.ID)
			} else {
				fs.exec(t, `INSERT INTO user_clinics (user_id, clinic_id, position) VALUES (?, ?, 99)`, w.TherapistB.ID, w.ClinicA.ID)
			}
			forged = append(forged, w.TherapistB.ID)
			if a, err := svc.Authenticate(ctx, tokB, service.SessionAPI, ""); err == nil {
				t.Errorf("clinic added: authenticated with clinics %v", a.ClinicIDs)
			}

			// An approval set on an account that awaits one.
			waiting := confidant.User{ID: confidant.NewID(), Username: "waiting", DisplayName: "waiting", Role: confidant.RoleTherapist,
				ClinicIDs: []string{w.ClinicA.ID}, AwaitingApproval: true, CreatedAt: hour}
			if err := fs.st.Update(ctx, func(tx confidant.Tx) error { return tx.CreateUser(ctx, waiting) }); err != nil {
				t.Fatal(err)
			}
			fs.exec(t, `UPDATE users SET awaiting_approval = 0, approved_by = ?, approved_at = ? WHERE id = ?`,
				w.Security.ID, when(hour), waiting.ID)
			forged = append(forged, waiting.ID)
			err = fs.st.View(ctx, func(tx confidant.Tx) error {
				_, err := tx.User(ctx, waiting.ID)
				return err
			})
			if !confidant.IsKind(err, confidant.KindNotFound) {
				t.Errorf("approval forged: User = %v, want KindNotFound", err)
			}

			// A break-the-glass grant inserted, for a patient in nobody's
			// care (a genuine grant would open the chart).
			codeD, err := confidant.MakeIdentityCode(time.Date(1979, 4, 4, 0, 0, 0, 0, time.UTC), 906)
			if err != nil {
				t.Fatal(err)
			}
			patD, err := svc.CreatePatient(w.As(w.Manager), service.PatientInput{ClinicID: w.ClinicA.ID, GivenName: "Dora", FamilyName: "Test", IdentityCode: codeD})
			if err != nil {
				t.Fatal(err)
			}
			grantID := confidant.NewID()
			fs.exec(t, `INSERT INTO break_glass (id, therapist_id, patient_id, clinic_id, category, created_at, expires_at, status, reviewed_by, data)
				VALUES (?, ?, ?, ?, 'risk_to_life', ?, ?, 'open', '', ?)`,
				grantID, w.OtherTherapist.ID, patD.ID, w.ClinicA.ID, when(hour), when(hour.Add(3*time.Hour)), []byte("x"))
			forged = append(forged, grantID)
			if _, err := svc.Chart(w.As(w.OtherTherapist), patD.ID); err == nil {
				t.Error("inserted break-the-glass grant: the chart opened")
			}

			// A process note's author changed to another therapist in care.
			note, err := svc.CreateProcessNote(w.As(w.Therapist), w.PatientA.ID, "private thoughts")
			if err != nil {
				t.Fatal(err)
			}
			third := confidant.User{ID: confidant.NewID(), Username: "third", DisplayName: "third", Role: confidant.RoleTherapist,
				ClinicIDs: []string{w.ClinicA.ID}, CreatedAt: hour}
			err = fs.st.Update(ctx, func(tx confidant.Tx) error {
				if err := tx.CreateUser(ctx, third); err != nil {
					return err
				}
				return tx.CreateCare(ctx, confidant.CareRelationship{ID: confidant.NewID(), PatientID: w.PatientA.ID,
					TherapistID: third.ID, ClinicID: w.ClinicA.ID, From: hour, CreatedBy: w.Manager.ID, CreatedAt: hour})
			})
			if err != nil {
				t.Fatal(err)
			}
			if ns, err := svc.ProcessNotes(w.As(third), w.PatientA.ID); err != nil || len(ns) != 0 {
				t.Fatalf("third therapist before the forgery: %d notes, %v", len(ns), err)
			}
			fs.exec(t, `UPDATE process_notes SET author_id = ? WHERE id = ?`, third.ID, note.ID)
			forged = append(forged, note.ID)
			if ns, err := svc.ProcessNotes(w.As(third), w.PatientA.ID); err != nil || len(ns) != 0 {
				t.Errorf("process-note author changed: %d notes, %v; want none", len(ns), err)
			}
			if c, err := svc.Chart(w.As(third), w.PatientA.ID); err != nil || len(c.ProcessNotes) != 0 {
				t.Errorf("process-note author changed: chart with %d process notes, %v; want none", len(c.ProcessNotes), err)
			}

			// Each forgery is reported in the access log (asynchronously).
			l := testfix.Log(fs.st)
			deadline := time.Now().Add(10 * time.Second)
			for {
				evs, err := l.Query(ctx, confidant.EventFilter{Action: service.ActFactForged, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range evs {
					got = append(got, e.RecordID)
				}
				missing := slices.DeleteFunc(slices.Clone(forged), func(id string) bool { return slices.Contains(got, id) })
				if len(missing) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("forgeries not reported: %v (reported %v)", missing, got)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
