package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"
)

const tamperN = 1000

// checkpointsOf returns unsigned checkpoints at the given sizes with the
// roots recorded while building. Verify compares only sizes and roots.
func checkpointsOf(t testing.TB, roots map[uint64][32]byte, external bool, sizes ...uint64) []Checkpoint {
	t.Helper()
	var out []Checkpoint
	for _, s := range sizes {
		r, ok := roots[s]
		if !ok {
			t.Fatalf("no root recorded at size %d", s)
		}
		out = append(out, Checkpoint{Origin: testOrigin, Size: s, Root: r, External: external})
	}
	return out
}

func wantFault(t *testing.T, err error, index uint64, kind string) {
	t.Helper()
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("Verify = %v, want a %s fault at %d", err, kind, index)
	}
	if f.Index != index || f.Kind != kind {
		t.Fatalf("Verify = %v, want a %s fault at %d", err, kind, index)
	}
	t.Logf("%v", f)
}

// reencode returns se with its event changed by edit and, if recommit, a
// recomputed commitment.
func reencode(t *testing.T, se StoredEvent, recommit bool, edit func(*Event)) StoredEvent {
	t.Helper()
	e, err := UnmarshalCanonical(se.Event)
	if err != nil {
		t.Fatal(err)
	}
	edit(&e)
	b, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	se.Event = b
	if recommit {
		se.Commitment = LeafHash(se.Nonce, b)
	}
	return se
}

func TestVerifyIntact(t *testing.T) {
	for _, n := range []uint64{0, 1, 255, 256, 257, tamperN} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m, roots := buildLog(t, n, 7, 1)
			var cps []Checkpoint
			for size := range roots {
				cps = append(cps, checkpointsOf(t, roots, size%2 == 0, size)...)
			}
			var last [2]uint64
			err := Verify(t.Context(), m, cps, func(done, total uint64) { last = [2]uint64{done, total} })
			if err != nil {
				t.Fatal(err)
			}
			if last != [2]uint64{n, n} {
				t.Errorf("last progress %v, want %d of %d", last, n, n)
			}
		})
	}
}

