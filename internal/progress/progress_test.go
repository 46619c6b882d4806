package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{t: time.Unix(0, 0)}
	b := newBar(&buf, "seeding", 100, false, c.now)
	c.t = c.t.Add(10 * time.Second)
	b.Set(50)
	c.t = c.t.Add(time.Second)
	b.Set(55) // within the interval: no line
	c.t = c.t.Add(9 * time.Second)
	b.Set(100)
	b.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"seeding: 50/100 (50.0%), 5/s, ETA 10s",
		"seeding: 100/100 (100.0%), 5/s, ETA 0s",
		"seeding: done 100/100 (5/s) in 20s",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), strings.Join(want, "\n"))
	}
}

func TestTerminalRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{t: time.Unix(0, 0)}
	b := newBar(&buf, "verify", 10, true, c.now)
	c.t = c.t.Add(time.Second)
	b.Set(5)
	b.Finish()
	out := buf.String()
	if !strings.HasPrefix(out, "\rverify ") || !strings.Contains(out, "ETA 1s") || !strings.HasSuffix(out, "\n") {
		t.Errorf("unexpected terminal output %q", out)
	}
}

func TestNilBar(t *testing.T) {
	var b *Bar
	b.Set(1)
	b.Add(1)
	b.Finish()
}
