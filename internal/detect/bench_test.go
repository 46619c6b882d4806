package detect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// benchStream fills a log with a synthetic day of work: therapists reading
// and writing the records of their patients in care (with care looked up
// through the sealing store), managers reading, sign-ins, key unwraps and
// refusals. It returns the number of events.
func benchStream(b *testing.B, e *env, n int) int {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	therapists := []confidant.User{e.Therapist, e.OtherTherapist, e.TherapistB}
	var pts [][]string // per therapist
	start := time.Date(2026, 3, 23, 5, 0, 0, 0, time.UTC)
	err := e.st.Update(ctx, func(tx confidant.Tx) error {
		for _, th := range therapists {
			var mine []string
			for range 40 {
				p := confidant.Patient{ID: confidant.NewID(), ClinicID: th.ClinicIDs[0], GivenName: "Bench", FamilyName: "Patient", CreatedAt: start}
				if err := tx.CreatePatient(ctx, p); err != nil {
					return err
				}
				c := confidant.CareRelationship{ID: confidant.NewID(), PatientID: p.ID, TherapistID: th.ID, ClinicID: th.ClinicIDs[0],
					From: start.Add(-time.Hour), CreatedBy: e.Manager.ID, CreatedAt: start.Add(-time.Hour)}
				if err := tx.CreateCare(ctx, c); err != nil {
					return err
				}
				mine = append(mine, p.ID)
			}
			pts = append(pts, mine)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	actions := []string{"chart.read", "notes.read", "note.read", "note.create", "patient.read"}
	at := start
	var evs []confidant.AuditEvent
	flush := func() {
		if err := e.log.Record(ctx, evs...); err != nil {
			b.Fatal(err)
		}
		evs = evs[:0]
	}
	for i := 0; i < n; i++ {
		at = at.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		k := rng.IntN(len(therapists))
		switch x := rng.IntN(100); {
		case x < 75:
			evs = append(evs, ev(at, therapists[k], actions[rng.IntN(len(actions))], pts[k][rng.IntN(len(pts[k]))], confidant.OutcomeOK))
		case x < 85:
			evs = append(evs, ev(at, e.Manager, "patient.read", pts[k][rng.IntN(len(pts[k]))], confidant.OutcomeOK))
		case x < 90:
			evs = append(evs, ev(at, therapists[k], "login.ok", "", confidant.OutcomeOK))
		case x < 95:
			evs = append(evs, confidant.AuditEvent{Time: at, Role: "system", Action: confidant.ActionKeyUnwrap, Outcome: confidant.OutcomeOK, PatientID: pts[k][0]})
		default:
			evs = append(evs, ev(at, therapists[k], "chart.read", pts[(k+1)%len(pts)][0], confidant.OutcomeDenied))
		}
		if len(evs) == 500 {
			flush()
		}
	}
	if len(evs) > 0 {
		flush()
	}
	_, size := watermark(b, e.log, "none")
	return int(size)
}

// BenchmarkDetector measures how fast the detector follows a log: each
// iteration processes the whole synthetic stream from the start under a
// watermark of its own (every rule, care looked up and cached, the
// watermark advanced per batch of 4096).
func BenchmarkDetector(b *testing.B) {
	e := newEnv(b)
	n := benchStream(b, e, 20_000)
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		d := e.detector(b, func(c *Config) { c.Name = fmt.Sprintf("bench-%d", i) })
		drain(b, d)
		if got := d.Processed(); got != uint64(n) {
			b.Fatalf("processed %d of %d events", got, n)
		}
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/wall.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
	b.ReportMetric(float64(len(e.sink.keys())), "alerts")
}

// BenchmarkChartWithDetector measures chart opens through the service
// (each one an audited read, committed to the log) without the detector,
// with it following the log at the default interval (2 s), and at 10 ms (a
// step per few events: the worst case); compare ns/op and cpu-ns/op.
func BenchmarkChartWithDetector(b *testing.B) {
	for _, every := range []time.Duration{0, 2 * time.Second, 10 * time.Millisecond} {
		on := every > 0
		b.Run(fmt.Sprintf("detector=%v", every), func(b *testing.B) {
			e := newEnv(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var d *Detector
			if on {
				d = e.detector(b, func(c *Config) { c.Every = every })
				go d.Run(ctx)
			}
			as := e.As(e.Therapist)
			if _, err := e.Service.Chart(as, e.PatientA.ID); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Service.Chart(as, e.PatientA.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if on {
				b.ReportMetric(float64(d.Processed()), "events-processed")
			}
		})
	}
}
