package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/google/go-cmp/cmp"
)

// TestAuditMigration checks migration 0004 on a database that went through
// 0001-0003 and holds data: it applies alone, keeps the data, and the
// access log works afterwards and is append-only even to hand-written SQL.
func TestAuditMigration(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.migrateTo(ctx, 3, nil); err != nil {
		t.Fatalf("migrating to schema 3: %v", err)
	}
	if tableExists(t, db, "audit_events") {
		t.Fatalf("audit_events exists at schema 3")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "Kallio", CreatedAt: now}
	patient := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, CreatedAt: now, Data: []byte{0, 1, 2}, IdentityIndex: []byte{9, 9}}
	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		return tx.CreatePatient(ctx, patient)
	})
	if err != nil {
		t.Fatal(err)
	}

	var applied []string
	if err := db.migrateTo(ctx, 4, func(_, _ int, name string) { applied = append(applied, name) }); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if want := []string{"0004_audit_log"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != 4 {
		t.Errorf("SchemaVersion = %d, %v; want 4", v, err)
	}
	for _, table := range []string{"audit_events", "audit_tiles", "audit_entries", "audit_checkpoints"} {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after 0004", table)
		}
	}

	ev := confidant.StoredEvent{Index: 0, Time: now, ActorID: "a", Role: confidant.RoleSecurity, Action: "patient.read",
		PatientID: patient.ID, PatientSeq: 1, PatientPrev: -1, Nonce: make([]byte, 32), Sealed: []byte{7}, Leaf: make([]byte, 32)}
	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.(confidant.LogTx).AppendEvents(ctx, []confidant.StoredEvent{ev})
	})
	if err != nil {
		t.Fatalf("AppendEvents after 0004: %v", err)
	}
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		got, err := tx.Patient(ctx, patient.ID)
		if err != nil {
			return err
		}
		if d := cmp.Diff(patient, got); d != "" {
			t.Errorf("patient after 0004 (-want +got):\n%s", d)
		}
		evs, err := tx.(confidant.LogTx).Events(ctx, 0, 10)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].PatientID != patient.ID {
			t.Errorf("Events after 0004 = %+v", evs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Append-only below the interface too.
	for _, stmt := range []string{
		`UPDATE audit_events SET actor_id = 'someone else' WHERE idx = 0`,
		`DELETE FROM audit_events WHERE idx = 0`,
		`INSERT OR REPLACE INTO audit_events (idx, time, actor_id, role, clinic_id, action, record_id, outcome, session_id, patient_seq, patient_prev, nonce, sealed, leaf)
			VALUES (0, 1, 'x', 'x', '', 'x', '', 'ok', '', 0, -1, x'', x'', x'')`,
	} {
		_, err := db.writer.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") && !strings.Contains(err.Error(), "constraint") {
			t.Errorf("%s: %v, want refused", strings.Fields(stmt)[0], err)
		}
	}
	if n := countRows(t, db, "audit_events"); n != 1 {
		t.Errorf("audit_events has %d rows, want 1", n)
	}
}

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM `+quoteIdent(table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTilePruning checks the SQLite-specific half of the tile design
// (migrations/0004_audit_log.sql): partial versions of a tile or entry
// bundle are deleted when the full one is written, so storage stays
// bounded, and only those of that tile.
func TestTilePruning(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(stx confidant.SealedTx) error {
		l := stx.(confidant.LogTx)
		for _, idx := range []uint64{0, 1} {
			for w := 1; w < tileWidth; w++ {
				if err := l.PutTile(ctx, 0, idx, w, make([]byte, 32*w)); err != nil {
					return err
				}
				if err := l.PutTile(ctx, 1, idx, w, make([]byte, 32*w)); err != nil {
					return err
				}
				if err := l.PutEntryBundle(ctx, idx, w, make([]byte, 34*w)); err != nil {
					return err
				}
			}
		}
		if err := l.PutTile(ctx, 0, 0, tileWidth, make([]byte, 32*tileWidth)); err != nil {
			return err
		}
		return l.PutEntryBundle(ctx, 0, tileWidth, make([]byte, 34*tileWidth))
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(query string) int {
		var n int
		if err := db.reader.QueryRowContext(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for query, want := range map[string]int{
		`SELECT count(*) FROM audit_tiles WHERE level = 0 AND idx = 0`:   1, // the full tile only
		`SELECT count(*) FROM audit_tiles WHERE level = 0 AND idx = 1`:   255,
		`SELECT count(*) FROM audit_tiles WHERE level = 1 AND idx = 0`:   255, // another level's tile 0
		`SELECT count(*) FROM audit_entries WHERE idx = 0`:               1,
		`SELECT count(*) FROM audit_entries WHERE idx = 1`:               255,
		`SELECT count(*) FROM audit_tiles WHERE width = 256 AND idx = 0`: 1,
	} {
		if got := count(query); got != want {
			t.Errorf("%s = %d, want %d", query, got, want)
		}
	}
}
