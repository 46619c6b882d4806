package service_test

// Benchmarks of the two access-log read paths that people wait for, through
// the service over the product's full storage path (the sealing store over
// the access log over the database, testfix.Seal), on SQLite and, when
// CONFIDANT_TEST_POSTGRES is set, on PostgreSQL:
//
//   - the breach-scope query: which patients did this account open in this
//     period? A security officer pages through every result of
//     Service.AuditEvents (GET /api/v1/audit/events?actor=&from=&to=) for
//     one actor and period and collects the distinct patients, as there is
//     no single call that answers it; every page is itself an audited query
//     (one committed access-log event per page);
//   - the patient's access-history page: Service.MyAccessLog, the newest
//     page and the oldest (deepest) page of every access to the patient's
//     records.
//
// The log is built once per backend: CONFIDANT_BENCH_LOG_EVENTS events
// (default 1,000,000) over a year, by 400 staff accounts about 36,000
// patients, appended in log order through audit.Log.Record. Nothing here
// asserts a timing; the results are checked against what was generated.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

const (
	benchStaff    = 400    // staff accounts that generate events
	benchPatients = 36_000 // patients the events concern
	benchCaseload = benchPatients / benchStaff
	benchChunk    = 8192 // events per Record while building
)

// benchLogEvents is CONFIDANT_BENCH_LOG_EVENTS, default 1,000,000.
func benchLogEvents(b *testing.B) int {
	if s := os.Getenv("CONFIDANT_BENCH_LOG_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("CONFIDANT_BENCH_LOG_EVENTS=%q (at least 1000)", s)
		}
		return n
	}
	return 1_000_000
}

// accessWorld is a service over a large access log.
type accessWorld struct {
	svc      *service.Service
	log      *audit.Log
	security context.Context // a security officer
	portal   context.Context // the patient's own portal account

	// therapist has about 0.5% of the events (twice a staff member's
	// average; 5,000 a year in a log of 1M), heavy 5% (a records clerk or
	// an integration account reading across the organisation).
	therapist, heavy string
	patient          string // the portal patient, about 0.05% of the events

	yearFrom, yearTo time.Time // the generated events' span
	monthFrom        time.Time // a one-month period in the middle of the year
	size             uint64    // events in the log after building

	byActor map[string][]genEvent // the generated events of therapist and heavy
	patEvs  int                   // the generated events about patient
}

type genEvent struct {
	at      time.Time
	patient string
}

// expect returns the number of events and distinct patients of actor in
// [from, to) among the generated events.
func (w *accessWorld) expect(actor string, from, to time.Time) (events, patients int) {
	seen := map[string]bool{}
	for _, e := range w.byActor[actor] {
		if !e.at.Before(from) && e.at.Before(to) {
			events++
			seen[e.patient] = true
		}
	}
	return events, len(seen)
}

var benchActions = []struct {
	action string
	cum    float64 // cumulative share
}{
	{service.ActChartRead, 0.40}, {service.ActNoteRead, 0.65}, {service.ActNotesRead, 0.75}, {service.ActPatientRead, 0.85},
	{service.ActNoteCreate, 0.90}, {service.ActNoteEdit, 0.94}, {service.ActNoteSign, 0.97}, {service.ActAttachRead, 0.99},
	{service.ActDiagnosisCreate, 1},
}