// TestVerifyTamper edits the stored log in the ways an attacker with write
// access to the database could, and checks that Verify names the first bad
// index and the kind of fault.
func TestVerifyTamper(t *testing.T) {
	const n = tamperN
	// Stored checkpoints at 301 and 602 (batch ends with batches of 7), an
	// external one at n.
	cpSizes := []uint64{301, 602}
	tests := []struct {
		name   string
		tamper func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint)
		index  uint64
		kind   string
	}{
		{"change an actor", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500] = reencode(t, m.events[500], false, func(e *Event) { e.ActorID = "staff-9999" })
			return m, cps
		}, 500, FaultEdited},
		{"change a time and its commitment", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500] = reencode(t, m.events[500], true, func(e *Event) { e.Time = e.Time.Add(-time.Hour) })
			return m, cps
		}, 500, FaultEdited},
		{"change a patient and its commitment", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500] = reencode(t, m.events[500], true, func(e *Event) { e.PatientID = "patient-999999"; e.PatientSeq, e.PatientPrev = 1, -1 })
			return m, cps
		}, 500, FaultEdited},
		{"change a nonce", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500].Nonce[0] ^= 1
			return m, cps
		}, 500, FaultEdited},
		{"corrupt an encoding", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500].Event = append(bytes.Clone(m.events[500].Event), 0)
			return m, cps
		}, 500, FaultEdited},
		{"delete an event", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events = slices.Delete(m.events, 500, 501)
			return m, cps
		}, 500, FaultDeleted},
		{"delete an event and renumber", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events = slices.Delete(m.events, 500, 502)
			for i := 500; i < len(m.events); i++ {
				m.events[i].Index = uint64(i)
			}
			return m, cps
		}, 500, FaultDeleted},
		{"swap two events", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500], m.events[501] = m.events[501], m.events[500]
			m.events[500].Index, m.events[501].Index = 500, 501
			return m, cps
		}, 500, FaultReordered},
		{"swap distant events", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500], m.events[700] = m.events[700], m.events[500]
			m.events[500].Index, m.events[700].Index = 500, 700
			return m, cps
		}, 500, FaultReordered},
		{"events out of index order", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events[500], m.events[501] = m.events[501], m.events[500]
			return m, cps
		}, 500, FaultDeleted},
		{"insert a forged event with a taken index", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			forged := reencode(t, m.events[500], true, func(e *Event) { e.ActorID = "intruder" })
			m.events = slices.Insert(m.events, 501, forged)
			return m, cps
		}, 500, FaultInserted},
		{"insert a forged event and renumber", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			forged := reencode(t, m.events[500], true, func(e *Event) { e.ActorID = "intruder" })
			m.events = slices.Insert(m.events, 500, forged)
			for i := 501; i < len(m.events); i++ {
				m.events[i].Index = uint64(i)
			}
			return m, cps
		}, 500, FaultInserted},
		{"insert a forged event at the end", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			forged := reencode(t, m.events[n-1], true, func(e *Event) { e.Index = n; e.PatientID = ""; e.PatientSeq, e.PatientPrev = 0, -1 })
			forged.Index = n
			m.events = append(m.events, forged)
			return m, cps
		}, n, FaultInserted},
		{"truncate the tail", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			m.events = m.events[:990]
			return m, cps
		}, 990, FaultTruncated},
		{"truncate the tail and the tree below a stored checkpoint", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			short, _ := buildFrom(t, m.events[:550], 7)
			return short, cps
		}, 550, FaultTruncated},
		{"restore an older copy", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			old, _ := buildFrom(t, m.events[:700], 7)
			return old, cps
		}, 700, FaultRollback},
		{"rewrite events and tree from 400", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			events := slices.Clone(m.events)
			events[400] = reencode(t, events[400], true, func(e *Event) { e.Outcome = "denied" })
			rewritten, _ := buildFrom(t, events, 7)
			return rewritten, cps
		}, 301, FaultRootMismatch},
		{"rewrite events and tree after the stored checkpoints", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			events := slices.Clone(m.events)
			events[800] = reencode(t, events[800], true, func(e *Event) { e.Outcome = "denied" })
			rewritten, _ := buildFrom(t, events, 7)
			return rewritten, cps
		}, 602, FaultRootMismatch},
		{"edit a level-1 tile", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			flip(t, m, 1, 0, 3, 1)
			return m, cps
		}, 256, FaultTile},
		{"edit an entry bundle", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			d, _ := m.ReadEntryBundle(t.Context(), 2, TileWidth)
			d[(700-512)*entrySize+5] ^= 1
			m.WriteEntryBundle(t.Context(), 2, TileWidth, d)
			return m, cps
		}, 700, FaultTile},
		{"edit a leaf in a level-0 tile", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			flip(t, m, 0, 2, TileWidth, 700-512)
			return m, cps
		}, 700, FaultEdited},
		{"delete the last partial tile", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			delete(m.tiles, tileName{0, 3, n - 768})
			return m, cps
		}, 768, FaultTile},
		{"a broken patient chain", func(t *testing.T, m *memLog, cps []Checkpoint) (*memLog, []Checkpoint) {
			at := uint64(0)
			events := synthEvents(t, n, 1, func(e *Event) {
				if at == 0 && e.Index >= 500 && e.PatientSeq > 1 {
					at = e.Index
					e.PatientSeq++
				}
			})
			broken, _ := buildFrom(t, events, 7)
			if at == 0 {
				t.Fatal("no event to break")
			}
			t.Logf("broke the chain at %d", at)
			return broken, nil
		}, 0, FaultPatientChain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, roots := buildLog(t, n, 7, 1)
			cps := append(checkpointsOf(t, roots, false, cpSizes...), checkpointsOf(t, roots, true, n)...)
			if err := Verify(t.Context(), m, cps, nil); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			m, cps = tc.tamper(t, m, cps)
			err := Verify(t.Context(), m, cps, nil)
			if tc.kind == FaultPatientChain {
				var f *Fault
				if !errors.As(err, &f) || f.Kind != FaultPatientChain || f.Index < 500 {
					t.Fatalf("Verify = %v, want a patient-chain fault", err)
				}
				t.Logf("%v", f)
				return
			}
			wantFault(t, err, tc.index, tc.kind)
		})
	}
}

// flip flips a bit of node j of a stored tile.
func flip(t *testing.T, m *memLog, level, index uint64, width, j int) {
	t.Helper()
	d, err := m.ReadTile(t.Context(), level, index, width)
	if err != nil {
		t.Fatal(err)
	}
	d[j*HashSize] ^= 1
	m.WriteTile(t.Context(), level, index, width, d)
}

func TestVerifyCheckpointsBeyondTheLog(t *testing.T) {
	m, roots := buildLog(t, 600, 7, 2)
	_, rootsLong := buildLog(t, 700, 7, 2)
	ext := checkpointsOf(t, rootsLong, true, 700)
	stored := checkpointsOf(t, rootsLong, false, 700)
	wantFault(t, Verify(t.Context(), m, ext, nil), 600, FaultRollback)
	wantFault(t, Verify(t.Context(), m, stored, nil), 600, FaultTruncated)
	wantFault(t, Verify(t.Context(), m, append(ext, stored...), nil), 600, FaultTruncated)
	if err := Verify(t.Context(), m, checkpointsOf(t, roots, true, 0, 7, 600), nil); err != nil {
		t.Fatal(err)
	}
	// A checkpoint of size 0 with a wrong root.
	wantFault(t, Verify(t.Context(), m, []Checkpoint{{Size: 0, Root: [32]byte{1}}}, nil), 0, FaultRootMismatch)
}

