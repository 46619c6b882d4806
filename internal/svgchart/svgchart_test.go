package svgchart

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// element is a parsed SVG element with its attributes.
type element struct {
	name   string
	attrs  map[string]string
	text   string // character data; for a rect, its <title>'s
	parent int
}

// parse checks that svg is well-formed XML and returns its elements.
func parse(t *testing.T, svg string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var out []element
	var stack []int
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := element{name: tk.Name.Local, attrs: map[string]string{}, parent: -1}
			if len(stack) > 0 {
				e.parent = stack[len(stack)-1]
			}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				i := stack[len(stack)-1]
				out[i].text += string(tk)
				if p := out[i].parent; out[i].name == "title" && p >= 0 && out[p].name == "rect" {
					out[p].text += string(tk)
				}
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements in %s", svg)
	}
	return out
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("attribute %q is not a number", s)
	}
	return f
}

func TestBarsStackedHeightsAreProportional(t *testing.T) {
	b := Bars{
		Title:  "Accesses per hour",
		Labels: []string{"08", "09", "10"},
		Series: []Series{{"Helsinki", []float64{10, 0, 30}}, {"Turku", []float64{5, 20, 10}}},
		Width:  600, Height: 300,
	}
	svg, err := b.SVG()
	if err != nil {
		t.Fatal(err)
	}
	els := parse(t, string(svg))
	var rects []element
	for _, e := range els {
		if e.name == "rect" && e.text != "" { // data bars carry a <title>
			rects = append(rects, e)
		}
	}
	// One rect per non-zero value: 5.
	if len(rects) != 5 {
		t.Fatalf("%d bars, want 5", len(rects))
	}
	// The scale's top is 50 (the tallest stack is 40): a value's height is
	// value/50 of the plot's height, whatever the series.
	var unit float64
	for _, r := range rects {
		h := num(t, r.attrs["height"])
		// The tooltip ends with the value.
		f := strings.Fields(r.text)
		v := num(t, f[len(f)-1])
		if unit == 0 {
			unit = h / v
		}
		if math.Abs(h/v-unit) > 0.01 {
			t.Errorf("bar %q: height %.1f for %v, not proportional (%.3f per unit, want %.3f)", r.text, h, v, h/v, unit)
		}
	}
	plotH := float64(300 - bottom - 16 - top) // one legend row
	if math.Abs(unit*50-plotH) > 0.5 {
		t.Errorf("the scale's top (50) is %.1f px high, want the plot's %.1f", unit*50, plotH)
	}
	// Stacked: the Turku bar at "10" sits on top of Helsinki's.
	var hel, tur element
	for _, r := range rects {
		switch r.text {
		case "10: Helsinki 30":
			hel = r
		case "10: Turku 10":
			tur = r
		}
	}
	if hel.attrs == nil || tur.attrs == nil {
		t.Fatal("bars of label 10 missing")
	}
	if y := num(t, tur.attrs["y"]) + num(t, tur.attrs["height"]); math.Abs(y-num(t, hel.attrs["y"])) > 0.2 {
		t.Errorf("Turku's bar ends at %.1f, Helsinki's begins at %s: not stacked", y, hel.attrs["y"])
	}
	if !strings.Contains(string(svg), `role="img"`) || !strings.Contains(string(svg), "<desc") {
		t.Error("no accessible role, title and description")
	}
	for _, e := range els {
		if e.name == "script" || e.attrs["style"] != "" || e.attrs["onload"] != "" {
			t.Errorf("element %s has script or style, which the CSP forbids", e.name)
		}
	}
}

func TestTextIsEscaped(t *testing.T) {
	evil := `</text><script>alert(1)</script>"&`
	svg, err := Bars{Title: evil, Labels: []string{evil}, Series: []Series{{evil, []float64{1}}, {"b", []float64{2}}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range parse(t, string(svg)) {
		if e.name == "script" {
			t.Fatal("a label became a script element")
		}
	}
	h, err := HBars{Title: evil, Items: []Item{{evil, 3}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range parse(t, string(h)) {
		if e.name == "script" {
			t.Fatal("an item became a script element")
		}
	}
}

func TestHBars(t *testing.T) {
	svg, err := HBars{Title: "Most patients this week", Items: []Item{{"t.korhonen", 40}, {"a.virtanen", 10}, {"nobody", 0}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	var widths []float64
	for _, e := range parse(t, string(svg)) {
		if e.name == "rect" {
			widths = append(widths, num(t, e.attrs["width"]))
		}
	}
	if len(widths) != 3 || widths[2] != 0 || math.Abs(widths[0]/widths[1]-4) > 0.01 {
		t.Errorf("bar widths %v, want proportional to 40, 10, 0", widths)
	}
}

func TestRefusesWhatCannotBeDrawn(t *testing.T) {
	for name, b := range map[string]Bars{
		"negative": {Labels: []string{"a"}, Series: []Series{{"s", []float64{-1}}}},
		"NaN":      {Labels: []string{"a"}, Series: []Series{{"s", []float64{math.NaN()}}}},
		"Inf":      {Labels: []string{"a"}, Series: []Series{{"s", []float64{math.Inf(1)}}}},
		"length":   {Labels: []string{"a", "b"}, Series: []Series{{"s", []float64{1}}}},
	} {
		if _, err := b.SVG(); err == nil {
			t.Errorf("%s: drawn", name)
		}
	}
	if _, err := (HBars{Items: []Item{{"x", math.NaN()}}}).SVG(); err == nil {
		t.Error("NaN item drawn")
	}
}

func TestEmptyChartsAreWellFormed(t *testing.T) {
	svg, err := Bars{Title: "nothing"}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	parse(t, string(svg))
	h, err := HBars{Title: "nothing"}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	parse(t, string(h))
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ max, top float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {7, 10}, {40, 50}, {120, 200}, {1000, 1000}, {1001, 2000}} {
		top, ticks := niceScale(c.max)
		if top != c.top || ticks[0] != 0 || math.Abs(ticks[len(ticks)-1]-top) > 1e-9 {
			t.Errorf("niceScale(%v) = %v %v, want top %v with ticks from 0 to it", c.max, top, ticks, c.top)
		}
	}
}