// buildAccessWorld sets up an organisation with 20 clinics, 400 staff, a
// security officer and a patient with a portal account on st, then appends
// n generated events in log order. The service's clock stands a year and
// an hour back while the accounts are created, so that the log's times
// follow its order as in production (PostgreSQL's time-window bounds rely
// on how late an event can be; see audit_log_head).
func buildAccessWorld(b *testing.B, st confidant.Store, n int) *accessWorld {
	b.Helper()
	ctx := context.Background()
	l := testfix.Log(st)
	if l == nil {
		b.Fatal("no access log under the store")
	}
	realStart := time.Now()
	yearTo := realStart.UTC().Truncate(time.Second).Add(-time.Minute)
	yearFrom := yearTo.Add(-365 * 24 * time.Hour)
	setupAt := yearFrom.Add(-time.Hour)
	var live atomic.Bool
	clock := func() time.Time {
		if live.Load() {
			return time.Now()
		}
		return setupAt.Add(time.Since(realStart))
	}
	svc, err := service.New(st, testfix.FastHasher{}, service.DefaultConfig(),
		service.WithAuditor(l), service.WithAuditReader(l), service.WithClock(clock))
	if err != nil {
		b.Fatal(err)
	}

	clinics := make([]confidant.Clinic, 20)
	err = st.Update(ctx, func(tx confidant.Tx) error {
		if err := tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: "Bench Provider", CreatedAt: setupAt}); err != nil {
			return err
		}
		for i := range clinics {
			clinics[i] = confidant.Clinic{ID: confidant.NewID(), Name: fmt.Sprintf("Klinikka %d", i), City: "Helsinki", CreatedAt: setupAt}
			if err := tx.CreateClinic(ctx, clinics[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	mk := func(username string, role confidant.Role, clinics ...string) confidant.User {
		u, err := svc.OperatorCreateUser(ctx, service.StaffInput{
			Username: username, DisplayName: "Staff " + username, Role: role, ClinicIDs: clinics, Password: testfix.Password,
		})
		if err != nil {
			b.Fatalf("create %s: %v", username, err)
		}
		return u
	}
	as := func(u confidant.User) context.Context {
		return confidant.WithActor(context.Background(), confidant.Actor{
			UserID: u.ID, Username: u.Username, Role: u.Role, PatientID: u.PatientID, ClinicIDs: u.ClinicIDs, SessionID: "bench",
		})
	}
	// staff[0] is the benchmarked therapist, staff[1] the heavy account
	// (a manager of clinic 0, who also opens the patient's portal account).
	staff := make([]confidant.User, benchStaff)
	staff[0] = mk("therapist", confidant.RoleTherapist, clinics[0].ID)
	staff[1] = mk("heavy", confidant.RoleManager, clinics[0].ID)
	for i := 2; i < benchStaff; i++ {
		staff[i] = mk("staff"+strconv.Itoa(i), confidant.RoleTherapist, clinics[i%len(clinics)].ID)
	}
	security := mk("security", confidant.RoleSecurity)
	p, err := svc.CreatePatient(as(staff[0]), service.PatientInput{
		GivenName: "Aino", FamilyName: "Äijälä", IdentityCode: "010190-902S", Email: "x@example.invalid",
	})
	if err != nil {
		b.Fatal(err)
	}
	pu, err := svc.OperatorCreateUser(ctx, service.StaffInput{
		Username: "aino", DisplayName: "Patient", Role: confidant.RolePatient, PatientID: p.ID, Password: testfix.Password,
	})
	if err != nil {
		b.Fatal(err)
	}

	w := &accessWorld{
		svc: svc, log: l, security: as(security), portal: as(pu),
		therapist: staff[0].ID, heavy: staff[1].ID, patient: p.ID,
		yearFrom: yearFrom, yearTo: yearTo, monthFrom: yearFrom.Add(180 * 24 * time.Hour),
		byActor: map[string][]genEvent{staff[0].ID: nil, staff[1].ID: nil},
	}
	// Patient 0 is the portal patient, in staff 0's caseload (patients
	// [s*90, s*90+90) are staff s's).
	patients := make([]string, benchPatients)
	patients[0] = p.ID
	for i := 1; i < len(patients); i++ {
		patients[i] = confidant.NewID()
	}
	rng := rand.New(rand.NewPCG(23, 42))
	step := yearTo.Sub(yearFrom) / time.Duration(n)
	gen := func(i int) confidant.AuditEvent {
		at := yearFrom.Add(time.Duration(i) * step)
		var s int
		switch r := rng.Float64(); {
		case r < 0.005:
			s = 0
		case r < 0.055:
			s = 1
		default:
			s = 2 + rng.IntN(benchStaff-2)
		}
		var pat int
		switch r := rng.Float64(); {
		case r < 0.0005:
			pat = 0
		case s == 1 || r < 0.15:
			pat = rng.IntN(benchPatients)
		default:
			pat = (s*benchCaseload + rng.IntN(benchCaseload)) % benchPatients
		}
		r := rng.Float64()
		action := benchActions[len(benchActions)-1].action
		for _, a := range benchActions {
			if r < a.cum {
				action = a.action
				break
			}
		}
		u := staff[s]
		if s <= 1 {
			w.byActor[u.ID] = append(w.byActor[u.ID], genEvent{at.UTC().Truncate(time.Microsecond), patients[pat]})
		}
		if pat == 0 {
			w.patEvs++
		}
		return confidant.AuditEvent{
			Time: at, ActorID: u.ID, Role: u.Role, ClinicID: u.ClinicIDs[0], Action: action,
			PatientID: patients[pat], RecordID: confidant.NewID(), Purpose: "treatment", Outcome: confidant.OutcomeOK,
			SessionID: "s" + strconv.Itoa(s) + "-" + strconv.Itoa(int(at.Sub(yearFrom)/(24*time.Hour))), Client: "192.0.2." + strconv.Itoa(s%250+1),
		}
	}
	// In log order, one Record of benchChunk events at a time (the
	// sequencer commits each in one transaction): concurrent Records would
	// commit out of time order.
	t0 := time.Now()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for start := 0; start < n; start += benchChunk {
		evs := make([]confidant.AuditEvent, 0, benchChunk)
		for i := start; i < start+benchChunk && i < n; i++ {
			evs = append(evs, gen(i))
		}
		if err := l.Record(ctx, evs...); err != nil {
			b.Fatal(err)
		}
	}
	live.Store(true)
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	build := time.Since(t0)
	w.size, _, _ = l.Head(b.Context())
	fmt.Printf("%s: built a log of %d events (%d generated: %d staff, %d patients, %d of the therapist, %d of the heavy account, %d about the portal patient) in %v (%.0f events/s, %.1f s process CPU); load average %s\n",
		b.Name(), w.size, n, benchStaff, benchPatients, len(w.byActor[w.therapist]), len(w.byActor[w.heavy]), w.patEvs,
		build.Round(time.Millisecond), float64(n)/build.Seconds(), cpuSince(ru0).Seconds(), loadAvg())
	return w
}

// cpuSince returns the process's user and system CPU time since ru0.
func cpuSince(ru0 syscall.Rusage) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(ru.Utime) + tv(ru.Stime) - tv(ru0.Utime) - tv(ru0.Stime)
}

// loadAvg returns the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(data) == 0 {
		return "?"
	}
	s := string(data)
	for i, n := 0, 0; i < len(s); i++ {
		if s[i] == ' ' {
			if n++; n == 3 {
				return s[:i]
			}
		}
	}
	return s
}

