package audit_test

// Benchmarks of the access log on SQLite (a real file, synchronous=FULL, the
// product default) and of Tessera's POSIX driver as the reference peer; see
// docs/BENCHMARKS.md for the command, the machine and the figures. Nothing
// here asserts a timing.

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"
)

// Tessera logs through klog to stderr, which would interleave with the
// benchmark lines; the benchmarks keep it quiet.
func init() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	fs.Set("logtostderr", "false")
	fs.Set("alsologtostderr", "false")
	fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

// benchLog opens the access log over a fresh SQLite file in a temporary
// directory, with the product's defaults (synchronous=FULL, MaxBatch 256).
func benchLog(b *testing.B) *audit.Log {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "confidant.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := audit.Open(ctx, db, testfix.Keyring(b), audit.Config{Origin: "bench.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		db.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(); db.Close() })
	return l
}

// benchPatients are the patients the benchmark events concern, so that the
// per-patient chains are exercised.
var benchPatients = func() []string {
	p := make([]string, 100)
	for i := range p {
		p[i] = confidant.NewID()
	}
	return p
}()

func benchEvent(i int) confidant.AuditEvent {
	return confidant.AuditEvent{
		Time: time.Now(), ActorID: "actor" + strconv.Itoa(i%7), Role: confidant.RoleTherapist, ClinicID: "clinic1",
		Action: "chart.read", PatientID: benchPatients[i%len(benchPatients)], RecordID: "rec" + strconv.Itoa(i),
		Purpose: "treatment", Outcome: confidant.OutcomeOK, SessionID: "session" + strconv.Itoa(i%31), Client: "192.0.2.1",
	}
}

// drive runs n operations from conc goroutines (each takes the next
// operation number until n are taken) and returns the latency of each and
// the wall-clock time of the whole, measured around the goroutines only.
func drive(b *testing.B, n, conc int, op func(i int) error) ([]time.Duration, time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					failed.Store(&err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	return lat, elapsed
}

// quantile of sorted durations, in ms.
func quantileMS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / 1e6
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) float64 {
	slices.Sort(lat)
	rate := float64(len(lat)) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(quantileMS(lat, 0.50), "p50-ms")
	b.ReportMetric(quantileMS(lat, 0.99), "p99-ms")
	return rate
}

// appendRates keeps the last rate measured per implementation, concurrency
// and b.N, so that the Tessera run can print the ratio to the Confidant run
// of the same size.
var appendRates sync.Map // "impl/conc/N" -> float64

// BenchmarkAppend appends b.N events with 1, 16 and 256 concurrent callers:
// through audit.Log.Record (one event per call, returning once committed:
// group commit, synchronous=FULL), and the same number of 32-byte
// commitments through Tessera's POSIX driver (one tessera.NewEntry per Add,
// waiting for each entry's index; the POSIX driver assigns it only after the
// batch is written, fsynced and integrated into the tree). Run with a fixed
// -benchtime Nx so that both append the same number. Reports events/s and
// the p50/p99 latency of one append; the Tessera sub-benchmark also reports
// confidant/tessera, the ratio of the events/s.
func BenchmarkAppend(b *testing.B) {
	for _, conc := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			b.Run("impl=confidant", func(b *testing.B) {
				l := benchLog(b)
				ctx := context.Background()
				lat, el := drive(b, b.N, conc, func(i int) error { return l.Record(ctx, benchEvent(i)) })
				appendRates.Store(fmt.Sprintf("confidant/%d/%d", conc, b.N), report(b, lat, el))
			})
			b.Run("impl=tessera-posix", func(b *testing.B) {
				add, shutdown, cancel := tesseraLog(b)
				ctx := context.Background()
				data := make([][]byte, b.N)
				for i := range data {
					data[i] = make([]byte, 32)
					rand.Read(data[i])
				}
				lat, el := drive(b, b.N, conc, func(i int) error {
					_, err := add(ctx, tessera.NewEntry(data[i]))()
					return err
				})
				rate := report(b, lat, el)
				if err := shutdown(ctx); err != nil {
					b.Logf("tessera shutdown: %v", err)
				}
				cancel()
				if c, ok := appendRates.Load(fmt.Sprintf("confidant/%d/%d", conc, b.N)); ok {
					b.ReportMetric(c.(float64)/rate, "confidant/tessera")
					b.Logf("conc=%d N=%d: confidant %.0f events/s, tessera-posix %.0f events/s, ratio confidant/tessera = %.2f", conc, b.N, c.(float64), rate, c.(float64)/rate)
				}
			})
		})
	}
}

