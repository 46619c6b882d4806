package logx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// line is a record as the tests compare it: level, message and attributes
// in order, as key=value.
type line struct {
	Level slog.Level
	Msg   string
	Attrs string
}

// recorder is a slog.Handler that keeps lines.
type recorder struct {
	mu     *sync.Mutex
	lines  *[]line
	prefix string // from WithAttrs
}

func newRecorder() *recorder { return &recorder{mu: &sync.Mutex{}, lines: &[]line{}} }

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	s := h.prefix
	r.Attrs(func(a slog.Attr) bool {
		s += fmt.Sprintf("%s=%v ", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.lines = append(*h.lines, line{r.Level, r.Message, s})
	return nil
}

func (h *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		c.prefix += fmt.Sprintf("%s=%v ", a.Key, a.Value)
	}
	return &c
}

func (h *recorder) WithGroup(string) slog.Handler { return h }

// take returns the lines written since the last take.
func (h *recorder) take() []line {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := *h.lines
	*h.lines = nil
	return l
}

func TestLimiter(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	rec := newRecorder()
	l := NewLimiter(rec, Options{Burst: 2, Interval: 10 * time.Second, Level: slog.LevelWarn, Now: clk.Now})
	log := slog.New(l)
	fail := func(port int) {
		log.Error("request failed", "code", "database_unavailable", "err", fmt.Sprintf("dial tcp 127.0.0.1:%d: connection refused", port))
	}
	check := func(step string, want []line) {
		t.Helper()
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("%s: lines (-want +got):\n%s", step, diff)
		}
	}
	const err1 = "err=dial tcp 127.0.0.1:5432: connection refused "
	failed := line{slog.LevelError, "request failed", "code=database_unavailable " + err1}

	for range 10 {
		fail(5432)
	}
	check("first burst", []line{failed, failed})

	// Digits do not make records different; other text does. Records
	// below Level are never limited.
	fail(6543)
	log.Error("request failed", "err", "something else")
	for range 5 {
		log.Info("request", "route", "GET /healthz")
	}
	check("same window", []line{
		{slog.LevelError, "request failed", "err=something else "},
		{slog.LevelInfo, "request", "route=GET /healthz "}, {slog.LevelInfo, "request", "route=GET /healthz "},
		{slog.LevelInfo, "request", "route=GET /healthz "}, {slog.LevelInfo, "request", "route=GET /healthz "},
		{slog.LevelInfo, "request", "route=GET /healthz "},
	})

	// Before the window ends, Sweep reports nothing; a record after it
	// brings the report first, and opens a new window.
	clk.Advance(9 * time.Second)
	if err := l.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	fail(5432)
	check("window not ended", nil)
	clk.Advance(time.Second)
	fail(5432)
	check("next window", []line{
		{slog.LevelError, Message, "count=10 of=request failed " + err1},
		failed,
	})

	// Sweep reports a window that ended without another record.
	fail(5432)
	fail(5432)
	clk.Advance(10 * time.Second)
	if err := l.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	check("sweep", []line{failed, {slog.LevelError, Message, "count=1 of=request failed " + err1}})
	if err := l.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	check("second sweep", nil)

	// Flush reports windows that have not ended.
	for range 4 {
		log.Warn("access log batch failed", "err", errors.New("disk full"))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	warned := line{slog.LevelWarn, "access log batch failed", "err=disk full "}
	check("flush", []line{warned, warned, {slog.LevelWarn, Message, "count=2 of=access log batch failed err=disk full "}})
}

// TestLimiterDerived checks that handlers made by WithAttrs share windows
// and that the report goes to the handler of the first record.
func TestLimiterDerived(t *testing.T) {
	clk := newClock()
	rec := newRecorder()
	l := NewLimiter(rec, Options{Burst: 1, Interval: time.Minute, Level: slog.LevelWarn, Now: clk.Now})
	a, b := slog.New(l).With("part", "a"), slog.New(l).With("part", "b")
	a.Error("checkpoint failed")
	b.Error("checkpoint failed")
	b.Error("checkpoint failed")
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []line{
		{slog.LevelError, "checkpoint failed", "part=a "},
		{slog.LevelError, Message, "part=a count=2 of=checkpoint failed "},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestLimiterConcurrent checks under the race detector that every record
// is either written or counted in a report.
func TestLimiterConcurrent(t *testing.T) {
	clk := newClock()
	rec := newRecorder()
	l := NewLimiter(rec, Options{Burst: 3, Interval: time.Second, Now: clk.Now})
	log := slog.New(l)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				log.Error("request failed", "err", "connection reset")
				if w == 0 && i%50 == 0 {
					clk.Advance(time.Second)
					l.Sweep(t.Context())
				}
			}
		})
	}
	wg.Wait()
	l.Flush(t.Context())
	total := 0
	for _, ln := range rec.take() {
		switch ln.Msg {
		case "request failed":
			total++
		case Message:
			var n int
			fmt.Sscanf(ln.Attrs, "count=%d", &n)
			total += n
		}
	}
	if total != writers*each {
		t.Errorf("%d records written or reported, want %d", total, writers*each)
	}
}

func TestFoldDigits(t *testing.T) {
	for in, want := range map[string]string{
		"": "",
		"read tcp 10.0.0.1:54321->10.0.0.2:5432: reset": "read tcp #.#.#.#:#->#.#.#.#:#: reset",
		"no digits": "no digits",
		"42":        "#",
	} {
		if got := foldDigits(in); got != want {
			t.Errorf("foldDigits(%q) = %q, want %q", in, got, want)
		}
	}
}
