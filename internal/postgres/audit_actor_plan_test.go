package postgres

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// actorPageQuery is the statement QueryEvents runs for an actor, a time
// window and a page boundary ($1 actor, $2 from, $3 to, $4 before, $5
// limit).
const actorPageQuery = `SELECT ` + eventCols + ` FROM audit_events WHERE actor_id = $1
	AND "time" >= $2
	AND idx > coalesce((SELECT idx FROM audit_events WHERE "time" < $2 - (SELECT lateness_us FROM audit_log_head) * interval '1 microsecond' ORDER BY "time" DESC LIMIT 1), -1)
	AND "time" < $3
	AND idx < coalesce((SELECT idx FROM audit_events WHERE "time" >= $3 + (SELECT lateness_us FROM audit_log_head) * interval '1 microsecond' ORDER BY "time" LIMIT 1), 9223372036854775807)
	AND idx < $4
	ORDER BY idx DESC LIMIT $5`

// TestLogActorPagePlan checks that a page of one actor's events in a time
// window (a security officer paging through what an account did in a
// period) is read backwards in log order from the page boundary (the actor
// index, or the primary key when the actor is common and the window wide),
// stopping after a page, never sorting: both the plan for the values at
// hand and the generic plan that a prepared statement switches to after
// five runs. With the former (actor_id, time) index the generic plan read
// the actor's whole window and sorted it for every page, and other plans
// ANDed it with a bitmap of the window's range of the primary key
// (migration 0005).
func TestLogActorPagePlan(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	// 40,000 events a minute apart: "busy" has every 20th, 400 others the rest.
	const n = 40000
	for first := uint64(0); first < n; first += 1000 {
		evs := testEvents(first, 1000, nil, nil)
		for i := range evs {
			if evs[i].Index%20 == 0 {
				evs[i].ActorID = "busy"
			} else {
				evs[i].ActorID = "actor-" + strconv.Itoa(int(evs[i].Index%400))
			}
		}
		appendEvents(t, db, evs)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `PREPARE actor_page(text, timestamptz, timestamptz, bigint, bigint) AS `+actorPageQuery); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `DEALLOCATE actor_page`)
	lit := func(tm time.Time) string { return "'" + tm.Format(time.RFC3339Nano) + "'" }
	end := logBase.Add(n * time.Minute)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		before   int64
	}{
		{"whole log, first page", logBase, end, 9223372036854775807},
		{"whole log, a later page", logBase, end, n / 2},
		{"a day in the middle", logBase.Add(n / 2 * time.Minute), logBase.Add(n/2*time.Minute + 24*time.Hour), 9223372036854775807},
	} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode); err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(ctx, `EXPLAIN EXECUTE actor_page('busy', `+lit(tc.from)+`, `+lit(tc.to)+`, `+
				strconv.FormatInt(tc.before, 10)+`, 200)`)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, "Index Scan Backward using audit_events_") || strings.Contains(plan, "Sort") ||
				strings.Contains(plan, "Bitmap") || strings.Contains(plan, "Seq Scan on audit_events") {
				t.Errorf("%s, %s: the page is not read backwards in log order from an index:\n%s", tc.name, mode, plan)
			}
		}
	}
	if _, err := conn.Exec(ctx, `RESET plan_cache_mode`); err != nil {
		t.Fatal(err)
	}
}
