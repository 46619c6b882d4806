package audit

import (
	"context"
	"sort"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// AccessedBy returns the breach scope of an account: every patient whose
// records the actor's events concern in [from, to), with counts, most
// recently accessed first. It reads the matching events page by page in one
// read transaction (the actor index, newest first), without opening their
// sealed text.
func (l *Log) AccessedBy(ctx context.Context, actorID string, from, to time.Time) ([]confidant.PatientAccess, error) {
	const page = 1000
	var out []confidant.PatientAccess
	err := l.backend.View(ctx, func(tx confidant.SealedTx) error {
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		at := map[string]int{}
		out = out[:0]
		var before uint64
		for {
			evs, err := ltx.QueryEvents(ctx, confidant.EventFilter{ActorID: actorID, From: from, To: to, Before: before, Limit: page})
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.PatientID == "" {
					continue
				}
				i, ok := at[e.PatientID]
				if !ok {
					i = len(out)
					at[e.PatientID] = i
					out = append(out, confidant.PatientAccess{PatientID: e.PatientID, First: e.Time, Last: e.Time})
				}
				pa := &out[i]
				pa.Events++
				if e.Outcome != confidant.OutcomeOK {
					pa.Denied++
				}
				if e.Time.Before(pa.First) {
					pa.First = e.Time
				}
				if e.Time.After(pa.Last) {
					pa.Last = e.Time
				}
			}
			// Before 0 would mean "from the newest": stop at index 0.
			if len(evs) < page || evs[len(evs)-1].Index == 0 {
				break
			}
			before = evs[len(evs)-1].Index
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out, nil
}
