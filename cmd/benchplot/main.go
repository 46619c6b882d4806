// Command benchplot draws `confidant bench --json` results, one per data
// size, as an SVG line chart of latency against the number of patients and
// prints the same numbers as a Markdown table (for docs/BENCHMARKS.md),
// followed by a table of the servers' CPU per request for the runs that
// measured it (bench --server-pid).
//
//	go run ./cmd/benchplot -o docs/bench-scaling.svg [-title T] [-metric p50_ms,p99_ms] [-ops chart_open,note_save] [-ylog] \
//	    1000=a.json 4000=b.json 12000=c.json 36000=d.json [plain:1000=pa.json ...]
//
// Each argument is SIZE=FILE, SIZE being the number of patients of the data
// set that FILE's bench ran against. The prefix plain: marks a run of the
// plain baseline (no encryption, no access log); those are drawn as a
// second, fainter set of lines. x is patients on a log scale; y is latency
// in milliseconds; one colour per operation, p50 solid, p95 dotted, p99
// dashed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

var errUsage = errors.New("usage")

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	err := runErr(args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "benchplot:", err)
		return 1
	}
}

const usage = `usage: benchplot -o OUT.svg [-title T] [-metric p50_ms,p99_ms] [-ops op1,op2] [-ylog] SIZE=FILE... [plain:SIZE=FILE...]

SIZE is the number of patients of the data set; FILE the output of
` + "`confidant bench --json`" + ` against it. plain:SIZE=FILE is a run of the plain
baseline, drawn as a second, fainter set of lines. The Markdown table of
the same numbers goes to standard output.

`

func runErr(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "the SVG file to write (required)")
	title := fs.String("title", "Confidant: latency against data size", "title of the plot")
	metrics := fs.String("metric", "p50_ms,p99_ms", "latencies to draw: any of p50_ms, p95_ms, p99_ms")
	opsFlag := fs.String("ops", "", "operations to draw and tabulate, comma-separated (default: all in the files)")
	ylog := fs.Bool("ylog", false, "log scale for latency too")
	// Flags may come after the results too: parse, take the results up to
	// the next flag, parse again.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return errUsage
		}
		args = fs.Args()
		for len(args) > 0 && (args[0] == "" || args[0] == "-" || args[0][0] != '-') {
			pos, args = append(pos, args[0]), args[1:]
		}
		if len(args) == 0 {
			break
		}
	}
	if *out == "" || len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	ms, err := parseMetrics(*metrics)
	if err != nil {
		return err
	}
	var ops []string
	if *opsFlag != "" {
		if ops, err = parseOps(*opsFlag); err != nil {
			return err
		}
	}
	runs, err := loadRuns(pos)
	if err != nil {
		return err
	}
	c, err := newChart(*title, runs, ms, ops, *ylog)
	if err != nil {
		return err
	}
	var svg bytes.Buffer
	c.svg(&svg)
	if err := writeFileAtomic(*out, svg.Bytes()); err != nil {
		return err
	}
	for _, r := range runs {
		for _, op := range c.ops {
			if res, ok := r.Ops[op]; ok && res.Errors > 0 {
				fmt.Fprintf(stderr, "benchplot: warning: %s: %d errors in %s\n", r.Label(), res.Errors, op)
			}
		}
	}
	fmt.Fprintf(stderr, "benchplot: wrote %s (%d series)\n", *out, len(c.series))
	_, err = io.WriteString(stdout, markdownTable(runs, c.ops)+cpuTable(runs))
	return err
}

// Variants of a run.
const (
	secure = ""      // the product as shipped
	plain  = "plain" // the plain baseline
)

// spec is one parsed SIZE=FILE argument.
type spec struct {
	Variant string
	Size    int
	File    string
}

// maxSize bounds a data size label (a billion patients is far beyond any
// plausible run; the bound keeps the arithmetic of the axes sane).
const maxSize = 1_000_000_000

