package audit

import (
	"context"
	"fmt"
	"sort"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// maxBuckets bounds an Activity request (a week of hours is 168).
const maxBuckets = 1000

// Activity summarises the events about patients in [from, to) (see
// confidant.Activity): counts per clinic in buckets of the given length
// from from, and the top accounts by distinct patients. It reads the
// matching events page by page through the time index in one read
// transaction, without opening their sealed text.
func (l *Log) Activity(ctx context.Context, from, to time.Time, bucket time.Duration, top int) (confidant.Activity, error) {
	n := 0
	if bucket > 0 && to.After(from) {
		n = int((to.Sub(from) + bucket - 1) / bucket)
	}
	if n < 1 || n > maxBuckets || top < 0 {
		return confidant.Activity{}, fmt.Errorf("audit: activity over %v in buckets of %v (at most %d buckets)", to.Sub(from), bucket, maxBuckets)
	}
	const page = 1000
	type reach struct {
		role     confidant.Role
		patients map[string]struct{}
		events   int
	}
	var act confidant.Activity
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		act = confidant.Activity{From: from, To: to, Bucket: bucket, ByClinic: map[string][]int{}}
		for i := range n {
			act.Buckets = append(act.Buckets, from.Add(time.Duration(i)*bucket))
		}
		actors := map[string]*reach{}
		var before uint64
		for {
			evs, err := ltx.QueryEvents(ctx, confidant.EventFilter{From: from, To: to, Before: before, Limit: page})
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.PatientID == "" || e.Time.Before(from) || !e.Time.Before(to) {
					continue
				}
				act.Events++
				counts := act.ByClinic[e.ClinicID]
				if counts == nil {
					counts = make([]int, n)
					act.ByClinic[e.ClinicID] = counts
				}
				counts[int(e.Time.Sub(from)/bucket)]++
				if e.ActorID == "" {
					continue
				}
				r := actors[e.ActorID]
				if r == nil {
					r = &reach{role: e.Role, patients: map[string]struct{}{}}
					actors[e.ActorID] = r
				}
				r.patients[e.PatientID] = struct{}{}
				r.events++
			}
			if len(evs) < page || evs[len(evs)-1].Index == 0 {
				break
			}
			before = evs[len(evs)-1].Index
		}
		for id, r := range actors {
			act.TopAccounts = append(act.TopAccounts, confidant.AccountReach{ActorID: id, Role: r.role, Patients: len(r.patients), Events: r.events})
		}
		sort.Slice(act.TopAccounts, func(i, j int) bool {
			a, b := act.TopAccounts[i], act.TopAccounts[j]
			if a.Patients != b.Patients {
				return a.Patients > b.Patients
			}
			return a.ActorID < b.ActorID
		})
		if len(act.TopAccounts) > top {
			act.TopAccounts = act.TopAccounts[:top]
		}
		return nil
	})
	return act, err
}
