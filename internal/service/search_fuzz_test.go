package service_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// FuzzParseQuery: the search box is either a whole identity code, or a
// family name of 2-100 characters with an optional birth year in range,
// or refused with 400 invalid_query; a parsed name searches the same as
// itself again.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"Virtanen", "virtanen 1985", "010190-902S", "010190-902s", " Äijälä  1990 ", "x", "Mäkinen 1752",
		"de la Cruz 2000", "1985", "a 1985", "\u202eVirtanen", "Virtanen\x00", "131052-308T 1990"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		pf, err := service.ParseQuery(q)
		if err != nil {
			var ce *confidant.Error
			if !errors.As(err, &ce) || ce.Kind != confidant.KindInvalid || ce.Code != "invalid_query" {
				t.Fatalf("refused with %v, want invalid_query", err)
			}
			return
		}
		if pf.IdentityCode != "" {
			if pf.FamilyName != "" || pf.BirthYear != 0 {
				t.Fatalf("an identity code with a name: %+v", pf)
			}
			if code, _, err := confidant.ParseIdentityCode(pf.IdentityCode); err != nil || code != pf.IdentityCode {
				t.Fatalf("identity code %q is not canonical: %v", pf.IdentityCode, err)
			}
			return
		}
		if n := utf8.RuneCountInString(pf.FamilyName); n < 2 || len(pf.FamilyName) > 100 {
			t.Fatalf("family name %q of %d characters", pf.FamilyName, n)
		}
		if pf.BirthYear != 0 && (pf.BirthYear < 1800 || pf.BirthYear > 2100) {
			t.Fatalf("birth year %d", pf.BirthYear)
		}
		if confidant.NormalizeName(pf.FamilyName) != pf.FamilyName {
			t.Fatalf("family name %q is not normalised", pf.FamilyName)
		}
	})
}