// failingSource fails while reading events.
type failingSource struct{ *memLog }

func (f failingSource) Events(ctx context.Context) iter.Seq2[StoredEvent, error] {
	return func(yield func(StoredEvent, error) bool) {
		for i, e := range f.memLog.events {
			if i == 10 {
				yield(StoredEvent{}, errInjected)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func TestVerifySourceError(t *testing.T) {
	m, _ := buildLog(t, 100, 7, 3)
	err := Verify(t.Context(), failingSource{m}, nil, nil)
	var f *Fault
	if !errors.Is(err, errInjected) || errors.As(err, &f) {
		t.Fatalf("Verify = %v, want the source's error and no fault", err)
	}
}

func TestCheckExternal(t *testing.T) {
	ctx := t.Context()
	m, roots := buildLog(t, 700, 7, 4)
	_, otherRoots := buildFrom(t, synthEvents(t, 700, 5, nil), 7)
	size, root := uint64(700), roots[700]
	for _, s := range []uint64{0, 7, 14, 301, 700} {
		cp := checkpointsOf(t, roots, true, s)[0]
		if err := CheckExternal(ctx, m, size, root, cp); err != nil {
			t.Errorf("size %d: %v", s, err)
		}
	}
	cp := Checkpoint{Size: 701, Root: root, External: true}
	if err := CheckExternal(ctx, m, size, root, cp); !isFault(err, FaultRollback) {
		t.Errorf("larger external checkpoint: %v", err)
	}
	for _, s := range []uint64{7, 301, 700} {
		cp := checkpointsOf(t, otherRoots, true, s)[0]
		if err := CheckExternal(ctx, m, size, root, cp); !isFault(err, FaultRollback) {
			t.Errorf("size %d of another log: %v", s, err)
		}
	}
}

func isFault(err error, kind string) bool {
	var f *Fault
	return errors.As(err, &f) && f.Kind == kind
}

var (
	benchOnce sync.Once
	benchLog  *memLog
	benchCP   []Checkpoint
)

// BenchmarkVerify verifies a log of 2^20 synthetic events (36,000 patients)
// held in memory, with a checkpoint at the end, and reports events/s and
// the CPU time per event.
func BenchmarkVerify(b *testing.B) {
	const n = 1 << 20
	benchOnce.Do(func() {
		s := newSynth(9, 36000)
		events := make([]StoredEvent, n)
		for i := range uint64(n) {
			enc, err := s.event(i).MarshalCanonical()
			if err != nil {
				b.Fatal(err)
			}
			var nonce [NonceSize]byte
			nonce[0], nonce[1], nonce[2] = byte(i), byte(i>>8), byte(i>>16)
			events[i] = StoredEvent{Index: i, Nonce: nonce, Event: enc, Commitment: LeafHash(nonce, enc)}
		}
		var roots map[uint64][32]byte
		benchLog, roots = buildFrom(b, events, 256)
		benchCP = checkpointsOf(b, roots, true, n)
	})
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if err := Verify(ctx, benchLog, benchCP, nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		// CPU time per event, over all threads (GC included): the cost
		// when the machine is shared and wall-clock rates are unreliable.
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n*b.N), "cpu-ns/event")
	}
}

// TestVerifyChunkBoundary puts faults whose kind depends on the next event
// at the last event of a chunk of Verify's pipeline.
func TestVerifyChunkBoundary(t *testing.T) {
	const n, at = chunkSize + 500, chunkSize - 1
	t.Run("inserted", func(t *testing.T) {
		m, _ := buildLog(t, n, 256, 6)
		forged := reencode(t, m.events[at], true, func(e *Event) { e.ActorID = "intruder" })
		m.events = slices.Insert(m.events, at, forged)
		for i := at + 1; i < len(m.events); i++ {
			m.events[i].Index = uint64(i)
		}
		wantFault(t, Verify(t.Context(), m, nil, nil), at, FaultInserted)
	})
	t.Run("deleted", func(t *testing.T) {
		m, _ := buildLog(t, n, 256, 6)
		m.events = slices.Delete(m.events, at, at+1)
		for i := at; i < len(m.events); i++ {
			m.events[i].Index = uint64(i)
		}
		wantFault(t, Verify(t.Context(), m, nil, nil), at, FaultDeleted)
	})
	t.Run("last event", func(t *testing.T) {
		m, _ := buildLog(t, chunkSize, 256, 6)
		m.events[chunkSize-1] = reencode(t, m.events[chunkSize-1], true, func(e *Event) { e.ActorID = "intruder" })
		wantFault(t, Verify(t.Context(), m, nil, nil), chunkSize-1, FaultEdited)
	})
}