// breachScope pages through every event of actor in [from, to) as a
// security officer does and returns the events, distinct patients and
// pages read.
func (w *accessWorld) breachScope(actor string, from, to time.Time) (events, patients, pages int, err error) {
	seen := make(map[string]struct{})
	var before uint64
	for {
		page, err := w.svc.AuditEvents(w.security, service.AuditQuery{ActorID: actor, From: from, To: to, Before: before, Limit: 200})
		if err != nil {
			return 0, 0, 0, err
		}
		pages++
		for _, e := range page {
			events++
			if e.PatientID != "" {
				seen[e.PatientID] = struct{}{}
			}
		}
		if len(page) < 200 {
			return events, len(seen), pages, nil
		}
		before = page[len(page)-1].Index
	}
}

// measureCPU runs op in b.Loop and reports the process's CPU time per
// operation (user and system; on PostgreSQL the server's CPU is not
// included).
func measureCPU(b *testing.B, op func() error) {
	b.Helper()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(cpuSince(ru0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

// BenchmarkAccessLog builds one large log per backend (see the file
// comment) and measures on it:
//
//   - breach-scope: every event and the distinct patients of one account
//     in a period through Service.AuditEvents, 200 per page: the therapist
//     in a month in the middle of the year and in the whole year, the heavy
//     account in that month and in the whole year. Reports events, patients
//     and pages per operation and the process CPU per operation.
//   - my-access-log: Service.MyAccessLog of the portal patient, 50 per
//     page: the newest page and the oldest (deepest) one.
func BenchmarkAccessLog(b *testing.B) {
	n := benchLogEvents(b)
	b.Run("backend=sqlite", func(b *testing.B) {
		accessLogBenchmarks(b, buildAccessWorld(b, testfix.SQLite(b), n))
	})
	b.Run("backend=postgres", func(b *testing.B) {
		dsn := testfix.PostgresDSN(b, "the PostgreSQL access-log benchmarks")
		schema := testfix.PostgresSchema(b, dsn, "bench_accesslog_")
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		w := buildAccessWorld(b, testfix.Seal(b, db, testfix.Keyring(b)), n)
		pgHead(b, dsn, schema)
		accessLogBenchmarks(b, w)
	})
}

// pgHead prints the PostgreSQL log head's lateness (how far an event's
// time was ever behind an earlier one's: it widens every time window) and
// analyses the events table, as autovacuum would after a bulk load.
func pgHead(b *testing.B, dsn, schema string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	tbl := pgx.Identifier{schema, "audit_log_head"}.Sanitize()
	var late int64
	if err := conn.QueryRow(ctx, `SELECT lateness_us FROM `+tbl).Scan(&late); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := conn.Exec(ctx, `ANALYZE `+pgx.Identifier{schema, "audit_events"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%s: lateness %v; ANALYZE audit_events took %v\n", b.Name(), time.Duration(late)*time.Microsecond, time.Since(t0).Round(time.Millisecond))
}

func accessLogBenchmarks(b *testing.B, w *accessWorld) {
	month := [2]time.Time{w.monthFrom, w.monthFrom.Add(30 * 24 * time.Hour)}
	year := [2]time.Time{w.yearFrom, w.yearTo.Add(time.Second)}
	for _, tc := range []struct {
		name   string
		actor  string
		period [2]time.Time
	}{
		{"actor=therapist/period=month", w.therapist, month},
		{"actor=therapist/period=year", w.therapist, year},
		{"actor=heavy/period=month", w.heavy, month},
		{"actor=heavy/period=year", w.heavy, year},
	} {
		b.Run(fmt.Sprintf("op=breach-scope/events=%d/%s", w.size, tc.name), func(b *testing.B) {
			wantEv, wantPat := w.expect(tc.actor, tc.period[0], tc.period[1])
			var ev, pat, pages int
			measureCPU(b, func() error {
				var err error
				ev, pat, pages, err = w.breachScope(tc.actor, tc.period[0], tc.period[1])
				return err
			})
			if ev != wantEv || pat != wantPat {
				b.Fatalf("found %d events about %d patients, generated %d about %d", ev, pat, wantEv, wantPat)
			}
			b.ReportMetric(float64(ev), "events/op")
			b.ReportMetric(float64(pat), "patients/op")
			b.ReportMetric(float64(pages), "pages/op")
		})
		// The same question in one call (GET /api/v1/audit/scope).
		b.Run(fmt.Sprintf("op=breach-scope-call/events=%d/%s", w.size, tc.name), func(b *testing.B) {
			wantEv, wantPat := w.expect(tc.actor, tc.period[0], tc.period[1])
			var ps []confidant.PatientAccess
			measureCPU(b, func() error {
				var err error
				ps, err = w.svc.BreachScope(w.security, tc.actor, tc.period[0], tc.period[1])
				return err
			})
			ev := 0
			for _, p := range ps {
				ev += p.Events
			}
			// Events without a patient (none are generated) are not counted.
			if ev != wantEv || len(ps) != wantPat {
				b.Fatalf("found %d events about %d patients, generated %d about %d", ev, len(ps), wantEv, wantPat)
			}
			b.ReportMetric(float64(ev), "events/op")
			b.ReportMetric(float64(len(ps)), "patients/op")
		})
	}

	// The patient's history: the newest page, and the oldest, found by
	// paging through it once.
	var deep uint64
	total := 0
	for before := uint64(0); ; {
		page, err := w.svc.MyAccessLog(w.portal, before, 50)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) > 0 {
			deep = before
		}
		total += len(page)
		if len(page) < 50 {
			break
		}
		before = page[len(page)-1].Index
	}
	if total < w.patEvs {
		b.Fatalf("the patient's history has %d entries, %d generated", total, w.patEvs)
	}
	for _, tc := range []struct {
		name   string
		before uint64
	}{{"first", 0}, {"deep", deep}} {
		b.Run(fmt.Sprintf("op=my-access-log/events=%d/history=%d/page=%s", w.size, total, tc.name), func(b *testing.B) {
			n := 0
			measureCPU(b, func() error {
				page, err := w.svc.MyAccessLog(w.portal, tc.before, 50)
				n = len(page)
				return err
			})
			b.ReportMetric(float64(n), "entries/op")
		})
	}
}
