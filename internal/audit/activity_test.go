package audit_test

import (
	"context"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// TestActivity: the dashboard's summary counts events about patients per
// clinic and hour across several pages, skips events without a patient and
// outside the period, and ranks accounts by distinct patients.
func TestActivity(t *testing.T) {
	backends(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind)
		ctx := context.Background()
		patients := make([]string, 5)
		for i := range patients {
			patients[i] = confidant.NewID()
		}
		const n = 2500 // one event a second: about 42 minutes
		var evs []confidant.AuditEvent
		for i := range n {
			x := ev(i, patients[i%5])
			x.ClinicID = []string{"c1", "c2"}[i%2]
			if i%7 == 0 {
				x.PatientID = "" // no patient: not an access
			}
			if x.ActorID == "actor2" && x.PatientID != "" {
				x.PatientID = patients[0] // actor2 reaches one patient only
			}
			evs = append(evs, x)
		}
		for i := 0; i < n; i += 500 {
			if err := e.log.Record(ctx, evs[i:min(i+500, n)]...); err != nil {
				t.Fatal(err)
			}
		}
		from := evs[0].Time.Truncate(10 * time.Minute)
		to := from.Add(30 * time.Minute)
		const bucket = 10 * time.Minute
		want := map[string][]int{"c1": make([]int, 3), "c2": make([]int, 3)}
		total := 0
		for _, x := range evs {
			if x.PatientID == "" || x.Time.Before(from) || !x.Time.Before(to) {
				continue
			}
			want[x.ClinicID][int(x.Time.Sub(from)/bucket)]++
			total++
		}
		act, err := e.log.Activity(ctx, from, to, bucket, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(act.Buckets) != 3 || !act.Buckets[1].Equal(from.Add(bucket)) {
			t.Errorf("buckets %v", act.Buckets)
		}
		for c, w := range want {
			g := act.ByClinic[c]
			for i := range w {
				if len(g) != 3 || g[i] != w[i] {
					t.Errorf("clinic %s: %v, want %v", c, g, w)
					break
				}
			}
		}
		if act.Events != total || total < 1000 {
			t.Errorf("%d events, want %d over more than one page", act.Events, total)
		}
		if len(act.TopAccounts) != 2 || act.TopAccounts[0].Patients != 5 || act.TopAccounts[1].Patients != 5 ||
			act.TopAccounts[0].ActorID != "actor0" || act.TopAccounts[1].ActorID != "actor1" {
			t.Errorf("top accounts %+v, want actor0 and actor1 with 5 patients each (actor2 has 1)", act.TopAccounts)
		}
		if _, err := e.log.Activity(ctx, from, from.Add(2000*time.Hour), time.Hour, 5); err == nil {
			t.Error("2000 buckets accepted")
		}
		if _, err := e.log.Activity(ctx, to, from, time.Hour, 5); err == nil {
			t.Error("an empty period accepted")
		}
	})
}
