// Command testsum reads `go test -json` on standard input and prints what
// `go test` would (each package's ok/FAIL line, the output of failed
// tests), then every skipped test with the reason it gave, and a closing
// line "N passed, N failed, N skipped". It exists because `go test ./...`
// hides the output of packages that pass, so a test that skips (no
// PostgreSQL, no browser, no HSM) would go unnoticed; scripts/test runs it.
// It exits 1 if any test or package failed, or if the input had no test.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var passed, failed, skipped int
	output := map[key][]string{}
	type skip struct{ pkg, why string }
	var skips []skip
	pkgFailed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintf(out, "%s\n", line) // build errors and the like come as plain text
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			if e.Test == "" {
				// Package-level output: its ok/FAIL line, build failures.
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") ||
					strings.HasPrefix(e.Output, "?") || strings.HasPrefix(e.Output, "---") {
					fmt.Fprint(out, e.Output)
				} else {
					output[k] = append(output[k], e.Output)
				}
				continue
			}
			output[k] = append(output[k], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(output, k)
		case "skip":
			if e.Test != "" {
				skipped++
				skips = append(skips, skip{e.Package, reason(output[k])})
			}
			delete(output, k)
		case "fail":
			if e.Test != "" {
				failed++
				fmt.Fprintf(out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
				for _, l := range output[k] {
					fmt.Fprint(out, "    "+l)
				}
			} else {
				pkgFailed = true
				for _, l := range output[k] {
					fmt.Fprint(out, l)
				}
			}
			delete(output, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsum: reading go test's output: %v\n", err)
		return 1
	}
	if len(skips) > 0 {
		// One line per reason, with how many tests in which packages.
		byReason := map[string]map[string]int{}
		for _, s := range skips {
			if byReason[s.why] == nil {
				byReason[s.why] = map[string]int{}
			}
			byReason[s.why][s.pkg]++
		}
		reasons := make([]string, 0, len(byReason))
		for r := range byReason {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		fmt.Fprintf(out, "\n%d tests SKIPPED:\n", len(skips))
		for _, r := range reasons {
			var pkgs []string
			n := 0
			for p, c := range byReason[r] {
				pkgs = append(pkgs, p)
				n += c
			}
			sort.Strings(pkgs)
			fmt.Fprintf(out, "  %d: %s\n     in %s\n", n, r, strings.Join(pkgs, ", "))
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || pkgFailed || passed+failed == 0 {
		return 1
	}
	return 0
}

// reason picks the skip message out of a skipped test's output (the line
// after "--- SKIP", or the last line that says why).
func reason(lines []string) string {
	var why string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		// "file_test.go:12: SKIPPING ..." -> the message.
		if i := strings.Index(t, ".go:"); i >= 0 {
			if j := strings.Index(t[i+4:], ": "); j >= 0 {
				t = t[i+4+j+2:]
			}
		}
		why = t
	}
	if why == "" {
		return "(no reason given)"
	}
	return why
}
