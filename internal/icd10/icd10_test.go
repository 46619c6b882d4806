package icd10

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestLookupKnown(t *testing.T) {
	tests := []struct {
		in, code, title string
	}{
		{"F32.1", "F32.1", "Moderate depressive episode"},
		{"f32.1", "F32.1", "Moderate depressive episode"},
		{"  F32.1\t", "F32.1", "Moderate depressive episode"},
		{"f321", "F32.1", "Moderate depressive episode"},
		{"F32 .1", "F32.1", "Moderate depressive episode"},
		{"F32", "F32", "Depressive episode"},
		{"F33.4", "F33.4", "Recurrent depressive disorder, currently in remission"},
		{"F41.1", "F41.1", "Generalized anxiety disorder"},
		{"F41.2", "F41.2", "Mixed anxiety and depressive disorder"},
		{"F43.1", "F43.1", "Post-traumatic stress disorder"},
		{"F43.2", "F43.2", "Adjustment disorders"},
		{"F40.1", "F40.1", "Social phobias"},
		{"F42.2", "F42.2", "Mixed obsessional thoughts and acts"},
		{"F60.3", "F60.3", "Emotionally unstable personality disorder"},
		{"F90.0", "F90.0", "Disturbance of activity and attention"},
		{"F10.2", "F10.2", "Mental and behavioural disorders due to use of alcohol, dependence syndrome"},
		{"F00", "F00", "Dementia in Alzheimer disease"},
		{"F99", "F99", "Mental disorder, not otherwise specified"},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.in)
		if !ok || got.Code != tt.code || got.Title != tt.title {
			t.Errorf("Lookup(%q) = %+v, %v; want %s %q", tt.in, got, ok, tt.code, tt.title)
		}
		if !Valid(tt.in) {
			t.Errorf("Valid(%q) = false", tt.in)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, in := range []string{
		"",
		"F99.9", // F99 has no subcategories
		"F08",   // unused category
		"F26", "F46", "F47", "F56", "F67", "F74", "F96", "F97",
		"F32.4", "F32.10", "F32.", "F3", "F", "F321X",
		"Z00", "Z00.0", "G30", "F 3 2 . 1 x", "32.1", "FF32", "F-32",
		"\x00", "ääää", "F32.1\x00",
	} {
		if c, ok := Lookup(in); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", in, c)
		}
	}
}

