// Package logx holds slog handlers for the server's log.
//
// Limiter keeps an outage from flooding the log: while the database is
// down every request fails the same way, and without a limit the server
// wrote an identical ERROR line for each of them (about 1,500 a second).
package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options configures a Limiter. The zero value is valid.
type Options struct {
	// Burst is how many similar records pass in one interval; 0 means 5.
	Burst int
	// Interval is the length of a window; 0 means 10 seconds.
	Interval time.Duration
	// Level is the lowest level that is limited; records below it always
	// pass. The zero value is slog.LevelInfo; the server uses
	// slog.LevelWarn so that request lines are never dropped.
	Level slog.Level
	// Now returns the current time; nil means time.Now. Tests set a fake
	// clock.
	Now func() time.Time
}

// maxWindows bounds the records the Limiter tracks at once. Records of a
// kind not seen before pass unlimited while the table is full: the Limiter
// drops repetitions, never the first of a kind.
const maxWindows = 1024

// Message is the message of the record a Limiter writes for the records it
// dropped, with attributes count (how many), of (their message) and err
// (their err attribute, if they had one).
const Message = "similar log lines suppressed"

// Limiter is a slog.Handler that passes records to another handler, except
// that of similar records at or above Options.Level only the first Burst
// in each window of Options.Interval pass. Records are similar when they
// have the same level, message and "err" attribute, where all runs of
// digits in the err attribute count as equal (ports, sizes, counts). A
// window starts with the first record of its kind; the dropped records of
// a window are reported in one record (Message) when the next similar
// record arrives after the window, when Sweep finds the window ended, or
// at Flush.
//
// A Limiter and the handlers derived from it (WithAttrs, WithGroup) share
// their windows; the report of a window goes to the handler whose record
// opened it. It is safe for concurrent use.
type Limiter struct {
	h slog.Handler
	s *limits
}

// limits is the state a Limiter shares with its derived handlers.
type limits struct {
	burst    int
	interval time.Duration
	level    slog.Level
	now      func() time.Time

	mu      sync.Mutex
	windows map[kind]*window
	next    time.Time // no window ends before this
}

type kind struct {
	level    slog.Level
	msg, err string // err with digits folded
}

type window struct {
	start   time.Time
	passed  int
	dropped int
	h       slog.Handler // where the report goes
	errText string       // the err attribute of the first record
}

// NewLimiter returns a Limiter that writes to h.
func NewLimiter(h slog.Handler, o Options) *Limiter {
	if o.Burst <= 0 {
		o.Burst = 5
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{h: h, s: &limits{burst: o.Burst, interval: o.Interval, level: o.Level, now: o.Now, windows: map[kind]*window{}}}
}

// Enabled reports whether the underlying handler handles level.
func (l *Limiter) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

// WithAttrs returns a Limiter over h.WithAttrs(attrs) sharing l's windows.
func (l *Limiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Limiter{h: l.h.WithAttrs(attrs), s: l.s}
}

// WithGroup returns a Limiter over h.WithGroup(name) sharing l's windows.
func (l *Limiter) WithGroup(name string) slog.Handler {
	return &Limiter{h: l.h.WithGroup(name), s: l.s}
}

// Handle passes r on unless too many similar records passed in its window.
// Reports of ended windows are written first.
func (l *Limiter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < l.s.level {
		return l.h.Handle(ctx, r)
	}
	err := errAttr(r)
	k := kind{level: r.Level, msg: r.Message, err: foldDigits(err)}
	now := l.s.now()
	s := l.s
	s.mu.Lock()
	reports := s.expire(now, false)
	pass := true
	switch w := s.windows[k]; {
	case w == nil:
		if len(s.windows) < maxWindows {
			s.windows[k] = &window{start: now, passed: 1, h: l.h, errText: err}
			if end := now.Add(s.interval); s.next.IsZero() || end.Before(s.next) {
				s.next = end
			}
		}
	case w.passed < s.burst:
		w.passed++
	default:
		w.dropped++
		pass = false
	}
	s.mu.Unlock()
	rerr := s.report(ctx, now, reports)
	if !pass {
		return rerr
	}
	if err := l.h.Handle(ctx, r); err != nil {
		return err
	}
	return rerr
}

// Sweep writes the reports of windows that have ended. A server calls it
// every interval or so, so that the count of an outage's last window is
// not held back until the next similar record.
func (l *Limiter) Sweep(ctx context.Context) error {
	return l.sweep(ctx, false)
}

// Flush writes the reports of all windows with dropped records, ended or
// not, and forgets every window. A server calls it when it stops.
func (l *Limiter) Flush(ctx context.Context) error {
	return l.sweep(ctx, true)
}

func (l *Limiter) sweep(ctx context.Context, all bool) error {
	now := l.s.now()
	l.s.mu.Lock()
	reports := l.s.expire(now, all)
	l.s.mu.Unlock()
	return l.s.report(ctx, now, reports)
}

// Run calls Sweep every interval until ctx is done, then Flush.
func (l *Limiter) Run(ctx context.Context) {
	t := time.NewTicker(l.s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			l.Sweep(ctx)
		}
	}
}

// report is a window's dropped records, to be written.
type report struct {
	kind
	window
}

// expire removes the windows that ended by now (all of them if all is
// set) and returns those that dropped records. s.mu must be held.
func (s *limits) expire(now time.Time, all bool) []report {
	if !all && (s.next.IsZero() || now.Before(s.next)) {
		return nil
	}
	var reports []report
	s.next = time.Time{}
	for k, w := range s.windows {
		end := w.start.Add(s.interval)
		if all || !now.Before(end) {
			if w.dropped > 0 {
				reports = append(reports, report{k, *w})
			}
			delete(s.windows, k)
			continue
		}
		if s.next.IsZero() || end.Before(s.next) {
			s.next = end
		}
	}
	return reports
}

// report writes one record per report.
func (s *limits) report(ctx context.Context, now time.Time, reports []report) error {
	var first error
	for _, rp := range reports {
		r := slog.NewRecord(now, rp.level, Message, 0)
		r.AddAttrs(slog.Int("count", rp.dropped), slog.String("of", rp.msg))
		if rp.errText != "" {
			r.AddAttrs(slog.String("err", rp.errText))
		}
		if err := rp.h.Handle(ctx, r); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// errAttr returns the value of r's top-level "err" attribute, or "".
func errAttr(r slog.Record) string {
	var s string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			s = a.Value.String()
			return false
		}
		return true
	})
	return s
}

// foldDigits replaces each run of digits in s by one '#'.
func foldDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if len(b) == 0 || b[len(b)-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
