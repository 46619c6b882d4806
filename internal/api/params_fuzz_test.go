package api

import (
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// invalidError fails unless err is a *confidant.Error of kind Invalid (a
// 400), never an internal error.
func invalidError(t *testing.T, what string, err error) {
	t.Helper()
	var ce *confidant.Error
	if !errors.As(err, &ce) || ce.Kind != confidant.KindInvalid {
		t.Fatalf("%s: %v (%T), want an invalid-input error", what, err, err)
	}
}

// FuzzQueryParams: the query parameters of the listings (limit, offset,
// before) and the audit time ranges either parse into their ranges or are
// refused with a 400, and a parsed number prints back as itself.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"", "limit=10&offset=0", "limit=0", "limit=201&before=x", "before=18446744073709551615",
		"offset=-1", "limit=+5", "limit=0x10", "from=2026-01-31T00:00:00Z&to=2026-02-01T00:00:00%2B02:00",
		"from=2026-13-01T00:00:00Z", "to=yesterday", "limit=%ff", "limit=1&limit=2", ";;&&==",
		"since=2026-01-31T00:00:00Z&status=new&limit=1000", "since=2026-01-31", "status=open", "limit=1001",
		"before=0123456789abcdefghjkmnpqrs", "before=0123456789ABCDEFGHJKMNPQRS", "rule=no_care&status=dismissed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		r := httptest.NewRequest(http.MethodGet, "/api/v1/audit/events", nil)
		r.URL.RawQuery = raw
		before, limit, err := paging(r)
		if err != nil {
			invalidError(t, "paging", err)
		} else {
			if limit < 1 || limit > 200 {
				t.Fatalf("limit %d out of range", limit)
			}
			if s := r.URL.Query().Get("before"); s != "" && strconv.FormatUint(before, 10) != strconv.FormatUint(mustUint(s), 10) {
				t.Fatalf("before %q read as %d", s, before)
			}
		}
		for _, p := range []struct {
			name          string
			def, min, max int
		}{{"limit", defaultPageSize, 1, maxPageSize}, {"offset", 0, 0, maxOffset}} {
			s := q.Get(p.name)
			n, err := intParam(s, p.name, p.def, p.min, p.max)
			switch {
			case err != nil:
				invalidError(t, p.name, err)
			case n < p.min || n > p.max:
				t.Fatalf("%s %q read as %d, out of range", p.name, s, n)
			case s != "":
				if m, err := strconv.Atoi(s); err != nil || m != n {
					t.Fatalf("%s %q read as %d", p.name, s, n)
				}
			}
		}
		// The alerts' parameters (GET /api/v1/alerts).
		if aq, err := alertQuery(r); err != nil {
			invalidError(t, "alert query", err)
		} else {
			switch {
			case aq.Limit < 0 || aq.Limit > service.MaxAlertLimit:
				t.Fatalf("alert limit %d out of range", aq.Limit)
			case aq.Status != "" && !aq.Status.Valid():
				t.Fatalf("alert status %q accepted", aq.Status)
			case aq.Before != "" && !confidant.ValidID(aq.Before):
				t.Fatalf("alert cursor %q accepted", aq.Before)
			case q.Get("since") != "" && aq.Since.IsZero():
				t.Fatalf("since %q read as zero", q.Get("since"))
			}
			if s := q.Get("limit"); s != "" {
				if m, err := strconv.Atoi(s); err != nil || m != aq.Limit {
					t.Fatalf("alert limit %q read as %d", s, aq.Limit)
				}
			}
		}
		for _, required := range []bool{true, false} {
			from, to, err := timeRange(q, required)
			if err != nil {
				invalidError(t, "time range", err)
				continue
			}
			for name, v := range map[string]time.Time{"from": from, "to": to} {
				s := q.Get(name)
				if s == "" {
					if required || !v.IsZero() {
						t.Fatalf("absent %s read as %v (required %v)", name, v, required)
					}
					continue
				}
				if back, err := time.Parse(time.RFC3339, v.Format(time.RFC3339Nano)); err != nil || !back.Equal(v) {
					t.Fatalf("%s %q does not print back: %v", name, s, err)
				}
			}
		}
	})
}

// FuzzUploadFilename: an upload's Content-Disposition header yields a file
// name or "", never a panic, and a name formatted as a header reads back
// as itself.
func FuzzUploadFilename(f *testing.F) {
	for _, s := range []string{`attachment; filename="letter.pdf"`, `attachment; filename*=UTF-8''L%C3%A4hete%202026.txt`,
		`attachment; filename="a"; filename="b"`, `inline`, `attachment; filename=`, `attachment; filename*=UTF-8''%ff`,
		`attachment; filename="\"quoted\""`, "attachment; filename=\"\x00\"", ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cd string) {
		h := http.Header{}
		h.Set("Content-Disposition", cd)
		_ = uploadFilename(h)
		// Round trip: a name the standard library can format reads back.
		if enc := mime.FormatMediaType("attachment", map[string]string{"filename": cd}); enc != "" {
			h.Set("Content-Disposition", enc)
			if got := uploadFilename(h); got != cd {
				t.Fatalf("name %q formatted as %q reads back as %q", cd, enc, got)
			}
		}
	})
}

func mustUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("accepted " + strconv.Quote(s))
	}
	return n
}
