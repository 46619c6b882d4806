package confidant_test

import (
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

func TestParseIdentityCode(t *testing.T) {
	tests := []struct {
		in    string
		code  string
		birth string // YYYY-MM-DD, empty when invalid
	}{
		{"131052-308T", "131052-308T", "1952-10-13"}, // the Population Register Centre's example
		{" 131052-308t ", "131052-308T", "1952-10-13"},
		{"131052Y308T", "131052Y308T", "1952-10-13"}, // 2023 reform: Y..U also mean the 1900s
		{"131052A308T", "131052A308T", "2052-10-13"},
		{"131052B308T", "131052B308T", "2052-10-13"},
		{"131052+308T", "131052+308T", "1852-10-13"},
		{"131052-308U", "", ""},  // wrong check character
		{"131052G308T", "", ""},  // unknown century sign
		{"311152-308T", "", ""},  // 31 November does not exist
		{"290223-123A", "", ""},  // 29 February 2023 does not exist
		{"131052-001T", "", ""},  // individual number below 002
		{"13105-2308T", "", ""},  // misplaced separator
		{"131052-308", "", ""},   // too short
		{"1310520308TT", "", ""}, // too long
		{"", "", ""},
	}
	for _, tt := range tests {
		code, birth, err := confidant.ParseIdentityCode(tt.in)
		if tt.code == "" {
			if err == nil {
				t.Errorf("%q: accepted as %s", tt.in, code)
			} else if confidant.CodeOf(err) != "invalid_identity_code" || strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && tt.in != "" {
				t.Errorf("%q: error %v (must have the code and not echo the input)", tt.in, err)
			}
			continue
		}
		if err != nil || code != tt.code || birth.Format(time.DateOnly) != tt.birth {
			t.Errorf("%q: got %q %s %v, want %q %s", tt.in, code, birth.Format(time.DateOnly), err, tt.code, tt.birth)
		}
	}
}

func TestMakeIdentityCodeRoundTrip(t *testing.T) {
	for d := time.Date(1899, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2010; d = d.AddDate(0, 0, 37) {
		for _, ind := range []int{2, 500, 900, 999} {
			code, err := confidant.MakeIdentityCode(d, ind)
			if err != nil {
				t.Fatal(err)
			}
			got, birth, err := confidant.ParseIdentityCode(code)
			if err != nil || got != code || !birth.Equal(d) {
				t.Fatalf("%s (%s, %d): %v %s", code, d.Format(time.DateOnly), ind, err, birth)
			}
		}
	}
	if _, err := confidant.MakeIdentityCode(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 1); err == nil {
		t.Error("individual number 1 accepted")
	}
}

func FuzzParseIdentityCode(f *testing.F) {
	for _, s := range []string{"131052-308T", "131052A308T", "010190-902S", "", "xxxxxx-xxxx", "311152-308T", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, birth, err := confidant.ParseIdentityCode(s)
		if err != nil {
			if confidant.KindOf(err) != confidant.KindInvalid {
				t.Fatalf("error of kind %v", confidant.KindOf(err))
			}
			return
		}
		// An accepted code is normalised: parsing it again is the identity,
		// and it is rebuilt exactly from its birth date and individual number
		// when its century sign is the canonical one.
		again, birth2, err := confidant.ParseIdentityCode(code)
		if err != nil || again != code || !birth2.Equal(birth) {
			t.Fatalf("%q: not idempotent", s)
		}
		if c := code[6]; c == '-' || c == '+' || c == 'A' {
			ind := int(code[7]-'0')*100 + int(code[8]-'0')*10 + int(code[9]-'0')
			if made, err := confidant.MakeIdentityCode(birth, ind); err != nil || made != code {
				t.Fatalf("%q: rebuilt as %q (%v)", code, made, err)
			}
		}
	})
}

func TestMeasureScoring(t *testing.T) {
	tests := []struct {
		in       confidant.Instrument
		answers  []int
		score    int
		severity string
	}{
		{confidant.PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, "minimal"},
		{confidant.PHQ9, []int{1, 1, 1, 1, 0, 0, 0, 0, 0}, 4, "minimal"},
		{confidant.PHQ9, []int{1, 1, 1, 1, 1, 0, 0, 0, 0}, 5, "mild"},
		{confidant.PHQ9, []int{2, 2, 2, 2, 2, 0, 0, 0, 0}, 10, "moderate"},
		{confidant.PHQ9, []int{3, 3, 3, 3, 3, 0, 0, 0, 0}, 15, "moderately severe"},
		{confidant.PHQ9, []int{3, 3, 3, 3, 3, 3, 2, 0, 0}, 20, "severe"},
		{confidant.PHQ9, []int{3, 3, 3, 3, 3, 3, 3, 3, 3}, 27, "severe"},
		{confidant.GAD7, []int{1, 1, 1, 1, 1, 0, 0}, 5, "mild"},
		{confidant.GAD7, []int{2, 2, 2, 2, 2, 2, 2}, 14, "moderate"},
		{confidant.GAD7, []int{3, 3, 3, 3, 3, 0, 0}, 15, "severe"},
		{confidant.GAD7, []int{3, 3, 3, 3, 3, 3, 3}, 21, "severe"},
	}
	for _, tt := range tests {
		score, sev, err := tt.in.Score(tt.answers)
		if err != nil || score != tt.score || sev != tt.severity {
			t.Errorf("%s %v: got %d %q %v, want %d %q", tt.in, tt.answers, score, sev, err, tt.score, tt.severity)
		}
	}
	for _, bad := range [][]int{nil, {0}, {0, 0, 0, 0, 0, 0, 0, 0, -1}, {0, 0, 0, 0, 0, 0, 0, 0, 4}, make([]int, 10)} {
		if _, _, err := confidant.PHQ9.Score(bad); confidant.CodeOf(err) != "invalid_answers" {
			t.Errorf("PHQ-9 %v: %v", bad, err)
		}
	}
	if _, _, err := confidant.Instrument("bdi").Score([]int{1}); confidant.CodeOf(err) != "unknown_instrument" {
		t.Errorf("unknown instrument: %v", err)
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := confidant.NewID()
		if !confidant.ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, s := range []string{"", "x", strings.Repeat("a", 25), strings.Repeat("u", 26), strings.Repeat("A", 26), "../../../../../../../etc/pa"} {
		if confidant.ValidID(s) {
			t.Errorf("ValidID(%q)", s)
		}
	}
}

func TestErrors(t *testing.T) {
	err := confidant.Wrap(errIO, confidant.KindUnavailable, "db_down", "The database is unavailable.")
	if confidant.KindOf(err) != confidant.KindUnavailable || confidant.CodeOf(err) != "db_down" || confidant.MessageOf(err) != "The database is unavailable." {
		t.Errorf("wrapped error: %v", err)
	}
	if confidant.MessageOf(errIO) == errIO.Error() || confidant.CodeOf(errIO) != "internal" {
		t.Error("a plain error's text must not reach users")
	}
	internal := confidant.Wrap(errIO, confidant.KindInternal, "x", "secret detail")
	if confidant.MessageOf(internal) == "secret detail" {
		t.Error("internal messages must not reach users")
	}
}

var errIO = &ioErr{}

type ioErr struct{}

func (*ioErr) Error() string { return "disk on fire at /var/lib/x" }