// tesseraMaxAge is the batch age given to tessera.WithBatching: Tessera's
// default (250 ms) would hold a lone appender for a quarter of a second per
// entry; 1 ms lets a batch go as soon as the previous one is written, as
// Confidant's sequencer does. The batch size is Tessera's default, 256,
// Confidant's MaxBatch.
const tesseraMaxAge = time.Millisecond

// tesseraLog opens a Tessera log on the POSIX driver in a fresh directory.
func tesseraLog(b *testing.B) (tessera.AddFn, func(context.Context) error, context.CancelFunc) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	skey, _, err := note.GenerateKey(rand.Reader, "bench.example/tessera")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	driver, err := posix.New(ctx, posix.Config{Path: filepath.Join(b.TempDir(), "tlog")})
	if err != nil {
		b.Fatal(err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(tessera.DefaultBatchMaxSize, tesseraMaxAge).
		WithCheckpointInterval(time.Second)
	app, shutdown, _, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(cancel)
	return app.Add, shutdown, cancel
}

// BenchmarkRecordToCheckpoint is the time from Record of one event to a
// signed, stored checkpoint covering it (Log.Checkpoint right after
// Record), serially.
func BenchmarkRecordToCheckpoint(b *testing.B) {
	l := benchLog(b)
	ctx := context.Background()
	lat, el := drive(b, b.N, 1, func(i int) error {
		if err := l.Record(ctx, benchEvent(i)); err != nil {
			return err
		}
		size, _, _ := l.Head(b.Context())
		cp, err := l.Checkpoint(ctx)
		if err == nil && cp.Size < size {
			err = fmt.Errorf("checkpoint of size %d does not cover %d", cp.Size, size)
		}
		return err
	})
	slices.Sort(lat)
	_ = el
	b.ReportMetric(quantileMS(lat, 0.50), "p50-ms")
	b.ReportMetric(quantileMS(lat, 0.99), "p99-ms")
}

// largeLogEvents is the size of the log BenchmarkLargeLog builds:
// CONFIDANT_BENCH_LOG_EVENTS, default 1,000,000.
func largeLogEvents(b *testing.B) int {
	if s := os.Getenv("CONFIDANT_BENCH_LOG_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("CONFIDANT_BENCH_LOG_EVENTS=%q", s)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkLargeLog builds one log of CONFIDANT_BENCH_LOG_EVENTS events
// (default 1,000,000; Records of 64 events from 256 goroutines, so that the
// sequencer commits up to 16,384 events per transaction), reporting the
// build rate, then measures on it:
//
//   - Verify: Log.Verify of the whole log (every event read, its sealed free
//     text decrypted, its canonical encoding and leaf rebuilt, the tree
//     recomputed and compared with the stored tiles and checkpoint);
//     events/s, and the process's CPU time (all cores) per event.
//   - Bundle: Log.Bundle of a random event (the event, its opening, an
//     inclusion proof and the latest checkpoint).
//
// Nothing is cached between the measured operations other than what the
// log itself keeps.
func BenchmarkLargeLog(b *testing.B) {
	n := largeLogEvents(b)
	ctx := context.Background()
	l := benchLog(b)
	const per, conc = 64, 256
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(per)) - per
				if start >= n {
					return
				}
				evs := make([]confidant.AuditEvent, 0, per)
				for i := start; i < start+per && i < n; i++ {
					evs = append(evs, benchEvent(i))
				}
				if err := l.Record(ctx, evs...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	build := time.Since(t0)
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	size, _, _ := l.Head(b.Context())
	// Printed, not logged: a benchmark with sub-benchmarks shows no log.
	fmt.Printf("BenchmarkLargeLog: built a log of %d events in %v (%.0f events/s) with Records of %d events from %d goroutines\n",
		size, build.Round(time.Millisecond), float64(size)/build.Seconds(), per, conc)

	b.Run(fmt.Sprintf("op=verify/events=%d", size), func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			if err := l.Verify(ctx, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		// The CPU time of the whole process (all cores) per event verified:
		// unlike events/s, hardly affected by other load on the machine.
		if cpu := cpuTime() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/(float64(size)*float64(b.N)), "cpu-ns/event")
		}
	})
	b.Run(fmt.Sprintf("op=bundle/events=%d", size), func(b *testing.B) {
		idx := make([]uint64, 4096)
		for i := range idx {
			var r [8]byte
			rand.Read(r[:])
			idx[i] = (uint64(r[0]) | uint64(r[1])<<8 | uint64(r[2])<<16 | uint64(r[3])<<24 | uint64(r[4])<<32) % size
		}
		i := 0
		for b.Loop() {
			if _, err := l.Bundle(ctx, idx[i%len(idx)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
