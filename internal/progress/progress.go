// Package progress reports the progress of long work (seeding, migrations,
// key rotation, verification): a bar with rate and ETA on a terminal, plain
// periodic lines otherwise.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar reports progress of one task towards a known total. It is safe for
// concurrent use. A nil *Bar ignores all calls.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// New starts a bar on w for total units. On a terminal it redraws in place
// at most ten times a second; otherwise it writes a line every interval
// (every 5 s by default) and at the end.
func New(w io.Writer, label string, total int64) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return newBar(w, label, total, tty, time.Now)
}

func newBar(w io.Writer, label string, total int64, tty bool, now func() time.Time) *Bar {
	b := &Bar{w: w, tty: tty, label: label, total: total, now: now, interval: 5 * time.Second}
	if tty {
		b.interval = 100 * time.Millisecond
	}
	b.start = now()
	return b
}

// Set records that n units are done.
func (b *Bar) Set(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = n
	if t := b.now(); t.Sub(b.last) >= b.interval {
		b.last = t
		b.draw(false)
	}
}

// Add records n more units done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	done := b.done + n
	b.mu.Unlock()
	b.Set(done)
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

// draw writes the current state; b.mu is held.
func (b *Bar) draw(final bool) {
	el := b.now().Sub(b.start)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(b.done) / s
	}
	eta := "?"
	if rate > 0 && b.total > 0 {
		eta = time.Duration(float64(b.total-b.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 0.0
	if b.total > 0 {
		pct = 100 * float64(b.done) / float64(b.total)
	}
	if b.tty {
		const width = 30
		fill := int(pct / 100 * width)
		fill = min(max(fill, 0), width)
		bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
		if final {
			fmt.Fprintf(b.w, "\r%s %s %5.1f%% %d/%d  %.0f/s  in %s   \n", b.label, bar, pct, b.done, b.total, rate, el.Round(time.Millisecond))
			return
		}
		fmt.Fprintf(b.w, "\r%s %s %5.1f%% %d/%d  %.0f/s  ETA %s   ", b.label, bar, pct, b.done, b.total, rate, eta)
		return
	}
	if final {
		fmt.Fprintf(b.w, "%s: done %d/%d (%.0f/s) in %s\n", b.label, b.done, b.total, rate, el.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(b.w, "%s: %d/%d (%.1f%%), %.0f/s, ETA %s\n", b.label, b.done, b.total, pct, rate, eta)
}
