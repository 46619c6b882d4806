package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Geometry of the chart, in SVG user units (pixels).
const (
	width      = 960
	height     = 560
	plotLeft   = 80
	plotRight  = width - 260 // the legend is to the right
	plotTop    = 60
	plotBottom = height - 70
)

// Okabe-Ito's colour-blind-safe palette, then a few more.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
	"#882255", "#44AA99", "#999933", "#6699CC", "#AA4499"}

// minLogMS is the smallest latency drawn on a log scale.
const minLogMS = 0.001

var dashes = map[string]string{"p50_ms": "", "p95_ms": "2,3", "p99_ms": "8,4"}

var metricNames = map[string]string{"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}

type point struct {
	size int
	ms   float64
}

// series is one line: an operation's latency metric in one variant.
type series struct {
	variant, op, metric, colour string
	points                      []point
}

type chart struct {
	title   string
	ops     []string
	metrics []string
	ylog    bool
	plain   bool // there are plain-baseline series
	sizes   []int
	series  []series

	xlo, xhi float64 // log10 of patients
	ylo, yhi float64 // ms, or log10 ms when ylog
	yticks   []float64
}

// newChart selects the series to draw and fixes the axes. ops empty means
// every operation in the runs.
func newChart(title string, runs []result, metrics, ops []string, ylog bool) (*chart, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("no results to draw")
	}
	all := map[string]bool{}
	for _, r := range runs {
		for op := range r.Ops {
			all[op] = true
		}
	}
	if len(ops) == 0 {
		for op := range all {
			ops = append(ops, op)
		}
		sortOps(ops)
	} else {
		for _, op := range ops {
			if !all[op] {
				have := make([]string, 0, len(all))
				for o := range all {
					have = append(have, o)
				}
				sortOps(have)
				return nil, fmt.Errorf("-ops: %q is in none of the results (they have %s)", op, strings.Join(have, ", "))
			}
		}
	}
	c := &chart{title: title, ops: ops, metrics: metrics, ylog: ylog}
	variants := []string{secure}
	if slices.ContainsFunc(runs, func(r result) bool { return r.Variant == plain }) {
		variants = append(variants, plain)
		c.plain = true
	}
	for _, r := range runs {
		if !slices.Contains(c.sizes, r.Size) {
			c.sizes = append(c.sizes, r.Size)
		}
	}
	slices.Sort(c.sizes)
	for _, v := range variants {
		for i, op := range ops {
			for _, m := range metrics {
				s := series{variant: v, op: op, metric: m, colour: palette[i%len(palette)]}
				for _, r := range runs { // sorted by size
					res, ok := r.Ops[op]
					if r.Variant != v || !ok || res.Count == 0 {
						continue
					}
					// bench measures to the microsecond: on a log scale a
					// latency below that is not drawn.
					if y := res.metric(m); !ylog || y >= minLogMS {
						s.points = append(s.points, point{r.Size, y})
					}
				}
				if len(s.points) > 0 {
					c.series = append(c.series, s)
				}
			}
		}
	}
	if len(c.series) == 0 {
		return nil, fmt.Errorf("nothing to draw: no selected operation has a completed request")
	}
	c.axes()
	return c, nil
}

