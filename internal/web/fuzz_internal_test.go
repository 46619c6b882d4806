package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// wantInvalid fails unless err is a *confidant.Error of kind Invalid.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var ce *confidant.Error
	if !errors.As(err, &ce) || ce.Kind != confidant.KindInvalid {
		t.Fatalf("%s: %v (%T), want an invalid-input error", what, err, err)
	}
}

// FuzzFormDate: a date or date-time form field parses or is refused with
// invalid_date; a parsed value prints back as what was typed.
func FuzzFormDate(f *testing.F) {
	for _, s := range []string{"", "2026-01-31", " 2026-01-31 ", "2026-02-30", "2026-1-3", "31.1.2026", "2026-01-31T14:00",
		"2026-01-31T14:00:59", "2026-01-31T24:00", "+2026-01-31", "９９９９-01-01"} {
		f.Add(s)
	}
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		loc = time.FixedZone("EET", 2*3600)
	}
	s := &server{loc: loc}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := s.parseDate(v, "Date")
		switch {
		case err != nil:
			wantInvalid(t, "date", err)
		case strings.TrimSpace(v) == "":
			if !d.IsZero() {
				t.Fatalf("empty date read as %v", d)
			}
		case d.Format("2006-01-02") != strings.TrimSpace(v) || d.Location() != loc:
			t.Fatalf("date %q read as %v", v, d)
		}
		dt, err := s.parseDateTime(v, "Time")
		switch {
		case err != nil:
			wantInvalid(t, "date and time", err)
		case strings.TrimSpace(v) == "":
			if !dt.IsZero() {
				t.Fatalf("empty time read as %v", dt)
			}
		default:
			tv := strings.TrimSpace(v)
			if dt.Format("2006-01-02T15:04") != tv && dt.Format("2006-01-02T15:04:05") != tv {
				t.Fatalf("time %q read as %v", v, dt)
			}
		}
	})
}

// FuzzMultipartUpload: whatever multipart stream arrives, the upload either
// hands exactly one named file part to the service or is refused with a
// 400 (invalid_form, missing_file), never a panic or another error.
func FuzzMultipartUpload(f *testing.F) {
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%C3%A4.txt\r\n\r\nhi\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno name\r\n--x--\r\n"))
	f.Add("x", []byte("--x--\r\n"))
	f.Add("b", []byte("--x\r\n\r\n"))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/patients/x/attachments", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=\""+strings.ReplaceAll(boundary, `"`, ``)+"\"")
		calls := 0
		errUpload := errors.New("upload")
		err := streamUpload(r, func(name string, rd io.Reader) error {
			calls++
			if name == "" {
				t.Fatal("a part without a file name reached the service")
			}
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return confidant.Wrap(err, confidant.KindInvalid, "invalid_form", "x")
			}
			return errUpload
		})
		switch {
		case calls > 1:
			t.Fatalf("%d parts reached the service", calls)
		case calls == 1:
			if err != errUpload && !confidant.IsKind(err, confidant.KindInvalid) {
				t.Fatalf("the service's answer was replaced by %v", err)
			}
		case err == nil:
			t.Fatal("no file and no error")
		default:
			wantInvalid(t, "multipart", err)
		}
	})
}

// FuzzIncidentForm: the incident forms' id lists and clocks never panic,
// and an id list holds no separators or empty entries.
func FuzzIncidentForm(f *testing.F) {
	f.Add("a,b c\nd", int64(3600))
	f.Add(",, ,", int64(-5))
	f.Add("ä\u00a0ö", int64(1<<62))
	f.Fuzz(func(t *testing.T, ids string, secs int64) {
		for _, id := range splitIDs(ids) {
			if id == "" || strings.ContainsAny(id, ", \n\r\t") {
				t.Fatalf("split %q into %q", ids, id)
			}
		}
		if humanDuration(time.Duration(secs)) == "" {
			t.Fatal("empty duration")
		}
	})
}
