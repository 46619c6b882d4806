package sqlite_test

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// eventSource makes realistic access-log events: ids of the usual length,
// a thousand patients with their chains, some events without a patient,
// a short sealed purpose.
type eventSource struct {
	next     uint64
	patients []string
	actors   []string
	heads    map[string]confidant.ChainHead
	sealed   []byte
}

func newEventSource() *eventSource {
	s := &eventSource{heads: map[string]confidant.ChainHead{}, sealed: make([]byte, 80)}
	for range 1000 {
		s.patients = append(s.patients, confidant.NewID())
	}
	for range 50 {
		s.actors = append(s.actors, confidant.NewID())
	}
	rand.Read(s.sealed)
	return s
}

func (s *eventSource) batch(n int) []confidant.StoredEvent {
	evs := make([]confidant.StoredEvent, n)
	now := time.Now()
	for i := range evs {
		e := confidant.StoredEvent{
			Index: s.next, Time: now, ActorID: s.actors[s.next%50], Role: confidant.RoleTherapist, ClinicID: "01JCLINIC0000000000000000",
			Action: "note.read", RecordID: confidant.NewID(), Outcome: "ok", SessionID: "01JSESSION000000000000000",
			PatientPrev: -1, Nonce: make([]byte, 32), Sealed: s.sealed, Leaf: make([]byte, 32),
		}
		if s.next%10 != 0 {
			e.PatientID = s.patients[(s.next*7919)%1000]
			h, ok := s.heads[e.PatientID]
			e.PatientSeq = h.Seq + 1
			if ok {
				e.PatientPrev = h.Index
			}
			s.heads[e.PatientID] = confidant.ChainHead{Seq: e.PatientSeq, Index: int64(e.Index)}
		} else {
			e.RecordID = ""
		}
		rand.Read(e.Nonce)
		rand.Read(e.Leaf)
		evs[i] = e
		s.next++
	}
	return evs
}

// BenchmarkAppendEvents measures one Update appending one batch, with the
// default durability (synchronous=FULL, an fsync per commit) and relaxed
// (CPU cost), and with one multi-row INSERT per chunk (the default) or one
// INSERT per event. events/s is the throughput of a single writer doing
// nothing else.
func BenchmarkAppendEvents(b *testing.B) {
	for _, sync := range []string{"full", "relaxed"} {
		for _, rows := range []string{"multi", "single"} {
			for _, batch := range []int{1, 16, 256} {
				if rows == "single" && batch == 1 {
					continue
				}
				b.Run(fmt.Sprintf("sync=%s/rows=%s/batch=%d", sync, rows, batch), func(b *testing.B) {
					if rows == "single" {
						defer sqlite.SetAppendChunks([]int{1})()
					}
					db := openAt(b, filepath.Join(b.TempDir(), "confidant.db"), sqlite.Options{RelaxedSync: sync == "relaxed"})
					ctx := b.Context()
					src := newEventSource()
					start := cpuTime()
					events := 0
					for b.Loop() {
						evs := src.batch(batch)
						err := db.Update(ctx, func(tx confidant.SealedTx) error {
							return tx.(confidant.LogTx).AppendEvents(ctx, evs)
						})
						if err != nil {
							b.Fatal(err)
						}
						events += batch
					}
					b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
					b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(events), "cpu-ns/event")
				})
			}
		}
	}
}

// BenchmarkLogCommit measures what the sequencer's commit of a batch will
// roughly do: read the patients' chain heads, append the events, and
// rewrite the right-hand entry bundle and level-0 tile (and the level-1
// tile when a level-0 tile fills up), in one transaction.
func BenchmarkLogCommit(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db := openAt(b, filepath.Join(b.TempDir(), "confidant.db"), sqlite.Options{})
			ctx := b.Context()
			src := newEventSource()
			events := 0
			for b.Loop() {
				evs := src.batch(batch)
				ids := make([]string, 0, len(evs))
				for _, e := range evs {
					if e.PatientID != "" {
						ids = append(ids, e.PatientID)
					}
				}
				err := db.Update(ctx, func(tx confidant.SealedTx) error {
					l := tx.(confidant.LogTx)
					if _, err := l.PatientHeads(ctx, ids); err != nil {
						return err
					}
					if err := l.AppendEvents(ctx, evs); err != nil {
						return err
					}
					size := evs[len(evs)-1].Index + 1
					for first := evs[0].Index / 256; first <= (size-1)/256; first++ {
						w := int(min(size-first*256, 256))
						if err := l.PutEntryBundle(ctx, first, w, make([]byte, 34*w)); err != nil {
							return err
						}
						if err := l.PutTile(ctx, 0, first, w, make([]byte, 32*w)); err != nil {
							return err
						}
						if w == 256 {
							w1 := int(first%256) + 1
							if err := l.PutTile(ctx, 1, first/256, w1, make([]byte, 32*w1)); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				events += batch
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkQueryEvents measures security queries on a log of 200,000
// events over two days: a page of the newest, of one actor, of one patient,
// of a rare action, of one actor in a one-hour window a day back, of that
// window, and of a common action and of one actor in the oldest hour.
func BenchmarkQueryEvents(b *testing.B) {
	db := openAt(b, filepath.Join(b.TempDir(), "confidant.db"), sqlite.Options{RelaxedSync: true})
	ctx := b.Context()
	src := newEventSource()
	const total = 200_000
	start := time.Now().Add(-48 * time.Hour)
	for range total / 1000 {
		evs := src.batch(1000)
		for i := range evs {
			// Spread over two days, not quite in index order.
			evs[i].Time = start.Add(time.Duration(evs[i].Index)*(48*time.Hour/total) - time.Duration(evs[i].Index%7)*time.Second)
			if evs[i].Index%5000 == 0 {
				evs[i].Action = "break_glass"
			}
		}
		if err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.(confidant.LogTx).AppendEvents(ctx, evs) }); err != nil {
			b.Fatal(err)
		}
	}
	dayBack := start.Add(24 * time.Hour)
	for _, tc := range []struct {
		name string
		f    confidant.EventFilter
	}{
		{"newest", confidant.EventFilter{}},
		{"actor", confidant.EventFilter{ActorID: src.actors[3]}},
		{"patient", confidant.EventFilter{PatientID: src.patients[5]}},
		{"rare action", confidant.EventFilter{Action: "break_glass"}},
		{"actor in window", confidant.EventFilter{ActorID: src.actors[3], From: dayBack, To: dayBack.Add(time.Hour)}},
		{"window", confidant.EventFilter{From: dayBack, To: dayBack.Add(time.Hour)}},
		{"common action in old window", confidant.EventFilter{Action: "note.read", From: start, To: start.Add(time.Hour)}},
		// The worst case of the index design: one actor in the oldest
		// hour reads the actor's index entries back to it.
		{"actor in old window", confidant.EventFilter{ActorID: src.actors[3], From: start, To: start.Add(time.Hour)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := tc.f
			f.Limit = 50
			n := 0
			for b.Loop() {
				err := db.View(ctx, func(tx confidant.SealedTx) error {
					evs, err := tx.(confidant.LogTx).QueryEvents(ctx, f)
					n = len(evs)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "events")
		})
	}
}