func (c *chart) axes() {
	lo, hi := math.Log10(float64(c.sizes[0])), math.Log10(float64(c.sizes[len(c.sizes)-1]))
	span := max(hi-lo, 0.6)
	mid := (lo + hi) / 2
	c.xlo, c.xhi = mid-span/2-0.08*span, mid+span/2+0.08*span

	ymin, ymax := math.Inf(1), 0.0
	for _, s := range c.series {
		for _, p := range s.points {
			ymin, ymax = min(ymin, p.ms), max(ymax, p.ms)
		}
	}
	if c.ylog {
		// Bounds and ticks at 1, 2 and 5 times powers of ten (only the
		// powers when the range is wide).
		lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		mults := []float64{1, 2, 5}
		if hi-lo > 4 {
			mults = mults[:1]
		}
		var nice []float64
		for e := lo; e <= hi; e++ {
			for _, m := range mults {
				nice = append(nice, m*math.Pow(10, e))
			}
		}
		i := 0
		for i+1 < len(nice) && nice[i+1] <= ymin*(1+1e-9) {
			i++
		}
		j := len(nice) - 1
		for j-1 > i && nice[j-1] >= ymax*(1-1e-9) {
			j--
		}
		if j == i {
			j = min(i+1, len(nice)-1)
		}
		c.yticks = nice[i : j+1]
		c.ylo, c.yhi = math.Log10(c.yticks[0]), math.Log10(c.yticks[len(c.yticks)-1])
		if c.yhi <= c.ylo {
			c.yhi = c.ylo + 1
		}
		return
	}
	if ymax <= 0 {
		ymax = 1
	}
	step := niceStep(ymax * 1.05 / 6)
	c.ylo, c.yhi = 0, math.Ceil(ymax*1.05/step)*step
	for i := 0.0; i*step <= c.yhi+step/1e6; i++ {
		c.yticks = append(c.yticks, i*step)
	}
}

// niceStep rounds a tick interval up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= raw {
			return m * e
		}
	}
	return 10 * e
}

func (c *chart) x(size int) float64 {
	return plotLeft + (math.Log10(float64(size))-c.xlo)/(c.xhi-c.xlo)*(plotRight-plotLeft)
}

func (c *chart) y(ms float64) float64 {
	v := ms
	if c.ylog {
		v = math.Log10(ms)
	}
	return plotBottom - (v-c.ylo)/(c.yhi-c.ylo)*(plotBottom-plotTop)
}

// esc escapes text for SVG element content and attribute values (quotes
// included); characters XML cannot hold become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// short cuts a legend entry so that it fits beside the plot.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func fmtMS(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
}

func variantName(v string) string {
	if v == plain {
		return "plain"
	}
	return "secure"
}

