package auditlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math/rand/v2"
	"testing"
	"time"
)

type synthChain struct{ index, seq uint64 }

// synth generates events with consistent patient chains.
type synth struct {
	rnd      *rand.Rand
	patients int
	chains   map[string]synthChain
	t0       time.Time
}

func newSynth(seed uint64, patients int) *synth {
	return &synth{
		rnd:      rand.New(rand.NewPCG(seed, 1)),
		patients: patients,
		chains:   make(map[string]synthChain),
		t0:       time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC),
	}
}

var actions = []string{"note.read", "chart.read", "note.sign", "export", "attachment.download", "search.open"}

// event returns the event at index i; events must be generated in order.
func (s *synth) event(i uint64) Event {
	e := Event{
		Index:       i,
		Time:        s.t0.Add(time.Duration(i) * 731 * time.Millisecond),
		ActorID:     fmt.Sprintf("staff-%04d", s.rnd.IntN(400)),
		Role:        "therapist",
		ClinicID:    fmt.Sprintf("clinic-%02d", s.rnd.IntN(25)),
		Action:      actions[s.rnd.IntN(len(actions))],
		Purpose:     "care",
		Outcome:     "ok",
		SessionID:   fmt.Sprintf("sess-%08x", s.rnd.Uint32()),
		Client:      "192.0.2.17",
		PatientPrev: -1,
	}
	if s.rnd.IntN(10) == 0 {
		e.Action = "signin"
		return s.version(e)
	}
	e.PatientID = fmt.Sprintf("patient-%06d", s.rnd.IntN(s.patients))
	e.RecordID = fmt.Sprintf("note-%08x", s.rnd.Uint32())
	c, ok := s.chains[e.PatientID]
	if ok {
		e.PatientSeq, e.PatientPrev = c.seq+1, int64(c.index)
	} else {
		e.PatientSeq = 1
	}
	s.chains[e.PatientID] = synthChain{index: i, seq: e.PatientSeq}
	return s.version(e)
}

// version makes e a version 1 event (one in four, as in a log written
// before version 2) or a version 2 one under a random salt.
func (s *synth) version(e Event) Event {
	if e.Index%4 == 0 {
		e.Version = EventV1
		return e
	}
	var salt [SaltSize]byte
	for j := 0; j < SaltSize; j += 8 {
		binary.LittleEndian.PutUint64(salt[j:], s.rnd.Uint64())
	}
	return e.Conceal(salt)
}

// memLog is an EventSource in memory.
type memLog struct {
	*MemStore
	events []StoredEvent
	size   uint64
}

func (m *memLog) TreeSize(context.Context) (uint64, error) { return m.size, nil }

func (m *memLog) Events(context.Context) iter.Seq2[StoredEvent, error] {
	return func(yield func(StoredEvent, error) bool) {
		for _, e := range m.events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// synthEvents returns n stored synthetic events; mutate, if not nil, may
// change each event before it is encoded and committed.
func synthEvents(t testing.TB, n uint64, seed uint64, mutate func(*Event)) []StoredEvent {
	t.Helper()
	s := newSynth(seed, 1000)
	out := make([]StoredEvent, n)
	for i := range n {
		e := s.event(i)
		if mutate != nil {
			mutate(&e)
		}
		b, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		var nonce [NonceSize]byte
		for j := 0; j < NonceSize; j += 8 {
			v := s.rnd.Uint64()
			for k := range 8 {
				nonce[j+k] = byte(v >> (8 * k))
			}
		}
		out[i] = StoredEvent{Index: i, Nonce: nonce, Event: b, Commitment: LeafHash(nonce, b)}
	}
	return out
}

// buildFrom appends the commitments of events in batches of the given size
// through an Appender into a new memLog, and returns it with the root after
// each batch.
func buildFrom(t testing.TB, events []StoredEvent, batch int) (*memLog, map[uint64][32]byte) {
	t.Helper()
	ctx := context.Background()
	m := &memLog{MemStore: NewMemStore(), events: events}
	st, err := LoadState(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	roots := map[uint64][32]byte{0: st.Root()}
	a := NewAppender(st)
	leaves := make([][32]byte, 0, batch)
	for i := 0; i < len(events); {
		leaves = leaves[:0]
		for ; i < len(events) && len(leaves) < batch; i++ {
			leaves = append(leaves, events[i].Commitment)
		}
		size, root, err := a.Append(ctx, m, leaves)
		if err != nil {
			t.Fatal(err)
		}
		roots[size] = root
	}
	m.size = a.State().Size()
	return m, roots
}

// buildLog builds a log of n synthetic events appended in batches.
func buildLog(t testing.TB, n uint64, batch int, seed uint64) (*memLog, map[uint64][32]byte) {
	t.Helper()
	return buildFrom(t, synthEvents(t, n, seed, nil), batch)
}
