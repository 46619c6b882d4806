// Package icd10 is the list of diagnosis codes a therapist may record: chapter
// V of the WHO ICD-10, "Mental and behavioural disorders" (F00-F99).
//
// The list ships inside the binary (codes.tsv) and is read-only. It holds all
// 3-character categories of the chapter and the 4-character subcategories of
// most of them, with their WHO titles. A code that is not in the list, such as
// "F99.9" or anything outside chapter F, is not a valid diagnosis here.
package icd10

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Code is one ICD-10 code with its title.
type Code struct {
	Code  string // canonical form: "F32" or "F32.1"
	Title string // WHO title, e.g. "Moderate depressive episode"
}

// Category returns the 3-character category, e.g. "F32" for "F32.1".
func (c Code) Category() string {
	if len(c.Code) < 3 {
		return c.Code
	}
	return c.Code[:3]
}

// String returns "F32.1 Moderate depressive episode".
func (c Code) String() string { return c.Code + " " + c.Title }

//go:embed codes.tsv
var codesTSV string

// entry is a code with its title split into lower-case words for Search.
type entry struct {
	Code
	words []string
}

var (
	entries = mustParse(codesTSV)
	byCode  = index(entries)
)

// Lookup returns the code with the given spelling. The input is normalised
// first: surrounding and inner spaces are removed, letters are upper-cased and
// a missing dot is added, so " f32.1", "F321" and "f32 .1" all find "F32.1".
// Codes outside the list, including ones outside chapter F, are not found.
func Lookup(code string) (Code, bool) {
	e, ok := byCode[Normalize(code)]
	return e.Code, ok
}

// Valid reports whether code (after normalisation) is in the list.
func Valid(code string) bool {
	_, ok := Lookup(code)
	return ok
}

// Normalize returns the canonical spelling of a code-like string: without
// spaces, upper case, with the dot after the third character ("f321" ->
// "F32.1"). It does not check that the code exists.
func Normalize(code string) string {
	code = strings.ToUpper(strings.Join(strings.Fields(code), ""))
	if len(code) == 4 && !strings.Contains(code, ".") {
		code = code[:3] + "." + code[3:]
	}
	return code
}

// All returns every code in code order. The caller may modify the result.
func All() []Code {
	out := make([]Code, len(entries))
	for i, e := range entries {
		out[i] = e.Code
	}
	return out
}

// Search returns up to limit codes matching q (limit <= 0: no limit), case
// insensitively. Codes that start with q ("f32", "F41.", "f411") come first,
// then codes whose title has, for every word of q, a word starting with it
// ("depress mod" finds "Moderate depressive episode"). Within each group the
// list order is kept. An empty query matches nothing.
func Search(q string, limit int) []Code {
	qwords := words(q)
	if len(qwords) == 0 {
		return nil
	}
	var out []Code
	full := func() bool { return limit > 0 && len(out) >= limit }
	var prefix string
	if len(qwords) == 1 && looksLikeCode(q) {
		prefix = Normalize(q)
	}
	byPrefix := make(map[string]bool)
	if prefix != "" {
		for _, e := range entries {
			if full() {
				return out
			}
			if strings.HasPrefix(e.Code.Code, prefix) {
				out = append(out, e.Code)
				byPrefix[e.Code.Code] = true
			}
		}
	}
	for _, e := range entries {
		if full() {
			break
		}
		if !byPrefix[e.Code.Code] && titleMatches(e.words, qwords) {
			out = append(out, e.Code)
		}
	}
	return out
}

// looksLikeCode reports whether q could be the start of a code: a letter
// followed only by digits and at most one dot.
func looksLikeCode(q string) bool {
	q = strings.TrimSpace(q)
	if q == "" || (q[0] != 'f' && q[0] != 'F') {
		return false
	}
	for i := 1; i < len(q); i++ {
		if (q[i] < '0' || q[i] > '9') && q[i] != '.' {
			return false
		}
	}
	return strings.Count(q, ".") <= 1
}

func titleMatches(title, q []string) bool {
	for _, w := range q {
		if !slices.ContainsFunc(title, func(t string) bool { return strings.HasPrefix(t, w) }) {
			return false
		}
	}
	return true
}

// words splits s into lower-case words at anything that is not a letter or a
// digit ("Post-traumatic [PTSD]" -> "post", "traumatic", "ptsd").
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// parse reads the embedded list: code<TAB>title lines in strictly increasing
// code order; blank lines and lines starting with # are skipped. Every
// 4-character code must follow its 3-character category.
func parse(data string) ([]entry, error) {
	var out []entry
	seen := make(map[string]bool)
	for i, line := range strings.Split(data, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, title, ok := strings.Cut(line, "\t")
		switch {
		case !ok || strings.Contains(title, "\t"):
			return nil, fmt.Errorf("icd10: line %d: want code<TAB>title", i+1)
		case !wellFormed(code):
			return nil, fmt.Errorf("icd10: line %d: malformed code %q", i+1, code)
		case title == "" || title != strings.TrimSpace(title) || strings.ContainsAny(title, "\r\n"):
			return nil, fmt.Errorf("icd10: line %d: bad title", i+1)
		case seen[code]:
			return nil, fmt.Errorf("icd10: line %d: duplicate code %s", i+1, code)
		case len(out) > 0 && code <= out[len(out)-1].Code.Code:
			return nil, fmt.Errorf("icd10: line %d: %s out of order", i+1, code)
		case len(code) == 5 && !seen[code[:3]]:
			return nil, fmt.Errorf("icd10: line %d: %s without its category", i+1, code)
		}
		seen[code] = true
		out = append(out, entry{Code: Code{Code: code, Title: title}, words: words(title)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("icd10: empty list")
	}
	return out, nil
}

// wellFormed reports whether code is "Fdd" or "Fdd.d".
func wellFormed(code string) bool {
	digit := func(b byte) bool { return b >= '0' && b <= '9' }
	switch len(code) {
	case 3:
		return code[0] == 'F' && digit(code[1]) && digit(code[2])
	case 5:
		return code[0] == 'F' && digit(code[1]) && digit(code[2]) && code[3] == '.' && digit(code[4])
	}
	return false
}

func mustParse(data string) []entry {
	e, err := parse(data)
	if err != nil {
		panic(err) // the embedded list is checked by the tests
	}
	return e
}

func index(es []entry) map[string]entry {
	m := make(map[string]entry, len(es))
	for _, e := range es {
		m[e.Code.Code] = e
	}
	return m
}
