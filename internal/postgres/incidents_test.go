package postgres

import (
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/storetest"
)

// TestIncidentTriggers: below the interface too, an incident is never
// deleted and its history never changed or deleted; letters are never
// deleted.
func TestIncidentTriggers(t *testing.T) {
	testDSN(t)
	db := openTest(t, Options{})
	ctx := t.Context()
	id := storetest.SeedIncident(t, db)
	for _, stmt := range []string{
		`UPDATE incident_history SET kind = 'closed' WHERE incident_id = $1 AND seq = 2`,
		`UPDATE incident_history SET at = at + interval '1 second' WHERE incident_id = $1`,
		`DELETE FROM incident_history WHERE incident_id = $1 AND seq = 2`,
		`DELETE FROM incident_history WHERE incident_id = $1`,
		`DELETE FROM incident_letters WHERE incident_id = $1`,
		`DELETE FROM incidents WHERE id = $1`,
	} {
		_, err := db.pool.Exec(ctx, stmt, id)
		if err == nil || !strings.Contains(err.Error(), "append-only") && !strings.Contains(err.Error(), "never deleted") {
			t.Errorf("%s: %v, want refused by a trigger", stmt, err)
		}
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM incident_history WHERE incident_id = $1 AND kind = 'decision'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("history after refused statements: %d, %v", n, err)
	}
}