// svg writes the chart. Every series is exactly one <path>; nothing else
// is drawn with <path>.
func (c *chart) svg(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	p(`<title id="chart-title">%s</title>`+"\n", esc(c.title))
	ms := make([]string, len(c.metrics))
	for i, m := range c.metrics {
		ms[i] = metricNames[m]
	}
	p(`<desc>%s</desc>`+"\n", esc(fmt.Sprintf("Latency (%s, milliseconds) of %s against the number of patients (%s), log scale.",
		strings.Join(ms, ", "), strings.Join(c.ops, ", "), strings.Join(mapSlice(c.sizes, thousands), ", "))))
	p(`<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	p(`<text x="%d" y="30" text-anchor="middle" font-size="16" font-weight="bold" fill="#222">%s</text>`+"\n", width/2, esc(c.title))

	// Grid and y ticks.
	p(`<g stroke="#e4e4e4" stroke-width="1">` + "\n")
	for _, t := range c.yticks {
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", plotLeft, c.y(t), plotRight, c.y(t))
	}
	for _, s := range c.sizes {
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", c.x(s), plotTop, c.x(s), plotBottom)
	}
	p("</g>\n")
	p(`<g fill="#333" text-anchor="end">` + "\n")
	for _, t := range c.yticks {
		p(`<text x="%d" y="%.1f" dy="4">%s</text>`+"\n", plotLeft-8, c.y(t), esc(fmtMS(t)))
	}
	p("</g>\n")
	// x ticks at the data sizes; a label too close to the last one is left out.
	p(`<g fill="#333" text-anchor="middle">` + "\n")
	last := math.Inf(-1)
	for _, s := range c.sizes {
		x := c.x(s)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x, plotBottom, x, plotBottom+5)
		if x-last >= 52 {
			p(`<text x="%.1f" y="%d">%s</text>`+"\n", x, plotBottom+20, esc(thousands(s)))
			last = x
		}
	}
	p("</g>\n")
	// Axes and their names.
	p(`<g stroke="#333" stroke-width="1">`+"\n"+`<line x1="%d" y1="%d" x2="%d" y2="%d"/>`+"\n"+`<line x1="%d" y1="%d" x2="%d" y2="%d"/>`+"\n</g>\n",
		plotLeft, plotBottom, plotRight, plotBottom, plotLeft, plotTop, plotLeft, plotBottom)
	p(`<text x="%d" y="%d" text-anchor="middle" fill="#222">patients in the data set (log scale)</text>`+"\n", (plotLeft+plotRight)/2, plotBottom+45)
	yname := "latency, ms"
	if c.ylog {
		yname += " (log scale)"
	}
	p(`<text transform="translate(22 %d) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", (plotTop+plotBottom)/2, yname)

	// Series: plain baseline first, underneath.
	order := slices.Clone(c.series)
	slices.SortStableFunc(order, func(a, b series) int {
		if a.variant == b.variant {
			return 0
		}
		if a.variant == plain {
			return -1
		}
		return 1
	})
	for _, s := range order {
		sw, opacity := "2.2", "1"
		if s.variant == plain {
			sw, opacity = "1.3", "0.55"
		}
		var d strings.Builder
		for i, pt := range s.points {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f,%.1f ", cmd, c.x(pt.size), c.y(pt.ms))
		}
		dash := ""
		if da := dashes[s.metric]; da != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, da)
		}
		name := fmt.Sprintf("%s %s", s.op, metricNames[s.metric])
		if s.variant == plain {
			name += " (plain baseline)"
		}
		p(`<g class="series" data-variant="%s" data-op="%s" data-metric="%s">`+"\n", esc(variantName(s.variant)), esc(s.op), esc(s.metric))
		p(`<path d="%s" fill="none" stroke="%s" stroke-width="%s" stroke-opacity="%s" stroke-linejoin="round"%s><title>%s</title></path>`+"\n",
			strings.TrimSpace(d.String()), s.colour, sw, opacity, dash, esc(name))
		for _, pt := range s.points {
			tip := esc(fmt.Sprintf("%s at %s patients: %s ms", name, thousands(pt.size), fmtMS(pt.ms)))
			if s.variant == plain {
				p(`<rect x="%.1f" y="%.1f" width="6" height="6" fill="#ffffff" stroke="%s" stroke-opacity="%s"><title>%s</title></rect>`+"\n",
					c.x(pt.size)-3, c.y(pt.ms)-3, s.colour, opacity, tip)
			} else {
				p(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`+"\n", c.x(pt.size), c.y(pt.ms), s.colour, tip)
			}
		}
		p("</g>\n")
	}

	// Legend.
	lx, ly := plotRight+30, plotTop+4
	line := func(y int, colour, sw, opacity, dash string) {
		if dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%s" stroke-opacity="%s"%s/>`+"\n", lx, y, lx+34, y, colour, sw, opacity, dash)
	}
	label := func(y int, text string) {
		p(`<text x="%d" y="%d" dy="4" fill="#222">%s</text>`+"\n", lx+44, y, esc(short(text, 28)))
	}
	head := func(y int, text string) {
		p(`<text x="%d" y="%d" font-weight="bold" fill="#222">%s</text>`+"\n", lx, y, esc(text))
	}
	p(`<g class="legend">` + "\n")
	head(ly, "Operation")
	ly += 20
	for i, op := range c.ops {
		line(ly, palette[i%len(palette)], "2.2", "1", "")
		label(ly, op)
		ly += 18
	}
	ly += 10
	head(ly, "Latency")
	ly += 20
	for _, m := range c.metrics {
		line(ly, "#444", "2.2", "1", dashes[m])
		label(ly, metricNames[m])
		ly += 18
	}
	if c.plain {
		ly += 10
		head(ly, "Variant")
		ly += 20
		line(ly, "#444", "2.2", "1", "")
		p(`<circle cx="%d" cy="%d" r="3" fill="#444"/>`+"\n", lx+17, ly)
		label(ly, "secure (as shipped)")
		ly += 18
		line(ly, "#444", "1.3", "0.55", "")
		p(`<rect x="%d" y="%d" width="6" height="6" fill="#ffffff" stroke="#444" stroke-opacity="0.55"/>`+"\n", lx+14, ly-3)
		label(ly, "plain baseline")
	}
	p("</g>\n</svg>\n")
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
