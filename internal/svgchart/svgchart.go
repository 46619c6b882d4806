// Package svgchart draws the small charts of Confidant's pages as inline
// SVG on the server: bar charts over time (stacked by series) and
// horizontal bar charts of ranked items. The output needs no script and no
// style sheet (presentation attributes only, which the Content-Security-
// Policy allows), carries a title and a description for screen readers,
// and every text in it is escaped. Pages show the numbers behind every
// chart in a table next to it; a chart is a picture of that table.
package svgchart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Okabe and Ito's colour-blind-safe palette, then a few more.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
	"#882255", "#44AA99", "#999933", "#6699CC", "#AA4499"}

// Colour returns the colour of the i-th series.
func Colour(i int) string { return palette[((i%len(palette))+len(palette))%len(palette)] }

// Series is one named row of values, one per label of the chart.
type Series struct {
	Name   string
	Values []float64
}

// Bars is a vertical bar chart: one bar per label (e.g. an hour or a
// day), stacked by series.
type Bars struct {
	Title  string
	Labels []string // x-axis categories, in order
	Series []Series // each with len(Labels) values, none negative
	// Width and Height in pixels; 0: 720 × 260.
	Width, Height int
	// EveryNthLabel thins the x-axis labels (0 or 1: every label).
	EveryNthLabel int
}

// Item is one ranked item of a horizontal bar chart.
type Item struct {
	Label string
	Value float64
}

// HBars is a horizontal bar chart of ranked items, largest first as given.
type HBars struct {
	Title string
	Items []Item
	Width int // 0: 720
}

const (
	left   = 56 // room for the y-axis labels
	right  = 12
	top    = 30
	bottom = 44 // room for the x-axis labels and the legend
)