// parseSpec parses [plain:]SIZE=FILE. SIZE may use _ or , between digit
// groups (36_000, 36,000).
func parseSpec(arg string) (spec, error) {
	label, file, ok := strings.Cut(arg, "=")
	if !ok {
		return spec{}, fmt.Errorf("argument %q: want SIZE=FILE or plain:SIZE=FILE", arg)
	}
	var sp spec
	if v, rest, ok := strings.Cut(label, ":"); ok {
		if v != plain {
			return spec{}, fmt.Errorf("argument %q: unknown variant %q (the only prefix is plain:)", arg, v)
		}
		sp.Variant, label = plain, rest
	}
	digits := strings.NewReplacer("_", "", ",", "").Replace(label)
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" || strings.HasPrefix(label, "_") ||
		strings.HasPrefix(label, ",") || strings.HasSuffix(label, "_") || strings.HasSuffix(label, ",") {
		return spec{}, fmt.Errorf("argument %q: size %q is not a whole number of patients", arg, label)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > maxSize {
		return spec{}, fmt.Errorf("argument %q: size %q must be 1..%d patients", arg, label, maxSize)
	}
	if file == "" {
		return spec{}, fmt.Errorf("argument %q: no file after =", arg)
	}
	sp.Size, sp.File = n, file
	return sp, nil
}

// opResult is one operation of `confidant bench --json`.
type opResult struct {
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Errors    int     `json:"errors"`
	Count     int     `json:"count"`
}

func (r opResult) metric(m string) float64 {
	switch m {
	case "p50_ms":
		return r.P50
	case "p95_ms":
		return r.P95
	default:
		return r.P99
	}
}

// result is one bench result file.
type result struct {
	spec
	Ops map[string]opResult
	CPU *cpuFigures // nil: the run did not measure the server's CPU
}

// cpuFigures are the CPU figures of a bench run with --server-pid.
type cpuFigures struct {
	Requests     int
	Server, Load float64 // ms per request, of the servers and of the load generator
	Of           string  // what a request is: "all operations, mixed" or one operation
}

// Label is the argument's label, for messages.
func (r result) Label() string {
	if r.Variant != secure {
		return fmt.Sprintf("%s:%d", r.Variant, r.Size)
	}
	return strconv.Itoa(r.Size)
}

// maxMS bounds a latency (about 11.5 days) and maxRate a throughput: larger
// values are not a bench result.
const (
	maxMS   = 1e9
	maxRate = 1e9
	maxOps  = 64
	maxOpID = 64
)

// parseResult decodes and checks the output of `confidant bench --json`.
func parseResult(b []byte) (map[string]opResult, error) {
	var doc struct {
		Operations map[string]*opResult `json:"operations"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not JSON from confidant bench --json: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not JSON from confidant bench --json: more than one value")
	}
	if len(doc.Operations) == 0 {
		return nil, errors.New(`no "operations" (not the output of confidant bench --json, or the bench did nothing)`)
	}
	if len(doc.Operations) > maxOps {
		return nil, fmt.Errorf("%d operations: more than %d", len(doc.Operations), maxOps)
	}
	res := make(map[string]opResult, len(doc.Operations))
	for op, r := range doc.Operations {
		if err := checkOpName(op); err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("operation %q: null", op)
		}
		for _, v := range []float64{r.P50, r.P95, r.P99} {
			if v < 0 || v > maxMS {
				return nil, fmt.Errorf("operation %q: latency %g ms out of range 0..%g", op, v, float64(maxMS))
			}
		}
		if r.PerSecond < 0 || r.PerSecond > maxRate {
			return nil, fmt.Errorf("operation %q: per_second %g out of range", op, r.PerSecond)
		}
		if r.Errors < 0 || r.Count < 0 {
			return nil, fmt.Errorf("operation %q: negative count", op)
		}
		res[op] = *r
	}
	return res, nil
}

// checkOpName accepts the operation names bench prints: short, printable,
// no separators that would break the table or the flag list.
func checkOpName(op string) error {
	if op == "" || len(op) > maxOpID {
		return fmt.Errorf("operation name %q: empty or longer than %d bytes", op, maxOpID)
	}
	for _, r := range op {
		if r < 0x20 || r == 0x7f || r == '|' || r == ',' || r == '\uFFFD' {
			return fmt.Errorf("operation name %q: contains %q", op, r)
		}
	}
	return nil
}

// maxFile bounds a result file (bench writes about a kilobyte).
const maxFile = 4 << 20

// parseCPU reads the CPU figures of a result parseResult accepted; nil
// when it has none.
func parseCPU(b []byte) (*cpuFigures, error) {
	type perRequest struct {
		MS float64 `json:"ms_per_request"`
		Of string  `json:"per_request_of"`
	}
	var doc struct {
		Requests  int         `json:"requests"`
		ServerCPU *perRequest `json:"server_cpu"`
		BenchCPU  *perRequest `json:"bench_cpu"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("CPU figures: %w", err)
	}
	if doc.ServerCPU == nil {
		return nil, nil
	}
	c := &cpuFigures{Requests: doc.Requests, Server: doc.ServerCPU.MS, Of: doc.ServerCPU.Of}
	if doc.BenchCPU != nil {
		c.Load = doc.BenchCPU.MS
	}
	if c.Requests < 0 || c.Server < 0 || c.Server > maxMS || c.Load < 0 || c.Load > maxMS {
		return nil, errors.New("CPU figures out of range")
	}
	if c.Of != "all operations, mixed" {
		if err := checkOpName(c.Of); err != nil {
			return nil, fmt.Errorf("server_cpu: per_request_of: %w", err)
		}
	}
	return c, nil
}

// loadRuns parses the arguments and reads their files, in argument order.
func loadRuns(args []string) ([]result, error) {
	var runs []result
	seen := map[spec]bool{}
	for _, a := range args {
		sp, err := parseSpec(a)
		if err != nil {
			return nil, err
		}
		key := spec{Variant: sp.Variant, Size: sp.Size}
		if seen[key] {
			return nil, fmt.Errorf("argument %q: a second result for the same label", a)
		}
		seen[key] = true
		b, err := readLimited(sp.File)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %w", a, err)
		}
		ops, err := parseResult(b)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %s: %w", a, sp.File, err)
		}
		cpu, err := parseCPU(b)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %s: %w", a, sp.File, err)
		}
		runs = append(runs, result{spec: sp, Ops: ops, CPU: cpu})
	}
	slices.SortStableFunc(runs, func(a, b result) int {
		if a.Size != b.Size {
			return a.Size - b.Size
		}
		return strings.Compare(a.Variant, b.Variant)
	})
	return runs, nil
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFile)
	}
	return b, nil
}

