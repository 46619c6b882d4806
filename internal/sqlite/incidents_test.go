package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/storetest"
)

// TestIncidentTriggers: below the interface too, an incident is never
// deleted and its history never changed or deleted; letters are never
// deleted.
func TestIncidentTriggers(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := storetest.SeedIncident(t, db)
	for _, stmt := range []string{
		`UPDATE incident_history SET kind = 'closed' WHERE incident_id = ? AND seq = 2`,
		`UPDATE incident_history SET at = at + 1 WHERE incident_id = ?`,
		`DELETE FROM incident_history WHERE incident_id = ? AND seq = 2`,
		`DELETE FROM incident_history WHERE incident_id = ?`,
		`DELETE FROM incident_letters WHERE incident_id = ?`,
		`DELETE FROM incidents WHERE id = ?`,
	} {
		_, err := db.writer.ExecContext(ctx, stmt, id)
		if err == nil || !strings.Contains(err.Error(), "append-only") && !strings.Contains(err.Error(), "never deleted") {
			t.Errorf("%s: %v, want refused by a trigger", stmt, err)
		}
	}
	var n int
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM incident_history WHERE incident_id = ? AND kind = 'decision'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("history after refused statements: %d, %v", n, err)
	}
}
