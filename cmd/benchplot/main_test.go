package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `{
  "operations": {
    "chart_open": {"per_second": 190.5, "p50_ms": 19.258, "p95_ms": 71.733, "p99_ms": 198.161, "errors": 0, "count": 1906},
    "note_save": {"per_second": 50.1, "p50_ms": 16.677, "p95_ms": 62.899, "p99_ms": 146.788, "errors": 2, "count": 501}
  },
  "seconds": 10.003
}`

func TestParseSpec(t *testing.T) {
	good := map[string]spec{
		"1000=a.json":          {Size: 1000, File: "a.json"},
		"36_000=/tmp/x=y.json": {Size: 36000, File: "/tmp/x=y.json"},
		"36,000=b":             {Size: 36000, File: "b"},
		"plain:4000=c.json":    {Variant: plain, Size: 4000, File: "c.json"},
	}
	for arg, want := range good {
		got, err := parseSpec(arg)
		if err != nil || got != want {
			t.Errorf("parseSpec(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, arg := range []string{"", "a.json", "=a.json", "1000=", "0=a", "-5=a", "1e3=a", "1000 =a", "_1000=a", "1000_=a",
		"fancy:1000=a", "plain:=a", ":1000=a", "99999999999999999999=a", "1000000001=a", "plain:plain:1=a", "١٢=a"} {
		if sp, err := parseSpec(arg); err == nil {
			t.Errorf("parseSpec(%q) = %+v, want an error", arg, sp)
		}
	}
}

func TestParseResult(t *testing.T) {
	ops, err := parseResult([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops["chart_open"].P99 != 198.161 || ops["note_save"].Errors != 2 || ops["chart_open"].Count != 1906 {
		t.Fatalf("parsed %+v", ops)
	}
	for name, in := range map[string]string{
		"empty":       ``,
		"not json":    `driving http://127.0.0.1:8080 with 50 users`,
		"text report": "operation  per second\nchart_open 1.0\n",
		"no ops":      `{"seconds": 1}`,
		"empty ops":   `{"operations": {}}`,
		"null op":     `{"operations": {"a": null}}`,
		"wrong type":  `{"operations": {"a": {"p50_ms": "fast"}}}`,
		"negative":    `{"operations": {"a": {"p50_ms": -1}}}`,
		"huge":        `{"operations": {"a": {"p99_ms": 1e300}}}`,
		"empty name":  `{"operations": {"": {"p50_ms": 1}}}`,
		"pipe name":   `{"operations": {"a|b": {"p50_ms": 1}}}`,
		"control":     `{"operations": {"a\u0001": {"p50_ms": 1}}}`,
		"two values":  `{"operations": {"a": {}}} {}`,
		"bad count":   `{"operations": {"a": {"count": -3}}}`,
	} {
		if _, err := parseResult([]byte(in)); err == nil {
			t.Errorf("%s: parseResult(%q) succeeded", name, in)
		}
	}
}

// checkSVG decodes b as XML, strictly, and returns the number of <path>
// elements and all character data.
func checkSVG(t testing.TB, b []byte) (paths int, text string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
				}
			}
			depth++
			if tok.Name.Local == "path" {
				paths++
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			sb.Write(tok)
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("%d root elements, depth %d at the end", roots, depth)
	}
	return paths, sb.String()
}

func TestSVG(t *testing.T) {
	mk := func(v string, size int, ops map[string]opResult) result {
		return result{spec: spec{Variant: v, Size: size}, Ops: ops}
	}
	r := func(p50, p99 float64) opResult {
		return opResult{P50: p50, P95: (p50 + p99) / 2, P99: p99, Count: 10, PerSecond: 5}
	}
	evil := `<x y="1">&'` + "\u2028" + `]]>`
	runs := []result{
		mk(secure, 1000, map[string]opResult{"chart_open": r(5, 20), "note_save": r(7, 30), evil: r(1, 2)}),
		mk(secure, 4000, map[string]opResult{"chart_open": r(6, 25), "note_save": r(8, 40)}),
		mk(secure, 36000, map[string]opResult{"chart_open": r(9, 45), "note_save": {Count: 0}}), // no requests: no point
		mk(plain, 1000, map[string]opResult{"chart_open": r(2, 5)}),
		mk(plain, 36000, map[string]opResult{"chart_open": r(3, 8)}),
	}
	for _, ylog := range []bool{false, true} {
		for _, metrics := range [][]string{{"p50_ms", "p99_ms"}, {"p50_ms", "p95_ms", "p99_ms"}, {"p99_ms"}} {
			c, err := newChart(`Latency & size <"scaling">`, runs, metrics, nil, ylog)
			if err != nil {
				t.Fatal(err)
			}
			// secure: chart_open, note_save and evil per metric; plain: chart_open.
			if want := 4 * len(metrics); len(c.series) != want {
				t.Fatalf("%d series, want %d", len(c.series), want)
			}
			var b bytes.Buffer
			c.svg(&b)
			paths, text := checkSVG(t, b.Bytes())
			if paths != len(c.series) {
				t.Errorf("ylog=%v metrics=%v: %d <path> elements, want one per series (%d)", ylog, metrics, paths, len(c.series))
			}
			for _, want := range []string{`Latency & size <"scaling">`, "1,000", "36,000", "chart_open", "plain baseline", evil} {
				if !strings.Contains(text, want) {
					t.Errorf("the SVG's text lacks %q", want)
				}
			}
			if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
				t.Errorf("a coordinate is not a number:\n%s", b.String())
			}
		}
	}
	// One size, one op, only a secure run: still a chart.
	c, err := newChart("one", runs[:1], []string{"p50_ms"}, []string{"chart_open"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.svg(&b)
	if paths, _ := checkSVG(t, b.Bytes()); paths != 1 {
		t.Errorf("%d paths, want 1", paths)
	}
	if _, err := newChart("x", runs, []string{"p50_ms"}, []string{"no_such_op"}, false); err == nil {
		t.Error("an operation in no result was accepted")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.json", sample)
	b := write("b.json", strings.ReplaceAll(sample, "198.161", "250"))
	bad := write("bad.json", "driving http://127.0.0.1:8080 with 50 users\n")
	out := filepath.Join(dir, "plot.svg")

	var stdout, stderr bytes.Buffer
	code := run([]string{"-o", out, "1000=" + a, "4000=" + b, "plain:1000=" + a, "-title", "T"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if paths, _ := checkSVG(t, svg); paths != 2*2*2 { // 2 ops × 2 metrics × (secure, plain)
		t.Errorf("%d paths, want 8", paths)
	}
	table := stdout.String()
	for _, want := range []string{"| patients | variant | operation |", "| 1,000 | secure | chart_open | 190.5 | 19.26 | 71.73 | 198.16 | 0 |",
		"| 1,000 | plain | chart_open |", "| 4,000 | secure | chart_open | 190.5 | 19.26 | 71.73 | 250.00 | 0 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if n := strings.Count(table, "\n"); n != 2+6 {
		t.Errorf("table has %d lines, want 8:\n%s", n, table)
	}
	if !strings.Contains(stderr.String(), "2 errors in note_save") {
		t.Errorf("no warning about errors: %s", stderr.String())
	}

	// Runs with the server's CPU (bench --server-pid) get a second table.
	withCPU := func(server string) string {
		return strings.Replace(sample, `"seconds": 10.003`, `"seconds": 10.003, "requests": 2407,
  "server_cpu": {"pids": [7], "seconds": 1.2, "ms_per_request": `+server+`, "per_request_of": "all operations, mixed"},
  "bench_cpu": {"seconds": 0.6, "ms_per_request": 0.25, "per_request_of": "all operations, mixed"}`, 1)
	}
	cpu := write("cpu.json", withCPU("0.5"))
	stdout.Reset()
	if code := run([]string{"-o", out, "1000=" + a, "plain:1000=" + cpu}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	table = stdout.String()
	if want := "\n| patients | variant | requests | server CPU ms per request | load generator CPU ms per request | a request is |\n|---:|---|---:|---:|---:|---|\n" +
		"| 1,000 | plain | 2,407 | 0.500 | 0.250 | all operations, mixed |\n"; !strings.HasSuffix(table, want) {
		t.Errorf("table does not end with the CPU table %q:\n%s", want, table)
	}
	badCPU := write("badcpu.json", withCPU("-1"))

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"1000=" + a}, 2, "usage"},
		{[]string{"-o", out}, 2, "usage"},
		{[]string{"-o", out, "1000=" + filepath.Join(dir, "missing.json")}, 1, "missing.json"},
		{[]string{"-o", out, "1000=" + bad}, 1, "not JSON"},
		{[]string{"-o", out, "1000=" + badCPU}, 1, "CPU figures out of range"},
		{[]string{"-o", out, "big=" + a}, 1, `size "big"`},
		{[]string{"-o", out, "1000=" + a, "1000=" + b}, 1, "same label"},
		{[]string{"-o", out, "-metric", "p42_ms", "1000=" + a}, 1, "p42_ms"},
		{[]string{"-o", out, "-ops", "chart_open,nope", "1000=" + a}, 1, `"nope"`},
		{[]string{"-o", filepath.Join(dir, "no", "dir", "x.svg"), "1000=" + a}, 1, "no"},
		{[]string{"-bogus"}, 2, "usage"},
	} {
		stdout.Reset()
		stderr.Reset()
		if got := run(tc.args, &stdout, &stderr); got != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("run(%q) = %d, %q; want %d and a message with %q", tc.args, got, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{1: "1", 999: "999", 1000: "1,000", 36000: "36,000", 1000000: "1,000,000", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzParse feeds arbitrary arguments and bench output through the parsers
// and, when both are accepted, through the chart and the table: no panic,
// the SVG always well-formed with one path per series, the table one row per
// operation.
func FuzzParse(f *testing.F) {
	f.Add("1000=a.json", []byte(sample), "p50_ms,p99_ms", "")
	f.Add("plain:36_000=b.json", []byte(`{"operations":{"x":{"p50_ms":0,"p99_ms":0,"count":1}}}`), "p99_ms", "x")
	f.Add("12,000=c", []byte(`{"operations":{"<&>\"'":{"p50_ms":1e-3,"p95_ms":5,"p99_ms":1e9,"count":3}}}`), "p95_ms", "")
	f.Add("bogus", []byte(`{"operations":null}`), "p50_ms,,p99_ms", "a,a")
	f.Add("plain:1=x=y", []byte(`{"operations":{"a":{"count":0}}}`), "p50_ms", "a")
	f.Fuzz(func(t *testing.T, arg string, data []byte, metrics, ops string) {
		sp, errSpec := parseSpec(arg)
		if errSpec == nil && (sp.Size < 1 || sp.Size > maxSize || sp.File == "" || (sp.Variant != secure && sp.Variant != plain)) {
			t.Fatalf("parseSpec(%q) accepted %+v", arg, sp)
		}
		res, errRes := parseResult(data)
		ms, errM := parseMetrics(metrics)
		var opl []string
		var errO error
		if ops != "" {
			opl, errO = parseOps(ops)
		}
		if errSpec != nil || errRes != nil || errM != nil || errO != nil {
			return
		}
		runs := []result{{spec: sp, Ops: res}}
		if sp.Variant == plain { // a plain run alone is drawn too
			runs = append(runs, result{spec: spec{Size: sp.Size*2 + 1}, Ops: res})
		}
		for _, ylog := range []bool{false, true} {
			c, err := newChart(arg, runs, ms, opl, ylog)
			if err != nil {
				continue
			}
			var b bytes.Buffer
			c.svg(&b)
			if paths, _ := checkSVG(t, b.Bytes()); paths != len(c.series) {
				t.Fatalf("%d paths for %d series", paths, len(c.series))
			}
			if s := b.String(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
				t.Fatalf("non-finite coordinate in\n%s", s)
			}
			table := markdownTable(runs[:1], c.ops)
			rows := 0
			for _, op := range c.ops {
				if _, ok := res[op]; ok {
					rows++
				}
			}
			if got := strings.Count(table, "\n"); got != 2+rows {
				t.Fatalf("table has %d lines, want %d:\n%s", got, 2+rows, table)
			}
			for _, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
				if cells := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); cells != strings.Count(strings.Split(table, "\n")[0], "|") {
					t.Fatalf("row %q has %d separators: %s", line, cells, fmt.Sprint(c.ops))
				}
			}
		}
	})
}