var knownMetrics = []string{"p50_ms", "p95_ms", "p99_ms"}

func parseMetrics(s string) ([]string, error) {
	var ms []string
	for m := range strings.SplitSeq(s, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(knownMetrics, m) {
			return nil, fmt.Errorf("-metric: %q is not one of %s", m, strings.Join(knownMetrics, ", "))
		}
		if slices.Contains(ms, m) {
			return nil, fmt.Errorf("-metric: %q twice", m)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func parseOps(s string) ([]string, error) {
	var ops []string
	for op := range strings.SplitSeq(s, ",") {
		op = strings.TrimSpace(op)
		if err := checkOpName(op); err != nil {
			return nil, fmt.Errorf("-ops: %w", err)
		}
		if slices.Contains(ops, op) {
			return nil, fmt.Errorf("-ops: %q twice", op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// opOrder is the order of bench's realistic mix, most frequent first;
// other operations follow in alphabetical order.
var opOrder = []string{"chart_open", "note_save", "note_sign", "search", "patient_record", "patient_access_log", "audit_query"}

func sortOps(ops []string) {
	rank := func(op string) int {
		if i := slices.Index(opOrder, op); i >= 0 {
			return i
		}
		return len(opOrder)
	}
	slices.SortFunc(ops, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// markdownTable renders every result and operation: sizes ascending, then
// operations, then (when there are plain runs, in a variant column) secure
// before plain so that the two sit on adjacent rows.
func markdownTable(runs []result, ops []string) string {
	withVariant := slices.ContainsFunc(runs, func(r result) bool { return r.Variant != secure })
	var b strings.Builder
	if withVariant {
		b.WriteString("| patients | variant | operation | per second | p50 ms | p95 ms | p99 ms | errors |\n|---:|---|---|---:|---:|---:|---:|---:|\n")
	} else {
		b.WriteString("| patients | operation | per second | p50 ms | p95 ms | p99 ms | errors |\n|---:|---|---:|---:|---:|---:|---:|\n")
	}
	for i := 0; i < len(runs); {
		j := i
		for j < len(runs) && runs[j].Size == runs[i].Size {
			j++
		}
		for _, op := range ops {
			for _, r := range runs[i:j] { // secure sorts before plain
				res, ok := r.Ops[op]
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| %s |", thousands(r.Size))
				if withVariant {
					fmt.Fprintf(&b, " %s |", variantName(r.Variant))
				}
				fmt.Fprintf(&b, " %s | %.1f | %.2f | %.2f | %.2f | %d |\n", mdEscape(op), res.PerSecond, res.P50, res.P95, res.P99, res.Errors)
			}
		}
		i = j
	}
	return b.String()
}

// cpuTable renders the CPU figures of the runs that have them, in the order
// of markdownTable; "" when none has.
func cpuTable(runs []result) string {
	if !slices.ContainsFunc(runs, func(r result) bool { return r.CPU != nil }) {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n| patients | variant | requests | server CPU ms per request | load generator CPU ms per request | a request is |\n|---:|---|---:|---:|---:|---|\n")
	for _, r := range runs {
		if c := r.CPU; c != nil {
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.3f | %s |\n", thousands(r.Size), variantName(r.Variant), thousands(c.Requests), c.Server, c.Load, mdEscape(c.Of))
		}
	}
	return b.String()
}

// mdEscape keeps an operation name from breaking a table row or being read
// as markup. Underscores inside a word are literal in GitHub Markdown, so
// chart_open stays as it is.
func mdEscape(s string) string {
	s = strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "`", "\\`", "<", "&lt;", "[", `\[`).Replace(s)
	if strings.HasPrefix(s, "_") {
		s = `\` + s
	}
	if strings.HasSuffix(s, "_") {
		s = s[:len(s)-1] + `\_`
	}
	return s
}

// thousands formats n with comma thousands separators, as the docs do.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeFileAtomic writes name through a temporary file in its directory so
// that a failed run leaves the previous plot in place.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".benchplot-*.svg")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