// SVG renders the chart. It returns an error for values that cannot be
// drawn (negative, NaN, infinite, or a series of the wrong length).
func (b Bars) SVG() (template.HTML, error) {
	w, h := b.Width, b.Height
	if w <= 0 {
		w = 720
	}
	if h <= 0 {
		h = 260
	}
	n := len(b.Labels)
	totals := make([]float64, n)
	for _, s := range b.Series {
		if len(s.Values) != n {
			return "", fmt.Errorf("svgchart: series %q has %d values for %d labels", s.Name, len(s.Values), n)
		}
		for i, v := range s.Values {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return "", fmt.Errorf("svgchart: series %q has a value that cannot be drawn", s.Name)
			}
			totals[i] += v
		}
	}
	max := 0.0
	for _, t := range totals {
		max = math.Max(max, t)
	}
	top2, ticks := niceScale(max)
	legendRows := 0
	if len(b.Series) > 1 {
		legendRows = (len(b.Series) + 3) / 4
	}
	plotBottom := h - bottom - 16*legendRows
	plotH := float64(plotBottom - top)
	plotW := float64(w - left - right)

	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="t d" class="chart">`, w, h, w, h)
	fmt.Fprintf(&sb, `<title id="t">%s</title><desc id="d">%s</desc>`, esc(b.Title), esc(describeBars(b, totals)))
	fmt.Fprintf(&sb, `<text x="%d" y="18" font-size="14" font-weight="bold" fill="#222">%s</text>`, left, esc(b.Title))
	// Grid and y-axis labels.
	for _, t := range ticks {
		y := float64(plotBottom) - t/top2*plotH
		fmt.Fprintf(&sb, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd" stroke-width="1"/>`, left, w-right, y, y)
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#555">%s</text>`, left-6, y+4, esc(number(t)))
	}
	fmt.Fprintf(&sb, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#888" stroke-width="1"/>`, left, w-right, plotBottom, plotBottom)
	if n > 0 {
		slot := plotW / float64(n)
		bw := math.Max(1, slot*0.8)
		every := max1(b.EveryNthLabel)
		for i := 0; i < n; i++ {
			x := float64(left) + float64(i)*slot + (slot-bw)/2
			base := float64(plotBottom)
			for si, s := range b.Series {
				v := s.Values[i]
				if v == 0 {
					continue
				}
				bh := v / top2 * plotH
				base -= bh
				fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
					x, base, bw, bh, Colour(si), esc(b.Labels[i]+": "+s.Name+" "+number(v)))
			}
			if i%every == 0 {
				fmt.Fprintf(&sb, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#555">%s</text>`,
					x+bw/2, plotBottom+14, esc(b.Labels[i]))
			}
		}
	}
	if legendRows > 0 {
		for i, s := range b.Series {
			x := left + (i%4)*((w-left-right)/4)
			y := plotBottom + 30 + (i/4)*16
			fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`, x, y-9, Colour(i))
			fmt.Fprintf(&sb, `<text x="%d" y="%d" font-size="11" fill="#222">%s</text>`, x+14, y, esc(s.Name))
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()), nil // every text above went through esc
}

// SVG renders the chart; see Bars.SVG for errors.
func (c HBars) SVG() (template.HTML, error) {
	w := c.Width
	if w <= 0 {
		w = 720
	}
	const row, labelW = 22, 200
	h := top + row*len(c.Items) + 12
	max := 0.0
	for _, it := range c.Items {
		if it.Value < 0 || math.IsNaN(it.Value) || math.IsInf(it.Value, 0) {
			return "", fmt.Errorf("svgchart: item %q has a value that cannot be drawn", it.Label)
		}
		max = math.Max(max, it.Value)
	}
	top2, _ := niceScale(max)
	plotW := float64(w - labelW - right - 50)
	var desc strings.Builder
	desc.WriteString(fmt.Sprintf("%d items", len(c.Items)))
	for _, it := range c.Items {
		fmt.Fprintf(&desc, "; %s: %s", it.Label, number(it.Value))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="t d" class="chart">`, w, h, w, h)
	fmt.Fprintf(&sb, `<title id="t">%s</title><desc id="d">%s</desc>`, esc(c.Title), esc(desc.String()))
	fmt.Fprintf(&sb, `<text x="0" y="18" font-size="14" font-weight="bold" fill="#222">%s</text>`, esc(c.Title))
	for i, it := range c.Items {
		y := top + i*row
		fmt.Fprintf(&sb, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#222">%s</text>`, labelW-8, y+14, esc(truncate(it.Label, 30)))
		bw := it.Value / top2 * plotW
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"><title>%s</title></rect>`, labelW, y+2, bw, Colour(0), esc(it.Label+": "+number(it.Value)))
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" font-size="12" fill="#222">%s</text>`, float64(labelW)+bw+6, y+14, esc(number(it.Value)))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()), nil
}

// niceScale returns the top of the y axis (a 1, 2 or 5 times a power of
// ten at or above max; 1 for an empty chart) and the grid values from 0.
func niceScale(max float64) (float64, []float64) {
	if max <= 0 {
		return 1, []float64{0, 1}
	}
	p := math.Pow(10, math.Floor(math.Log10(max)))
	var top float64
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= max {
			top = m * p
			break
		}
	}
	step := top / 5
	if step < 1 && max >= 1 {
		step = 1
	}
	var ticks []float64
	for t := 0.0; t <= top*1.0000001; t += step {
		ticks = append(ticks, t)
	}
	return top, ticks
}

func describeBars(b Bars, totals []float64) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d bars", len(b.Labels))
	if len(b.Series) > 0 {
		names := make([]string, len(b.Series))
		for i, s := range b.Series {
			names[i] = s.Name
		}
		fmt.Fprintf(&sb, " of %s", strings.Join(names, ", "))
	}
	sum, peak, at := 0.0, -1.0, ""
	for i, t := range totals {
		sum += t
		if t > peak {
			peak, at = t, b.Labels[i]
		}
	}
	if len(totals) > 0 {
		fmt.Fprintf(&sb, "; total %s, highest %s at %s", number(sum), number(peak), at)
	}
	return sb.String()
}

// number formats v without a fraction when it is whole.
func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// esc escapes text for SVG (XML) character data and attribute values.
func esc(s string) string { return template.HTMLEscapeString(s) }
