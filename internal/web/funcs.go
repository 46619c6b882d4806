package web

import (
	"fmt"
	"github.com/confidanthealth/confidant/internal/service"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"
)

// funcs are the template helpers. Dates are shown in the server's display
// location.
func (s *server) funcs() template.FuncMap {
	return template.FuncMap{
		"date": s.date,
		// clock and zone show a time of day and the display time zone
		// ("until 14:05 (Europe/Helsinki)").
		"clock":         func(t time.Time) string { return t.In(s.loc).Format("15:04") },
		"zone":          func() string { return s.loc.String() },
		"categoryLabel": service.BreakGlassCategoryLabel,
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.loc).Format("2 Jan 2006, 15:04")
		},
		"datetimesec": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.loc).Format("2 Jan 2006, 15:04:05")
		},
		// isodate and isotime fill <input type=date> and <time datetime>.
		"isodate": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.loc).Format("2006-01-02")
		},
		"isotime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"birthdate": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format("2 Jan 2006") // a calendar date, not an instant
		},
		"age":      func(birth time.Time) int { return age(birth, s.now().In(s.loc)) },
		"excerpt":  excerpt,
		"sevClass": severityClass,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return fmt.Sprintf("%d %s", n, one)
			}
			return fmt.Sprintf("%d %s", n, many)
		},
		"add":  func(a, b int) int { return a + b },
		"size": humanSize,
		// who names the account id from a UserNames map.
		"who": func(names map[string]string, id string) string {
			if n := names[id]; n != "" {
				return n
			}
			return "unknown user"
		},
	}
}

// age returns whole years from birth (a calendar date) to now.
func age(birth, now time.Time) int {
	if birth.IsZero() {
		return 0
	}
	y := now.Year() - birth.Year()
	if now.Month() < birth.Month() || (now.Month() == birth.Month() && now.Day() < birth.Day()) {
		y--
	}
	return y
}

// excerpt shortens text to about n characters at a word boundary.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	cut := string(r)
	if i := strings.LastIndexAny(cut, " \n\t"); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " \n\t.,;:") + "…"
}

// severityClass maps a severity band to a CSS class.
func severityClass(sev string) string {
	switch sev {
	case "minimal":
		return "sev-minimal"
	case "mild":
		return "sev-mild"
	case "moderate":
		return "sev-moderate"
	case "moderately severe":
		return "sev-modsevere"
	case "severe":
		return "sev-severe"
	}
	return ""
}

// date formats an instant as a calendar date in the display location.
func (s *server) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format("2 Jan 2006")
}

// humanSize formats a byte count for people.
func humanSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%d KB", (n+512)>>10)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
