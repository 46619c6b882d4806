package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// queryPlan returns SQLite's plan for query, one line per step.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v\n%s", err, query)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestAuditQueryPlans checks that the access-log queries read what their
// design says (see QueryEvents): with a patient, an actor, or an action
// without a time window, its index backwards in log order, stopping after
// a page, never sorting; with a window otherwise, only the window from a
// covering index, sorting row ids; and
// PatientHeads and LogSize lookups, not scans.
func TestAuditQueryPlans(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	tests := []struct {
		f    confidant.EventFilter
		want []string // in the plan
		sort bool     // may sort (the window's row ids)
	}{
		{confidant.EventFilter{}, []string{"SCAN audit_events"}, false},
		{confidant.EventFilter{Before: 10}, []string{"USING INTEGER PRIMARY KEY (rowid<?)"}, false},
		{confidant.EventFilter{PatientID: "p"}, []string{"USING INDEX audit_events_patient (patient_id=?)"}, false},
		{confidant.EventFilter{PatientID: "p", Before: 9, ActorID: "a", From: now}, []string{"USING INDEX audit_events_patient (patient_id=? AND idx<?)"}, false},
		{confidant.EventFilter{ActorID: "a", Before: 9}, []string{"USING INDEX audit_events_actor (actor_id=? AND idx<?)"}, false},
		{confidant.EventFilter{Action: "x"}, []string{"USING INDEX audit_events_action (action=?)"}, false},
		{confidant.EventFilter{ActorID: "a", Action: "x"}, []string{"USING INDEX audit_events_actor (actor_id=?)"}, false},
		{confidant.EventFilter{ActorID: "a", From: now, To: now, Before: 5}, []string{"USING INDEX audit_events_actor (actor_id=? AND idx<?)"}, false},
		{confidant.EventFilter{Action: "x", To: now, Before: 3}, []string{"USING COVERING INDEX audit_events_action_time (action=? AND time<?)", "USING INTEGER PRIMARY KEY (rowid=?)"}, true},
		{confidant.EventFilter{From: now, To: now}, []string{"USING COVERING INDEX audit_events_time (time>? AND time<?)", "USING INTEGER PRIMARY KEY (rowid=?)"}, true},
		{confidant.EventFilter{To: now, Before: 5}, []string{"USING COVERING INDEX audit_events_time (time<?)"}, true},
	}
	for _, tc := range tests {
		tc.f.Limit = 10
		q, args := eventQuery(tc.f)
		plan := queryPlan(t, db, q, args...)
		for _, w := range tc.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%+v: plan does not contain %q:\n%s", tc.f, w, plan)
			}
		}
		if !tc.sort && strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%+v: plan sorts:\n%s", tc.f, plan)
		}
	}

	plan := queryPlan(t, db, patientHeads, `["a","b"]`)
	for _, w := range []string{"USING COVERING INDEX audit_events_patient (patient_id=?)", "USING INTEGER PRIMARY KEY (rowid=?)"} {
		if !strings.Contains(plan, w) {
			t.Errorf("PatientHeads: plan does not contain %q:\n%s", w, plan)
		}
	}
	if plan := queryPlan(t, db, `SELECT coalesce(max(idx) + 1, 0) FROM audit_events`); strings.Contains(plan, "SCAN") {
		t.Errorf("LogSize scans:\n%s", plan)
	}
}