// TestChapterComplete checks the list has every 3-character category of
// chapter V that exists, and no others.
func TestChapterComplete(t *testing.T) {
	want := []string{
		"F00", "F01", "F02", "F03", "F04", "F05", "F06", "F07", "F09",
		"F10", "F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19",
		"F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29",
		"F30", "F31", "F32", "F33", "F34", "F38", "F39",
		"F40", "F41", "F42", "F43", "F44", "F45", "F48",
		"F50", "F51", "F52", "F53", "F54", "F55", "F59",
		"F60", "F61", "F62", "F63", "F64", "F65", "F66", "F68", "F69",
		"F70", "F71", "F72", "F73", "F78", "F79",
		"F80", "F81", "F82", "F83", "F84", "F88", "F89",
		"F90", "F91", "F92", "F93", "F94", "F95", "F98", "F99",
	}
	var got []string
	for _, c := range All() {
		if len(c.Code) == 3 {
			got = append(got, c.Code)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("3-character categories (-want +got):\n%s", diff)
	}
	// The subcategories the demo data and therapists use most.
	for _, cat := range []string{"F10", "F32", "F33", "F40", "F41", "F42", "F43", "F60", "F90"} {
		n := 0
		for _, c := range All() {
			if c.Category() == cat && len(c.Code) == 5 {
				n++
			}
		}
		if n < 4 {
			t.Errorf("%s has %d subcategories, want its WHO subcategories", cat, n)
		}
	}
	if n := len(All()); n < 250 {
		t.Errorf("%d codes, want at least 250", n)
	}
}

func TestListWellFormed(t *testing.T) {
	seen := make(map[string]bool)
	seenTitle := make(map[string]string)
	for i, line := range strings.Split(codesTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, title, ok := strings.Cut(line, "\t")
		if !ok || !wellFormed(code) || title == "" || strings.TrimSpace(title) != title ||
			strings.Contains(title, "\t") || !utf8.ValidString(title) || strings.Contains(title, "  ") {
			t.Errorf("line %d malformed: %q", i+1, line)
		}
		if seen[code] {
			t.Errorf("line %d: duplicate code %s", i+1, code)
		}
		seen[code] = true
		if prev, dup := seenTitle[title]; dup {
			t.Errorf("line %d: %s has the same title as %s", i+1, code, prev)
		}
		seenTitle[title] = code
	}
	if !strings.HasSuffix(codesTSV, "\n") {
		t.Error("codes.tsv does not end with a newline")
	}
	if len(seen) != len(All()) {
		t.Errorf("file has %d codes, All returns %d", len(seen), len(All()))
	}
}

func TestParseRejects(t *testing.T) {
	for name, data := range map[string]string{
		"empty":            "# only a comment\n",
		"no tab":           "F32 Depressive episode\n",
		"two tabs":         "F32\tDepressive\tepisode\n",
		"lower case":       "f32\tDepressive episode\n",
		"other chapter":    "Z00\tGeneral examination\n",
		"five characters":  "F32\tDepressive episode\nF32.10\tx\n",
		"empty title":      "F32\t\n",
		"padded title":     "F32\t Depressive episode\n",
		"duplicate":        "F32\tDepressive episode\nF32\tDepressive episode\n",
		"out of order":     "F33\tRecurrent depressive disorder\nF32\tDepressive episode\n",
		"orphan subcode":   "F32.1\tModerate depressive episode\n",
		"carriage returns": "F32\tDepressive episode\r\n",
	} {
		if _, err := parse(data); err == nil {
			t.Errorf("%s: parse accepted %q", name, data)
		}
	}
}

func TestSearch(t *testing.T) {
	codes := func(cs []Code) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Code)
		}
		return out
	}
	tests := []struct {
		q     string
		limit int
		want  []string
	}{
		{"F32", 0, []string{"F32", "F32.0", "F32.1", "F32.2", "F32.3", "F32.8", "F32.9"}},
		{"f32.", 0, []string{"F32.0", "F32.1", "F32.2", "F32.3", "F32.8", "F32.9"}},
		{" f321 ", 0, []string{"F32.1"}},
		{"F3", 3, []string{"F30", "F30.0", "F30.1"}},
		{"generalized anxiety", 0, []string{"F41.1"}},
		{"ANXIETY GEN", 0, []string{"F41.1"}},
		{"post-traumatic", 0, []string{"F43.1"}},
		{"depress mod", 0, []string{"F31.3", "F32.1", "F33.1"}},
		{"adjustment", 0, []string{"F43", "F43.2"}},
		{"kleptomania", 0, []string{"F63.2"}},
		{"", 0, nil},
		{"   ", 0, nil},
		{"Z00", 0, nil},
		{"no such words here", 0, nil},
	}
	for _, tt := range tests {
		got := codes(Search(tt.q, tt.limit))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Search(%q, %d) (-want +got):\n%s", tt.q, tt.limit, diff)
		}
	}
	if n := len(Search("disorder", 5)); n != 5 {
		t.Errorf("Search with limit 5 returned %d", n)
	}
	if n := len(Search("disorder", 0)); n < 100 {
		t.Errorf("Search(disorder) without limit returned only %d", n)
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].Title = "changed"
	if All()[0].Title == "changed" {
		t.Error("All returns the package's own slice")
	}
}

func FuzzLookupSearch(f *testing.F) {
	for _, s := range []string{"F32.1", "f321", "F99.9", "Z00", "", " ", "depress mod", "F", "F.", "ääää", "\xff\xfe\xfd\xfc", "F3 2", "post-traumatic [ptsd]"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, q string, limit int) {
		if c, ok := Lookup(q); ok {
			if again, ok := Lookup(c.Code); !ok || again != c {
				t.Fatalf("Lookup(%q) = %v but Lookup of its code fails", q, c)
			}
			if !strings.HasPrefix(c.Code, "F") {
				t.Fatalf("Lookup(%q) found %v outside chapter F", q, c)
			}
		}
		res := Search(q, limit)
		if limit > 0 && len(res) > limit {
			t.Fatalf("Search(%q, %d) returned %d results", q, limit, len(res))
		}
		seen := make(map[string]bool)
		for _, c := range res {
			if seen[c.Code] {
				t.Fatalf("Search(%q) returned %s twice", q, c.Code)
			}
			seen[c.Code] = true
		}
	})
}
